//! `Idempotency-Key` on every POST of every service: a retried request gets
//! the first response, byte for byte, and the work is done once.
//!
//! The key is scoped by tenant, method, path and the header's value (stored
//! as a SHA-256 of the four, so any header value makes a valid store key).
//! Protocol, on the store's idempotency primitives:
//!
//! - first request: the key is claimed (a lease of [`IN_FLIGHT_LEASE`]), the
//!   handler runs; a success (2xx) is stored with the SHA-256 of the
//!   request's canonical JSON for the configured retention (24 h by
//!   default); a failure releases the key so the client may retry with it;
//! - while the first runs: 409 `idempotency-key-in-flight`;
//! - afterwards: the stored status, headers and body, plus
//!   `Idempotent-Replayed: true` — unless the body differs (another hash):
//!   422 `idempotency-key-reused`.
//!
//! Requests without the header simply run.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracechain_http::Principal;
use tracechain_store::{IdempotencyState, StateStore, StoreError};

/// Why an idempotent request could not run; each service maps it to its
/// own error (400, 409, 422, 503).
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The header is malformed (400).
    #[error("idempotency-key header {0}")]
    InvalidKey(&'static str),
    /// A request with the same key is still running (409).
    #[error("a request with this Idempotency-Key is still in progress")]
    InFlight,
    /// The key was used with another body (422).
    #[error("this Idempotency-Key was already used with a different request body")]
    KeyReused,
    /// The store failed.
    #[error("the state store failed")]
    Store(#[from] StoreError),
    /// A response could not be encoded, or a stored one decoded.
    #[error("idempotent response: {0}")]
    Internal(String),
}

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The header marking a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";
/// The longest accepted key.
pub const MAX_KEY_LEN: usize = 255;
/// How long a running request holds its key before another may take it.
pub const IN_FLIGHT_LEASE: std::time::Duration = std::time::Duration::from_secs(120);

/// A response that can be stored and replayed exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Headers, including `content-type`.
    pub headers: Vec<(String, String)>,
    /// The body bytes (base64 when stored).
    #[serde(with = "body_base64")]
    pub body: Vec<u8>,
}

mod body_base64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(body))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

impl Reply {
    /// A JSON reply.
    pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Reply, IdempotencyError> {
        let body =
            serde_json::to_vec(value).map_err(|e| IdempotencyError::Internal(e.to_string()))?;
        Ok(Reply {
            status: status.as_u16(),
            headers: vec![(CONTENT_TYPE.to_string(), "application/json".to_owned())],
            body,
        })
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The HTTP response.
    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut builder = HttpResponse::build(status);
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                builder.append_header((name, value));
            }
        }
        builder.body(self.body)
    }
}

/// What is kept for a completed key.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    /// SHA-256 (hex) of the request's canonical JSON.
    request_sha256: String,
    /// The first response.
    reply: Reply,
}

/// The `Idempotency-Key` header's value, checked: 1 to 255 visible ASCII characters.
pub fn key_of(req: &HttpRequest) -> Result<Option<String>, IdempotencyError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return Err(IdempotencyError::InvalidKey("is empty"));
    }
    if bytes.len() > MAX_KEY_LEN {
        return Err(IdempotencyError::InvalidKey(
            "is longer than 255 characters",
        ));
    }
    if !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(IdempotencyError::InvalidKey(
            "must be visible ASCII characters only (no spaces)",
        ));
    }
    // Checked above: ASCII, so UTF-8.
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

fn store_key(principal: &Principal, req: &HttpRequest, key: &str) -> String {
    let mut hash = Sha256::new();
    for part in [
        principal.tenant.as_str(),
        req.method().as_str(),
        req.path(),
        key,
    ] {
        hash.update(part.as_bytes());
        hash.update([0u8]);
    }
    format!("idem:{}", hex::encode(hash.finalize()))
}

fn request_hash<T: Serialize>(request: &T) -> Result<String, IdempotencyError> {
    let bytes = tracechain_core::canonical::to_canonical_vec(request)
        .map_err(|e| IdempotencyError::Internal(e.to_string()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Runs `work` once per `Idempotency-Key` (see the [module docs](self)),
/// keeping first responses in `store` for `retention`.
pub async fn idempotent<T, F, Fut, E>(
    store: &dyn StateStore,
    retention: Duration,
    principal: &Principal,
    req: &HttpRequest,
    request: &T,
    work: F,
) -> Result<HttpResponse, E>
where
    T: Serialize,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Reply, E>>,
    E: From<IdempotencyError>,
{
    let Some(key) = key_of(req).map_err(E::from)? else {
        return work().await.map(Reply::into_response);
    };
    let store_key = store_key(principal, req, &key);
    let hash = request_hash(request).map_err(E::from)?;
    let state = store
        .idempotency_begin(&store_key, IN_FLIGHT_LEASE)
        .await
        .map_err(IdempotencyError::from)?;
    match state {
        IdempotencyState::InFlight => Err(IdempotencyError::InFlight.into()),
        IdempotencyState::Completed(bytes) => {
            let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| {
                IdempotencyError::Internal(format!("stored idempotent response is corrupt: {e}"))
            })?;
            if stored.request_sha256 != hash {
                return Err(IdempotencyError::KeyReused.into());
            }
            Ok(stored.reply.with_header(REPLAYED, "true").into_response())
        }
        IdempotencyState::New => match work().await {
            Ok(reply) => {
                let stored = Stored {
                    request_sha256: hash,
                    reply,
                };
                match serde_json::to_vec(&stored) {
                    Ok(bytes) => {
                        if let Err(error) = store
                            .idempotency_complete(&store_key, &bytes, retention)
                            .await
                        {
                            tracing::warn!(%error, "Storing an idempotent response failed; a retry will run again");
                        }
                    }
                    Err(error) => tracing::warn!(%error, "Encoding an idempotent response failed"),
                }
                Ok(stored.reply.into_response())
            }
            Err(error) => {
                if let Err(abandon) = store.idempotency_abandon(&store_key).await {
                    tracing::warn!(error = %abandon, "Releasing an idempotency key failed; its lease will expire");
                }
                Err(error)
            }
        },
    }
}
