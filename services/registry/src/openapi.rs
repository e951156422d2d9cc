//! The OpenAPI 3.1 document of the registry, generated from the handlers'
//! `#[utoipa::path]` annotations through `utoipa-actix-web`: the same
//! [`crate::routes::configure`] registers the routes in the server and in the
//! document, so a route cannot be served without being documented.
//!
//! The document is checked in as `openapi/registry.json` (pretty JSON; paths
//! and schemas in sorted order) and a test fails when it is stale
//! (`UPDATE_OPENAPI=1` rewrites it). The server serves it at
//! `/openapi.json` and renders it at `/docs` (Scalar, no download at build).

use tracechain_http::BearerAuth;
use utoipa::OpenApi;

/// The document's fixed parts; the paths come from the routes.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "tracechain registry",
        description = "Manufacturers register products (GTIN-14), lots and serialised items, and get QR codes and label sheets holding each item's GS1 Digital Link URI. The resolver (`/01/...`) is public: it is what a phone opens after scanning. Every error is RFC 9457 `application/problem+json`.",
        license(name = "Apache-2.0"),
    ),
    modifiers(&BEARER_AUTH),
    components(schemas(tracechain_http::Problem, tracechain_http::FieldError)),
    tags(
        (name = "products", description = "Products, identified by GTIN."),
        (name = "lots", description = "Lots (batches) of a product, and recalls."),
        (name = "items", description = "Serialised items of a lot."),
        (name = "qr", description = "QR codes of items."),
        (name = "labels", description = "Printable label sheets of a lot."),
        (name = "resolver", description = "The public GS1 Digital Link resolver."),
    ),
)]
pub struct ApiDoc;

/// The `bearer` security scheme (API keys), in the registry's words.
const BEARER_AUTH: BearerAuth = BearerAuth::new(
    "An API key: `Authorization: Bearer tc_…`. Its role (manufacturer, auditor, admin; carrier and finance are refused) and tenant decide what it may do.",
);

/// The complete document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    tracechain_http::openapi::document(ApiDoc::openapi(), crate::routes::configure)
}

/// The document as checked in: pretty JSON with a final newline.
pub fn openapi_json() -> String {
    tracechain_http::openapi::to_pretty_json(&openapi())
}
