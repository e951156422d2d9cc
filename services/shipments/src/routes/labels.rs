//! A shipment's printable label (`/v1/shipments/{id}/label.png|.svg`) and
//! the public resolver its QR code opens (`/00/{sscc}`).
//!
//! The resolver is public, like every GS1 resolver: anyone holding the
//! parcel can scan it. Without an API key it tells only what the label
//! itself implies — the SSCC, the shipment's state and where a carrier
//! scans it; with a key that may see the shipment it answers the whole
//! shipment. JSON or an HTML page by content negotiation
//! ([`tracechain_http::negotiate`]).

use std::fmt::Write as _;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use tracechain_domain::{DigitalLink, Sscc};
use tracechain_http::{Principal, Problem};
use utoipa::ToSchema;

use super::shipments::ShipmentResponse;
use crate::error::ShipmentsError;
use crate::label::{human_readable, label_png as render_png, label_svg as render_svg};
use crate::state::{AppState, READ_ROLES, may_see};

/// The resolver page's policy: nothing loads, inline styles only.
const RESOLVER_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

async fn labelled(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(String, Sscc), ShipmentsError> {
    principal.require_role(&READ_ROLES)?;
    let record = state.visible_shipment(principal, id).await?;
    let uri = DigitalLink::Logistic {
        sscc: record.sscc.clone(),
    }
    .to_uri(&state.base_url);
    Ok((uri, record.sscc))
}

/// The label as PNG.
///
/// 600 × 720 px, 1-bit: the QR code of `{base}/00/{sscc}` with its quiet
/// zone, and the SSCC as GS1 prints it below.
#[utoipa::path(
    tag = "shipments",
    params(("id" = uuid::Uuid, Path, description = "The shipment id.")),
    responses(
        (status = 200, description = "The label.", content_type = "image/png", body = Vec<u8>),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not read shipments.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such shipment visible to the caller.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/shipments/{id}/label.png")]
pub(crate) async fn label_png(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ShipmentsError> {
    let (uri, sscc) = labelled(&state, &principal, &path).await?;
    let png = render_png(&uri, &sscc).map_err(|e| ShipmentsError::Internal(e.into()))?;
    Ok(HttpResponse::Ok().content_type("image/png").body(png))
}

/// The label as SVG.
#[utoipa::path(
    tag = "shipments",
    params(("id" = uuid::Uuid, Path, description = "The shipment id.")),
    responses(
        (status = 200, description = "The label.", content_type = "image/svg+xml", body = String),
        (status = 401, description = "No or an unknown API key.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not read shipments.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such shipment visible to the caller.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/shipments/{id}/label.svg")]
pub(crate) async fn label_svg(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ShipmentsError> {
    let (uri, sscc) = labelled(&state, &principal, &path).await?;
    let svg = render_svg(&uri, &sscc).map_err(|e| ShipmentsError::Internal(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml; charset=utf-8")
        .body(svg))
}

/// What the public resolver answers for a label.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LabelResolution {
    /// The SSCC.
    pub sscc: String,
    /// As printed on the label.
    pub human_readable: String,
    /// The shipment's state.
    pub state: String,
    /// Where a carrier scans it (the phone page).
    pub scan_page: String,
    /// The whole shipment, when the request carried an API key that may see it.
    pub shipment: Option<ShipmentResponse>,
}

/// Resolve a scanned shipment label.
///
/// Public. Without an API key: the SSCC, the state and the scanning page.
/// With a key that may see the shipment: the shipment too. JSON when
/// `?format=json` or `Accept` prefers `application/json`; else HTML.
#[utoipa::path(
    tag = "resolver",
    params(
        ("sscc" = String, Path, description = "The SSCC-18 (with its check digit).", pattern = "^[0-9]{18}$"),
        ("format" = Option<String>, Query, description = "`json` or `html` (overrides `Accept`).", pattern = "^(json|html)$"),
    ),
    responses(
        (status = 200, description = "The label's shipment.", body = LabelResolution),
        (status = 400, description = "Not a valid SSCC, or a bad `format`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No shipment has this SSCC.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/00/{sscc}")]
pub(crate) async fn resolve_sscc(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ShipmentsError> {
    let sscc = Sscc::parse(&path).map_err(|e| ShipmentsError::parameter("sscc", e.to_string()))?;
    let json = tracechain_http::negotiate::wants_json(&req)?;
    let not_found = || ShipmentsError::SsccNotFound(sscc.to_string());
    let claim = state
        .families
        .ssccs
        .get(sscc.as_str())
        .await?
        .filter(|c| c.value.pending_since_ms.is_none())
        .ok_or_else(not_found)?;
    let record = state
        .families
        .shipments
        .get(&claim.value.owner.to_string())
        .await?
        .ok_or_else(not_found)?
        .value;
    // A key is optional here; a wrong one is still a 401 (not silently public).
    let principal = match req.headers().get(header::AUTHORIZATION) {
        Some(_) => Some(tracechain_http::auth::authenticate(&req)?),
        None => None,
    };
    let shipment = principal
        .filter(|p| READ_ROLES.contains(&p.role) && may_see(p, &record))
        .map(|_| ShipmentResponse::from_record(&record, &state.base_url));
    let resolution = LabelResolution {
        sscc: sscc.to_string(),
        human_readable: human_readable(&sscc),
        state: record.custody.state.as_str().to_owned(),
        scan_page: "/scan".to_owned(),
        shipment,
    };
    let mut response = if json {
        HttpResponse::Ok().json(&resolution)
    } else {
        HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(("Content-Security-Policy", RESOLVER_CSP))
            .body(page(&resolution))
    };
    let headers = response.headers_mut();
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Authorization"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn page(r: &LabelResolution) -> String {
    use tracechain_qr::escape_xml as escape;
    let mut body = String::new();
    let _ = write!(
        body,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>Shipment {}</title><style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;line-height:1.4}}.state{{padding:.8rem 1rem;border-radius:.5rem;background:#eef;border:1px solid #88a;margin:1rem 0}}a.button{{display:inline-block;padding:.8rem 1.2rem;background:#1a56db;color:#fff;border-radius:.5rem;text-decoration:none}}</style></head><body><h1>Shipment</h1><p>{}</p><div class=\"state\">State: <strong>{}</strong></div>",
        escape(&r.sscc),
        escape(&r.human_readable),
        escape(&r.state.replace('_', " ")),
    );
    if let Some(shipment) = &r.shipment {
        let _ = write!(
            body,
            "<p>From {} with {}, due {}. {} item(s); {} scan(s) recorded.</p>",
            escape(&shipment.manufacturer),
            escape(&shipment.carrier_id),
            escape(&shipment.due_by),
            shipment.items.len(),
            shipment.custody.len()
        );
    }
    let _ = write!(
        body,
        "<p><a class=\"button\" href=\"{}\">Scan with the carrier app</a></p></body></html>",
        escape(&r.scan_page)
    );
    body
}
