//! `/v1/products`: register a product (a GTIN), list products, read one.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use tracechain_domain::{DigitalLink, Gtin, Role};
use tracechain_http::Principal;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    BadRequest, Conflict, Forbidden, NotFound, Page, PageQuery, Unauthorized, Unavailable,
    Unprocessable, UnsupportedMediaType, encode_cursor, rfc3339,
};
use crate::domain::events::{ProductRegistered, RegistryEvent};
use crate::domain::product::RegisterProduct;
use crate::error::RegistryError;
use crate::idempotency::{Reply, idempotent};
use crate::projection::{ProductRecord, keys};
use crate::state::{AppState, READ_ROLES, WRITE_ROLES, may_see, owner_for};

/// A registered product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProductResponse {
    /// The product id.
    pub id: Uuid,
    /// The GTIN, 14 digits.
    #[schema(example = "09506000134352")]
    pub gtin: String,
    /// The name.
    pub name: String,
    /// The description.
    pub description: Option<String>,
    /// The brand.
    pub brand: Option<String>,
    /// String attributes.
    pub attributes: BTreeMap<String, String>,
    /// The owning tenant.
    #[schema(example = "acme")]
    pub manufacturer: String,
    /// When it was registered (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub registered_at: String,
    /// The product's GS1 Digital Link URI, `{base}/01/{gtin}`.
    #[schema(example = "https://id.example.com/01/09506000134352")]
    pub digital_link: String,
}

impl ProductResponse {
    /// The response for a record.
    pub fn from_record(record: &ProductRecord, base: &str) -> Self {
        let link = DigitalLink::Item {
            gtin: record.gtin.clone(),
            lot: None,
            serial: None,
        };
        ProductResponse {
            id: record.id,
            gtin: record.gtin.to_string(),
            name: record.name.clone(),
            description: record.description.clone(),
            brand: record.brand.clone(),
            attributes: record.attributes.clone(),
            manufacturer: record.manufacturer.to_string(),
            registered_at: rfc3339(record.registered_at),
            digital_link: link.to_uri(base),
        }
    }
}

/// Register a product.
///
/// Manufacturers register their own products; an admin may name the
/// manufacturer. The GTIN (8, 12, 13 or 14 digits) is checked and stored as
/// GTIN-14; it is unique across all tenants. `product.registered` is
/// published, and acknowledged by the broker, before the answer.
#[utoipa::path(
    tag = "products",
    request_body = RegisterProduct,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response (1 to 255 visible ASCII characters, kept 24 h)."),
    ),
    responses(
        (status = 201, description = "Registered.", body = ProductResponse,
            headers(("location" = String, description = "The product's URL."))),
        BadRequest, Unauthorized, Forbidden, Conflict, UnsupportedMediaType, Unprocessable, Unavailable,
    ),
    security(("bearer" = [])),
)]
#[post("/v1/products")]
pub(crate) async fn register_product(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    body: web::Json<RegisterProduct>,
) -> Result<HttpResponse, RegistryError> {
    principal.require_role(&WRITE_ROLES)?;
    let request = body.into_inner();
    let new = request.validate().map_err(RegistryError::Invalid)?;
    let owner = owner_for(&principal, new.manufacturer.as_ref())?;
    idempotent(&state, &principal, &req, &request, || async {
        let product_id = Uuid::now_v7();
        state.claim_gtin(&new.gtin, &product_id).await?;
        let event = ProductRegistered {
            product_id,
            gtin: new.gtin.clone(),
            name: new.name.clone(),
            description: new.description.clone(),
            brand: new.brand.clone(),
            attributes: new.attributes.clone(),
            manufacturer: owner.clone(),
        };
        let envelope = match state
            .record(&RegistryEvent::ProductRegistered(event.clone()), &owner)
            .await
        {
            Ok(envelope) => envelope,
            Err(error) => {
                state.release_gtin(&new.gtin, &product_id).await;
                return Err(error);
            }
        };
        let record = ProductRecord {
            id: product_id,
            gtin: event.gtin,
            name: event.name,
            description: event.description,
            brand: event.brand,
            attributes: event.attributes,
            manufacturer: event.manufacturer,
            registered_at: envelope.occurred_at(),
        };
        Ok(Reply::json(
            StatusCode::CREATED,
            &ProductResponse::from_record(&record, &state.base_url),
        )?
        .with_header("location", format!("/v1/products/{product_id}")))
    })
    .await
}

/// The filters of `GET /v1/products`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductFilter {
    /// Only the product with this GTIN (8, 12, 13 or 14 digits).
    pub gtin: Option<String>,
}

/// List products.
///
/// A manufacturer sees its own products; auditors and admins see all.
/// Ordered by registration; paged with an opaque cursor.
#[utoipa::path(
    tag = "products",
    params(ProductFilter, PageQuery),
    responses(
        (status = 200, description = "A page of products.", body = Page<ProductResponse>),
        BadRequest, Unauthorized, Forbidden, Unavailable,
    ),
    security(("bearer" = [])),
)]
#[get("/v1/products")]
pub(crate) async fn list_products(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<ProductFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, RegistryError> {
    principal.require_role(&READ_ROLES)?;
    let page = page.validate()?;
    if let Some(gtin) = &filter.gtin {
        let gtin =
            Gtin::parse(gtin).map_err(|e| RegistryError::parameter("gtin", e.to_string()))?;
        let items = match state.product_by_gtin(&gtin).await? {
            Some(product) if may_see(&principal, &product.manufacturer) => {
                vec![ProductResponse::from_record(&product, &state.base_url)]
            }
            _ => Vec::new(),
        };
        return Ok(HttpResponse::Ok().json(Page {
            items,
            next_cursor: None,
        }));
    }
    let index = match principal.role {
        Role::Manufacturer => keys::products_of(&principal.tenant),
        _ => keys::ALL_PRODUCTS.to_owned(),
    };
    let found = state
        .store
        .index_range(&index, page.after.as_ref(), page.limit)
        .await?;
    let ids: Vec<Uuid> = found
        .entries
        .iter()
        .filter_map(|e| Uuid::parse_str(&e.member).ok())
        .collect();
    let items = state
        .products(&ids)
        .await?
        .into_iter()
        .flatten()
        .filter(|p| may_see(&principal, &p.manufacturer))
        .map(|p| ProductResponse::from_record(&p, &state.base_url))
        .collect();
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: found.next.as_ref().map(encode_cursor),
    }))
}

/// Read a product.
#[utoipa::path(
    tag = "products",
    params(("id" = Uuid, Path, description = "The product id.")),
    responses(
        (status = 200, description = "The product.", body = ProductResponse),
        BadRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    ),
    security(("bearer" = [])),
)]
#[get("/v1/products/{id}")]
pub(crate) async fn get_product(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, RegistryError> {
    principal.require_role(&READ_ROLES)?;
    let product = state.visible_product(&principal, &path).await?;
    Ok(HttpResponse::Ok().json(ProductResponse::from_record(&product, &state.base_url)))
}
