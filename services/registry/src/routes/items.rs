//! Items of a lot: serialise a batch (given serials or a count the server
//! fills), list them, read one.

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use tracechain_domain::{DigitalLink, Gtin, Lot, Serial};
use tracechain_http::Principal;
use utoipa::ToSchema;
use uuid::Uuid;

use super::lots::{LotStatus, RecallInfo};
use super::{
    BadRequest, Conflict, Forbidden, NotFound, Page, PageQuery, Unauthorized, Unavailable,
    Unprocessable, UnsupportedMediaType, encode_cursor, parse_lot, parse_serial, rfc3339,
};
use crate::domain::events::{ItemsSerialized, RegistryEvent};
use crate::domain::items::{ItemsCommand, SerializeItems, first_duplicate, generate_serials};
use crate::error::RegistryError;
use crate::idempotency::{Reply, idempotent};
use crate::projection::{ItemRecord, LotRecord, decode, keys};
use crate::state::{AppState, READ_ROLES};

/// Keys read per store round trip when checking serials.
const CHECK_CHUNK: usize = 1000;

/// The Digital Link URI of an item: `{base}/01/{gtin}/10/{lot}/21/{serial}`.
pub fn item_link(base: &str, gtin: &Gtin, lot: &Lot, serial: &Serial) -> String {
    DigitalLink::Item {
        gtin: gtin.clone(),
        lot: Some(lot.clone()),
        serial: Some(serial.clone()),
    }
    .to_uri(base)
}

/// One serialised item and its URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemLink {
    /// The serial.
    pub serial: String,
    /// The item's GS1 Digital Link URI (what its QR code holds).
    #[schema(example = "https://id.example.com/01/09506000134352/10/L1/21/K3XQ7B2MZP4A")]
    pub digital_link: String,
}

/// The answer to a serialisation: every item with its URI, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemsCreated {
    /// The product.
    pub product_id: Uuid,
    /// The product's GTIN.
    pub gtin: String,
    /// The lot.
    pub lot: String,
    /// How many items were serialised.
    pub count: usize,
    /// The items.
    pub items: Vec<ItemLink>,
}

/// A serialised item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemResponse {
    /// The product.
    pub product_id: Uuid,
    /// The product's GTIN.
    pub gtin: String,
    /// The lot.
    pub lot: String,
    /// The serial.
    pub serial: String,
    /// When it was serialised (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub serialized_at: String,
    /// `recalled` when its lot is.
    pub status: LotStatus,
    /// The lot's recall, if any.
    pub recall: Option<RecallInfo>,
    /// The item's GS1 Digital Link URI.
    pub digital_link: String,
}

impl ItemResponse {
    /// The response for an item of `lot`.
    pub fn from_record(item: &ItemRecord, lot: &LotRecord, base: &str) -> Self {
        ItemResponse {
            product_id: item.product_id,
            gtin: item.gtin.to_string(),
            lot: item.lot.to_string(),
            serial: item.serial.to_string(),
            serialized_at: rfc3339(item.serialized_at),
            status: if lot.recall.is_some() {
                LotStatus::Recalled
            } else {
                LotStatus::Active
            },
            recall: lot.recall.as_ref().map(RecallInfo::from_record),
            digital_link: item_link(base, &item.gtin, &item.lot, &item.serial),
        }
    }
}

/// Which of `serials` are already registered for `gtin`, in order.
async fn registered(
    state: &AppState,
    gtin: &Gtin,
    serials: &[Serial],
) -> Result<Vec<Serial>, RegistryError> {
    let mut taken = Vec::new();
    for chunk in serials.chunks(CHECK_CHUNK) {
        let keys: Vec<String> = chunk.iter().map(|s| keys::item(gtin, s)).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let found = state.store.get_many(&refs).await?;
        taken.extend(
            chunk
                .iter()
                .zip(found)
                .filter(|(_, raw)| raw.is_some())
                .map(|(s, _)| s.clone()),
        );
    }
    Ok(taken)
}

/// Serialise items of a lot.
///
/// Give either `serials` (1 to 10,000, each 1 to 20 characters of GS1
/// character set 82, unique within the GTIN) or `count` (1 to 10,000; the
/// server issues random 12-character serials). One `items.serialized`
/// event carries the batch; it is acknowledged by the broker before the
/// answer. The answer lists every item with its Digital Link URI.
#[utoipa::path(
    tag = "items",
    request_body = SerializeItems,
    params(
        ("id" = Uuid, Path, description = "The product id."),
        ("lot" = String, Path, description = "The lot number (percent-encoded)."),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response."),
    ),
    responses(
        (status = 201, description = "Serialised.", body = ItemsCreated),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, UnsupportedMediaType, Unprocessable, Unavailable,
        (status = 413, description = "The body is larger than the configured limit (1 MiB by default).",
            body = tracechain_http::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[post("/v1/products/{id}/lots/{lot}/items")]
pub(crate) async fn serialize_items(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<SerializeItems>,
) -> Result<HttpResponse, RegistryError> {
    let (id, lot) = path.into_inner();
    let product = state.writable_product(&principal, &id).await?;
    let lot = parse_lot(&lot)?;
    let request = body.into_inner();
    let command = request
        .validate(state.limits.max_items_per_request)
        .map_err(RegistryError::Invalid)?;
    if let ItemsCommand::Given(serials) = &command
        && let Some(duplicate) = first_duplicate(serials)
    {
        return Err(RegistryError::DuplicateSerialInRequest(
            duplicate.to_string(),
        ));
    }
    idempotent(&state, &principal, &req, &request, || async {
        let lock = state.lock_product(product.id).await?;
        let result = async {
            let record = state.existing_lot(&product, &lot).await?;
            if record.recall.is_some() {
                return Err(RegistryError::LotRecalled {
                    product: product.id.to_string(),
                    lot: lot.to_string(),
                });
            }
            let serials = match &command {
                ItemsCommand::Given(serials) => {
                    if let Some(first) = registered(&state, &product.gtin, serials).await?.first() {
                        return Err(RegistryError::DuplicateSerial {
                            gtin: product.gtin.to_string(),
                            serial: first.to_string(),
                        });
                    }
                    serials.clone()
                }
                ItemsCommand::Generate(count) => {
                    let mut serials = generate_serials(*count, |_| false)
                        .map_err(|e| RegistryError::Internal(e.into()))?;
                    // Redraw the (astronomically rare) ones already issued.
                    loop {
                        let taken: HashSet<Serial> = registered(&state, &product.gtin, &serials)
                            .await?
                            .into_iter()
                            .collect();
                        if taken.is_empty() {
                            break;
                        }
                        let keep: HashSet<Serial> = serials
                            .iter()
                            .filter(|s| !taken.contains(*s))
                            .cloned()
                            .collect();
                        let fresh = generate_serials(taken.len(), |s| {
                            keep.contains(s) || taken.contains(s)
                        })
                        .map_err(|e| RegistryError::Internal(e.into()))?;
                        let mut fresh = fresh.into_iter();
                        for serial in serials.iter_mut() {
                            if taken.contains(serial)
                                && let Some(next) = fresh.next()
                            {
                                *serial = next;
                            }
                        }
                    }
                    serials
                }
            };
            let event = ItemsSerialized {
                product_id: product.id,
                gtin: product.gtin.clone(),
                lot: lot.clone(),
                serials,
            };
            state
                .record(
                    &RegistryEvent::ItemsSerialized(event.clone()),
                    &product.manufacturer,
                )
                .await?;
            let items: Vec<ItemLink> = event
                .serials
                .iter()
                .map(|serial| ItemLink {
                    serial: serial.to_string(),
                    digital_link: item_link(&state.base_url, &product.gtin, &lot, serial),
                })
                .collect();
            Ok(Reply::json(
                StatusCode::CREATED,
                &ItemsCreated {
                    product_id: product.id,
                    gtin: product.gtin.to_string(),
                    lot: lot.to_string(),
                    count: items.len(),
                    items,
                },
            )?)
        }
        .await;
        lock.release().await;
        result
    })
    .await
}

/// List a lot's items, by serial.
#[utoipa::path(
    tag = "items",
    params(
        ("id" = Uuid, Path, description = "The product id."),
        ("lot" = String, Path, description = "The lot number (percent-encoded)."),
        PageQuery,
    ),
    responses(
        (status = 200, description = "A page of items.", body = Page<ItemResponse>),
        BadRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    ),
    security(("bearer" = [])),
)]
#[get("/v1/products/{id}/lots/{lot}/items")]
pub(crate) async fn list_items(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, RegistryError> {
    principal.require_role(&READ_ROLES)?;
    let (id, lot) = path.into_inner();
    let product = state.visible_product(&principal, &id).await?;
    let lot = parse_lot(&lot)?;
    let page = page.validate()?;
    let lot_record = state.existing_lot(&product, &lot).await?;
    let found = state
        .store
        .index_range(
            &keys::items_of(&product.gtin, &lot),
            page.after.as_ref(),
            page.limit,
        )
        .await?;
    let item_keys: Vec<String> = found
        .entries
        .iter()
        .filter_map(|e| Serial::parse(&e.member).ok())
        .map(|serial| keys::item(&product.gtin, &serial))
        .collect();
    let refs: Vec<&str> = item_keys.iter().map(String::as_str).collect();
    let mut items = Vec::with_capacity(refs.len());
    for (key, raw) in item_keys.iter().zip(state.store.get_many(&refs).await?) {
        if let Some(raw) = raw {
            let item: ItemRecord = decode(key, &raw.value)?;
            items.push(ItemResponse::from_record(
                &item,
                &lot_record,
                &state.base_url,
            ));
        }
    }
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: found.next.as_ref().map(encode_cursor),
    }))
}

/// Read an item.
#[utoipa::path(
    tag = "items",
    params(
        ("id" = Uuid, Path, description = "The product id."),
        ("lot" = String, Path, description = "The lot number (percent-encoded)."),
        ("serial" = String, Path, description = "The serial (percent-encoded)."),
    ),
    responses(
        (status = 200, description = "The item.", body = ItemResponse),
        BadRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    ),
    security(("bearer" = [])),
)]
#[get("/v1/products/{id}/lots/{lot}/items/{serial}")]
pub(crate) async fn get_item(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, RegistryError> {
    principal.require_role(&READ_ROLES)?;
    let (id, lot, serial) = path.into_inner();
    let (item, lot) = visible_item(&state, &principal, &id, &lot, &serial).await?;
    Ok(HttpResponse::Ok().json(ItemResponse::from_record(&item, &lot, &state.base_url)))
}

/// The item `serial` of lot `lot` of product `id` as `principal` may see it.
pub async fn visible_item(
    state: &AppState,
    principal: &Principal,
    id: &str,
    lot: &str,
    serial: &str,
) -> Result<(ItemRecord, LotRecord), RegistryError> {
    let product = state.visible_product(principal, id).await?;
    let lot = parse_lot(lot)?;
    let serial = parse_serial(serial)?;
    let lot_record = state.existing_lot(&product, &lot).await?;
    match state.item(&product.gtin, &serial).await? {
        Some(item) if item.lot == lot => Ok((item, lot_record)),
        _ => Err(RegistryError::ItemNotFound {
            gtin: product.gtin.to_string(),
            serial: serial.to_string(),
        }),
    }
}
