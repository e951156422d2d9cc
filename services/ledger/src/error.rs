//! [`LedgerError`]: every way a ledger request can fail, mapped to an RFC
//! 9457 problem in one place.
//!
//! Invariants: every 4xx names what is wrong; an event the caller may not
//! read is reported exactly like an unknown one (404), so existence never
//! leaks; a store failure is a 503 without internal detail.

use actix_web::http::StatusCode;
use tracechain_http::{ApiError, AuthError, FieldError, Problem, impl_response_error};

use crate::store::StoreError;

/// Why a ledger request failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Authentication or role check failed (401/403).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A path or query parameter is invalid (400).
    #[error("{parameter} is invalid: {message}")]
    InvalidParameter {
        /// The parameter's name.
        parameter: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No block at this height (404).
    #[error("no block at height {0}")]
    BlockNotFound(u64),
    /// No anchored event with this id that the caller may read (404).
    #[error("no anchored event {0}")]
    EventNotFound(String),
    /// The chain has no block yet (404).
    #[error("the chain has no block yet")]
    EmptyChain,
    /// The block store failed (503).
    #[error("the block store failed")]
    Store(#[source] StoreError),
}

impl From<StoreError> for LedgerError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::OutOfRange(message) => LedgerError::InvalidParameter {
                parameter: "tree_size",
                message,
            },
            other => LedgerError::Store(other),
        }
    }
}

impl LedgerError {
    /// A 400 for a query or path parameter.
    pub fn parameter(parameter: &'static str, message: impl Into<String>) -> Self {
        LedgerError::InvalidParameter {
            parameter,
            message: message.into(),
        }
    }
}

impl ApiError for LedgerError {
    fn problem(&self) -> Problem {
        let detail = self.to_string();
        let typed = |status, slug: &str, title: &str| {
            Problem::typed(status, slug, title).with_detail(detail.clone())
        };
        match self {
            LedgerError::Auth(error) => error.problem(),
            LedgerError::InvalidParameter { parameter, message } => typed(
                StatusCode::BAD_REQUEST,
                "invalid-parameter",
                "Invalid parameter",
            )
            .with_errors([FieldError::new(*parameter, message.clone())]),
            LedgerError::BlockNotFound(_) => {
                typed(StatusCode::NOT_FOUND, "block-not-found", "Block not found")
            }
            LedgerError::EventNotFound(_) => {
                typed(StatusCode::NOT_FOUND, "event-not-found", "Event not found")
            }
            LedgerError::EmptyChain => typed(StatusCode::NOT_FOUND, "empty-chain", "No block yet"),
            LedgerError::Store(error) => {
                tracing::error!(%error, "Block store failure while serving a request");
                Problem::typed(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "block-store-unavailable",
                    "Block store unavailable",
                )
                .with_detail("the ledger cannot read its block store; retry later")
                .with_header("retry-after", "2")
            }
        }
    }
}

impl_response_error!(LedgerError);
