//! The explorer page (`/explorer`): latest blocks, a block's events, and
//! in-browser verification of an event's inclusion proof and its block's
//! signature. Static assets compiled into the binary.

use actix_web::{HttpResponse, web};

const INDEX_HTML: &str = include_str!("explorer/index.html");

/// Registers the page.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/explorer",
        web::get().to(|| async {
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(INDEX_HTML)
        }),
    );
}
