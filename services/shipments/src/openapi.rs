//! The OpenAPI 3.1 document of the shipments service, generated from the
//! handlers' annotations through `utoipa-actix-web` (the same
//! [`crate::routes::configure`] registers the routes in the server and in
//! the document). Checked in as `openapi/shipments.json`; a test fails
//! when it is stale (`UPDATE_OPENAPI=1` rewrites it). Served at
//! `/openapi.json`, rendered at `/docs`.

use tracechain_http::BearerAuth;
use utoipa::OpenApi;

/// The document's fixed parts; the paths come from the routes.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "tracechain shipments",
        description = "Shipments with SSCC-18 labels (GS1 Digital Link `{base}/00/{sscc}`), carriers' registered phone keys, and the scans phones sign (ed25519 over the RFC 8785 bytes of the scan) at pickup, hand-over, checkpoints and delivery. Every accepted scan is published to `shipment.events` with its EPCIS 2.0 ObjectEvent before it is acknowledged. Every error is RFC 9457 `application/problem+json`; a refused scan's problem names the failed check in `check`.",
        license(name = "Apache-2.0"),
    ),
    modifiers(&BEARER_AUTH),
    components(schemas(tracechain_http::Problem, tracechain_http::FieldError)),
    tags(
        (name = "scans", description = "What phones post, signed by their device key (no API key)."),
        (name = "shipments", description = "Shipments, their custody chains and labels."),
        (name = "devices", description = "Carriers' phone keys."),
        (name = "resolver", description = "What a scanned label opens (public)."),
    ),
)]
pub struct ApiDoc;

/// The `bearer` security scheme, in this service's words.
const BEARER_AUTH: BearerAuth = BearerAuth::new(
    "An API key: `Authorization: Bearer tc_…`. Manufacturers create and read their shipments; carriers manage their devices and read shipments they were assigned or held; auditors and admins read all. Scans carry no API key: the device's signature authenticates them.",
);

/// The complete document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    tracechain_http::openapi::document(ApiDoc::openapi(), crate::routes::configure)
}

/// The document as checked in: pretty JSON with a final newline.
pub fn openapi_json() -> String {
    tracechain_http::openapi::to_pretty_json(&openapi())
}
