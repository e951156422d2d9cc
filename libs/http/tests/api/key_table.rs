//! Key table files as an operator writes them.

use std::io::Write;

use tracechain_domain::{Role, TenantId};
use tracechain_http::auth::ApiKeyEntryError;
use tracechain_http::{ApiKeyTable, ApiKeyTableError, generate_api_key};

#[test]
fn a_bad_entry_is_a_typed_error_naming_it() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        r#"[
  {{"label": "ok", "role": "admin", "tenant": "ops", "sha256": "{}"}},
  {{"label": "broken", "role": "admin", "tenant": "Not A Slug", "sha256": "{}"}}
]"#,
        "a".repeat(64),
        "b".repeat(64)
    )
    .unwrap();
    let error = ApiKeyTable::load(file.path()).unwrap_err();
    assert!(
        matches!(
            &error,
            ApiKeyTableError::InvalidEntry {
                index: 1,
                label: Some(label),
                source: ApiKeyEntryError::Tenant(_),
            } if label == "broken"
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("entry 1") && message.contains("broken"),
        "{message}"
    );
}

#[test]
fn a_missing_file_is_a_typed_error() {
    let error = ApiKeyTable::load("/nonexistent/keys.json").unwrap_err();
    assert!(matches!(error, ApiKeyTableError::Read { .. }));
}

#[test]
fn a_generated_key_written_to_a_file_authenticates() {
    let (secret, entry) = generate_api_key(
        Role::Finance,
        TenantId::parse("acme").unwrap(),
        "acme-finance",
    )
    .unwrap();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(file, "[{}]", entry.to_json()).unwrap();
    let table = ApiKeyTable::load(file.path()).unwrap();
    let found = table.lookup(&secret).expect("the key authenticates");
    assert_eq!(found.label(), "acme-finance");
    assert_eq!(found.role(), Role::Finance);
    assert!(table.lookup(&format!("{secret}x")).is_none());
}
