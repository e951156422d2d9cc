//! The phone's scanning page (`/scan`): static files compiled into the
//! binary (no CDN, no build step) — the page, its script and style, and
//! the bundled QR decoder (jsQR, used where the browser has no
//! `BarcodeDetector`).
//!
//! The policy lets the page use the camera (`media-src` for the stream)
//! and talk only to this origin; scripts only from this origin, no inline
//! code, Trusted Types enforced so no string reaches an HTML sink.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};
use tracechain_http::assets::{asset, text_type};

const INDEX_HTML: &str = include_str!("../../static/scan/index.html");
const SCAN_JS: &str = include_str!("../../static/scan/scan.js");
const SCAN_CSS: &str = include_str!("../../static/scan/scan.css");
const JSQR_JS: &str = include_str!("../../static/scan/jsqr.js");

/// The page's policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data: blob:; \
     media-src 'self' blob: mediastream:; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

fn page(content_type: ContentType, body: &'static str) -> HttpResponse {
    asset(content_type, CONTENT_SECURITY_POLICY, body.as_bytes())
}

/// Registers the page and its assets (outside the API document).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/scan",
        web::get().to(|| async { page(ContentType::html(), INDEX_HTML) }),
    )
    .route(
        "/scan/scan.js",
        web::get().to(|| async { page(text_type("text/javascript"), SCAN_JS) }),
    )
    .route(
        "/scan/jsqr.js",
        web::get().to(|| async { page(text_type("text/javascript"), JSQR_JS) }),
    )
    .route(
        "/scan/scan.css",
        web::get().to(|| async { page(text_type("text/css"), SCAN_CSS) }),
    );
}
