//! The public GS1 Digital Link resolver: what a phone opens after scanning.
//!
//! `GET /01/{gtin}/10/{lot}/21/{serial}` and `GET /01/{gtin}/21/{serial}`
//! resolve an item; `/01/{gtin}/10/{lot}` a lot and `/01/{gtin}` a product.
//! No API key: GS1 resolvers are public, and a label must work on any phone.
//! The request path itself is parsed with [`DigitalLink::parse_full`], so
//! GTIN-8/12/13 spellings and percent-encoded lots and serials (`%2F` for
//! `/`) are accepted exactly as the standard allows.
//!
//! Content negotiation: JSON when `?format=json` or when `Accept` prefers
//! `application/json` over `text/html`; otherwise a small HTML page
//! ([`crate::html`]). Answers carry `Vary: Accept` and `Cache-Control:
//! no-cache` (HTTP caches must revalidate: a recall must show quickly).
//!
//! Item and lot records come from the [`ResolverCache`](crate::cache::ResolverCache)
//! when it has them (items never change; lots for at most
//! `limits.resolver_lot_ttl_ms`, and a lot is forgotten there as soon as this
//! replica applies a recall of it), else from the store in one round trip.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracechain_domain::{DigitalLink, Gtin, Lot, Serial};
use utoipa::ToSchema;
use uuid::Uuid;

use super::lots::RecallInfo;
use super::{BadRequest, NotFound, Unavailable};
use crate::domain::dates;
use crate::error::RegistryError;
use crate::projection::{ItemRecord, LotRecord, ProductRecord, decode, keys};
use crate::state::AppState;

/// What a resolution is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A product (`/01/{gtin}`).
    Product,
    /// A lot (`/01/{gtin}/10/{lot}`).
    Lot,
    /// A serialised item.
    Item,
}

/// Recall status of a lot or item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not recalled.
    Active,
    /// Recalled: do not use.
    Recalled,
}

/// The product part of a resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResolvedProduct {
    /// The product id.
    pub id: Uuid,
    /// The name.
    pub name: String,
    /// The brand.
    pub brand: Option<String>,
    /// The description.
    pub description: Option<String>,
}

/// What the resolver answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Resolution {
    /// Product, lot or item.
    pub level: Level,
    /// The canonical Digital Link URI (GTIN-14, the item's lot included).
    pub digital_link: String,
    /// The GTIN, 14 digits.
    pub gtin: String,
    /// The lot number (lot and item levels).
    pub lot: Option<String>,
    /// The serial (item level).
    pub serial: Option<String>,
    /// The product.
    pub product: ResolvedProduct,
    /// The manufacturer's tenant id.
    pub manufacturer: String,
    /// Production date of the lot, `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub produced_at: Option<String>,
    /// Expiry date of the lot, `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub expires_at: Option<String>,
    /// Whether the expiry date has passed (UTC), when there is one.
    pub expired: Option<bool>,
    /// Recall status (lot and item levels).
    pub status: Option<Status>,
    /// The recall, when recalled.
    pub recall: Option<RecallInfo>,
    /// Custody events of the item (filled once the shipments service
    /// records them; empty for now). Absent for products and lots.
    #[schema(value_type = Option<Vec<Object>>)]
    pub custody: Option<Vec<serde_json::Value>>,
}

impl Resolution {
    fn new(level: Level, link: DigitalLink, product: &ProductRecord, base: &str) -> Self {
        Resolution {
            level,
            digital_link: link.to_uri(base),
            gtin: product.gtin.to_string(),
            lot: None,
            serial: None,
            product: ResolvedProduct {
                id: product.id,
                name: product.name.clone(),
                brand: product.brand.clone(),
                description: product.description.clone(),
            },
            manufacturer: product.manufacturer.to_string(),
            produced_at: None,
            expires_at: None,
            expired: None,
            status: None,
            recall: None,
            custody: None,
        }
    }

    fn with_lot(mut self, lot: &LotRecord) -> Self {
        self.lot = Some(lot.lot.to_string());
        self.produced_at = Some(dates::format(lot.produced_at));
        self.expires_at = lot.expires_at.map(dates::format);
        self.expired = lot
            .expires_at
            .map(|expires| OffsetDateTime::now_utc().date() > expires);
        self.status = Some(if lot.recall.is_some() {
            Status::Recalled
        } else {
            Status::Active
        });
        self.recall = lot.recall.as_ref().map(RecallInfo::from_record);
        self
    }

    fn with_item(mut self, item: &ItemRecord) -> Self {
        self.serial = Some(item.serial.to_string());
        self.custody = Some(Vec::new());
        self
    }
}

/// Whether the client asked for JSON ([`tracechain_http::negotiate`]).
pub fn wants_json(req: &HttpRequest) -> Result<bool, RegistryError> {
    Ok(tracechain_http::negotiate::wants_json(req)?)
}

/// Reads the records an item resolution needs — item and lot from the
/// resolver cache or, for what it lacks, in one store round trip (two for
/// the short form when the lot is not cached); the product from memory.
async fn resolve_item(
    state: &AppState,
    gtin: &Gtin,
    lot: Option<&Lot>,
    serial: &Serial,
) -> Result<Resolution, RegistryError> {
    let not_found = || RegistryError::ItemNotFound {
        gtin: gtin.to_string(),
        serial: serial.to_string(),
    };
    let item_key = keys::item(gtin, serial);
    let lot_key = lot.map(|lot| keys::lot(gtin, lot));
    let mut item = state.cache.item(&item_key);
    let mut lot_record = lot_key.as_deref().and_then(|key| state.cache.lot(key));
    let mut wanted: Vec<&str> = Vec::with_capacity(2);
    if item.is_none() {
        wanted.push(&item_key);
    }
    if lot_record.is_none()
        && let Some(key) = &lot_key
    {
        wanted.push(key);
    }
    if !wanted.is_empty() {
        let found = state.store.get_many(&wanted).await?;
        for (key, raw) in wanted.iter().zip(found) {
            let Some(raw) = raw else { continue };
            if *key == item_key {
                let record = Arc::new(decode::<ItemRecord>(key, &raw.value)?);
                state.cache.put_item(key, Arc::clone(&record));
                item = Some(record);
            } else {
                let record = Arc::new(decode::<LotRecord>(key, &raw.value)?);
                state.cache.put_lot(key, Arc::clone(&record));
                lot_record = Some(record);
            }
        }
    }
    let item = item.ok_or_else(not_found)?;
    if let Some(lot) = lot
        && &item.lot != lot
    {
        return Err(RegistryError::LotMismatch {
            gtin: gtin.to_string(),
            serial: serial.to_string(),
            lot: lot.to_string(),
        });
    }
    if lot_record.is_none() {
        let key = keys::lot(gtin, &item.lot);
        lot_record = match state.cache.lot(&key) {
            Some(record) => Some(record),
            None => {
                let fetched = state.lot(gtin, &item.lot).await?.map(Arc::new);
                if let Some(record) = &fetched {
                    state.cache.put_lot(&key, Arc::clone(record));
                }
                fetched
            }
        };
    }
    let lot_record = lot_record.ok_or_else(|| RegistryError::GtinLotNotFound {
        gtin: gtin.to_string(),
        lot: item.lot.to_string(),
    })?;
    let product = state
        .product(item.product_id)
        .await?
        .ok_or_else(not_found)?;
    let link = DigitalLink::Item {
        gtin: gtin.clone(),
        lot: Some(item.lot.clone()),
        serial: Some(serial.clone()),
    };
    Ok(
        Resolution::new(Level::Item, link, &product, &state.base_url)
            .with_lot(&lot_record)
            .with_item(&item),
    )
}

/// Resolves whatever the request path identifies.
pub async fn resolve_path(state: &AppState, path: &str) -> Result<Resolution, RegistryError> {
    let parsed = DigitalLink::parse_full(path)
        .map_err(|e| RegistryError::parameter("path", e.to_string()))?;
    let DigitalLink::Item { gtin, lot, serial } = parsed.link else {
        return Err(RegistryError::parameter(
            "path",
            "identifies a logistic unit (sscc), which the registry does not resolve",
        ));
    };
    match (lot, serial) {
        (lot, Some(serial)) => resolve_item(state, &gtin, lot.as_ref(), &serial).await,
        (Some(lot), None) => {
            let lot_record =
                state
                    .lot(&gtin, &lot)
                    .await?
                    .ok_or_else(|| RegistryError::GtinLotNotFound {
                        gtin: gtin.to_string(),
                        lot: lot.to_string(),
                    })?;
            let product = state
                .product(lot_record.product_id)
                .await?
                .ok_or_else(|| RegistryError::GtinNotFound(gtin.to_string()))?;
            let link = DigitalLink::Item {
                gtin: gtin.clone(),
                lot: Some(lot),
                serial: None,
            };
            Ok(Resolution::new(Level::Lot, link, &product, &state.base_url).with_lot(&lot_record))
        }
        (None, None) => {
            let product = state
                .product_by_gtin(&gtin)
                .await?
                .ok_or_else(|| RegistryError::GtinNotFound(gtin.to_string()))?;
            let link = DigitalLink::Item {
                gtin,
                lot: None,
                serial: None,
            };
            Ok(Resolution::new(
                Level::Product,
                link,
                &product,
                &state.base_url,
            ))
        }
    }
}

/// The response in the negotiated format.
async fn answer(state: &AppState, req: &HttpRequest) -> Result<HttpResponse, RegistryError> {
    let json = wants_json(req)?;
    let resolution = resolve_path(state, req.uri().path()).await?;
    let level = match resolution.level {
        Level::Product => "product",
        Level::Lot => "lot",
        Level::Item => "item",
    };
    state.metrics.resolved(level, json);
    let mut response = if json {
        HttpResponse::Ok().json(&resolution)
    } else {
        HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(crate::html::resolution_page(&resolution))
    };
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Resolve an item (GTIN, lot and serial).
///
/// Public: no API key. JSON for API clients (`Accept: application/json` or
/// `?format=json`), a small HTML page for browsers. 404 when the item is
/// unknown or belongs to another lot than the one named.
#[utoipa::path(
    tag = "resolver",
    params(
        ("gtin" = String, Path, description = "GTIN-8, -12, -13 or -14."),
        ("lot" = String, Path, description = "The lot number (percent-encoded)."),
        ("serial" = String, Path, description = "The serial (percent-encoded)."),
        ("format" = Option<String>, Query, description = "`json` or `html`; overrides `Accept`."),
    ),
    responses(
        (status = 200, description = "The item.", content(
            (Resolution = "application/json"),
            (String = "text/html"),
        )),
        BadRequest, NotFound, Unavailable,
    ),
    security(()),
)]
#[get("/01/{gtin}/10/{lot}/21/{serial}")]
pub(crate) async fn resolve_lot_serial(
    state: actix_web::web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, RegistryError> {
    answer(&state, &req).await
}

/// Resolve an item (GTIN and serial).
///
/// Public; as `/01/{gtin}/10/{lot}/21/{serial}`, without naming the lot.
#[utoipa::path(
    tag = "resolver",
    params(
        ("gtin" = String, Path, description = "GTIN-8, -12, -13 or -14."),
        ("serial" = String, Path, description = "The serial (percent-encoded)."),
        ("format" = Option<String>, Query, description = "`json` or `html`; overrides `Accept`."),
    ),
    responses(
        (status = 200, description = "The item.", content(
            (Resolution = "application/json"),
            (String = "text/html"),
        )),
        BadRequest, NotFound, Unavailable,
    ),
    security(()),
)]
#[get("/01/{gtin}/21/{serial}")]
pub(crate) async fn resolve_serial(
    state: actix_web::web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, RegistryError> {
    answer(&state, &req).await
}

/// Resolve a lot.
///
/// Public; shows the lot's dates and recall status.
#[utoipa::path(
    tag = "resolver",
    params(
        ("gtin" = String, Path, description = "GTIN-8, -12, -13 or -14."),
        ("lot" = String, Path, description = "The lot number (percent-encoded)."),
        ("format" = Option<String>, Query, description = "`json` or `html`; overrides `Accept`."),
    ),
    responses(
        (status = 200, description = "The lot.", content(
            (Resolution = "application/json"),
            (String = "text/html"),
        )),
        BadRequest, NotFound, Unavailable,
    ),
    security(()),
)]
#[get("/01/{gtin}/10/{lot}")]
pub(crate) async fn resolve_lot(
    state: actix_web::web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, RegistryError> {
    answer(&state, &req).await
}

/// Resolve a product.
///
/// Public; shows the product.
#[utoipa::path(
    tag = "resolver",
    params(
        ("gtin" = String, Path, description = "GTIN-8, -12, -13 or -14."),
        ("format" = Option<String>, Query, description = "`json` or `html`; overrides `Accept`."),
    ),
    responses(
        (status = 200, description = "The product.", content(
            (Resolution = "application/json"),
            (String = "text/html"),
        )),
        BadRequest, NotFound, Unavailable,
    ),
    security(()),
)]
#[get("/01/{gtin}")]
pub(crate) async fn resolve_product(
    state: actix_web::web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, RegistryError> {
    answer(&state, &req).await
}
