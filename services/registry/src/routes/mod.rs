//! The registry's HTTP routes, one file per resource, registered through
//! `utoipa-actix-web` so that each one is also in the OpenAPI document:
//!
//! - [`products`]: `/v1/products`, `/v1/products/{id}`;
//! - [`lots`]: lots of a product, and their recall;
//! - [`items`]: serialising items and listing them;
//! - [`qr`]: QR images of an item (authenticated API path and public resolver path);
//! - [`labels`]: printable label sheets of a lot (SVG, PDF);
//! - [`resolver`]: the public GS1 Digital Link resolver (`/01/...`).
//!
//! Also here: the pagination parameters every listing shares, the
//! problem responses documented on every operation, and the path
//! parameters parsed into GS1 types with errors naming the parameter.

pub mod items;
pub mod labels;
pub mod lots;
pub mod products;
pub mod qr;
pub mod resolver;

use std::collections::BTreeMap;

use tracechain_domain::{Lot, Serial};
use tracechain_store::{IndexCursor, MAX_PAGE_LIMIT, StateStore};
use utoipa::IntoResponses;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::RegistryError;

/// Registers every documented route. The public resolver comes first: it
/// takes the traffic of every phone that scans a label, and actix tries
/// resources in registration order.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(resolver::resolve_lot_serial)
        .service(resolver::resolve_serial)
        .service(resolver::resolve_lot)
        .service(resolver::resolve_product)
        .service(qr::resolver_lot_serial_png)
        .service(qr::resolver_lot_serial_svg)
        .service(qr::resolver_serial_png)
        .service(qr::resolver_serial_svg)
        .service(products::register_product)
        .service(products::list_products)
        .service(products::get_product)
        .service(lots::create_lot)
        .service(lots::list_lots)
        .service(lots::get_lot)
        .service(lots::recall_lot)
        .service(items::serialize_items)
        .service(items::list_items)
        .service(items::get_item)
        .service(qr::api_qr_png)
        .service(qr::api_qr_svg)
        .service(labels::labels_svg)
        .service(labels::labels_pdf);
}

pub use tracechain_runtime::paging::{
    DEFAULT_LIMIT, MAX_LIMIT, Page, PageQuery, PageRequest, encode_cursor,
};

/// Parses the `lot` path parameter (400 naming it).
pub fn parse_lot(text: &str) -> Result<Lot, RegistryError> {
    Lot::parse(text).map_err(|e| RegistryError::parameter("lot", e.to_string()))
}

/// Parses the `serial` path parameter (400 naming it).
pub fn parse_serial(text: &str) -> Result<Serial, RegistryError> {
    Serial::parse(text).map_err(|e| RegistryError::parameter("serial", e.to_string()))
}

/// The members of `index` from position `skip`, at most `take` of them.
pub async fn index_slice(
    store: &dyn StateStore,
    index: &str,
    skip: usize,
    take: usize,
) -> Result<Vec<String>, RegistryError> {
    let mut skipped = 0;
    let mut out = Vec::with_capacity(take);
    let mut after: Option<IndexCursor> = None;
    loop {
        let page = store
            .index_range(index, after.as_ref(), MAX_PAGE_LIMIT)
            .await?;
        for entry in page.entries {
            if skipped < skip {
                skipped += 1;
            } else if out.len() < take {
                out.push(entry.member);
            }
        }
        match page.next {
            Some(next) if out.len() < take => after = Some(next),
            _ => return Ok(out),
        }
    }
}

/// The RFC 3339 text of a time.
pub fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Declares a documented problem response for one status.
macro_rules! problem_response {
    ($name:ident, $status:literal, $description:literal) => {
        #[doc = concat!("Documents the ", $status, " problem response: ", $description)]
        #[derive(Debug)]
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
                let content = ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build();
                let response = ResponseBuilder::new()
                    .description($description)
                    .content(tracechain_http::problem::PROBLEM_JSON, content)
                    .build();
                BTreeMap::from([($status.to_owned(), RefOr::T(response))])
            }
        }
    };
}

problem_response!(
    BadRequest,
    "400",
    "A parameter is invalid or the body is not JSON; `errors` names the parameter."
);
problem_response!(
    Unauthorized,
    "401",
    "No or an unknown API key (`Authorization: Bearer <key>`)."
);
problem_response!(
    Forbidden,
    "403",
    "The key's role may not do this (carriers and finance may not use the registry; auditors only read)."
);
problem_response!(
    NotFound,
    "404",
    "Not found, or not visible to the caller (another manufacturer's product reads as absent)."
);
problem_response!(
    Conflict,
    "409",
    "Conflicts with the current state (duplicate GTIN, lot or serial; already recalled; an Idempotency-Key still in progress)."
);
problem_response!(
    UnsupportedMediaType,
    "415",
    "The body's content type is not application/json."
);
problem_response!(
    Unprocessable,
    "422",
    "The body is well-formed JSON but invalid; `errors` lists each invalid field. Also: an Idempotency-Key reused with another body."
);
problem_response!(
    Unavailable,
    "503",
    "The event bus or the state store is unavailable; nothing was changed. Retry after `Retry-After` seconds."
);
