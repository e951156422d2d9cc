//! Lots of a product: create, list, read, recall.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use tracechain_domain::{DigitalLink, Lot};
use tracechain_http::Principal;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    BadRequest, Conflict, Forbidden, NotFound, Page, PageQuery, Unauthorized, Unavailable,
    Unprocessable, UnsupportedMediaType, encode_cursor, parse_lot, rfc3339,
};
use crate::domain::dates;
use crate::domain::events::{LotCreated, LotRecalled, RegistryEvent};
use crate::domain::lot::{CreateLot, RecallLot};
use crate::error::RegistryError;
use crate::idempotency::{Reply, idempotent};
use crate::projection::{LotRecord, RecallRecord, decode, item_count, keys};
use crate::state::{AppState, READ_ROLES};

/// Whether a lot (and so each of its items) is recalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LotStatus {
    /// Not recalled.
    Active,
    /// Recalled.
    Recalled,
}

/// A recall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecallInfo {
    /// Why.
    pub reason: String,
    /// When (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub recalled_at: String,
}

impl RecallInfo {
    /// From the stored recall.
    pub fn from_record(record: &RecallRecord) -> Self {
        RecallInfo {
            reason: record.reason.clone(),
            recalled_at: rfc3339(record.recalled_at),
        }
    }
}

/// A lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LotResponse {
    /// The product.
    pub product_id: Uuid,
    /// The product's GTIN.
    pub gtin: String,
    /// The lot number.
    pub lot: String,
    /// Production date, `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub produced_at: String,
    /// Expiry date, `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub expires_at: Option<String>,
    /// When the lot was created (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// How many items are serialised in it.
    pub item_count: u64,
    /// `recalled` once recalled.
    pub status: LotStatus,
    /// The recall, once recalled.
    pub recall: Option<RecallInfo>,
    /// The lot's GS1 Digital Link URI, `{base}/01/{gtin}/10/{lot}`.
    pub digital_link: String,
}

impl LotResponse {
    /// The response for a record of a lot holding `item_count` items.
    pub fn from_record(record: &LotRecord, item_count: u64, base: &str) -> Self {
        let link = DigitalLink::Item {
            gtin: record.gtin.clone(),
            lot: Some(record.lot.clone()),
            serial: None,
        };
        LotResponse {
            product_id: record.product_id,
            gtin: record.gtin.to_string(),
            lot: record.lot.to_string(),
            produced_at: dates::format(record.produced_at),
            expires_at: record.expires_at.map(dates::format),
            created_at: rfc3339(record.created_at),
            item_count,
            status: if record.recall.is_some() {
                LotStatus::Recalled
            } else {
                LotStatus::Active
            },
            recall: record.recall.as_ref().map(RecallInfo::from_record),
            digital_link: link.to_uri(base),
        }
    }
}

/// Bytes percent-encoded in a path segment: all but RFC 3986 unreserved.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A lot's URL path, with the lot number percent-encoded.
pub fn lot_path(product: &Uuid, lot: &str) -> String {
    format!(
        "/v1/products/{product}/lots/{}",
        utf8_percent_encode(lot, SEGMENT)
    )
}

/// Create a lot.
///
/// `lot.created` is published, and acknowledged, before the answer.
#[utoipa::path(
    tag = "lots",
    request_body = CreateLot,
    params(
        ("id" = Uuid, Path, description = "The product id."),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response."),
    ),
    responses(
        (status = 201, description = "Created.", body = LotResponse,
            headers(("location" = String, description = "The lot's URL."))),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, UnsupportedMediaType, Unprocessable, Unavailable,
    ),
    security(("bearer" = [])),
)]
#[post("/v1/products/{id}/lots")]
pub(crate) async fn create_lot(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<CreateLot>,
) -> Result<HttpResponse, RegistryError> {
    let product = state.writable_product(&principal, &path).await?;
    let request = body.into_inner();
    let new = request.validate().map_err(RegistryError::Invalid)?;
    idempotent(&state, &principal, &req, &request, || async {
        let lock = state.lock_product(product.id).await?;
        let result = async {
            if state.lot(&product.gtin, &new.lot).await?.is_some() {
                return Err(RegistryError::DuplicateLot {
                    product: product.id.to_string(),
                    lot: new.lot.to_string(),
                });
            }
            let event = LotCreated {
                product_id: product.id,
                gtin: product.gtin.clone(),
                lot: new.lot.clone(),
                produced_at: new.produced_at,
                expires_at: new.expires_at,
            };
            let envelope = state
                .record(&RegistryEvent::LotCreated(event), &product.manufacturer)
                .await?;
            let record = LotRecord {
                product_id: product.id,
                gtin: product.gtin.clone(),
                lot: new.lot.clone(),
                produced_at: new.produced_at,
                expires_at: new.expires_at,
                created_at: envelope.occurred_at(),
                recall: None,
            };
            Ok(Reply::json(
                StatusCode::CREATED,
                &LotResponse::from_record(&record, 0, &state.base_url),
            )?
            .with_header("location", lot_path(&product.id, new.lot.as_str())))
        }
        .await;
        lock.release().await;
        result
    })
    .await
}

/// List a product's lots, by lot number.
#[utoipa::path(
    tag = "lots",
    params(("id" = Uuid, Path, description = "The product id."), PageQuery),
    responses(
        (status = 200, description = "A page of lots.", body = Page<LotResponse>),
        BadRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    ),
    security(("bearer" = [])),
)]
#[get("/v1/products/{id}/lots")]
pub(crate) async fn list_lots(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, RegistryError> {
    principal.require_role(&READ_ROLES)?;
    let product = state.visible_product(&principal, &path).await?;
    let page = page.validate()?;
    let found = state
        .store
        .index_range(&keys::lots_of(&product.id), page.after.as_ref(), page.limit)
        .await?;
    let lot_keys: Vec<String> = found
        .entries
        .iter()
        .filter_map(|e| Lot::parse(&e.member).ok())
        .map(|lot| keys::lot(&product.gtin, &lot))
        .collect();
    let refs: Vec<&str> = lot_keys.iter().map(String::as_str).collect();
    let mut items = Vec::with_capacity(refs.len());
    for (key, raw) in lot_keys.iter().zip(state.store.get_many(&refs).await?) {
        if let Some(raw) = raw {
            let record: LotRecord = decode(key, &raw.value)?;
            let count = item_count(state.store.as_ref(), &record.gtin, &record.lot).await?;
            items.push(LotResponse::from_record(&record, count, &state.base_url));
        }
    }
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: found.next.as_ref().map(encode_cursor),
    }))
}

/// Read a lot.
#[utoipa::path(
    tag = "lots",
    params(
        ("id" = Uuid, Path, description = "The product id."),
        ("lot" = String, Path, description = "The lot number (percent-encoded)."),
    ),
    responses(
        (status = 200, description = "The lot.", body = LotResponse),
        BadRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    ),
    security(("bearer" = [])),
)]
#[get("/v1/products/{id}/lots/{lot}")]
pub(crate) async fn get_lot(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, RegistryError> {
    principal.require_role(&READ_ROLES)?;
    let (id, lot) = path.into_inner();
    let product = state.visible_product(&principal, &id).await?;
    let lot = parse_lot(&lot)?;
    let record = state.existing_lot(&product, &lot).await?;
    let count = item_count(state.store.as_ref(), &product.gtin, &lot).await?;
    Ok(HttpResponse::Ok().json(LotResponse::from_record(&record, count, &state.base_url)))
}

/// Recall a lot.
///
/// Every item of the lot then resolves as recalled, with the reason.
/// `lot.recalled` is published, and acknowledged, before the answer.
#[utoipa::path(
    tag = "lots",
    request_body = RecallLot,
    params(
        ("id" = Uuid, Path, description = "The product id."),
        ("lot" = String, Path, description = "The lot number (percent-encoded)."),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response."),
    ),
    responses(
        (status = 200, description = "Recalled.", body = LotResponse),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, UnsupportedMediaType, Unprocessable, Unavailable,
    ),
    security(("bearer" = [])),
)]
#[post("/v1/products/{id}/lots/{lot}/recall")]
pub(crate) async fn recall_lot(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<RecallLot>,
) -> Result<HttpResponse, RegistryError> {
    let (id, lot) = path.into_inner();
    let product = state.writable_product(&principal, &id).await?;
    let lot = parse_lot(&lot)?;
    let request = body.into_inner();
    let reason = request.validate().map_err(RegistryError::Invalid)?;
    idempotent(&state, &principal, &req, &request, || async {
        let lock = state.lock_product(product.id).await?;
        let result = async {
            let mut record = state.existing_lot(&product, &lot).await?;
            if record.recall.is_some() {
                return Err(RegistryError::AlreadyRecalled {
                    product: product.id.to_string(),
                    lot: lot.to_string(),
                });
            }
            let event = LotRecalled {
                product_id: product.id,
                gtin: product.gtin.clone(),
                lot: lot.clone(),
                reason: reason.clone(),
            };
            let envelope = state
                .record(&RegistryEvent::LotRecalled(event), &product.manufacturer)
                .await?;
            record.recall = Some(RecallRecord {
                reason: reason.clone(),
                recalled_at: envelope.occurred_at(),
            });
            let count = item_count(state.store.as_ref(), &product.gtin, &lot).await?;
            Ok(Reply::json(
                StatusCode::OK,
                &LotResponse::from_record(&record, count, &state.base_url),
            )?)
        }
        .await;
        lock.release().await;
        result
    })
    .await
}
