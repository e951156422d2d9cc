//! [`RegistryError`]: every way a registry request can fail, mapped to an
//! RFC 9457 problem in ONE place ([`ApiError::problem`] below).
//!
//! Invariants: every 4xx names what is wrong (the field, the identifier or
//! the conflicting value); a product of another tenant is reported exactly
//! like a product that does not exist (404), so existence never leaks; an
//! infrastructure failure is a 503 with `Retry-After` (through
//! `tracechain-runtime`), never a 500; 5xx bodies carry no internal detail.

use actix_web::http::StatusCode;
use tracechain_bus::BusError;
use tracechain_http::{ApiError, AuthError, FieldError, Problem, impl_response_error};
use tracechain_qr::QrParameterError;
use tracechain_runtime::idempotency::IdempotencyError;
use tracechain_store::StoreError;

/// Why a registry request failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Authentication or role check failed (401/403).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The body's fields are invalid (422), each one listed.
    #[error("the request is invalid: {}", FieldError::describe(.0))]
    Invalid(Vec<FieldError>),
    /// A path or query parameter is invalid (400).
    #[error("{parameter} is invalid: {message}")]
    InvalidParameter {
        /// The parameter's name.
        parameter: String,
        /// What is wrong with it.
        message: String,
    },
    /// No product with this id is visible to the caller (404).
    #[error("product {0} not found")]
    ProductNotFound(String),
    /// No such lot of a product (404).
    #[error("lot {lot} of product {product} not found")]
    LotNotFound {
        /// The product id.
        product: String,
        /// The lot number.
        lot: String,
    },
    /// No item with this GTIN and serial (404).
    #[error("no item with gtin {gtin} and serial {serial} is registered")]
    ItemNotFound {
        /// The GTIN.
        gtin: String,
        /// The serial.
        serial: String,
    },
    /// No product with this GTIN (404; resolver).
    #[error("no product with gtin {0} is registered")]
    GtinNotFound(String),
    /// No lot with this number for this GTIN (404; resolver).
    #[error("no lot {lot} of gtin {gtin} is registered")]
    GtinLotNotFound {
        /// The GTIN.
        gtin: String,
        /// The lot number.
        lot: String,
    },
    /// A label sheet was asked for a lot without items (404).
    #[error("lot {lot} of product {product} has no serialised items to print")]
    NothingToPrint {
        /// The product id.
        product: String,
        /// The lot number.
        lot: String,
    },
    /// The item exists, but not in the lot the URI names (404).
    #[error("serial {serial} of gtin {gtin} is not in lot {lot}")]
    LotMismatch {
        /// The GTIN.
        gtin: String,
        /// The serial.
        serial: String,
        /// The lot the URI named.
        lot: String,
    },
    /// The GTIN is already registered (409).
    #[error("gtin {0} is already registered")]
    DuplicateGtin(String),
    /// The lot already exists for this product (409).
    #[error("lot {lot} of product {product} already exists")]
    DuplicateLot {
        /// The product id.
        product: String,
        /// The lot number.
        lot: String,
    },
    /// A serial is given twice in the request (409).
    #[error("serial {0} appears more than once in the request")]
    DuplicateSerialInRequest(String),
    /// A serial is already registered for this GTIN (409).
    #[error("serial {serial} is already registered for gtin {gtin}")]
    DuplicateSerial {
        /// The GTIN.
        gtin: String,
        /// The first serial found already registered.
        serial: String,
    },
    /// The lot is already recalled (409).
    #[error("lot {lot} of product {product} is already recalled")]
    AlreadyRecalled {
        /// The product id.
        product: String,
        /// The lot number.
        lot: String,
    },
    /// Items cannot be added to a recalled lot (409).
    #[error("lot {lot} of product {product} is recalled; no items can be added to it")]
    LotRecalled {
        /// The product id.
        product: String,
        /// The lot number.
        lot: String,
    },
    /// Another write to the same product held its lock for too long (409).
    #[error("another change to product {0} is in progress; retry shortly")]
    ProductBusy(String),
    /// The `Idempotency-Key` header is malformed (400).
    #[error("idempotency-key header {0}")]
    InvalidIdempotencyKey(&'static str),
    /// A request with the same `Idempotency-Key` is still running (409).
    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyInFlight,
    /// The `Idempotency-Key` was used with a different body (422).
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    /// The event bus did not acknowledge the event (503).
    #[error("the event bus failed")]
    Bus(#[source] BusError),
    /// The state store failed (503 when unreachable, else 500).
    #[error("the state store failed")]
    Store(#[source] StoreError),
    /// Anything else (500).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for RegistryError {
    fn from(error: StoreError) -> Self {
        RegistryError::Store(error)
    }
}

impl From<IdempotencyError> for RegistryError {
    fn from(error: IdempotencyError) -> Self {
        match error {
            IdempotencyError::InvalidKey(reason) => RegistryError::InvalidIdempotencyKey(reason),
            IdempotencyError::InFlight => RegistryError::IdempotencyInFlight,
            IdempotencyError::KeyReused => RegistryError::IdempotencyKeyReused,
            IdempotencyError::Store(error) => RegistryError::Store(error),
            IdempotencyError::Internal(reason) => RegistryError::Internal(anyhow::anyhow!(reason)),
        }
    }
}

impl From<FieldError> for RegistryError {
    /// Parameter errors of shared code (paging, content negotiation).
    fn from(error: FieldError) -> Self {
        RegistryError::InvalidParameter {
            parameter: error.field,
            message: error.message,
        }
    }
}

impl From<BusError> for RegistryError {
    fn from(error: BusError) -> Self {
        RegistryError::Bus(error)
    }
}

/// A QR query parameter (`size`, `margin`, `ecc`) out of bounds: 400 naming it.
impl From<QrParameterError> for RegistryError {
    fn from(error: QrParameterError) -> Self {
        RegistryError::parameter(error.parameter, error.message)
    }
}

impl RegistryError {
    /// A 400 for a query or path parameter.
    pub fn parameter(parameter: impl Into<String>, message: impl Into<String>) -> Self {
        RegistryError::InvalidParameter {
            parameter: parameter.into(),
            message: message.into(),
        }
    }

    /// A 422 for one body field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        RegistryError::Invalid(vec![FieldError::new(field, message)])
    }
}

impl ApiError for RegistryError {
    fn problem(&self) -> Problem {
        let detail = self.to_string();
        let typed = |status, slug: &str, title: &str| {
            Problem::typed(status, slug, title).with_detail(detail.clone())
        };
        match self {
            RegistryError::Auth(error) => error.problem(),
            RegistryError::Invalid(errors) => typed(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-request",
                "Invalid request",
            )
            .with_errors(errors.iter().cloned()),
            RegistryError::InvalidParameter { parameter, message } => typed(
                StatusCode::BAD_REQUEST,
                "invalid-parameter",
                "Invalid parameter",
            )
            .with_errors([FieldError::new(parameter.clone(), message.clone())]),
            RegistryError::ProductNotFound(_) => typed(
                StatusCode::NOT_FOUND,
                "product-not-found",
                "Product not found",
            ),
            RegistryError::LotNotFound { .. } | RegistryError::GtinLotNotFound { .. } => {
                typed(StatusCode::NOT_FOUND, "lot-not-found", "Lot not found")
            }
            RegistryError::ItemNotFound { .. } => {
                typed(StatusCode::NOT_FOUND, "item-not-found", "Item not found")
            }
            RegistryError::NothingToPrint { .. } => {
                typed(StatusCode::NOT_FOUND, "no-items", "No items to print")
            }
            RegistryError::GtinNotFound(_) => typed(
                StatusCode::NOT_FOUND,
                "product-not-found",
                "Product not found",
            ),
            RegistryError::LotMismatch { .. } => typed(
                StatusCode::NOT_FOUND,
                "item-not-in-lot",
                "Item not in this lot",
            ),
            RegistryError::DuplicateGtin(_) => typed(
                StatusCode::CONFLICT,
                "duplicate-gtin",
                "GTIN already registered",
            ),
            RegistryError::DuplicateLot { .. } => {
                typed(StatusCode::CONFLICT, "duplicate-lot", "Lot already exists")
            }
            RegistryError::DuplicateSerialInRequest(serial)
            | RegistryError::DuplicateSerial { serial, .. } => typed(
                StatusCode::CONFLICT,
                "duplicate-serial",
                "Serial already registered",
            )
            .with_extension("serial", serial.clone()),
            RegistryError::AlreadyRecalled { .. } => typed(
                StatusCode::CONFLICT,
                "already-recalled",
                "Lot already recalled",
            ),
            RegistryError::LotRecalled { .. } => {
                typed(StatusCode::CONFLICT, "lot-recalled", "Lot recalled")
            }
            RegistryError::ProductBusy(_) => {
                typed(StatusCode::CONFLICT, "product-busy", "Product busy")
                    .with_header("retry-after", "1")
            }
            RegistryError::InvalidIdempotencyKey(_) => typed(
                StatusCode::BAD_REQUEST,
                "invalid-idempotency-key",
                "Invalid Idempotency-Key",
            )
            .with_errors([FieldError::new("Idempotency-Key", detail.clone())]),
            RegistryError::IdempotencyInFlight => typed(
                StatusCode::CONFLICT,
                "idempotency-key-in-flight",
                "Request in progress",
            )
            .with_header("retry-after", "1"),
            RegistryError::IdempotencyKeyReused => typed(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
            ),
            RegistryError::Bus(error) => tracechain_runtime::bus_problem(error),
            RegistryError::Store(error) if error.is_unavailable() => {
                tracechain_runtime::store_problem(error)
            }
            RegistryError::Store(_) | RegistryError::Internal(_) => Problem::internal(),
        }
    }
}

impl_response_error!(RegistryError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_details() {
        let e = RegistryError::DuplicateGtin("09506000134352".into());
        let p = e.problem();
        assert_eq!(p.status(), StatusCode::CONFLICT);
        assert_eq!(
            p.detail(),
            Some("gtin 09506000134352 is already registered")
        );
        let e = RegistryError::field("gtin", "gtin check digit is 3, expected 2");
        assert_eq!(e.problem().status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            e.to_string(),
            "the request is invalid: gtin: gtin check digit is 3, expected 2"
        );
        let e = RegistryError::Bus(BusError::Closed);
        assert_eq!(e.problem().status(), StatusCode::SERVICE_UNAVAILABLE);
        let e = RegistryError::Internal(anyhow::anyhow!("secret"));
        assert_eq!(e.problem().status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.problem().detail().unwrap_or("").contains("secret"));
    }

    #[test]
    fn a_qr_parameter_error_is_a_400_naming_the_parameter() {
        let query = tracechain_qr::QrQuery {
            margin: Some("17".into()),
            ..Default::default()
        };
        let e = RegistryError::from(query.validate().unwrap_err());
        assert!(
            matches!(&e, RegistryError::InvalidParameter { parameter, .. } if parameter == "margin"),
            "{e:?}"
        );
        assert_eq!(e.problem().status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            e.to_string(),
            "margin is invalid: must be from 0 to 16, got 17"
        );
    }
}
