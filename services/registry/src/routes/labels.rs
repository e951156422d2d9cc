//! Printable label sheets of a lot: `labels.svg` (one A4 sheet per request,
//! `?page=`) and `labels.pdf` (consecutive sheets as pages, `?page=` for the
//! first and `?sheets=` for how many). Items are in serial order, 15 per
//! sheet. Every answer says how many sheets the lot needs
//! (`X-Total-Sheets`) and links the next batch (`Link: <…>; rel="next"`).

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use tracechain_domain::{Lot, Serial};
use tracechain_http::Principal;
use utoipa::IntoParams;

use super::items::item_link;
use super::lots::lot_path;
use super::qr::Binary;
use super::{BadRequest, Forbidden, NotFound, Unauthorized, Unavailable, index_slice, parse_lot};
use crate::error::RegistryError;
use crate::labels::{LABELS_PER_SHEET, Label, Sheet, sheet_svg, sheets_pdf};
use crate::projection::{LotRecord, ProductRecord, item_count, keys};
use crate::state::{AppState, READ_ROLES};

/// `page` (and for PDF `sheets`), as given.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SheetQuery {
    /// The (first) sheet, from 1 (default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// PDF only: how many sheets, from 1 to the configured maximum (default:
    /// up to the maximum, 20, or the last sheet).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub sheets: Option<String>,
}

fn whole(name: &str, text: Option<&str>, default: u32) -> Result<u32, RegistryError> {
    match text {
        None => Ok(default),
        Some(text) => match text.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => {
                let shown: String = text.chars().take(20).collect();
                Err(RegistryError::parameter(
                    name,
                    format!("must be a whole number from 1, got {shown:?}"),
                ))
            }
        },
    }
}

/// What one label request covers.
struct Plan {
    product: std::sync::Arc<ProductRecord>,
    lot: LotRecord,
    /// Sheets the whole lot needs.
    total: u32,
    /// The first sheet (1-based).
    first: u32,
    /// Sheets in this answer.
    count: u32,
}

async fn plan(
    state: &AppState,
    principal: &Principal,
    id: &str,
    lot: &str,
    query: &SheetQuery,
    max_sheets: u32,
) -> Result<Plan, RegistryError> {
    principal.require_role(&READ_ROLES)?;
    let product = state.visible_product(principal, id).await?;
    let lot: Lot = parse_lot(lot)?;
    let first = whole("page", query.page.as_deref(), 1)?;
    let requested = whole("sheets", query.sheets.as_deref(), max_sheets)?;
    if requested > max_sheets {
        return Err(RegistryError::parameter(
            "sheets",
            format!("must be from 1 to {max_sheets}, got {requested}"),
        ));
    }
    let record = state.existing_lot(&product, &lot).await?;
    let items = item_count(state.store.as_ref(), &product.gtin, &lot).await?;
    if items == 0 {
        return Err(RegistryError::NothingToPrint {
            product: product.id.to_string(),
            lot: lot.to_string(),
        });
    }
    let total = u32::try_from(items.div_ceil(LABELS_PER_SHEET as u64)).unwrap_or(u32::MAX);
    if first > total {
        return Err(RegistryError::parameter(
            "page",
            format!("sheet {first} is past the last sheet, {total}"),
        ));
    }
    let count = requested.min(total - first + 1);
    Ok(Plan {
        product,
        lot: record,
        total,
        first,
        count,
    })
}

/// The sheets of a plan, with their labels read from the lot's index.
async fn sheets(state: &AppState, plan: &Plan) -> Result<Vec<Sheet>, RegistryError> {
    let skip = (plan.first as usize - 1) * LABELS_PER_SHEET;
    let take = plan.count as usize * LABELS_PER_SHEET;
    let serials = index_slice(
        state.store.as_ref(),
        &keys::items_of(&plan.product.gtin, &plan.lot.lot),
        skip,
        take,
    )
    .await?;
    let labels: Vec<Label> = serials
        .iter()
        .filter_map(|s| Serial::parse(s).ok())
        .map(|serial| Label {
            uri: item_link(&state.base_url, &plan.product.gtin, &plan.lot.lot, &serial),
            gtin: plan.product.gtin.to_string(),
            lot: plan.lot.lot.to_string(),
            serial: serial.to_string(),
        })
        .collect();
    Ok(labels
        .chunks(LABELS_PER_SHEET)
        .enumerate()
        .map(|(n, chunk)| Sheet {
            header: format!(
                "{} · GTIN {} · lot {} · sheet {} of {}",
                plan.product.name,
                plan.product.gtin,
                plan.lot.lot,
                plan.first as usize + n,
                plan.total
            ),
            labels: chunk.to_vec(),
        })
        .collect())
}

/// The headers every label answer carries.
fn respond(
    plan: &Plan,
    content_type: &str,
    ext: &str,
    body: Vec<u8>,
    next: Option<String>,
) -> HttpResponse {
    let filename = format!(
        "labels-{}-{}-{}.{ext}",
        plan.product.gtin,
        plan.lot
            .lot
            .as_str()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        plan.first
    );
    let mut response = HttpResponse::Ok();
    response
        .content_type(content_type)
        .insert_header(("x-total-sheets", plan.total.to_string()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{filename}\""),
        ));
    if let Some(next) = next {
        response.insert_header((header::LINK, format!("<{next}>; rel=\"next\"")));
    }
    response.body(body)
}

/// Label sheet (SVG) of a lot.
///
/// One A4 sheet of 15 labels, each a QR code of an item's Digital Link URI
/// with `(01) gtin`, `(10) lot` and `(21) serial` beneath.
#[utoipa::path(
    tag = "labels",
    params(
        ("id" = Uuid, Path, description = "The product id."),
        ("lot" = String, Path, description = "The lot number (percent-encoded)."),
        SheetQuery,
    ),
    responses(
        (status = 200, description = "One sheet.", body = String, content_type = "image/svg+xml",
            headers(("x-total-sheets" = u32, description = "Sheets the whole lot needs."))),
        BadRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    ),
    security(("bearer" = [])),
)]
#[get("/v1/products/{id}/lots/{lot}/labels.svg")]
pub(crate) async fn labels_svg(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    query: web::Query<SheetQuery>,
) -> Result<HttpResponse, RegistryError> {
    let (id, lot) = path.into_inner();
    let query = SheetQuery {
        sheets: None,
        ..query.into_inner()
    };
    let plan = plan(&state, &principal, &id, &lot, &query, 1).await?;
    let sheet = sheets(&state, &plan)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| RegistryError::Internal(anyhow::anyhow!("a planned sheet has no labels")))?;
    let svg = sheet_svg(&sheet).map_err(|e| RegistryError::Internal(e.into()))?;
    let next = (plan.first < plan.total).then(|| {
        format!(
            "{}/labels.svg?page={}",
            lot_path(&plan.product.id, plan.lot.lot.as_str()),
            plan.first + 1
        )
    });
    Ok(respond(
        &plan,
        "image/svg+xml",
        "svg",
        svg.into_bytes(),
        next,
    ))
}

/// Label sheets (PDF) of a lot.
///
/// Consecutive A4 sheets of 15 labels, one per page: vector QR codes and
/// Helvetica text, ready to print at 100%.
#[utoipa::path(
    tag = "labels",
    params(
        ("id" = Uuid, Path, description = "The product id."),
        ("lot" = String, Path, description = "The lot number (percent-encoded)."),
        SheetQuery,
    ),
    responses(
        (status = 200, description = "The sheets, a page each.", body = Binary, content_type = "application/pdf",
            headers(("x-total-sheets" = u32, description = "Sheets the whole lot needs."))),
        BadRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    ),
    security(("bearer" = [])),
)]
#[get("/v1/products/{id}/lots/{lot}/labels.pdf")]
pub(crate) async fn labels_pdf(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    query: web::Query<SheetQuery>,
) -> Result<HttpResponse, RegistryError> {
    let (id, lot) = path.into_inner();
    let max = state.limits.max_sheets_per_pdf;
    let plan = plan(&state, &principal, &id, &lot, &query, max).await?;
    let sheets = sheets(&state, &plan).await?;
    let title = format!("Labels: {} lot {}", plan.product.gtin, plan.lot.lot);
    // Rendering a few thousand rectangles per page is CPU work: keep it off
    // the async workers.
    let pdf = web::block(move || sheets_pdf(&sheets, &title))
        .await
        .map_err(|e| RegistryError::Internal(anyhow::anyhow!("label rendering failed: {e}")))?
        .map_err(|e| RegistryError::Internal(e.into()))?;
    let last = plan.first + plan.count - 1;
    let next = (last < plan.total).then(|| {
        format!(
            "{}/labels.pdf?page={}&sheets={}",
            lot_path(&plan.product.id, plan.lot.lot.as_str()),
            last + 1,
            plan.count
        )
    });
    Ok(respond(&plan, "application/pdf", "pdf", pdf, next))
}
