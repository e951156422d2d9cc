//! Printable label sheets: A4 pages of QR codes, each with its human-readable
//! text (`(01) gtin`, `(10) lot`, `(21) serial`) beneath, as SVG (one sheet
//! per document) or PDF (one sheet per page, vector QR modules as filled
//! rectangles, text in the base-14 Helvetica so nothing is embedded).
//!
//! Layout (millimetres, origin top-left): 3 columns × 5 rows of 63.3 × 55.4
//! mm cells inside 10 mm page margins; in each cell a 38 mm QR code (error
//! correction M, 4-module quiet zone) and three 2.6 mm lines of text. A thin
//! grey cutting outline frames each cell; a header line names the sheet.
//!
//! Invariants: text is escaped for SVG and restricted to printable ASCII for
//! PDF (GS1 character set 82 always is; a product name's other characters
//! print as `?`); a sheet holds at most [`LABELS_PER_SHEET`] labels.

use std::fmt::Write as _;

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use tracechain_qr::{Ecc, QrError, QrMatrix, fmt_num};

use crate::html::escape;

/// Labels on one sheet.
pub const LABELS_PER_SHEET: usize = COLUMNS * ROWS;

const COLUMNS: usize = 3;
const ROWS: usize = 5;
const PAGE_W: f64 = 210.0;
const PAGE_H: f64 = 297.0;
const MARGIN: f64 = 10.0;
const CELL_W: f64 = (PAGE_W - 2.0 * MARGIN) / COLUMNS as f64;
const CELL_H: f64 = (PAGE_H - 2.0 * MARGIN) / ROWS as f64;
const QR_SIZE: f64 = 38.0;
const QR_TOP: f64 = 3.0;
const QR_QUIET_MODULES: usize = 4;
const FONT_SIZE: f64 = 2.6;
const HEADER_FONT_SIZE: f64 = 2.8;
const LINE_GAP: f64 = 3.5;
/// PDF points per millimetre.
const PT_PER_MM: f64 = 72.0 / 25.4;

/// One label: the URI its QR code carries and the text beneath it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The item's Digital Link URI.
    pub uri: String,
    /// GTIN-14.
    pub gtin: String,
    /// Lot number.
    pub lot: String,
    /// Serial.
    pub serial: String,
}

impl Label {
    /// The text lines under the code.
    pub fn lines(&self) -> [String; 3] {
        [
            format!("(01) {}", self.gtin),
            format!("(10) {}", self.lot),
            format!("(21) {}", self.serial),
        ]
    }
}

/// One sheet: a header and up to [`LABELS_PER_SHEET`] labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sheet {
    /// The header line, e.g. `Olive oil · GTIN … · lot L1 · sheet 1 of 3`.
    pub header: String,
    /// The labels, filled row by row.
    pub labels: Vec<Label>,
}

/// The cell of label `index` on a sheet: `(x, y, width, height)` in mm from
/// the page's top-left corner (for cutting, and for scanning one label).
pub fn cell_rect_mm(index: usize) -> (f64, f64, f64, f64) {
    let (x, y) = cell_origin(index);
    (x, y, CELL_W, CELL_H)
}

/// Where label `index` of a sheet sits: its cell's top-left corner (mm).
fn cell_origin(index: usize) -> (f64, f64) {
    let column = index % COLUMNS;
    let row = index / COLUMNS;
    (
        MARGIN + column as f64 * CELL_W,
        MARGIN + row as f64 * CELL_H,
    )
}

/// The QR matrix and module size (mm) of a label; module (0,0) at the returned offset.
fn label_code(label: &Label) -> Result<(QrMatrix, f64, f64), QrError> {
    let matrix = QrMatrix::encode(&label.uri, Ecc::M)?;
    let modules = matrix.width() + 2 * QR_QUIET_MODULES;
    let module = QR_SIZE / modules as f64;
    let quiet = module * QR_QUIET_MODULES as f64;
    Ok((matrix, module, quiet))
}

/// One sheet as a standalone SVG document (A4, units in mm).
pub fn sheet_svg(sheet: &Sheet) -> Result<String, QrError> {
    let mut out = String::new();
    let _ = write!(
        out,
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            "\n",
            r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="210mm" height="297mm" viewBox="0 0 210 297">"#,
            "\n<title>{}</title>\n",
            r##"<rect width="210" height="297" fill="#ffffff"/>"##,
            "\n",
            r##"<text x="{}" y="{}" font-family="Helvetica, Arial, sans-serif" font-size="{}" fill="#444444">{}</text>"##,
            "\n"
        ),
        escape(&sheet.header),
        fmt_num(MARGIN),
        fmt_num(MARGIN - 3.0),
        fmt_num(HEADER_FONT_SIZE),
        escape(&sheet.header),
    );
    for (index, label) in sheet.labels.iter().take(LABELS_PER_SHEET).enumerate() {
        let (x, y) = cell_origin(index);
        let (matrix, module, quiet) = label_code(label)?;
        let qr_x = x + (CELL_W - QR_SIZE) / 2.0;
        let qr_y = y + QR_TOP;
        let _ = write!(
            out,
            concat!(
                r#"<g class="label" data-uri="{uri}">"#,
                r##"<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="none" stroke="#cccccc" stroke-width="0.1"/>"##,
                r##"<path fill="#000000" shape-rendering="crispEdges" d="{d}"/>"##
            ),
            uri = escape(&label.uri),
            x = fmt_num(x),
            y = fmt_num(y),
            w = fmt_num(CELL_W),
            h = fmt_num(CELL_H),
            d = matrix.svg_path(qr_x + quiet, qr_y + quiet, module),
        );
        for (n, line) in label.lines().iter().enumerate() {
            let _ = write!(
                out,
                r##"<text x="{}" y="{}" font-family="Helvetica, Arial, sans-serif" font-size="{}" text-anchor="middle" fill="#000000">{}</text>"##,
                fmt_num(x + CELL_W / 2.0),
                fmt_num(qr_y + QR_SIZE + 4.0 + n as f64 * LINE_GAP),
                fmt_num(FONT_SIZE),
                escape(line),
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    Ok(out)
}

/// Sheets as one PDF document, a page per sheet.
pub fn sheets_pdf(sheets: &[Sheet], title: &str) -> Result<Vec<u8>, QrError> {
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let font = Ref::new(3);
    let info = Ref::new(4);
    let first = 5;
    let page_ids: Vec<Ref> = (0..sheets.len())
        .map(|i| Ref::new(first + 2 * i as i32))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(sheets.len() as i32);
    pdf.type1_font(font).base_font(Name(b"Helvetica"));
    pdf.document_info(info)
        .title(TextStr(&pdf_text(title)))
        .producer(TextStr("tracechain registry"));
    let font_name = Name(b"F1");
    for (sheet, page_id) in sheets.iter().zip(&page_ids) {
        let content_id = Ref::new(page_id.get() + 1);
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(
            0.0,
            0.0,
            (PAGE_W * PT_PER_MM) as f32,
            (PAGE_H * PT_PER_MM) as f32,
        ));
        page.parent(tree);
        page.contents(content_id);
        page.resources().fonts().pair(font_name, font);
        page.finish();

        let mut content = Content::new();
        // Header.
        text(
            &mut content,
            font_name,
            HEADER_FONT_SIZE,
            MARGIN,
            MARGIN - 3.0,
            &sheet.header,
            false,
        );
        // Cutting outlines.
        content.set_stroke_gray(0.8);
        content.set_line_width(0.1 * PT_PER_MM as f32);
        for index in 0..sheet.labels.len().min(LABELS_PER_SHEET) {
            let (x, y) = cell_origin(index);
            let (px, py) = to_pt(x, y + CELL_H);
            content.rect(
                px,
                py,
                (CELL_W * PT_PER_MM) as f32,
                (CELL_H * PT_PER_MM) as f32,
            );
        }
        content.stroke();
        // Codes.
        content.set_fill_gray(0.0);
        for (index, label) in sheet.labels.iter().take(LABELS_PER_SHEET).enumerate() {
            let (x, y) = cell_origin(index);
            let (matrix, module, quiet) = label_code(label)?;
            let qr_x = x + (CELL_W - QR_SIZE) / 2.0 + quiet;
            let qr_y = y + QR_TOP + quiet;
            for (mx, my, len) in matrix.runs() {
                let top = qr_y + my as f64 * module;
                let (px, py) = to_pt(qr_x + mx as f64 * module, top + module);
                content.rect(
                    px,
                    py,
                    (len as f64 * module * PT_PER_MM) as f32,
                    (module * PT_PER_MM) as f32,
                );
            }
        }
        content.fill_nonzero();
        // Text.
        for (index, label) in sheet.labels.iter().take(LABELS_PER_SHEET).enumerate() {
            let (x, y) = cell_origin(index);
            for (n, line) in label.lines().iter().enumerate() {
                let baseline = y + QR_TOP + QR_SIZE + 4.0 + n as f64 * LINE_GAP;
                text(
                    &mut content,
                    font_name,
                    FONT_SIZE,
                    x + CELL_W / 2.0,
                    baseline,
                    line,
                    true,
                );
            }
        }
        pdf.stream(content_id, &content.finish());
    }
    Ok(pdf.finish())
}

/// Millimetres from the top-left to PDF points from the bottom-left.
fn to_pt(x: f64, y: f64) -> (f32, f32) {
    ((x * PT_PER_MM) as f32, ((PAGE_H - y) * PT_PER_MM) as f32)
}

/// Writes one line of Helvetica at baseline `(x, y)` mm; centred on `x` when asked.
fn text(
    content: &mut Content,
    font: Name<'_>,
    size_mm: f64,
    x: f64,
    y: f64,
    line: &str,
    centred: bool,
) {
    let line = pdf_text(line);
    let size_pt = size_mm * PT_PER_MM;
    let width_pt = helvetica_width(&line) * size_pt / 1000.0;
    let (mut px, py) = to_pt(x, y);
    if centred {
        px -= (width_pt / 2.0) as f32;
    }
    content.begin_text();
    content.set_font(font, size_pt as f32);
    content.next_line(px, py);
    content.show(Str(line.as_bytes()));
    content.end_text();
}

/// Printable ASCII only (base-14 fonts without an embedded encoding); other
/// characters become `?`.
fn pdf_text(text: &str) -> String {
    text.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect()
}

/// Advance width of `text` in Helvetica, in thousandths of the font size.
fn helvetica_width(text: &str) -> f64 {
    // Helvetica AFM widths for ASCII 32..=126 (StandardEncoding).
    const WIDTHS: [u16; 95] = [
        278, 278, 355, 556, 556, 889, 667, 222, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556,
        556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722,
        722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722,
        667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 222, 556, 556, 500, 556, 556, 278, 556,
        556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500,
        500, 334, 260, 334, 584,
    ];
    text.bytes()
        .map(|b| {
            WIDTHS
                .get(usize::from(b.wrapping_sub(32)))
                .copied()
                .unwrap_or(556)
        })
        .map(f64::from)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(serial: &str) -> Label {
        Label {
            uri: format!("https://id.example.com/01/09506000134352/10/L1/21/{serial}"),
            gtin: "09506000134352".into(),
            lot: "L1".into(),
            serial: serial.into(),
        }
    }

    #[test]
    fn svg_sheet_escapes_and_places_every_label() {
        let sheet = Sheet {
            header: "Oil <Acme> & co".into(),
            labels: (0..LABELS_PER_SHEET)
                .map(|i| label(&format!("S{i}")))
                .collect(),
        };
        let svg = sheet_svg(&sheet).unwrap();
        assert_eq!(svg.matches(r#"<g class="label""#).count(), LABELS_PER_SHEET);
        assert!(svg.contains("Oil &lt;Acme&gt; &amp; co"));
        assert!(svg.contains("(21) S14"));
    }

    #[test]
    fn pdf_has_a_page_per_sheet() {
        let sheets: Vec<Sheet> = (0..3)
            .map(|n| Sheet {
                header: format!("sheet {n} é"),
                labels: vec![label("A"), label("B")],
            })
            .collect();
        let pdf = sheets_pdf(&sheets, "labels").unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/Count 3"));
        assert_eq!(pdf_text("é(x)"), "?(x)");
    }

    #[test]
    fn helvetica_widths() {
        assert_eq!(helvetica_width("0"), 556.0);
        assert_eq!(helvetica_width(" ~"), 278.0 + 584.0);
    }
}
