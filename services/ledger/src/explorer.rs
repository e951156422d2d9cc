//! The explorer page (`/explorer`): the chain head, the latest blocks, a
//! block's events, and in-browser verification of a block (RFC 8785 header
//! bytes, header hash, Ed25519 signature) and of an event's RFC 9162
//! inclusion proof against the block's signed root.
//!
//! Three static files compiled into the binary (no CDN, no build step):
//! `/explorer` (HTML), `/explorer/explorer.js`, `/explorer/explorer.css`.
//! The page trusts nothing the server says without checking it: it
//! recomputes hashes and verifies signatures with WebCrypto, which browsers
//! offer only in a secure context (HTTPS, or `http://localhost`/`127.0.0.1`).
//!
//! Every response carries a strict Content-Security-Policy: scripts and
//! styles only from this origin, no inline code, fetches only to this
//! origin, and Trusted Types enforced, so a string can never reach an HTML
//! sink (`innerHTML`) even by mistake.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};
use tracechain_http::assets::{asset, text_type};

const INDEX_HTML: &str = include_str!("explorer/index.html");
const EXPLORER_JS: &str = include_str!("explorer/explorer.js");
const EXPLORER_CSS: &str = include_str!("explorer/explorer.css");

/// The page's policy: same-origin everything, no inline code, no framing,
/// no HTML built from strings.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'; \
     trusted-types 'none'";

/// Registers the page and its assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/explorer",
        web::get().to(|| async { page(ContentType::html(), INDEX_HTML) }),
    )
    .route(
        "/explorer/explorer.js",
        web::get().to(|| async { page(text_type("text/javascript"), EXPLORER_JS) }),
    )
    .route(
        "/explorer/explorer.css",
        web::get().to(|| async { page(text_type("text/css"), EXPLORER_CSS) }),
    );
}

fn page(content_type: ContentType, body: &'static str) -> HttpResponse {
    asset(content_type, CONTENT_SECURITY_POLICY, body.as_bytes())
}
