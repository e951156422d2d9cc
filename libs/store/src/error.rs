//! The one error type of the store, shared by both implementations so that a
//! service maps it to HTTP the same way whatever backend it runs on.
//!
//! Each variant names the operation and the full (namespaced) key it concerns,
//! and keeps the underlying cause as its `source`. [`StoreError::is_unavailable`]
//! is the one question a request handler needs answered: "is this a 503?".

use std::error::Error as StdError;
use std::path::PathBuf;

/// A boxed cause, so that backend error types stay out of the public API.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong in a [`StateStore`](crate::StateStore) call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An argument was refused before anything reached the backend (an empty
    /// key, a zero TTL, a malformed namespace or cursor). Retrying is useless.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidInput {
        /// What the argument is ("key", "ttl", "namespace", ...).
        what: &'static str,
        /// The refused value, as given (truncated when very long).
        value: String,
        /// Why it was refused.
        reason: String,
    },

    /// The backend could not be reached or did not answer in time. Nothing is
    /// known to have been written; the caller may retry later (HTTP 503).
    #[error("store unavailable during {op} on {key:?}: {source}")]
    Unavailable {
        /// The operation ("get", "put", "compare_and_set", ...).
        op: &'static str,
        /// The namespaced key (or namespace) it was working on.
        key: String,
        /// The connection or timeout error.
        #[source]
        source: BoxError,
    },

    /// The backend answered with an error that is not about reachability.
    #[error("{op} on {key:?} failed: {source}")]
    Backend {
        /// The operation.
        op: &'static str,
        /// The namespaced key it was working on.
        key: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },

    /// A stored value does not have the shape this crate writes (someone else
    /// wrote under our namespace, or a bug). Clearing and rebuilding the
    /// namespace repairs it.
    #[error("corrupt value for {op} on {key:?}: {reason}")]
    Corrupt {
        /// The operation.
        op: &'static str,
        /// The namespaced key holding the value.
        key: String,
        /// What was wrong with it.
        reason: String,
    },

    /// A typed projection value could not be turned into or read from JSON.
    #[error("cannot {op} projection {key:?} as json: {source}")]
    Codec {
        /// "encode" or "decode".
        op: &'static str,
        /// The projection key (without namespace).
        key: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },

    /// A read-modify-write loop lost every one of its compare-and-set races.
    #[error("{op} on {key:?} gave up after {attempts} conflicting attempts")]
    Contended {
        /// The operation.
        op: &'static str,
        /// The projection key.
        key: String,
        /// How many times it tried.
        attempts: u32,
    },

    /// Reading or writing the embedded store's snapshot failed.
    #[error("cannot {op} snapshot {path}: {source}", path = path.display())]
    Snapshot {
        /// "read", "write", "sync", "rename", ...
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The embedded store's snapshot exists but cannot be loaded. The store
    /// refuses to start empty over it: move it aside (and rebuild from Kafka)
    /// if it really is lost.
    #[error("corrupt snapshot {path}: {reason}", path = path.display())]
    SnapshotCorrupt {
        /// The snapshot file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },

    /// The store was closed; no further operation is accepted.
    #[error("{op} on {key:?} refused: the store is closed")]
    Closed {
        /// The operation.
        op: &'static str,
        /// The namespaced key it was working on.
        key: String,
    },
}

impl StoreError {
    /// True when the backend is unreachable or too slow: readiness should turn
    /// false and the request should be answered with 503, nothing lost.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    /// Builds [`StoreError::InvalidInput`], truncating a long value so that an
    /// error message never carries megabytes of input.
    pub(crate) fn invalid(what: &'static str, value: &str, reason: impl Into<String>) -> Self {
        const SHOWN: usize = 128;
        let value = if value.len() > SHOWN {
            let mut end = SHOWN;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}…", &value[..end])
        } else {
            value.to_owned()
        };
        StoreError::InvalidInput {
            what,
            value,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_truncates_long_values_on_a_char_boundary() {
        let long = "é".repeat(200);
        let err = StoreError::invalid("key", &long, "too long");
        let StoreError::InvalidInput { value, .. } = &err else {
            panic!("expected InvalidInput, got {err:?}");
        };
        assert!(value.len() <= 128 + '…'.len_utf8());
        assert!(err.to_string().starts_with("invalid key \""));
    }

    #[test]
    fn only_unavailable_is_unavailable() {
        let err = StoreError::Unavailable {
            op: "get",
            key: "tc:a:#p:k".into(),
            source: "connection refused".into(),
        };
        assert!(err.is_unavailable());
        assert_eq!(
            err.to_string(),
            "store unavailable during get on \"tc:a:#p:k\": connection refused"
        );
        assert!(!StoreError::invalid("key", "", "empty").is_unavailable());
    }
}
