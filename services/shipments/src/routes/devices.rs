//! `/v1/carriers/{carrier}/devices`: a carrier registers its phones'
//! ed25519 public keys, lists them and revokes them. A scan is accepted
//! only from a registered, unrevoked device, and is attributed to its
//! carrier.
//!
//! Invariants: one public key belongs to at most one device (claimed
//! before `device.registered` is published); a carrier manages only its
//! own devices (admins any); revocation takes effect for every scan
//! checked after the broker acknowledged `device.revoked`.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracechain_core::VerifyingKey;
use tracechain_domain::TenantId;
use tracechain_http::{Principal, Problem};
use tracechain_runtime::paging::{Page, PageQuery, encode_cursor};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::events::{DeviceRegistered, DeviceRevoked, ShipmentEvent};
use crate::error::ShipmentsError;
use crate::ingest::rfc3339;
use crate::projection::{Claim, DeviceRecord, DeviceStatus, Families, index, now_ms};
use crate::state::{AppState, DEVICE_ROLES};
use tracechain_runtime::idempotency::Reply;

/// Longest device label.
pub const MAX_LABEL_CHARS: usize = 100;

/// `POST /v1/carriers/{carrier}/devices`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDevice {
    /// The phone's ed25519 public key: standard base64 of its 32 raw bytes
    /// (WebCrypto `exportKey("raw")`), a valid curve point.
    #[schema(
        example = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        pattern = r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"
    )]
    pub public_key: String,
    /// What the carrier calls the phone, 1 to 100 characters.
    #[schema(
        example = "driver 7, Pixel 8",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub label: String,
}

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeviceResponse {
    /// The device id: the `device_id` of its scans.
    pub id: Uuid,
    /// Its carrier.
    pub carrier_id: String,
    /// Its label.
    pub label: String,
    /// Its public key (standard base64).
    pub public_key: String,
    /// `active` or `revoked`.
    #[schema(example = "active")]
    pub status: String,
    /// When it was registered (RFC 3339, UTC).
    pub registered_at: String,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

impl DeviceResponse {
    fn from_record(record: &DeviceRecord) -> Self {
        DeviceResponse {
            id: record.id,
            carrier_id: record.carrier.to_string(),
            label: record.label.clone(),
            public_key: record.public_key.clone(),
            status: match record.status {
                DeviceStatus::Active => "active",
                DeviceStatus::Revoked => "revoked",
            }
            .to_owned(),
            registered_at: rfc3339(record.registered_at),
            revoked_at: record.revoked_at.map(rfc3339),
        }
    }
}

/// The carrier in the path, if the caller may manage its devices.
fn managed_carrier(principal: &Principal, carrier: &str) -> Result<TenantId, ShipmentsError> {
    principal.require_role(&DEVICE_ROLES)?;
    let carrier = TenantId::parse(carrier)
        .map_err(|e| ShipmentsError::parameter("carrier", e.to_string()))?;
    if principal.role == tracechain_domain::Role::Carrier && principal.tenant != carrier {
        return Err(ShipmentsError::OtherCarrier {
            path: carrier.to_string(),
            actual: principal.tenant.to_string(),
        });
    }
    Ok(carrier)
}

/// Register a phone's public key.
///
/// The carrier (or an admin) registers a device once; the answer's `id` is
/// the `device_id` the phone puts in every scan it signs.
/// `device.registered` is published, and acknowledged by the broker,
/// before the answer.
#[utoipa::path(
    tag = "devices",
    request_body = RegisterDevice,
    params(
        ("carrier" = String, Path, description = "The carrier (tenant id).", pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response (1 to 255 visible ASCII characters, kept 24 h)."),
    ),
    responses(
        (status = 201, description = "Registered.", body = DeviceResponse),
        (status = 400, description = "The carrier id is invalid or the body is not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a carrier or admin key, or another carrier's key.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is already registered.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The bus or store is unavailable; nothing changed.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/carriers/{carrier}/devices")]
pub(crate) async fn register_device(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<RegisterDevice>,
) -> Result<HttpResponse, ShipmentsError> {
    let carrier = managed_carrier(&principal, &path)?;
    let request = body.into_inner();
    let (public_key, label) = validate_device(&request)?;
    state
        .idempotent(&principal, &req, &request, || async {
            let record = register(&state, carrier, public_key, label).await?;
            Ok(
                Reply::json(StatusCode::CREATED, &DeviceResponse::from_record(&record))?
                    .with_header(
                        "location",
                        format!("/v1/carriers/{}/devices/{}", record.carrier, record.id),
                    ),
            )
        })
        .await
}

/// The key (canonical base64) and label of a registration, or 422 listing
/// what is wrong.
fn validate_device(request: &RegisterDevice) -> Result<(String, String), ShipmentsError> {
    let mut errors = Vec::new();
    let key = VerifyingKey::from_base64(request.public_key.trim());
    if key.is_err() {
        errors.push(tracechain_http::FieldError::new(
            "public_key",
            "must be the standard base64 of a 32-byte ed25519 public key (a valid curve point)",
        ));
    }
    let label = request.label.trim().to_owned();
    if label.is_empty()
        || label.chars().count() > MAX_LABEL_CHARS
        || label.chars().any(char::is_control)
    {
        errors.push(tracechain_http::FieldError::new(
            "label",
            format!("must be 1 to {MAX_LABEL_CHARS} characters without control characters"),
        ));
    }
    match key {
        Ok(key) if errors.is_empty() => Ok((key.to_base64(), label)),
        _ => Err(ShipmentsError::Invalid(errors)),
    }
}

/// Claims the key, publishes `device.registered`, returns the record.
async fn register(
    state: &AppState,
    carrier: TenantId,
    public_key: String,
    label: String,
) -> Result<DeviceRecord, ShipmentsError> {
    let device_id = Uuid::now_v7();
    claim_key(
        &state.families,
        &public_key,
        device_id,
        state.lock_lease.as_millis(),
    )
    .await?;
    let event = ShipmentEvent::DeviceRegistered(DeviceRegistered {
        device_id,
        carrier: carrier.clone(),
        public_key: public_key.clone(),
        label,
    });
    let now = OffsetDateTime::now_utc();
    if let Err(error) = state
        .record(&[event], &BTreeSet::from([carrier.clone()]), &[], now)
        .await
    {
        if let Err(error) =
            Families::release_claim(&state.families.device_keys, &public_key, device_id).await
        {
            tracing::warn!(%error, "Releasing a device key claim failed; it becomes reclaimable after the lock lease");
        }
        return Err(error);
    }
    state
        .families
        .devices
        .get(&device_id.to_string())
        .await?
        .map(|v| v.value)
        .ok_or_else(|| ShipmentsError::Internal(anyhow::anyhow!("device {device_id} not applied")))
}

/// Claims `public_key` for `device`: 409 when an active device has it.
async fn claim_key(
    families: &Families,
    public_key: &str,
    device: Uuid,
    lease_ms: u128,
) -> Result<(), ShipmentsError> {
    let pending = Claim {
        owner: device,
        pending_since_ms: Some(now_ms()),
    };
    for _ in 0..8 {
        match families.device_keys.get(public_key).await? {
            None => {
                if families
                    .device_keys
                    .compare_and_set(public_key, None, &pending)
                    .await?
                    .is_applied()
                {
                    return Ok(());
                }
            }
            Some(current) => {
                let owner = current.value.owner;
                let holder = families.devices.get(&owner.to_string()).await?;
                let stale = match (&holder, current.value.pending_since_ms) {
                    // A revoked device's key may be registered again.
                    (Some(d), _) => d.value.status == DeviceStatus::Revoked,
                    (None, Some(at)) => u128::from(now_ms().saturating_sub(at)) > lease_ms,
                    (None, None) => false,
                };
                if !stale {
                    return Err(ShipmentsError::DeviceKeyRegistered(owner));
                }
                if families
                    .device_keys
                    .compare_and_set(public_key, Some(current.version), &pending)
                    .await?
                    .is_applied()
                {
                    return Ok(());
                }
            }
        }
    }
    Err(ShipmentsError::Internal(anyhow::anyhow!(
        "the claim on a device key kept changing"
    )))
}

/// List a carrier's devices.
#[utoipa::path(
    tag = "devices",
    params(("carrier" = String, Path, description = "The carrier (tenant id).", pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"), PageQuery),
    responses(
        (status = 200, description = "A page of devices, oldest first.", body = Page<DeviceResponse>),
        (status = 400, description = "A parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a carrier or admin key, or another carrier's key.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/carriers/{carrier}/devices")]
pub(crate) async fn list_devices(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ShipmentsError> {
    let carrier = managed_carrier(&principal, &path)?;
    let page = query.validate()?;
    let entries = state
        .families
        .store
        .index_range(
            &index::devices_of(&carrier),
            page.after.as_ref(),
            page.limit,
        )
        .await?;
    let ids: Vec<&str> = entries.entries.iter().map(|e| e.member.as_str()).collect();
    let records = state.families.devices.get_many(&ids).await?;
    Ok(HttpResponse::Ok().json(Page {
        items: records
            .iter()
            .flatten()
            .map(|v| DeviceResponse::from_record(&v.value))
            .collect(),
        next_cursor: entries.next.as_ref().map(encode_cursor),
    }))
}

async fn device_of(
    state: &AppState,
    carrier: &TenantId,
    device: &str,
) -> Result<DeviceRecord, ShipmentsError> {
    let not_found = || ShipmentsError::DeviceNotFound {
        carrier: carrier.to_string(),
        device: device.chars().take(64).collect(),
    };
    let id = Uuid::parse_str(device).map_err(|_| not_found())?;
    match state.families.devices.get(&id.to_string()).await? {
        Some(record) if record.value.carrier == *carrier => Ok(record.value),
        _ => Err(not_found()),
    }
}

/// Read one device.
#[utoipa::path(
    tag = "devices",
    params(
        ("carrier" = String, Path, description = "The carrier (tenant id).", pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"),
        ("device" = uuid::Uuid, Path, description = "The device id."),
    ),
    responses(
        (status = 200, description = "The device.", body = DeviceResponse),
        (status = 400, description = "The carrier id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a carrier or admin key, or another carrier's key.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such device of this carrier.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/carriers/{carrier}/devices/{device}")]
pub(crate) async fn get_device(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ShipmentsError> {
    let (carrier, device) = path.into_inner();
    let carrier = managed_carrier(&principal, &carrier)?;
    let record = device_of(&state, &carrier, &device).await?;
    Ok(HttpResponse::Ok().json(DeviceResponse::from_record(&record)))
}

/// Revoke a device.
///
/// Its later scans are refused (`check: device`); scans it made before
/// stay valid, and the device stays readable as `revoked` (the ledger
/// keeps its key for anyone verifying its old scans). `device.revoked` is
/// published before the answer.
#[utoipa::path(
    tag = "devices",
    params(
        ("carrier" = String, Path, description = "The carrier (tenant id).", pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"),
        ("device" = uuid::Uuid, Path, description = "The device id."),
    ),
    responses(
        (status = 200, description = "Revoked.", body = DeviceResponse),
        (status = 400, description = "The carrier id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a carrier or admin key, or another carrier's key.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such device of this carrier.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already revoked.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The bus or store is unavailable; nothing changed.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/carriers/{carrier}/devices/{device}/revoke")]
pub(crate) async fn revoke_device(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ShipmentsError> {
    let (carrier, device) = path.into_inner();
    let carrier = managed_carrier(&principal, &carrier)?;
    let record = device_of(&state, &carrier, &device).await?;
    if record.status == DeviceStatus::Revoked {
        return Err(ShipmentsError::DeviceAlreadyRevoked(record.id));
    }
    let event = ShipmentEvent::DeviceRevoked(DeviceRevoked {
        device_id: record.id,
        carrier: carrier.clone(),
    });
    state
        .record(
            &[event],
            &BTreeSet::from([carrier]),
            &[],
            OffsetDateTime::now_utc(),
        )
        .await?;
    let record = state
        .families
        .devices
        .get(&record.id.to_string())
        .await?
        .map_or(record, |v| v.value);
    Ok(HttpResponse::Ok().json(DeviceResponse::from_record(&record)))
}
