//! The OpenAPI 3.1 document of the ledger, generated from the handlers'
//! annotations through `utoipa-actix-web` (the same [`crate::routes::configure`]
//! registers the routes in the server and in the document). Checked in as
//! `openapi/ledger.json`; a test fails when it is stale (`UPDATE_OPENAPI=1`
//! rewrites it). Served at `/openapi.json`, rendered at `/docs`.

use tracechain_http::BearerAuth;
use utoipa::OpenApi;

/// The document's fixed parts; the paths come from the routes.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "tracechain ledger",
        description = "Every event of the platform, ordered into signed, hash-chained blocks of ONE RFC 6962/9162 Merkle log (leaf = SHA-256(0x00 ‖ RFC 8785 bytes of the event)). Each block header is canonical JSON signed with ed25519; each head is also a C2SP tlog-checkpoint signed note. Inclusion and consistency proofs verify with any RFC 9162 verifier. Every error is RFC 9457 `application/problem+json`.",
        license(name = "Apache-2.0"),
    ),
    modifiers(&BEARER_AUTH),
    components(schemas(tracechain_http::Problem, tracechain_http::FieldError)),
    tags(
        (name = "chain", description = "The signed head, checkpoints, keys, consistency proofs."),
        (name = "blocks", description = "Blocks: headers, signatures, leaf hashes."),
        (name = "events", description = "Anchored events and their inclusion proofs."),
    ),
)]
pub struct ApiDoc;

/// The `bearer` security scheme (API keys), in the ledger's words.
const BEARER_AUTH: BearerAuth = BearerAuth::new(
    "An API key of any role: `Authorization: Bearer tc_…`. Event bodies are shown only to principals entitled to them (their tenant is a party; finance: settlement events; auditor and admin: all).",
);

/// The complete document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    tracechain_http::openapi::document(ApiDoc::openapi(), crate::routes::configure)
}

/// The document as checked in: pretty JSON with a final newline.
pub fn openapi_json() -> String {
    tracechain_http::openapi::to_pretty_json(&openapi())
}
