//! Static web pages compiled into a service binary (the ledger's explorer,
//! the shipments service's phone page): each asset is served with the
//! page's Content-Security-Policy and the headers every page shares.
//!
//! `Cache-Control: no-cache`: browsers revalidate, so a new binary's page
//! is never mixed with an old script.

use actix_web::HttpResponse;
use actix_web::http::header::{CacheControl, CacheDirective, ContentType};

/// `essence; charset=utf-8` (for text assets).
pub fn text_type(essence: &'static str) -> ContentType {
    // Only called with constant, valid essences (`text/javascript`, …),
    // so parsing cannot fail; fall back to plain text all the same.
    ContentType(
        format!("{essence}; charset=utf-8")
            .parse()
            .unwrap_or(actix_web::mime::TEXT_PLAIN_UTF_8),
    )
}

/// A static asset with the page's policy `csp` and the shared security
/// headers (no sniffing, no referrer).
pub fn asset(content_type: ContentType, csp: &'static str, body: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(content_type)
        .insert_header(("Content-Security-Policy", csp))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(body)
}
