//! Sorting redis crate errors into [`StoreError`] variants: whatever means
//! "Redis is not there or too slow" becomes [`StoreError::Unavailable`] (a 503),
//! a reply of the wrong shape becomes [`StoreError::Corrupt`], the rest
//! [`StoreError::Backend`].

use std::time::Duration;

use ::redis::{ErrorKind, RedisError, ServerErrorKind};

use crate::error::StoreError;

/// Classifies `err`, raised by `op` on `key`.
pub(crate) fn classify(op: &'static str, key: &str, err: RedisError) -> StoreError {
    let key = key.to_owned();
    let unreachable = err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || matches!(
            err.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ClusterDown
            )
        );
    if unreachable {
        return StoreError::Unavailable {
            op,
            key,
            source: Box::new(err),
        };
    }
    if matches!(
        err.kind(),
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType
    ) || err.code() == Some("WRONGTYPE")
    {
        return StoreError::Corrupt {
            op,
            key,
            reason: err.to_string(),
        };
    }
    StoreError::Backend {
        op,
        key,
        source: Box::new(err),
    }
}

/// The error of a call that got no answer within `limit`.
pub(crate) fn timed_out(op: &'static str, key: &str, limit: Duration) -> StoreError {
    StoreError::Unavailable {
        op,
        key: key.to_owned(),
        source: format!("no answer from redis within {limit:?}").into(),
    }
}
