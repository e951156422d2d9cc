//! API-key authentication: `Authorization: Bearer <key>` against a table of
//! SHA-256 key hashes, each bound to a role, a tenant and a label.
//!
//! Invariants: the table never holds a key, only `sha256(key)`; every lookup
//! hashes the presented key and compares it with EVERY entry in constant
//! time (`subtle`), without early exit, so timing reveals neither which entry
//! matched nor how much of a hash did. Labels and hashes are unique in a table.
//!
//! The table file (JSON, so a Kubernetes Secret can carry it) is a list of
//! `{"label": "...", "role": "manufacturer", "tenant": "acme", "sha256": "<64 hex>"}`.

use std::future::{Ready, ready};
use std::path::{Path, PathBuf};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use tracechain_domain::{Role, RoleError, TenantId, TenantIdError};

use crate::problem::{ApiError, Problem};

/// The prefix of every generated key.
pub const API_KEY_PREFIX: &str = "tc_";

/// The longest accepted label.
pub const MAX_LABEL_LEN: usize = 128;

/// The `WWW-Authenticate` challenge sent with every 401.
const CHALLENGE: &str = "Bearer realm=\"tracechain\"";

/// One API key: who it authenticates as, and the SHA-256 of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyEntry {
    /// Names the key for operators and logs; 1..=128 printable characters.
    label: String,
    /// The role the key acts as.
    role: Role,
    /// The tenant the key acts for.
    tenant: TenantId,
    /// SHA-256 of the key's UTF-8 bytes.
    sha256: [u8; 32],
}

/// The on-disk form of an entry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    label: String,
    role: String,
    tenant: String,
    sha256: String,
}

/// What is wrong with one entry.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyEntryError {
    /// The entry is not an object with exactly `label`, `role`, `tenant`, `sha256`.
    #[error("entry is not an object with string fields label, role, tenant and sha256: {0}")]
    Shape(#[source] serde_json::Error),
    /// The label is empty, too long or has control characters.
    #[error("label must be 1 to 128 characters without control characters")]
    Label,
    /// The role is unknown.
    #[error("{0}")]
    Role(#[from] RoleError),
    /// The tenant id is invalid.
    #[error("{0}")]
    Tenant(#[from] TenantIdError),
    /// The hash is not 64 lowercase hex digits.
    #[error("sha256 must be 64 lowercase hex digits")]
    Sha256,
    /// The operating system's random number generator failed.
    #[error("the random number generator failed: {0}")]
    Random(String),
}

/// Why a key table could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyTableError {
    /// The file could not be read.
    #[error("api key file {path} could not be read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The content is not a JSON list.
    #[error("api key table is not a json list: {0}")]
    NotAList(#[source] serde_json::Error),
    /// One entry is invalid.
    #[error("api key entry {index} (label {label:?}) is invalid: {source}")]
    InvalidEntry {
        /// Its 0-based position in the list.
        index: usize,
        /// Its label, if it had a string one.
        label: Option<String>,
        /// What is wrong.
        #[source]
        source: ApiKeyEntryError,
    },
    /// Two entries share a label.
    #[error("api key entry {index} repeats the label {label:?} of entry {first}")]
    DuplicateLabel {
        /// The later entry's position.
        index: usize,
        /// The earlier entry's position.
        first: usize,
        /// The shared label.
        label: String,
    },
    /// Two entries share a key hash.
    #[error("api key entry {index} (label {label:?}) repeats the key hash of entry {first}")]
    DuplicateKey {
        /// The later entry's position.
        index: usize,
        /// The earlier entry's position.
        first: usize,
        /// The later entry's label.
        label: String,
    },
}

impl ApiKeyEntry {
    /// Builds an entry from its parts, validating the label.
    pub fn new(
        label: impl Into<String>,
        role: Role,
        tenant: TenantId,
        sha256: [u8; 32],
    ) -> Result<Self, ApiKeyEntryError> {
        let label = label.into();
        let valid = !label.is_empty()
            && label.chars().count() <= MAX_LABEL_LEN
            && !label.chars().any(char::is_control);
        if !valid {
            return Err(ApiKeyEntryError::Label);
        }
        Ok(Self {
            label,
            role,
            tenant,
            sha256,
        })
    }

    /// The entry for `key`.
    pub fn for_key(
        key: &str,
        label: impl Into<String>,
        role: Role,
        tenant: TenantId,
    ) -> Result<Self, ApiKeyEntryError> {
        Self::new(label, role, tenant, hash_key(key))
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The key hash as 64 lowercase hex digits.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// The entry as one JSON object, in the table file's format.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.raw()).unwrap_or_default()
    }

    fn raw(&self) -> RawEntry {
        RawEntry {
            label: self.label.clone(),
            role: self.role.as_str().to_owned(),
            tenant: self.tenant.to_string(),
            sha256: self.sha256_hex(),
        }
    }

    fn from_value(value: serde_json::Value) -> Result<Self, ApiKeyEntryError> {
        let raw: RawEntry = serde_json::from_value(value).map_err(ApiKeyEntryError::Shape)?;
        let role: Role = raw.role.parse()?;
        let tenant = TenantId::parse(&raw.tenant)?;
        let sha256 = parse_sha256(&raw.sha256).ok_or(ApiKeyEntryError::Sha256)?;
        Self::new(raw.label, role, tenant, sha256)
    }
}

/// The API keys a service accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiKeyTable {
    /// Entries with unique labels and unique hashes.
    entries: Vec<ApiKeyEntry>,
}

impl ApiKeyTable {
    /// Reads and validates a table file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ApiKeyTableError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ApiKeyTableError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// The table of a service's `api_keys_file` setting: read and validated
    /// when set; when not, an empty table (every authenticated endpoint
    /// answers 401), with a warning saying so.
    pub fn load_configured(path: Option<&Path>) -> Result<Self, ApiKeyTableError> {
        match path {
            Some(path) => Self::load(path),
            None => {
                tracing::warn!(
                    "No api_keys_file configured: every authenticated endpoint answers 401"
                );
                Ok(Self::default())
            }
        }
    }

    /// Parses and validates a table from JSON text.
    pub fn parse(text: &str) -> Result<Self, ApiKeyTableError> {
        let values: Vec<serde_json::Value> =
            serde_json::from_str(text).map_err(ApiKeyTableError::NotAList)?;
        let mut entries = Vec::with_capacity(values.len());
        for (index, value) in values.into_iter().enumerate() {
            let label = value
                .get("label")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
            let entry = ApiKeyEntry::from_value(value).map_err(|source| {
                ApiKeyTableError::InvalidEntry {
                    index,
                    label,
                    source,
                }
            })?;
            entries.push(entry);
        }
        Self::from_entries(entries)
    }

    /// A table from entries, refusing duplicate labels or hashes.
    pub fn from_entries(entries: Vec<ApiKeyEntry>) -> Result<Self, ApiKeyTableError> {
        for (index, entry) in entries.iter().enumerate() {
            for (first, earlier) in entries[..index].iter().enumerate() {
                if earlier.label == entry.label {
                    return Err(ApiKeyTableError::DuplicateLabel {
                        index,
                        first,
                        label: entry.label.clone(),
                    });
                }
                if earlier.sha256 == entry.sha256 {
                    return Err(ApiKeyTableError::DuplicateKey {
                        index,
                        first,
                        label: entry.label.clone(),
                    });
                }
            }
        }
        Ok(Self { entries })
    }

    /// The entries.
    pub fn entries(&self) -> &[ApiKeyEntry] {
        &self.entries
    }

    /// The whole table in the file's format (pretty JSON).
    pub fn to_json_pretty(&self) -> String {
        let raw: Vec<RawEntry> = self.entries.iter().map(ApiKeyEntry::raw).collect();
        serde_json::to_string_pretty(&raw).unwrap_or_default()
    }

    /// The entry whose hash equals `sha256(key)`, compared in constant time
    /// against every entry.
    pub fn lookup(&self, key: &str) -> Option<&ApiKeyEntry> {
        let presented = hash_key(key);
        let mut found = subtle::Choice::from(0);
        let mut index = 0u64;
        for (i, entry) in self.entries.iter().enumerate() {
            let matches = entry.sha256.ct_eq(&presented);
            index = u64::conditional_select(&index, &(i as u64), matches);
            found |= matches;
        }
        if bool::from(found) {
            usize::try_from(index)
                .ok()
                .and_then(|i| self.entries.get(i))
        } else {
            None
        }
    }
}

/// SHA-256 of a key's UTF-8 bytes.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// A new random key (`tc_` + base64url of 32 random bytes, 46 characters)
/// and its table entry. Show the secret once; store only the entry.
pub fn generate_api_key(
    role: Role,
    tenant: TenantId,
    label: impl Into<String>,
) -> Result<(String, ApiKeyEntry), ApiKeyEntryError> {
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|error| ApiKeyEntryError::Random(error.to_string()))?;
    let secret = format!(
        "{API_KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let entry = ApiKeyEntry::for_key(&secret, label, role, tenant)?;
    Ok((secret, entry))
}

/// Who is calling: the authenticated key's tenant, role and label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The tenant the caller acts for.
    pub tenant: TenantId,
    /// The role the caller acts as.
    pub role: Role,
    /// The key's label.
    pub label: String,
}

impl Principal {
    /// `Ok` when the caller's role is one of `roles`; a 403 otherwise.
    pub fn require_role(&self, roles: &[Role]) -> Result<(), AuthError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(AuthError::Forbidden {
                required: roles.to_vec(),
                actual: self.role,
            })
        }
    }
}

/// Why a request was not authenticated or not authorised.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("missing authorization header; expected `Authorization: Bearer <api key>`")]
    Missing,
    /// The header is not `Bearer <token>`.
    #[error("malformed authorization header; expected `Authorization: Bearer <api key>`")]
    Malformed,
    /// The key is not in the table.
    #[error("unknown api key")]
    UnknownKey,
    /// The caller's role is not among those required.
    #[error("requires role {}; the caller has role {actual}", roles_list(required))]
    Forbidden {
        /// Any of these roles would do.
        required: Vec<Role>,
        /// The caller's role.
        actual: Role,
    },
    /// No [`ApiKeyTable`] was registered as app data.
    #[error("no api key table is configured for this service")]
    NotConfigured,
}

fn roles_list(roles: &[Role]) -> String {
    match roles {
        [] => "(none)".to_owned(),
        _ => roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

impl ApiError for AuthError {
    fn problem(&self) -> Problem {
        match self {
            Self::Missing | Self::Malformed => Problem::typed(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Unauthenticated",
            )
            .with_detail(self.to_string())
            .with_header("www-authenticate", CHALLENGE),
            Self::UnknownKey => Problem::typed(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Unauthenticated",
            )
            .with_detail(self.to_string())
            .with_header(
                "www-authenticate",
                &format!("{CHALLENGE}, error=\"invalid_token\""),
            ),
            Self::Forbidden { required, .. } => {
                let required: Vec<&str> = required.iter().map(|r| r.as_str()).collect();
                Problem::typed(StatusCode::FORBIDDEN, "forbidden", "Forbidden")
                    .with_detail(self.to_string())
                    .with_extension("required_roles", required)
            }
            Self::NotConfigured => Problem::internal(),
        }
    }
}

crate::impl_response_error!(AuthError);

/// Extracts the bearer token from an `Authorization` value.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim_start_matches(' ');
    let token68 = !token.is_empty()
        && token.trim_end_matches('=').bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
        && !token.starts_with('=');
    token68.then_some(token)
}

/// Authenticates the request against the `web::Data<ApiKeyTable>` app data,
/// and records the principal's tenant, role and label on the request span.
impl FromRequest for Principal {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// The caller of `req`, from its `Authorization: Bearer` key and the
/// [`ApiKeyTable`] registered as app data — what the [`Principal`]
/// extractor does, for handlers where the key is optional (a public page
/// that shows more to a caller who brings one) but a wrong key is still
/// refused.
pub fn authenticate(req: &HttpRequest) -> Result<Principal, AuthError> {
    let Some(table) = req.app_data::<web::Data<ApiKeyTable>>() else {
        tracing::error!(
            error = %AuthError::NotConfigured,
            "Authentication impossible: register web::Data<ApiKeyTable> as app data"
        );
        return Err(AuthError::NotConfigured);
    };
    let header = req.headers().get(AUTHORIZATION).ok_or(AuthError::Missing)?;
    let value = header.to_str().map_err(|_| AuthError::Malformed)?;
    let token = bearer_token(value).ok_or(AuthError::Malformed)?;
    let Some(entry) = table.lookup(token) else {
        tracing::warn!(error = %AuthError::UnknownKey, "Request refused: unknown api key");
        return Err(AuthError::UnknownKey);
    };
    let span = tracing::Span::current();
    span.record("tenant", entry.tenant.as_str());
    span.record("role", entry.role.as_str());
    span.record("key_label", entry.label.as_str());
    Ok(Principal {
        tenant: entry.tenant.clone(),
        role: entry.role,
        label: entry.label.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    #[test]
    fn without_a_configured_file_the_table_is_empty_and_a_missing_file_is_an_error() {
        assert!(
            ApiKeyTable::load_configured(None)
                .unwrap()
                .entries()
                .is_empty()
        );
        let missing = Path::new("/nonexistent/api-keys.json");
        assert!(matches!(
            ApiKeyTable::load_configured(Some(missing)),
            Err(ApiKeyTableError::Read { .. })
        ));
    }

    #[test]
    fn generated_keys_have_the_documented_shape_and_authenticate() {
        let (secret, entry) = generate_api_key(Role::Carrier, tenant("acme"), "phone-1").unwrap();
        assert!(secret.starts_with("tc_"));
        assert_eq!(secret.len(), 3 + 43);
        let table = ApiKeyTable::from_entries(vec![entry.clone()]).unwrap();
        assert_eq!(table.lookup(&secret), Some(&entry));
        assert_eq!(table.lookup("tc_wrong"), None);
    }

    #[test]
    fn table_round_trips_through_its_file_format() {
        let (_, a) = generate_api_key(Role::Admin, tenant("ops"), "admin").unwrap();
        let (_, b) = generate_api_key(Role::Finance, tenant("acme"), "finance").unwrap();
        let table = ApiKeyTable::from_entries(vec![a.clone(), b]).unwrap();
        assert_eq!(ApiKeyTable::parse(&table.to_json_pretty()).unwrap(), table);
        let single = ApiKeyTable::parse(&format!("[{}]", a.to_json())).unwrap();
        assert_eq!(single.entries(), &[a]);
    }

    #[test]
    fn bad_entries_are_named() {
        let good = "0".repeat(64);
        let text = format!(
            r#"[{{"label":"ok","role":"admin","tenant":"ops","sha256":"{good}"}},
               {{"label":"bad","role":"boss","tenant":"ops","sha256":"{good}"}}]"#
        );
        match ApiKeyTable::parse(&text) {
            Err(ApiKeyTableError::InvalidEntry {
                index: 1,
                label: Some(label),
                source: ApiKeyEntryError::Role(_),
            }) => assert_eq!(label, "bad"),
            other => panic!("unexpected {other:?}"),
        }
        let upper = "A".repeat(64);
        let text = format!(r#"[{{"label":"x","role":"admin","tenant":"ops","sha256":"{upper}"}}]"#);
        assert!(matches!(
            ApiKeyTable::parse(&text),
            Err(ApiKeyTableError::InvalidEntry {
                source: ApiKeyEntryError::Sha256,
                ..
            })
        ));
        let text = format!(
            r#"[{{"label":"x","role":"admin","tenant":"ops","sha256":"{good}","extra":1}}]"#
        );
        assert!(matches!(
            ApiKeyTable::parse(&text),
            Err(ApiKeyTableError::InvalidEntry {
                source: ApiKeyEntryError::Shape(_),
                ..
            })
        ));
        assert!(matches!(
            ApiKeyTable::parse("{}"),
            Err(ApiKeyTableError::NotAList(_))
        ));
    }

    #[test]
    fn duplicates_are_refused() {
        let (_, a) = generate_api_key(Role::Admin, tenant("ops"), "same").unwrap();
        let (_, b) = generate_api_key(Role::Admin, tenant("ops"), "same").unwrap();
        assert!(matches!(
            ApiKeyTable::from_entries(vec![a.clone(), b]),
            Err(ApiKeyTableError::DuplicateLabel {
                index: 1,
                first: 0,
                ..
            })
        ));
        let mut c = a.clone();
        c.label = "other".to_owned();
        assert!(matches!(
            ApiKeyTable::from_entries(vec![a, c]),
            Err(ApiKeyTableError::DuplicateKey {
                index: 1,
                first: 0,
                ..
            })
        ));
    }

    #[test]
    fn parses_bearer_tokens_strictly() {
        assert_eq!(bearer_token("Bearer tc_abc"), Some("tc_abc"));
        assert_eq!(bearer_token("bearer tc_abc"), Some("tc_abc"));
        assert_eq!(bearer_token("Bearer abc=="), Some("abc=="));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Bearer =abc"), None);
    }

    #[test]
    fn role_check_names_the_required_roles() {
        let principal = Principal {
            tenant: tenant("acme"),
            role: Role::Carrier,
            label: "c".to_owned(),
        };
        assert!(principal.require_role(&[Role::Carrier]).is_ok());
        let error = principal
            .require_role(&[Role::Manufacturer, Role::Admin])
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "requires role manufacturer or admin; the caller has role carrier"
        );
        assert_eq!(error.problem().status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn labels_are_validated() {
        assert!(ApiKeyEntry::new("", Role::Admin, tenant("a"), [1; 32]).is_err());
        assert!(ApiKeyEntry::new("a\nb", Role::Admin, tenant("a"), [1; 32]).is_err());
        assert!(ApiKeyEntry::new("x".repeat(129), Role::Admin, tenant("a"), [1; 32]).is_err());
    }
}
