//! QR images of an item, holding its Digital Link URI
//! (`{base}/01/{gtin}/10/{lot}/21/{serial}`, always with the lot):
//!
//! - public, under the resolver path: `/01/{gtin}/10/{lot}/21/{serial}/qr.png`
//!   (and `.svg`, and the `/01/{gtin}/21/{serial}/…` forms);
//! - authenticated, for API clients: `/v1/products/{id}/lots/{lot}/items/{serial}/qr.png` (and `.svg`).
//!
//! Query: `size` (px, 64..=2048, default 512), `margin` (modules, 0..=16,
//! default 4), `ecc` (L, M, Q, H; default M); out of bounds → 400 naming it.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use tracechain_http::Principal;
use tracechain_qr::{QrError, QrMatrix, QrOptions, QrQuery};
use utoipa::ToSchema;

use super::items::{item_link, visible_item};
use super::{BadRequest, Forbidden, NotFound, Unauthorized, Unavailable};
use crate::error::RegistryError;
use crate::state::{AppState, READ_ROLES};

/// Binary image bytes (documentation only).
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(Vec<u8>);

/// Which image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Png,
    Svg,
}

fn render(uri: &str, options: &QrOptions, format: Format) -> Result<HttpResponse, RegistryError> {
    let matrix =
        QrMatrix::encode(uri, options.ecc).map_err(|e| RegistryError::Internal(e.into()))?;
    let too_small = |e: QrError| match e {
        QrError::TooSmall { .. } => RegistryError::parameter("size", e.to_string()),
        other => RegistryError::Internal(other.into()),
    };
    let (body, content_type) = match format {
        Format::Png => (matrix.to_png(options).map_err(too_small)?, "image/png"),
        Format::Svg => (
            matrix.to_svg(options, uri).map_err(too_small)?.into_bytes(),
            "image/svg+xml",
        ),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header(("x-digital-link", uri.to_owned()))
        .body(body))
}

/// The public QR of the item the resolver path (minus its `/qr.*` suffix) names.
async fn resolver_qr(
    state: &AppState,
    req: &HttpRequest,
    query: &QrQuery,
    format: Format,
) -> Result<HttpResponse, RegistryError> {
    let options = query.validate()?;
    let path = req.uri().path();
    let item_path = path
        .strip_suffix("/qr.png")
        .or_else(|| path.strip_suffix("/qr.svg"))
        .unwrap_or(path);
    let resolution = super::resolver::resolve_path(state, item_path).await?;
    // The routes only match item paths, whose canonical link has the lot.
    if resolution.serial.is_none() {
        return Err(RegistryError::parameter(
            "path",
            "does not identify an item",
        ));
    }
    render(&resolution.digital_link, &options, format)
}

/// The authenticated QR of an item.
async fn api_qr(
    state: &AppState,
    principal: &Principal,
    path: (String, String, String),
    query: &QrQuery,
    format: Format,
) -> Result<HttpResponse, RegistryError> {
    principal.require_role(&READ_ROLES)?;
    let options = query.validate()?;
    let (id, lot, serial) = path;
    let (item, _) = visible_item(state, principal, &id, &lot, &serial).await?;
    let uri = item_link(&state.base_url, &item.gtin, &item.lot, &item.serial);
    render(&uri, &options, format)
}

/// QR code (PNG) of an item, for API clients.
#[utoipa::path(
    tag = "qr",
    params(
        ("id" = Uuid, Path, description = "The product id."),
        ("lot" = String, Path, description = "The lot number (percent-encoded)."),
        ("serial" = String, Path, description = "The serial (percent-encoded)."),
        QrQuery,
    ),
    responses(
        (status = 200, description = "A 1-bit PNG of the item's Digital Link URI.", body = Binary, content_type = "image/png"),
        BadRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    ),
    security(("bearer" = [])),
)]
#[get("/v1/products/{id}/lots/{lot}/items/{serial}/qr.png")]
pub(crate) async fn api_qr_png(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String, String)>,
    query: web::Query<QrQuery>,
) -> Result<HttpResponse, RegistryError> {
    api_qr(&state, &principal, path.into_inner(), &query, Format::Png).await
}

/// QR code (SVG) of an item, for API clients.
#[utoipa::path(
    tag = "qr",
    params(
        ("id" = Uuid, Path, description = "The product id."),
        ("lot" = String, Path, description = "The lot number (percent-encoded)."),
        ("serial" = String, Path, description = "The serial (percent-encoded)."),
        QrQuery,
    ),
    responses(
        (status = 200, description = "An SVG of the item's Digital Link URI.", body = String, content_type = "image/svg+xml"),
        BadRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    ),
    security(("bearer" = [])),
)]
#[get("/v1/products/{id}/lots/{lot}/items/{serial}/qr.svg")]
pub(crate) async fn api_qr_svg(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String, String)>,
    query: web::Query<QrQuery>,
) -> Result<HttpResponse, RegistryError> {
    api_qr(&state, &principal, path.into_inner(), &query, Format::Svg).await
}

/// QR code (PNG) of an item, public.
#[utoipa::path(
    tag = "qr",
    params(
        ("gtin" = String, Path, description = "GTIN-8, -12, -13 or -14."),
        ("lot" = String, Path, description = "The lot number (percent-encoded)."),
        ("serial" = String, Path, description = "The serial (percent-encoded)."),
        QrQuery,
    ),
    responses(
        (status = 200, description = "A 1-bit PNG of the item's Digital Link URI.", body = Binary, content_type = "image/png"),
        BadRequest, NotFound, Unavailable,
    ),
    security(()),
)]
#[get("/01/{gtin}/10/{lot}/21/{serial}/qr.png")]
pub(crate) async fn resolver_lot_serial_png(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<QrQuery>,
) -> Result<HttpResponse, RegistryError> {
    resolver_qr(&state, &req, &query, Format::Png).await
}

/// QR code (SVG) of an item, public.
#[utoipa::path(
    tag = "qr",
    params(
        ("gtin" = String, Path, description = "GTIN-8, -12, -13 or -14."),
        ("lot" = String, Path, description = "The lot number (percent-encoded)."),
        ("serial" = String, Path, description = "The serial (percent-encoded)."),
        QrQuery,
    ),
    responses(
        (status = 200, description = "An SVG of the item's Digital Link URI.", body = String, content_type = "image/svg+xml"),
        BadRequest, NotFound, Unavailable,
    ),
    security(()),
)]
#[get("/01/{gtin}/10/{lot}/21/{serial}/qr.svg")]
pub(crate) async fn resolver_lot_serial_svg(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<QrQuery>,
) -> Result<HttpResponse, RegistryError> {
    resolver_qr(&state, &req, &query, Format::Svg).await
}

/// QR code (PNG) of an item named by GTIN and serial, public.
#[utoipa::path(
    tag = "qr",
    params(
        ("gtin" = String, Path, description = "GTIN-8, -12, -13 or -14."),
        ("serial" = String, Path, description = "The serial (percent-encoded)."),
        QrQuery,
    ),
    responses(
        (status = 200, description = "A 1-bit PNG of the item's Digital Link URI (with its lot).", body = Binary, content_type = "image/png"),
        BadRequest, NotFound, Unavailable,
    ),
    security(()),
)]
#[get("/01/{gtin}/21/{serial}/qr.png")]
pub(crate) async fn resolver_serial_png(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<QrQuery>,
) -> Result<HttpResponse, RegistryError> {
    resolver_qr(&state, &req, &query, Format::Png).await
}

/// QR code (SVG) of an item named by GTIN and serial, public.
#[utoipa::path(
    tag = "qr",
    params(
        ("gtin" = String, Path, description = "GTIN-8, -12, -13 or -14."),
        ("serial" = String, Path, description = "The serial (percent-encoded)."),
        QrQuery,
    ),
    responses(
        (status = 200, description = "An SVG of the item's Digital Link URI (with its lot).", body = String, content_type = "image/svg+xml"),
        BadRequest, NotFound, Unavailable,
    ),
    security(()),
)]
#[get("/01/{gtin}/21/{serial}/qr.svg")]
pub(crate) async fn resolver_serial_svg(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<QrQuery>,
) -> Result<HttpResponse, RegistryError> {
    resolver_qr(&state, &req, &query, Format::Svg).await
}
