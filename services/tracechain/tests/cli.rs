//! The operator's key tools, run as the real binary.

use std::process::Command;

use tracechain_core::{NoteVerifier, SigningKey};
use tracechain_http::auth::ApiKeyTable;
use tracechain_testkit::field;

fn tracechain(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tracechain"))
        .args(args)
        .output()
        .expect("run tracechain")
}

#[test]
fn generated_signing_key_loads_and_show_prints_the_same_identity() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.pem");
    let path_str = path.to_str().unwrap();

    let out = tracechain(&[
        "key",
        "generate",
        "--out",
        path_str,
        "--note-name",
        "example.com/log",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).unwrap();

    let key = SigningKey::from_pkcs8_pem(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(field(&generated, "key_id:"), key.key_id().to_string());
    assert_eq!(
        field(&generated, "public_key:"),
        key.verifying_key().to_base64()
    );
    let verifier = NoteVerifier::parse(field(&generated, "vkey:")).unwrap();
    assert_eq!(verifier.name(), "example.com/log");
    assert_eq!(verifier.key(), &key.verifying_key());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "private key must be owner-only");
    }

    let out = tracechain(&["key", "show", path_str, "--note-name", "example.com/log"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), generated);

    // Never overwrite a key by accident.
    let out = tracechain(&["key", "generate", "--out", path_str]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn new_api_keys_are_added_to_the_table_and_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("keys.json");
    let table_str = table.to_str().unwrap();

    let mut secrets = Vec::new();
    for (role, tenant) in [("manufacturer", "acme"), ("carrier", "fastfreight")] {
        let out = tracechain(&[
            "apikey", "new", "--role", role, "--tenant", tenant, "--table", table_str,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        secrets.push((field(&stdout, "key:").to_owned(), role, tenant));
    }

    let loaded = ApiKeyTable::load(&table).unwrap();
    assert_eq!(loaded.entries().len(), 2);
    for (secret, role, tenant) in &secrets {
        let entry = loaded
            .lookup(secret)
            .expect("the printed key authenticates");
        assert_eq!(entry.role().as_str(), *role);
        assert_eq!(entry.tenant().as_str(), *tenant);
    }
    assert!(loaded.lookup("tc_not-a-key").is_none());
    let text = std::fs::read_to_string(&table).unwrap();
    for (secret, _, _) in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "the table must not hold the secret"
        );
    }
}

#[test]
fn bad_role_or_tenant_is_refused_with_a_clear_error() {
    let out = tracechain(&["apikey", "new", "--role", "overlord", "--tenant", "acme"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("overlord"));
    let out = tracechain(&[
        "apikey",
        "new",
        "--role",
        "carrier",
        "--tenant",
        "Bad Tenant!",
    ]);
    assert!(!out.status.success());
}

#[test]
fn serve_refuses_a_malformed_or_unknown_setting_flag_naming_it() {
    let out = tracechain(&["serve", "registry", "--set", "http.port"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("<section>.<key>=<value>"), "{said}");

    let out = tracechain(&["serve", "registry", "--set", "http.no_such_setting=1"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("no_such_setting"), "{said}");
}
