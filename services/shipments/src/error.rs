//! [`ShipmentsError`] and [`ScanRefusal`]: every way a shipments request
//! can fail, mapped to an RFC 9457 problem in ONE place (the two
//! `problem` functions below).
//!
//! Invariants: every 4xx names what is wrong; a refused scan's problem
//! carries `check` — which of the ordered scan checks failed (`format`,
//! `device`, `signature`, `nonce`, `skew`, `code`, `custody`,
//! `transition`) — so a phone can tell the user precisely; another
//! tenant's shipment reads exactly like a missing one (404); an
//! infrastructure failure is a 503 with `Retry-After`, never a 500.

use actix_web::http::StatusCode;
use tracechain_bus::BusError;
use tracechain_http::{ApiError, AuthError, FieldError, Problem, impl_response_error};
use tracechain_runtime::idempotency::IdempotencyError;
use tracechain_store::StoreError;
use uuid::Uuid;

use crate::domain::scan::ScanFormatError;
use crate::domain::state::TransitionError;

/// Why a scan was refused. Each variant belongs to one check, in the order
/// the service runs them ([`ScanRefusal::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanRefusal {
    /// The body is not a well-formed scan.
    #[error("the scan is malformed: {0}")]
    Format(ScanFormatError),
    /// No device with this id is registered.
    #[error("device {0} is not registered")]
    DeviceUnknown(Uuid),
    /// The device was revoked.
    #[error("device {0} was revoked; register the phone again")]
    DeviceRevoked(Uuid),
    /// The signature does not verify under the device's key.
    #[error(
        "the signature does not verify under device {0}'s key (ed25519 over the RFC 8785 bytes of the scan without `signature`)"
    )]
    Signature(Uuid),
    /// The nonce was used by an accepted scan.
    #[error("nonce {nonce} was already used by an accepted scan of this device (a replay)")]
    NonceReplayed {
        /// The nonce.
        nonce: String,
        /// The event id of the scan that used it, when known.
        event_id: Option<Uuid>,
    },
    /// A scan with this nonce is being processed right now.
    #[error("a scan with nonce {0} is being processed; retry shortly")]
    NonceInFlight(String),
    /// `scanned_at` is too far from the server's clock.
    #[error(
        "scanned_at {scanned_at} is {off_by_secs} s from the server's clock; at most {allowed_secs} s is accepted"
    )]
    Skew {
        /// The scan's time.
        scanned_at: String,
        /// How far off, in seconds.
        off_by_secs: i64,
        /// The allowed skew.
        allowed_secs: u64,
    },
    /// An offline scan is older than accepted.
    #[error(
        "scanned_at {scanned_at} is older than the {allowed_secs} s an offline scan may be queued"
    )]
    TooOld {
        /// The scan's time.
        scanned_at: String,
        /// The accepted age.
        allowed_secs: u64,
    },
    /// The code does not resolve to a shipment.
    #[error("code {code:?} {reason}")]
    Code {
        /// The scanned code.
        code: String,
        /// Why it does not resolve.
        reason: String,
    },
    /// The scanning carrier does not hold the shipment.
    #[error(
        "{party} may not scan shipment {sscc}: {custodian} holds it (only the custodian, or the receiving party of a handover, may scan)"
    )]
    Custody {
        /// The shipment's SSCC.
        sscc: String,
        /// The scanning party.
        party: String,
        /// The custodian.
        custodian: String,
    },
    /// The transition is not legal.
    #[error("shipment {sscc}: {source}")]
    Transition {
        /// The shipment's SSCC.
        sscc: String,
        /// What the state machine said.
        source: TransitionError,
    },
}

impl ScanRefusal {
    /// The check that failed, as the problem's `check` member.
    pub fn check(&self) -> &'static str {
        match self {
            ScanRefusal::Format(_) => "format",
            ScanRefusal::DeviceUnknown(_) | ScanRefusal::DeviceRevoked(_) => "device",
            ScanRefusal::Signature(_) => "signature",
            ScanRefusal::NonceReplayed { .. } | ScanRefusal::NonceInFlight(_) => "nonce",
            ScanRefusal::Skew { .. } | ScanRefusal::TooOld { .. } => "skew",
            ScanRefusal::Code { .. } => "code",
            ScanRefusal::Custody { .. } => "custody",
            ScanRefusal::Transition { .. } => "transition",
        }
    }

    /// The problem document of the refusal.
    pub fn problem(&self) -> Problem {
        let (status, slug, title) = match self {
            ScanRefusal::Format(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "scan-malformed",
                "Malformed scan",
            ),
            ScanRefusal::DeviceUnknown(_) => {
                (StatusCode::FORBIDDEN, "device-unknown", "Unknown device")
            }
            ScanRefusal::DeviceRevoked(_) => {
                (StatusCode::FORBIDDEN, "device-revoked", "Device revoked")
            }
            ScanRefusal::Signature(_) => (
                StatusCode::UNAUTHORIZED,
                "signature-invalid",
                "Invalid signature",
            ),
            ScanRefusal::NonceReplayed { .. } => {
                (StatusCode::CONFLICT, "nonce-replayed", "Replayed scan")
            }
            ScanRefusal::NonceInFlight(_) => {
                (StatusCode::CONFLICT, "nonce-in-flight", "Scan in progress")
            }
            ScanRefusal::Skew { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "scanned-at-skew",
                "Scan time out of range",
            ),
            ScanRefusal::TooOld { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "scan-too-old",
                "Offline scan too old",
            ),
            ScanRefusal::Code { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "code-unresolved",
                "Code does not resolve to a shipment",
            ),
            ScanRefusal::Custody { .. } => {
                (StatusCode::FORBIDDEN, "not-custodian", "Not the custodian")
            }
            ScanRefusal::Transition { .. } => (
                StatusCode::CONFLICT,
                "illegal-transition",
                "Illegal transition",
            ),
        };
        let mut problem = Problem::typed(status, slug, title)
            .with_detail(self.to_string())
            .with_extension("check", self.check());
        match self {
            ScanRefusal::Format(ScanFormatError::Field { field, message }) => {
                problem = problem.with_errors([FieldError::new(*field, message.clone())]);
            }
            ScanRefusal::NonceReplayed {
                event_id: Some(id), ..
            } => {
                problem = problem.with_extension("event_id", id.to_string());
            }
            ScanRefusal::NonceInFlight(_) => {
                problem = problem.with_header("retry-after", "1");
            }
            _ => {}
        }
        problem
    }
}

/// Why a shipments request failed.
#[derive(Debug, thiserror::Error)]
pub enum ShipmentsError {
    /// Authentication or role check failed (401/403).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The caller acts for another carrier than the path names (403).
    #[error("the API key acts for {actual}, not for carrier {path}")]
    OtherCarrier {
        /// The carrier in the path.
        path: String,
        /// The caller's tenant.
        actual: String,
    },
    /// The body's fields are invalid (422), each one listed.
    #[error("the request is invalid: {}", FieldError::describe(.0))]
    Invalid(Vec<FieldError>),
    /// A path or query parameter is invalid (400).
    #[error("{} is invalid: {}", .0.field, .0.message)]
    InvalidParameter(FieldError),
    /// No shipment with this id visible to the caller (404).
    #[error("shipment {0} not found")]
    ShipmentNotFound(String),
    /// No shipment with this SSCC (404; the label resolver).
    #[error("no shipment has sscc {0}")]
    SsccNotFound(String),
    /// No device with this id for this carrier (404).
    #[error("device {device} of carrier {carrier} not found")]
    DeviceNotFound {
        /// The carrier.
        carrier: String,
        /// The device id.
        device: String,
    },
    /// The public key is already registered to an active device (409).
    #[error("this public key is already registered as device {0}")]
    DeviceKeyRegistered(Uuid),
    /// The device is already revoked (409).
    #[error("device {0} is already revoked")]
    DeviceAlreadyRevoked(Uuid),
    /// An item does not exist or is not the manufacturer's (422).
    #[error("item {0} is not a serialised item of this manufacturer in the registry")]
    ItemUnknown(String),
    /// An item is already in an open shipment (409).
    #[error("item {item} is already in open shipment {shipment}")]
    ItemInOpenShipment {
        /// The item's URI.
        item: String,
        /// The shipment holding it.
        shipment: Uuid,
    },
    /// Another scan of the same shipment held its lock too long (409).
    #[error("another scan of shipment {0} is in progress; retry shortly")]
    ShipmentBusy(Uuid),
    /// Every SSCC under the configured prefix is used (503).
    #[error("no SSCC can be issued: {0}")]
    SsccExhausted(String),
    /// The `Idempotency-Key` header is malformed (400).
    #[error("idempotency-key header {0}")]
    InvalidIdempotencyKey(&'static str),
    /// A request with the same `Idempotency-Key` is still running (409).
    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyInFlight,
    /// The `Idempotency-Key` was used with a different body (422).
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    /// A scan was refused.
    #[error(transparent)]
    Scan(#[from] ScanRefusal),
    /// The projection is being rebuilt (the store lost it): nothing can
    /// be checked against it yet (503).
    #[error("this service is rebuilding its state from the event log; retry shortly")]
    Rebuilding,
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

impl From<StoreError> for ShipmentsError {
    fn from(error: StoreError) -> Self {
        ShipmentsError::Store(error)
    }
}

impl From<IdempotencyError> for ShipmentsError {
    fn from(error: IdempotencyError) -> Self {
        match error {
            IdempotencyError::InvalidKey(reason) => ShipmentsError::InvalidIdempotencyKey(reason),
            IdempotencyError::InFlight => ShipmentsError::IdempotencyInFlight,
            IdempotencyError::KeyReused => ShipmentsError::IdempotencyKeyReused,
            IdempotencyError::Store(error) => ShipmentsError::Store(error),
            IdempotencyError::Internal(reason) => ShipmentsError::Internal(anyhow::anyhow!(reason)),
        }
    }
}

impl From<BusError> for ShipmentsError {
    fn from(error: BusError) -> Self {
        ShipmentsError::Bus(error)
    }
}

impl ShipmentsError {
    /// A 400 for a query or path parameter.
    pub fn parameter(parameter: impl Into<String>, message: impl Into<String>) -> Self {
        ShipmentsError::InvalidParameter(FieldError::new(parameter, message))
    }

    /// A 422 for one body field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ShipmentsError::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<FieldError> for ShipmentsError {
    /// Paging and other parameter errors from shared code.
    fn from(error: FieldError) -> Self {
        ShipmentsError::InvalidParameter(error)
    }
}

impl ApiError for ShipmentsError {
    fn problem(&self) -> Problem {
        let detail = self.to_string();
        let typed = |status, slug: &str, title: &str| {
            Problem::typed(status, slug, title).with_detail(detail.clone())
        };
        match self {
            ShipmentsError::Auth(error) => error.problem(),
            ShipmentsError::OtherCarrier { .. } => {
                typed(StatusCode::FORBIDDEN, "other-carrier", "Another carrier")
            }
            ShipmentsError::Invalid(errors) => typed(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-request",
                "Invalid request",
            )
            .with_errors(errors.iter().cloned()),
            ShipmentsError::InvalidParameter(error) => typed(
                StatusCode::BAD_REQUEST,
                "invalid-parameter",
                "Invalid parameter",
            )
            .with_errors([error.clone()]),
            ShipmentsError::ShipmentNotFound(_) | ShipmentsError::SsccNotFound(_) => typed(
                StatusCode::NOT_FOUND,
                "shipment-not-found",
                "Shipment not found",
            ),
            ShipmentsError::DeviceNotFound { .. } => typed(
                StatusCode::NOT_FOUND,
                "device-not-found",
                "Device not found",
            ),
            ShipmentsError::DeviceKeyRegistered(id) => typed(
                StatusCode::CONFLICT,
                "device-key-registered",
                "Key already registered",
            )
            .with_extension("device_id", id.to_string()),
            ShipmentsError::DeviceAlreadyRevoked(_) => typed(
                StatusCode::CONFLICT,
                "device-already-revoked",
                "Device already revoked",
            ),
            ShipmentsError::ItemUnknown(item) => typed(
                StatusCode::UNPROCESSABLE_ENTITY,
                "item-unknown",
                "Unknown item",
            )
            .with_extension("item", item.clone()),
            ShipmentsError::ItemInOpenShipment { item, shipment } => typed(
                StatusCode::CONFLICT,
                "item-in-open-shipment",
                "Item already shipping",
            )
            .with_extension("item", item.clone())
            .with_extension("shipment_id", shipment.to_string()),
            ShipmentsError::ShipmentBusy(_) => {
                typed(StatusCode::CONFLICT, "shipment-busy", "Shipment busy")
                    .with_header("retry-after", "1")
            }
            ShipmentsError::SsccExhausted(_) => typed(
                StatusCode::SERVICE_UNAVAILABLE,
                "sscc-exhausted",
                "No SSCC left",
            ),
            ShipmentsError::InvalidIdempotencyKey(_) => typed(
                StatusCode::BAD_REQUEST,
                "invalid-idempotency-key",
                "Invalid Idempotency-Key",
            )
            .with_errors([FieldError::new("Idempotency-Key", detail.clone())]),
            ShipmentsError::IdempotencyInFlight => typed(
                StatusCode::CONFLICT,
                "idempotency-key-in-flight",
                "Request in progress",
            )
            .with_header("retry-after", "1"),
            ShipmentsError::IdempotencyKeyReused => typed(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
            ),
            ShipmentsError::Scan(refusal) => refusal.problem(),
            ShipmentsError::Rebuilding => tracechain_http::gate::rebuilding_problem(),
            ShipmentsError::Bus(error) => tracechain_runtime::bus_problem(error),
            ShipmentsError::Store(error) if error.is_unavailable() => {
                tracechain_runtime::store_problem(error)
            }
            // Writers kept changing the same record: nothing was written,
            // and a retry will most likely succeed.
            ShipmentsError::Store(StoreError::Contended { .. }) => {
                Problem::typed(StatusCode::SERVICE_UNAVAILABLE, "store-contended", "Busy")
                    .with_detail(
                        "concurrent changes to the same record; nothing was changed, retry",
                    )
                    .with_header("retry-after", "1")
            }
            ShipmentsError::Store(_) | ShipmentsError::Internal(_) => Problem::internal(),
        }
    }
}

impl_response_error!(ShipmentsError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_their_check_and_status() {
        let id = Uuid::nil();
        let cases = [
            (ScanRefusal::DeviceUnknown(id), "device", 403),
            (ScanRefusal::Signature(id), "signature", 401),
            (
                ScanRefusal::NonceReplayed {
                    nonce: "n".repeat(16),
                    event_id: None,
                },
                "nonce",
                409,
            ),
            (
                ScanRefusal::Code {
                    code: "x".into(),
                    reason: "is not a Digital Link".into(),
                },
                "code",
                422,
            ),
        ];
        for (refusal, check, status) in cases {
            let problem = ShipmentsError::Scan(refusal).problem();
            assert_eq!(problem.status().as_u16(), status);
            assert_eq!(problem.extension("check").unwrap(), check);
        }
    }

    #[test]
    fn internal_errors_hide_their_detail() {
        let e = ShipmentsError::Internal(anyhow::anyhow!("secret"));
        assert_eq!(e.problem().status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.problem().detail().unwrap_or("").contains("secret"));
        let e = ShipmentsError::Bus(BusError::Closed);
        assert_eq!(e.problem().status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
