//! A shipment's printable label: the QR code of its label URI
//! (`{base}/00/{sscc}`) above the SSCC's human-readable interpretation,
//! `(00) 0 0614141 000000001 2` as GS1 logistic labels print it.
//!
//! The PNG draws the text with a built-in 5×7 dot-matrix font of exactly
//! the glyphs it needs (digits, parentheses, space), so rendering needs no
//! font files and gives the same bytes on every machine; the SVG uses a
//! monospace `<text>`. Invariants: the QR keeps its quiet zone (the text
//! band is below it, never inside it), every module and font dot is a whole
//! number of pixels, and rendering fails only if the URI does not fit a
//! QR code (a label URI always does).

use std::fmt::Write as _;

use tracechain_domain::Sscc;
use tracechain_qr::{Ecc, QrError, QrMatrix, QrOptions, escape_xml, fmt_num, png_1bit};

/// Label width in pixels (PNG) or user units (SVG).
pub const LABEL_WIDTH: u32 = 600;
/// Height of the text band below the code.
const TEXT_BAND: u32 = 120;
/// Pixels per font dot.
const DOT: u32 = 7;

/// The SSCC as printed: `(00) e ppppppp sssssssss c` (extension digit,
/// company prefix and serial reference as one body, then the check digit).
pub fn human_readable(sscc: &Sscc) -> String {
    let digits = sscc.as_str();
    format!("(00) {} {} {}", &digits[..1], &digits[1..17], &digits[17..])
}

/// Rows of a glyph, top to bottom, 5 bits each (bit 4 is the left column).
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        _ => [0; 7],
    }
}

/// A 1-bit grayscale PNG label.
pub fn label_png(uri: &str, sscc: &Sscc) -> Result<Vec<u8>, QrError> {
    let matrix = QrMatrix::encode(uri, Ecc::M)?;
    let options = QrOptions {
        size: LABEL_WIDTH,
        margin: 4,
        ecc: Ecc::M,
    };
    let code = matrix.to_rows(&options)?;
    let width = LABEL_WIDTH as usize;
    let row_bytes = width.div_ceil(8);
    let height = (LABEL_WIDTH + TEXT_BAND) as usize;
    let mut pixels = vec![0xFFu8; row_bytes * height];
    pixels[..code.len()].copy_from_slice(&code);
    let text = human_readable(sscc);
    // 6 dots per character (5 + 1 space), scaled to fit the width.
    let chars = text.chars().count() as u32;
    let dot = DOT.min((LABEL_WIDTH - 20) / (chars * 6)).max(1);
    let text_width = chars * 6 * dot;
    let x0 = (LABEL_WIDTH - text_width) / 2;
    let y0 = LABEL_WIDTH + (TEXT_BAND - 7 * dot) / 2;
    for (i, c) in text.chars().enumerate() {
        let rows = glyph(c);
        let cx = x0 + i as u32 * 6 * dot;
        for (ry, bits) in rows.iter().enumerate() {
            for col in 0..5u32 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for dy in 0..dot {
                    let y = (y0 + ry as u32 * dot + dy) as usize;
                    for dx in 0..dot {
                        let x = (cx + col * dot + dx) as usize;
                        pixels[y * row_bytes + x / 8] &= !(0x80 >> (x % 8));
                    }
                }
            }
        }
    }
    png_1bit(LABEL_WIDTH, height as u32, &pixels)
}

/// A standalone SVG label.
pub fn label_svg(uri: &str, sscc: &Sscc) -> Result<String, QrError> {
    let matrix = QrMatrix::encode(uri, Ecc::M)?;
    let total = matrix.width() as u32 + 8;
    let module = f64::from(LABEL_WIDTH) / f64::from(total);
    let height = LABEL_WIDTH + TEXT_BAND;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{LABEL_WIDTH}" height="{height}" viewBox="0 0 {LABEL_WIDTH} {height}" shape-rendering="crispEdges"><title>SSCC {}</title><rect width="100%" height="100%" fill="#fff"/><path fill="#000" d="{}"/><text x="{}" y="{}" font-family="monospace" font-size="34" text-anchor="middle">{}</text></svg>"##,
        escape_xml(sscc.as_str()),
        matrix.svg_path(module * 4.0, module * 4.0, module),
        fmt_num(f64::from(LABEL_WIDTH) / 2.0),
        LABEL_WIDTH + TEXT_BAND / 2 + 12,
        escape_xml(&human_readable(sscc)),
    );
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_gs1s_human_readable_form() {
        let sscc = Sscc::parse("106141412345678908").unwrap();
        assert_eq!(human_readable(&sscc), "(00) 1 0614141234567890 8");
    }

    #[test]
    fn every_printed_character_has_a_glyph() {
        for c in "(00) 0123456789".chars().filter(|c| *c != ' ') {
            assert!(glyph(c).iter().any(|row| *row != 0), "{c}");
        }
    }

    #[test]
    fn the_png_is_a_label_sized_one_bit_image() {
        let sscc = Sscc::parse("106141412345678908").unwrap();
        let png_bytes = label_png("https://id.example.com/00/106141412345678908", &sscc).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(&png_bytes));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(
            (info.width, info.height),
            (LABEL_WIDTH, LABEL_WIDTH + TEXT_BAND)
        );
        assert_eq!(info.bit_depth, png::BitDepth::One);
    }
}
