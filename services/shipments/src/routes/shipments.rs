//! `/v1/shipments`: a manufacturer ships serialised items with a carrier;
//! anyone involved reads the shipment with its custody chain.
//!
//! Invariants: every item exists in the registry (as learned from
//! `registry.events`) and belongs to the shipping manufacturer; an item is
//! in at most one open shipment (claimed before `shipment.created` is
//! published, released when the shipment is delivered); every SSCC is
//! issued once (claimed before publishing, the sequence recovered from
//! the events on a rebuild); a refused request leaves no claim behind.

use std::collections::{BTreeSet, HashSet};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracechain_domain::{DigitalLink, Gln, Gtin, Lot, Role, Serial, TenantId};
use tracechain_http::{FieldError, Principal, Problem};
use tracechain_runtime::paging::{Page, encode_cursor, parse_limit};
use tracechain_store::{IndexCursor, IndexEntry, MAX_PAGE_LIMIT};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::events::{Place, ShipmentCreated, ShipmentEvent};
use crate::domain::state::ShipmentState;
use crate::error::ShipmentsError;
use crate::ingest::rfc3339;
use crate::projection::{Claim, CustodyEntry, Families, ShipmentRecord, index, now_ms};
use crate::state::{AppState, CREATE_ROLES, READ_ROLES, may_see};
use tracechain_runtime::idempotency::Reply;

/// Most index entries one listing request examines (filters may skip many).
const MAX_EXAMINED: usize = 2000;

/// `POST /v1/shipments`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShipment {
    /// The carrier (tenant id) assigned to move it.
    #[schema(example = "fastfreight", pattern = "^[a-z0-9][a-z0-9-]{0,63}$")]
    pub carrier_id: String,
    /// The items: GS1 Digital Link URIs of serialised items
    /// (`…/01/{gtin}[/10/{lot}]/21/{serial}`, any host or none).
    #[schema(example = json!(["https://id.example.com/01/09506000134352/10/L1/21/S1"]), min_items = 1, max_items = 1000)]
    pub items: Vec<String>,
    /// Where it leaves from.
    pub origin: PlaceInput,
    /// Where it goes.
    pub destination: PlaceInput,
    /// When it is due (RFC 3339).
    #[schema(example = "2026-11-30T12:00:00Z", format = DateTime)]
    pub due_by: String,
    /// The rate agreement settlement charges under (1 to 100 characters).
    #[schema(min_length = 1, max_length = 100)]
    pub agreement_ref: Option<String>,
    /// The shipping manufacturer; admins only (others ship as themselves).
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,63}$")]
    pub manufacturer: Option<String>,
}

/// A place: a GLN, or an address with its coordinates.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceInput {
    /// GLN-13 of the place.
    #[schema(example = "9506000134352", pattern = "^[0-9]{13}$")]
    pub gln: Option<String>,
    /// A postal address (1 to 300 characters), with `lat` and `lon`.
    #[schema(min_length = 1, max_length = 300)]
    pub address: Option<String>,
    /// Latitude of the address.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    /// Longitude of the address.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: Option<f64>,
}

impl PlaceInput {
    fn validate(&self, field: &str, errors: &mut Vec<FieldError>) -> Option<Place> {
        let before = errors.len();
        if let Some(gln) = &self.gln
            && let Err(error) = Gln::parse(gln)
        {
            errors.push(FieldError::new(format!("{field}.gln"), error.to_string()));
        }
        match (&self.address, self.lat, self.lon) {
            (None, None, None) if self.gln.is_some() => {}
            (None, None, None) => errors.push(FieldError::new(
                field,
                "give a gln, or an address with lat and lon",
            )),
            (Some(address), Some(lat), Some(lon)) => {
                let chars = address.trim().chars().count();
                if chars == 0 || chars > 300 || address.chars().any(char::is_control) {
                    errors.push(FieldError::new(
                        format!("{field}.address"),
                        "must be 1 to 300 characters without control characters",
                    ));
                }
                if !(-90.0..=90.0).contains(&lat) {
                    errors.push(FieldError::new(format!("{field}.lat"), "must be -90 to 90"));
                }
                if !(-180.0..=180.0).contains(&lon) {
                    errors.push(FieldError::new(
                        format!("{field}.lon"),
                        "must be -180 to 180",
                    ));
                }
            }
            _ => errors.push(FieldError::new(
                field,
                "an address needs both lat and lon, and lat/lon need an address",
            )),
        }
        (errors.len() == before).then(|| Place {
            gln: self.gln.clone(),
            address: self.address.as_ref().map(|a| a.trim().to_owned()),
            lat: self.lat,
            lon: self.lon,
        })
    }
}

/// One scan in a shipment's custody chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CustodyResponse {
    /// The `scan.recorded` event id (its proof is at the ledger).
    pub event_id: Uuid,
    /// `pickup`, `checkpoint`, `handover`, `delivery` or `exception`.
    pub kind: String,
    /// The scanning party.
    pub scanned_by: String,
    /// The device that signed it.
    pub device_id: Uuid,
    /// When the phone scanned.
    pub scanned_at: String,
    /// When the service accepted it.
    pub recorded_at: String,
    /// Where: coordinates…
    #[schema(value_type = Option<Object>)]
    pub location: Option<serde_json::Value>,
    /// …or a GLN.
    pub gln: Option<String>,
    /// The receiving party of a hand-over.
    pub to_party: Option<String>,
    /// The phone's note.
    pub note: Option<String>,
    /// The state after the scan.
    pub state: String,
    /// The custodian after the scan.
    pub custodian: String,
}

impl CustodyResponse {
    fn from_entry(entry: &CustodyEntry) -> Self {
        CustodyResponse {
            event_id: entry.event_id,
            kind: entry.kind.as_str().to_owned(),
            scanned_by: entry.scanned_by.to_string(),
            device_id: entry.device_id,
            scanned_at: entry.scanned_at.clone(),
            recorded_at: rfc3339(entry.recorded_at),
            location: entry
                .location
                .as_ref()
                .and_then(|l| serde_json::to_value(l).ok()),
            gln: entry.gln.clone(),
            to_party: entry.to_party.clone(),
            note: entry.note.clone(),
            state: entry.state.as_str().to_owned(),
            custodian: entry.custodian.to_string(),
        }
    }
}

/// A place in a response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlaceResponse {
    /// GLN.
    pub gln: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
}

impl From<&Place> for PlaceResponse {
    fn from(place: &Place) -> Self {
        PlaceResponse {
            gln: place.gln.clone(),
            address: place.address.clone(),
            lat: place.lat,
            lon: place.lon,
        }
    }
}

/// A shipment with its custody chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShipmentResponse {
    /// The shipment id.
    pub id: Uuid,
    /// Its SSCC-18.
    #[schema(example = "006141410000000012")]
    pub sscc: String,
    /// What its label's QR code holds: `{base}/00/{sscc}`.
    pub label_uri: String,
    /// `created`, `picked_up`, `in_transit`, `handed_over`, `exception` or `delivered`.
    pub state: String,
    /// Who holds it now.
    pub custodian: String,
    /// The sending manufacturer.
    pub manufacturer: String,
    /// The assigned carrier.
    pub carrier_id: String,
    /// The items' Digital Link URIs.
    pub items: Vec<String>,
    /// Where it leaves from.
    pub origin: PlaceResponse,
    /// Where it goes.
    pub destination: PlaceResponse,
    /// When it is due.
    pub due_by: String,
    /// The rate agreement.
    pub agreement_ref: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// Accepted scans, oldest first.
    pub custody: Vec<CustodyResponse>,
}

impl ShipmentResponse {
    /// The response for a record.
    pub fn from_record(record: &ShipmentRecord, base: &str) -> Self {
        ShipmentResponse {
            id: record.id,
            sscc: record.sscc.to_string(),
            label_uri: DigitalLink::Logistic {
                sscc: record.sscc.clone(),
            }
            .to_uri(base),
            state: record.custody.state.as_str().to_owned(),
            custodian: record.custody.custodian.to_string(),
            manufacturer: record.manufacturer.to_string(),
            carrier_id: record.carrier.to_string(),
            items: record.items.clone(),
            origin: (&record.origin).into(),
            destination: (&record.destination).into(),
            due_by: record.due_by.clone(),
            agreement_ref: record.agreement_ref.clone(),
            created_at: rfc3339(record.created_at),
            custody: record
                .scans
                .iter()
                .map(CustodyResponse::from_entry)
                .collect(),
        }
    }
}

/// A request checked field by field.
struct NewShipment {
    manufacturer: TenantId,
    carrier: TenantId,
    items: Vec<(Gtin, Option<Lot>, Serial, String)>,
    origin: Place,
    destination: Place,
    due_by: String,
    agreement_ref: Option<String>,
}

fn validate(
    request: &CreateShipment,
    principal: &Principal,
    max_items: usize,
) -> Result<NewShipment, ShipmentsError> {
    let mut errors = Vec::new();
    let carrier = TenantId::parse(&request.carrier_id)
        .map_err(|e| errors.push(FieldError::new("carrier_id", e.to_string())))
        .ok();
    let manufacturer = match (&request.manufacturer, principal.role) {
        (None, Role::Admin) => {
            errors.push(FieldError::new(
                "manufacturer",
                "an admin names the manufacturer it ships for",
            ));
            None
        }
        (None, _) => Some(principal.tenant.clone()),
        (Some(name), Role::Admin) => TenantId::parse(name)
            .map_err(|e| errors.push(FieldError::new("manufacturer", e.to_string())))
            .ok(),
        (Some(_), _) => {
            errors.push(FieldError::new(
                "manufacturer",
                "only an admin names the manufacturer; others ship as themselves",
            ));
            None
        }
    };
    if request.items.is_empty() || request.items.len() > max_items {
        errors.push(FieldError::new(
            "items",
            format!("must list 1 to {max_items} items"),
        ));
    }
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    for (i, uri) in request.items.iter().enumerate() {
        let field = format!("items[{i}]");
        match DigitalLink::parse(uri) {
            Ok((
                _,
                DigitalLink::Item {
                    gtin,
                    lot,
                    serial: Some(serial),
                },
            )) => {
                if !seen.insert((gtin.clone(), serial.clone())) {
                    errors.push(FieldError::new(field, "this item is listed twice"));
                } else {
                    items.push((gtin, lot, serial, uri.clone()));
                }
            }
            Ok(_) => errors.push(FieldError::new(
                field,
                "must name a serialised item (…/01/{gtin}/21/{serial})",
            )),
            Err(error) => errors.push(FieldError::new(field, error.to_string())),
        }
    }
    let origin = request.origin.validate("origin", &mut errors);
    let destination = request.destination.validate("destination", &mut errors);
    let due_by = match OffsetDateTime::parse(&request.due_by, &Rfc3339) {
        Ok(at) => Some(rfc3339(at.to_offset(time::UtcOffset::UTC))),
        Err(_) => {
            errors.push(FieldError::new("due_by", "must be an RFC 3339 date-time"));
            None
        }
    };
    if let Some(reference) = &request.agreement_ref {
        let chars = reference.chars().count();
        if chars == 0 || chars > 100 || reference.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "agreement_ref",
                "must be 1 to 100 characters without control characters",
            ));
        }
    }
    match (manufacturer, carrier, origin, destination, due_by) {
        (Some(manufacturer), Some(carrier), Some(origin), Some(destination), Some(due_by))
            if errors.is_empty() =>
        {
            Ok(NewShipment {
                manufacturer,
                carrier,
                items,
                origin,
                destination,
                due_by,
                agreement_ref: request.agreement_ref.clone(),
            })
        }
        _ => Err(ShipmentsError::Invalid(errors)),
    }
}

/// Create a shipment.
///
/// Manufacturers ship their own serialised items; an admin names the
/// manufacturer. The service issues an SSCC-18 and the label URI
/// `{base}/00/{sscc}` that the carrier scans. `shipment.created` is
/// published, and acknowledged by the broker, before the answer.
#[utoipa::path(
    tag = "shipments",
    request_body = CreateShipment,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response (1 to 255 visible ASCII characters, kept 24 h)."),
    ),
    responses(
        (status = 201, description = "Created.", body = ShipmentResponse,
            headers(("location" = String, description = "The shipment's URL."))),
        (status = 400, description = "The body is not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manufacturer or admin key.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An item is already in an open shipment.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid, or an item is not this manufacturer's serialised item.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The bus or store is unavailable; nothing changed.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/shipments")]
pub(crate) async fn create_shipment(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    body: web::Json<CreateShipment>,
) -> Result<HttpResponse, ShipmentsError> {
    principal.require_role(&CREATE_ROLES)?;
    let request = body.into_inner();
    let new = validate(&request, &principal, state.max_items)?;
    state
        .idempotent(&principal, &req, &request, || async {
            let record = create(&state, new).await?;
            Ok(Reply::json(
                StatusCode::CREATED,
                &ShipmentResponse::from_record(&record, &state.base_url),
            )?
            .with_header("location", format!("/v1/shipments/{}", record.id)))
        })
        .await
}

/// Claims the items and an SSCC, publishes `shipment.created`, and
/// returns the applied record; releases every claim on failure.
async fn create(state: &AppState, new: NewShipment) -> Result<ShipmentRecord, ShipmentsError> {
    let items = known_items(&state.families, &state.base_url, &new).await?;
    let shipment_id = Uuid::now_v7();
    let lease_ms = state.lock_lease.as_millis();
    let mut claimed: Vec<String> = Vec::new();
    for (key, uri) in &items {
        if let Err(error) = claim(
            &state.families,
            &state.families.open_items,
            key,
            shipment_id,
            lease_ms,
        )
        .await
        {
            release_items(&state.families, claimed, shipment_id).await;
            return Err(match error {
                ClaimError::Taken(owner) => ShipmentsError::ItemInOpenShipment {
                    item: uri.clone(),
                    shipment: owner,
                },
                ClaimError::Failed(error) => error,
            });
        }
        claimed.push(key.clone());
    }
    let sscc = match issue_sscc(state, shipment_id, lease_ms).await {
        Ok(sscc) => sscc,
        Err(error) => {
            release_items(&state.families, claimed, shipment_id).await;
            return Err(error);
        }
    };
    let event = ShipmentEvent::Created(ShipmentCreated {
        shipment_id,
        sscc: sscc.clone(),
        manufacturer: new.manufacturer.clone(),
        carrier: new.carrier.clone(),
        items: items.iter().map(|(_, uri)| uri.clone()).collect(),
        origin: new.origin,
        destination: new.destination,
        due_by: new.due_by,
        agreement_ref: new.agreement_ref,
    });
    let parties = BTreeSet::from([new.manufacturer, new.carrier]);
    if let Err(error) = state
        .record(&[event], &parties, &[], OffsetDateTime::now_utc())
        .await
    {
        if let Err(error) =
            Families::release_claim(&state.families.ssccs, sscc.as_str(), shipment_id).await
        {
            tracing::warn!(%error, "Releasing an SSCC claim failed; it becomes reclaimable after the lock lease");
        }
        release_items(&state.families, claimed, shipment_id).await;
        return Err(error);
    }
    Ok(state
        .families
        .shipments
        .get(&shipment_id.to_string())
        .await?
        .ok_or_else(|| {
            ShipmentsError::Internal(anyhow::anyhow!("shipment {shipment_id} not applied"))
        })?
        .value)
}

/// Releases the item claims a failed creation took.
async fn release_items(families: &Families, claimed: Vec<String>, owner: Uuid) {
    for key in claimed {
        if let Err(error) = Families::release_claim(&families.open_items, &key, owner).await {
            tracing::warn!(%error, item = %key, "Releasing an item claim failed; it becomes reclaimable after the lock lease");
        }
    }
}

/// The items' claim keys and canonical URIs (under this service's base,
/// with their lot), after checking each exists, is the manufacturer's and
/// is in the lot the URI names (422 otherwise; another manufacturer's item
/// reads as unknown).
async fn known_items(
    families: &Families,
    base: &str,
    new: &NewShipment,
) -> Result<Vec<(String, String)>, ShipmentsError> {
    let item_ids: Vec<String> = new
        .items
        .iter()
        .map(|(gtin, _, serial, _)| format!("{gtin}:{serial}"))
        .collect();
    let gtins: Vec<String> = new
        .items
        .iter()
        .map(|(gtin, ..)| gtin.to_string())
        .collect();
    let mut records = Vec::with_capacity(item_ids.len());
    let mut owners = Vec::with_capacity(gtins.len());
    for chunk in item_ids.chunks(MAX_PAGE_LIMIT) {
        let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
        records.extend(families.items.get_many(&ids).await?);
    }
    for chunk in gtins.chunks(MAX_PAGE_LIMIT) {
        let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
        owners.extend(families.products.get_many(&ids).await?);
    }
    let mut out = Vec::with_capacity(new.items.len());
    for (i, (gtin, lot, serial, uri)) in new.items.iter().enumerate() {
        let owner_ok = owners[i]
            .as_ref()
            .is_some_and(|o| o.value == new.manufacturer);
        let Some(record) = records[i].as_ref().filter(|_| owner_ok) else {
            return Err(ShipmentsError::ItemUnknown(uri.clone()));
        };
        if lot
            .as_ref()
            .is_some_and(|lot| lot.as_str() != record.value.lot)
        {
            return Err(ShipmentsError::ItemUnknown(uri.clone()));
        }
        let lot = Lot::parse(&record.value.lot)
            .map_err(|e| ShipmentsError::Internal(anyhow::anyhow!("stored lot: {e}")))?;
        let canonical = DigitalLink::Item {
            gtin: gtin.clone(),
            lot: Some(lot),
            serial: Some(serial.clone()),
        }
        .to_uri(base);
        out.push((item_ids[i].clone(), canonical));
    }
    Ok(out)
}

enum ClaimError {
    Taken(Uuid),
    Failed(ShipmentsError),
}

impl From<tracechain_store::StoreError> for ClaimError {
    fn from(error: tracechain_store::StoreError) -> Self {
        ClaimError::Failed(error.into())
    }
}

/// Claims `id` in `family` for `owner` (pending). A pending claim older
/// than the lock lease whose shipment never appeared was left by a
/// crashed request and is taken over.
async fn claim(
    families: &Families,
    family: &tracechain_store::Projection<Claim>,
    id: &str,
    owner: Uuid,
    lease_ms: u128,
) -> Result<(), ClaimError> {
    let pending = Claim {
        owner,
        pending_since_ms: Some(now_ms()),
    };
    for _ in 0..8 {
        match family.get(id).await? {
            None => {
                if family
                    .compare_and_set(id, None, &pending)
                    .await?
                    .is_applied()
                {
                    return Ok(());
                }
            }
            Some(current) => {
                let holder = current.value.owner;
                let stale = match current.value.pending_since_ms {
                    Some(at) => {
                        u128::from(now_ms().saturating_sub(at)) > lease_ms
                            && families.shipments.get(&holder.to_string()).await?.is_none()
                    }
                    None => false,
                };
                if !stale {
                    return Err(ClaimError::Taken(holder));
                }
                if family
                    .compare_and_set(id, Some(current.version), &pending)
                    .await?
                    .is_applied()
                {
                    return Ok(());
                }
            }
        }
    }
    Err(ClaimError::Failed(ShipmentsError::Internal(
        anyhow::anyhow!("the claim on {id} kept changing"),
    )))
}

/// Takes the next SSCC of this process's block of the sequence and claims
/// it for `owner` (skipping any another writer holds).
async fn issue_sscc(
    state: &AppState,
    owner: Uuid,
    lease_ms: u128,
) -> Result<tracechain_domain::Sscc, ShipmentsError> {
    for _ in 0..64 {
        let sequence = state.next_sscc_sequence().await?;
        let sscc = state
            .issuer
            .issue(sequence)
            .map_err(|e| ShipmentsError::SsccExhausted(e.to_string()))?;
        match claim(
            &state.families,
            &state.families.ssccs,
            sscc.as_str(),
            owner,
            lease_ms,
        )
        .await
        {
            Ok(()) => return Ok(sscc),
            Err(ClaimError::Taken(_)) => continue,
            Err(ClaimError::Failed(error)) => return Err(error),
        }
    }
    Err(ShipmentsError::Internal(anyhow::anyhow!(
        "64 SSCCs in a row were already taken"
    )))
}

/// Read a shipment with its custody chain.
#[utoipa::path(
    tag = "shipments",
    params(("id" = uuid::Uuid, Path, description = "The shipment id.")),
    responses(
        (status = 200, description = "The shipment.", body = ShipmentResponse),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Finance keys do not read shipments.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such shipment visible to the caller.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/shipments/{id}")]
pub(crate) async fn get_shipment(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ShipmentsError> {
    principal.require_role(&READ_ROLES)?;
    let record = state.visible_shipment(&principal, &path).await?;
    Ok(HttpResponse::Ok().json(ShipmentResponse::from_record(&record, &state.base_url)))
}

/// Filters of the shipment listing, as given.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only shipments in this state.
    #[param(value_type = Option<String>, example = "in_transit", pattern = "^(created|picked_up|in_transit|handed_over|exception|delivered)$")]
    pub state: Option<String>,
    /// Only shipments assigned to, or held by, this carrier.
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,63}$")]
    pub carrier: Option<String>,
    /// Only shipments created at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Only shipments created before this time (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// The `next_cursor` of the previous page, unchanged.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Entries per page, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

fn parse_state(text: &str) -> Result<ShipmentState, ShipmentsError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        ShipmentsError::parameter(
            "state",
            "must be one of created, picked_up, in_transit, handed_over, exception, delivered",
        )
    })
}

fn parse_time(name: &str, text: &str) -> Result<u64, ShipmentsError> {
    let at = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| ShipmentsError::parameter(name, "must be an RFC 3339 date-time"))?;
    Ok(u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
}

/// List shipments, oldest first.
///
/// Manufacturers see what they sent, carriers what they were assigned or
/// held, auditors and admins everything. Filters combine.
#[utoipa::path(
    tag = "shipments",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of shipments.", body = Page<ShipmentResponse>),
        (status = 400, description = "A parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Finance keys do not read shipments.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/shipments")]
pub(crate) async fn list_shipments(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ShipmentsError> {
    principal.require_role(&READ_ROLES)?;
    let limit = parse_limit(query.limit.as_deref())?;
    let wanted_state = query.state.as_deref().map(parse_state).transpose()?;
    let carrier = query
        .carrier
        .as_deref()
        .map(|c| {
            TenantId::parse(c).map_err(|e| ShipmentsError::parameter("carrier", e.to_string()))
        })
        .transpose()?;
    let from = query
        .from
        .as_deref()
        .map(|t| parse_time("from", t))
        .transpose()?;
    let to = query
        .to
        .as_deref()
        .map(|t| parse_time("to", t))
        .transpose()?;
    let index = match (principal.role, &carrier) {
        (Role::Auditor | Role::Admin, None) => index::ALL_SHIPMENTS.to_owned(),
        (Role::Auditor | Role::Admin, Some(carrier)) => index::shipments_of(carrier),
        _ => index::shipments_of(&principal.tenant),
    };
    let mut after = match (&query.cursor, from) {
        (Some(cursor), _) => Some(tracechain_runtime::paging::decode_cursor(cursor)?),
        // Everything at or after `from`: start just before its first ms.
        (None, Some(from)) if from > 0 => Some(IndexCursor::after(&IndexEntry {
            score: from - 1,
            member: "\u{7f}".to_owned(),
        })),
        _ => None,
    };
    let mut items = Vec::new();
    let mut examined = 0;
    let mut next_cursor = None;
    'pages: loop {
        let page = state
            .families
            .store
            .index_range(&index, after.as_ref(), MAX_PAGE_LIMIT)
            .await?;
        let ids: Vec<&str> = page.entries.iter().map(|e| e.member.as_str()).collect();
        let records = state.families.shipments.get_many(&ids).await?;
        for (entry, record) in page.entries.iter().zip(records) {
            if to.is_some_and(|to| entry.score >= to) {
                break 'pages;
            }
            examined += 1;
            let cursor = IndexCursor::after(entry);
            if let Some(record) = record.map(|r| r.value)
                && may_see(&principal, &record)
                && wanted_state.is_none_or(|s| record.custody.state == s)
                && carrier.as_ref().is_none_or(|c| record.holders.contains(c))
            {
                items.push(ShipmentResponse::from_record(&record, &state.base_url));
            }
            if items.len() == limit || examined == MAX_EXAMINED {
                next_cursor = Some(encode_cursor(&cursor));
                break 'pages;
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}
