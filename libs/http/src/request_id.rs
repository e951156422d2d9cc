//! The request id: taken from an incoming `X-Request-Id` when it is safe,
//! otherwise a fresh UUIDv7. It is echoed on the response, recorded on the
//! request's span and added to every problem body as `request_id`.
//!
//! Invariant: a [`RequestId`] is 1..=[`RequestId::MAX_LEN`] characters from
//! `A-Z a-z 0-9 - _ . :`, so it is safe in headers, logs and JSON.

use std::fmt;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

/// The request id header name.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A validated request id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// The longest accepted incoming id.
    pub const MAX_LEN: usize = 128;

    /// Accepts an incoming id if it is non-empty, short enough and made of safe characters.
    pub fn parse(value: &str) -> Option<Self> {
        let valid = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        valid.then(|| Self(value.to_owned()))
    }

    /// A fresh time-ordered UUIDv7.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Handlers may take the request id as an argument; outside the
/// [`crate::RequestTelemetry`] middleware a fresh one is generated.
impl FromRequest for RequestId {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate);
        ready(Ok(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_safe_ids() {
        for id in ["abc", "0190b6f2-7c1e-7e3a-9d6b-1b2c3d4e5f60", "a.b_c:d-e"] {
            assert_eq!(RequestId::parse(id).unwrap().as_str(), id);
        }
        assert!(RequestId::parse(&"a".repeat(RequestId::MAX_LEN)).is_some());
    }

    #[test]
    fn refuses_unsafe_ids() {
        for id in ["", "a b", "a\nb", "<script>", "é", "a\"b"] {
            assert!(RequestId::parse(id).is_none(), "{id:?}");
        }
        assert!(RequestId::parse(&"a".repeat(RequestId::MAX_LEN + 1)).is_none());
    }

    #[test]
    fn generated_ids_are_uuid_v7() {
        let id = RequestId::generate();
        let uuid = uuid::Uuid::parse_str(id.as_str()).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
    }
}
