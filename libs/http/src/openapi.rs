//! The OpenAPI side every service shares. A service keeps its own texts
//! (title, description, tags, what its keys may do) in its
//! `#[derive(OpenApi)]` and its routes in one `configure` function that
//! `utoipa-actix-web` reads; this module
//!
//! - adds the `bearer` security scheme (API keys) with the service's own
//!   description ([`BearerAuth`]);
//! - builds the complete document from the fixed parts and the routes
//!   ([`document`]), so a route cannot be served without being documented;
//! - writes it as it is checked in ([`to_pretty_json`]);
//! - serves it at `/openapi.json` and renders it at `/docs` with Scalar,
//!   bundled at build time ([`ApiDocs`]).

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use utoipa::Modify;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_scalar::{Scalar, Servable};

/// The name of the API-key security scheme handlers refer to
/// (`security(("bearer" = []))`).
pub const BEARER: &str = "bearer";

/// A `Modify` that adds the [`BEARER`] security scheme (`Authorization:
/// Bearer <key>`), described in the service's words. Use it as
/// `modifiers(&BEARER_AUTH)` with
/// `const BEARER_AUTH: BearerAuth = BearerAuth::new("…")`.
#[derive(Debug, Clone, Copy)]
pub struct BearerAuth {
    /// What a key is and what its role and tenant allow, for this service.
    description: &'static str,
}

impl BearerAuth {
    /// The scheme with `description`.
    pub const fn new(description: &'static str) -> BearerAuth {
        BearerAuth { description }
    }
}

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(self.description))
                    .build(),
            ),
        );
    }
}

/// The complete document: `fixed` (info, tags, schemas, modifiers) plus
/// every path `configure` registers — the same function that registers
/// the routes in the server.
pub fn document(fixed: OpenApi, configure: impl FnOnce(&mut ServiceConfig<'_>)) -> OpenApi {
    let (_, api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(fixed)
        .configure(configure)
        .split_for_parts();
    api
}

/// `document` as it is checked in: pretty JSON with a final newline.
pub fn to_pretty_json(document: &OpenApi) -> String {
    let mut text = serde_json::to_string_pretty(document).unwrap_or_default();
    text.push('\n');
    text
}

/// A service's document, ready to serve; cheap to clone (one per worker).
#[derive(Clone)]
pub struct ApiDocs {
    /// The document Scalar renders.
    document: OpenApi,
    /// [`to_pretty_json`] of it, served as is.
    json: Arc<str>,
}

impl std::fmt::Debug for ApiDocs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // utoipa's document is `Debug` only with its `debug` feature.
        f.debug_struct("ApiDocs")
            .field("title", &self.document.info.title)
            .field("json_bytes", &self.json.len())
            .finish()
    }
}

impl ApiDocs {
    /// Serves `document`.
    pub fn new(document: OpenApi) -> ApiDocs {
        let json = Arc::from(to_pretty_json(&document));
        ApiDocs { document, json }
    }

    /// The document.
    pub fn document(&self) -> &OpenApi {
        &self.document
    }

    /// Registers `GET /openapi.json` (the document, `application/json`) and
    /// `GET /docs` (Scalar's page over it): `.configure(|c| docs.configure(c))`.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let json = Arc::clone(&self.json);
        cfg.route(
            "/openapi.json",
            web::get().to(move || {
                let body = json.to_string();
                async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }),
        )
        .service(Scalar::with_url("/docs", self.document.clone()));
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{get, test as actix_test};
    use utoipa::OpenApi as _;

    use super::*;

    /// A one-route service.
    #[utoipa::path(security(("bearer" = [])), responses((status = 200)))]
    #[get("/v1/thing")]
    async fn thing() -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    fn routes(cfg: &mut ServiceConfig<'_>) {
        cfg.service(thing);
    }

    const KEYS: BearerAuth = BearerAuth::new("A key of the thing service.");

    #[derive(utoipa::OpenApi)]
    #[openapi(info(title = "thing service"), modifiers(&KEYS))]
    struct Fixed;

    #[test]
    fn the_document_has_the_routes_and_the_bearer_scheme() {
        let doc = document(Fixed::openapi(), routes);
        let json: serde_json::Value = serde_json::from_str(&to_pretty_json(&doc)).unwrap();
        assert_eq!(json["info"]["title"], "thing service");
        assert!(json["paths"]["/v1/thing"]["get"].is_object(), "{json}");
        let scheme = &json["components"]["securitySchemes"][BEARER];
        assert_eq!(scheme["scheme"], "bearer");
        assert_eq!(scheme["description"], "A key of the thing service.");
        assert!(to_pretty_json(&doc).ends_with("}\n"));
    }

    #[actix_web::test]
    async fn the_document_and_the_docs_page_are_served() {
        let docs = ApiDocs::new(document(Fixed::openapi(), routes));
        let app =
            actix_test::init_service(actix_web::App::new().configure(|cfg| docs.configure(cfg)))
                .await;
        let response = actix_test::call_service(
            &app,
            actix_test::TestRequest::get()
                .uri("/openapi.json")
                .to_request(),
        )
        .await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap(),
            "application/json"
        );
        let body = actix_test::read_body(response).await;
        assert_eq!(&*body, docs.json.as_bytes());
        let response = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/docs").to_request(),
        )
        .await;
        assert_eq!(response.status(), 200);
        let page = actix_test::read_body(response).await;
        assert!(String::from_utf8_lossy(&page).contains("api-reference"));
    }
}
