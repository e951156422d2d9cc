//! The shipments service's HTTP routes, one file per resource, registered
//! through `utoipa-actix-web` so each is in the OpenAPI document:
//!
//! - [`devices`]: a carrier's phone keys (`/v1/carriers/{id}/devices`);
//! - [`shipments`]: creating, listing and reading shipments;
//! - [`scans`]: what phones post (`/v1/scans`, `/v1/scans/batch`);
//! - [`labels`]: a shipment's printable label and the public `/00/{sscc}`
//!   resolver a scanned label opens;
//! - [`page`]: the phone's scanning page (`/scan`), static and outside
//!   the API document.

pub mod devices;
pub mod labels;
pub mod page;
pub mod scans;
pub mod shipments;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every documented route. The scan endpoints come first: they
/// take the traffic of every phone, and actix tries resources in
/// registration order.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(scans::post_scan)
        .service(scans::post_scan_batch)
        .service(labels::resolve_sscc)
        .service(shipments::create_shipment)
        .service(shipments::list_shipments)
        .service(shipments::get_shipment)
        .service(labels::label_png)
        .service(labels::label_svg)
        .service(devices::register_device)
        .service(devices::list_devices)
        .service(devices::get_device)
        .service(devices::revoke_device);
}
