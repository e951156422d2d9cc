//! The OpenAPI 3.1 document of the registry, generated from the handlers'
//! `#[utoipa::path]` annotations through `utoipa-actix-web`: the same
//! [`crate::routes::configure`] registers the routes in the server and in the
//! document, so a route cannot be served without being documented.
//!
//! The document is checked in as `openapi/registry.json` (pretty JSON; paths
//! and schemas in sorted order) and a test fails when it is stale
//! (`UPDATE_OPENAPI=1` rewrites it). The server serves it at
//! `/openapi.json` and renders it at `/docs` (Scalar, no download at build).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

/// The document's fixed parts; the paths come from the routes.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "tracechain registry",
        description = "Manufacturers register products (GTIN-14), lots and serialised items, and get QR codes and label sheets holding each item's GS1 Digital Link URI. The resolver (`/01/...`) is public: it is what a phone opens after scanning. Every error is RFC 9457 `application/problem+json`.",
        license(name = "Apache-2.0"),
    ),
    modifiers(&BearerAuth),
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

/// Adds the `bearer` security scheme (API keys).
#[derive(Debug)]
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key: `Authorization: Bearer tc_…`. Its role (manufacturer, auditor, admin; carrier and finance are refused) and tenant decide what it may do.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The complete document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::configure)
        .split_for_parts();
    api
}

/// The document as checked in: pretty JSON with a final newline.
pub fn openapi_json() -> String {
    let mut text = serde_json::to_string_pretty(&openapi()).unwrap_or_default();
    text.push('\n');
    text
}
