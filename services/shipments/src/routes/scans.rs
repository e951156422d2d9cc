//! `/v1/scans` and `/v1/scans/batch`: what a carrier's phone posts.
//!
//! Scans are authenticated by their signature, not by an API key: the
//! device key registered by the carrier is the credential (see
//! [`crate::ingest`] for the checks, in order). A batch holds scans queued
//! on a phone while it was offline, each signed when it was scanned; they
//! are applied in `scanned_at` order (so a pickup queued before a delivery
//! is applied first) and each is accepted or refused on its own.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracechain_http::{ApiError, Problem};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ShipmentsError;
use crate::ingest::{Arrival, KeyCache, ScanAccepted, ingest};
use crate::state::AppState;

/// A scan as a phone sends it (documentation of the body; the service
/// reads the JSON as sent, since the signature covers exactly it).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ScanBody {
    /// The scanned URI: a shipment label (`{base}/00/{sscc}`) or a
    /// serialised item in an open shipment.
    #[schema(
        example = "https://id.example.com/00/006141410000000012",
        min_length = 1,
        max_length = 2048
    )]
    pub code: String,
    /// `pickup`, `handover`, `checkpoint`, `delivery` or `exception`.
    #[schema(value_type = String, example = "pickup", pattern = "^(pickup|handover|checkpoint|delivery|exception)$")]
    pub kind: String,
    /// The registered device.
    pub device_id: Uuid,
    /// When the phone scanned (RFC 3339).
    #[schema(example = "2026-11-24T08:15:00.123Z", format = DateTime)]
    pub scanned_at: String,
    /// Coordinates — or give `gln` (exactly one of the two).
    pub location: Option<LocationBody>,
    /// The GLN-13 of the place — or give `location`.
    #[schema(pattern = "^[0-9]{13}$")]
    pub gln: Option<String>,
    /// 16 to 128 characters from `A-Z a-z 0-9 - _`, never reused by the device.
    #[schema(pattern = "^[A-Za-z0-9_-]{16,128}$")]
    pub nonce: String,
    /// The receiving party (tenant id) of a hand-over; only for hand-overs.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,63}$")]
    pub to_party: Option<String>,
    /// Free text.
    #[schema(max_length = 500)]
    pub note: Option<String>,
    /// Standard base64 of the ed25519 signature over the RFC 8785 bytes of
    /// every other member, as sent.
    #[schema(pattern = "^[A-Za-z0-9+/]{85}[AQgw]==$")]
    pub signature: String,
}

/// Post a signed scan.
///
/// Checks, in order: `device`, `signature`, `nonce`, `skew`, `code`,
/// `custody`, `transition`; a refusal's problem names the failed one in
/// `check`, and nothing is published. An accepted scan is published to
/// `shipment.events` (`scan.recorded`, plus `shipment.delivered` or
/// `shipment.exception`) and acknowledged by the broker before the 202.
#[utoipa::path(
    tag = "scans",
    request_body = ScanBody,
    responses(
        (status = 202, description = "Accepted and published.", body = ScanAccepted),
        (status = 400, description = "The body is not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The signature does not verify (`check: signature`).", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Unknown or revoked device (`check: device`), or not the custodian (`check: custody`).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Replayed nonce (`check: nonce`) or an illegal transition (`check: transition`).", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed scan (`check: format`), time out of range (`check: skew`) or a code that resolves to no shipment (`check: code`).", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The bus or store is unavailable, or the service is rebuilding its state. Retry the same signed scan: after a failed publish it is `nonce-in-flight` (409) until its lease lapses, then accepted, or refused as a replay naming its event if the broker had taken it.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/v1/scans")]
pub(crate) async fn post_scan(
    state: web::Data<AppState>,
    keys: web::Data<KeyCache>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ShipmentsError> {
    let accepted = ingest(&state, &keys, body.into_inner(), Arrival::Live).await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(accepted))
}

/// Where a scan happened.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LocationBody {
    /// Latitude.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    /// Longitude.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
    /// Accuracy radius in metres.
    #[schema(minimum = 0, maximum = 100000)]
    pub accuracy_m: f64,
}

/// `POST /v1/scans/batch`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanBatch {
    /// Signed scans queued while offline (1 to `scans.max_batch`, 500 by default).
    #[schema(value_type = Vec<ScanBody>, min_items = 1, max_items = 500)]
    pub scans: Vec<serde_json::Value>,
}

/// One scan's outcome in a batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchResult {
    /// The scan's position in the request.
    pub index: usize,
    /// Its nonce, when it had one.
    pub nonce: Option<String>,
    /// Whether it was accepted and published.
    pub accepted: bool,
    /// The HTTP status it would have had alone (202, or the refusal's).
    pub status: u16,
    /// The `scan.recorded` event id, when accepted.
    pub event_id: Option<Uuid>,
    /// The shipment, when accepted.
    pub shipment_id: Option<Uuid>,
    /// The state after the scan, when accepted.
    pub state: Option<String>,
    /// Why it was refused: the same problem document `/v1/scans` answers.
    #[schema(value_type = Option<Object>)]
    pub problem: Option<serde_json::Value>,
}

/// Outcomes in request order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    /// One per scan, in the order they were sent.
    pub results: Vec<BatchResult>,
    /// How many were accepted.
    pub accepted: usize,
    /// How many were refused.
    pub refused: usize,
}

/// Post scans queued while offline.
///
/// Each scan is checked like `/v1/scans`, except that `scanned_at` may be
/// as old as the configured offline age (default 7 days); scans are
/// applied in `scanned_at` order. The answer lists each one's outcome in
/// request order; a refused scan does not stop the others. A scan whose
/// outcome is a 503 was not published and can be sent again.
#[utoipa::path(
    tag = "scans",
    request_body = ScanBatch,
    responses(
        (status = 200, description = "Each scan's outcome.", body = BatchResponse),
        (status = 400, description = "The body is not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No scans, or more than the batch limit.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/v1/scans/batch")]
pub(crate) async fn post_scan_batch(
    state: web::Data<AppState>,
    keys: web::Data<KeyCache>,
    body: web::Json<ScanBatch>,
) -> Result<HttpResponse, ShipmentsError> {
    let scans = body.into_inner().scans;
    if scans.is_empty() || scans.len() > state.scans.max_batch {
        return Err(ShipmentsError::field(
            "scans",
            format!("must hold 1 to {} scans", state.scans.max_batch),
        ));
    }
    let mut order: Vec<(usize, Option<OffsetDateTime>)> = scans
        .iter()
        .enumerate()
        .map(|(i, scan)| {
            let at = scan
                .get("scanned_at")
                .and_then(serde_json::Value::as_str)
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
            (i, at)
        })
        .collect();
    // Oldest first; unreadable times last (they fail the format check).
    order.sort_by_key(|(i, at)| (at.is_none(), *at, *i));
    let mut results: Vec<Option<BatchResult>> = vec![None; scans.len()];
    let mut scans: Vec<Option<serde_json::Value>> = scans.into_iter().map(Some).collect();
    for (i, _) in order {
        let Some(scan) = scans[i].take() else {
            continue;
        };
        let nonce = scan
            .get("nonce")
            .and_then(serde_json::Value::as_str)
            .map(|n| n.chars().take(128).collect());
        let result = match ingest(&state, &keys, scan, Arrival::Offline).await {
            Ok(accepted) => BatchResult {
                index: i,
                nonce,
                accepted: true,
                status: 202,
                event_id: Some(accepted.event_id),
                shipment_id: Some(accepted.shipment_id),
                state: Some(accepted.state.as_str().to_owned()),
                problem: None,
            },
            Err(error) => {
                let problem = error.problem();
                BatchResult {
                    index: i,
                    nonce,
                    accepted: false,
                    status: problem.status().as_u16(),
                    event_id: None,
                    shipment_id: None,
                    state: None,
                    problem: serde_json::from_slice(&problem.body()).ok(),
                }
            }
        };
        results[i] = Some(result);
    }
    let results: Vec<BatchResult> = results.into_iter().flatten().collect();
    let accepted = results.iter().filter(|r| r.accepted).count();
    Ok(HttpResponse::Ok().json(BatchResponse {
        refused: results.len() - accepted,
        accepted,
        results,
    }))
}
