//! [`QrMatrix`]: the modules of one QR code, and their rendering to PNG
//! (1-bit grayscale) and SVG (one path of filled runs).
//!
//! Invariants: the matrix is square, `width` × `width` modules, without quiet
//! zone; a rendered image is exactly the size asked, every module a whole
//! number of pixels, and the pixels left over by that integer scaling go to
//! the quiet zone, split evenly ([`QrMatrix::to_png`], [`QrMatrix::to_svg`]).

use std::fmt::Write as _;

use qrcode::{Color, QrCode};

use crate::options::{Ecc, QrOptions};

/// The modules of one QR code, without quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    /// Modules per side.
    width: usize,
    /// Row-major; true is dark. Invariant: `width * width` entries.
    dark: Vec<bool>,
}

/// Why a code could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The data does not fit a QR code at this level.
    #[error("cannot encode {len} bytes as a qr code: {reason}")]
    Encode {
        /// Bytes of data.
        len: usize,
        /// The encoder's reason.
        reason: String,
    },
    /// The image is too small to give each module a pixel.
    #[error(
        "size {size} px is too small for this code: it needs at least {needed} px with a margin of {margin} modules"
    )]
    TooSmall {
        /// The size asked for.
        size: u32,
        /// The smallest size that works.
        needed: u32,
        /// The margin asked for.
        margin: u32,
    },
    /// PNG encoding failed.
    #[error("png encoding failed: {0}")]
    Png(String),
}

impl QrMatrix {
    /// Encodes `data` at `ecc`.
    pub fn encode(data: &str, ecc: Ecc) -> Result<QrMatrix, QrError> {
        let code =
            QrCode::with_error_correction_level(data.as_bytes(), ecc.level()).map_err(|e| {
                QrError::Encode {
                    len: data.len(),
                    reason: e.to_string(),
                }
            })?;
        let width = code.width();
        let dark = code
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect();
        Ok(QrMatrix { width, dark })
    }

    /// Modules per side (without quiet zone).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Whether the module at column `x`, row `y` is dark (false outside).
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.width && self.dark[y * self.width + x]
    }

    /// The horizontal runs of dark modules: `(x, y, length)`.
    pub fn runs(&self) -> Vec<(usize, usize, usize)> {
        let mut runs = Vec::new();
        for y in 0..self.width {
            let mut x = 0;
            while x < self.width {
                if self.is_dark(x, y) {
                    let start = x;
                    while x < self.width && self.is_dark(x, y) {
                        x += 1;
                    }
                    runs.push((start, y, x - start));
                } else {
                    x += 1;
                }
            }
        }
        runs
    }

    /// SVG path data drawing the dark modules, module `(0, 0)` at `(x0, y0)`
    /// and each module `module` units wide.
    pub fn svg_path(&self, x0: f64, y0: f64, module: f64) -> String {
        let mut d = String::new();
        for (x, y, len) in self.runs() {
            let _ = write!(
                d,
                "M{},{}h{}v{}h-{}z",
                fmt_num(x0 + x as f64 * module),
                fmt_num(y0 + y as f64 * module),
                fmt_num(len as f64 * module),
                fmt_num(module),
                fmt_num(len as f64 * module),
            );
        }
        d
    }

    /// Pixels per module and the offset of module `(0, 0)` for an image of
    /// `size` px with `margin` modules of quiet zone.
    fn layout(&self, size: u32, margin: u32) -> Result<(u32, u32), QrError> {
        let total = self.width as u32 + 2 * margin;
        let module = size / total;
        if module == 0 {
            return Err(QrError::TooSmall {
                size,
                needed: total,
                margin,
            });
        }
        let offset = (size - module * total) / 2 + margin * module;
        Ok((module, offset))
    }

    /// The image of `options.size` px as packed 1-bit rows (MSB first,
    /// each row padded to a whole byte; 1 = light), ready for
    /// [`png_1bit`] or for drawing more below it (a label's text).
    pub fn to_rows(&self, options: &QrOptions) -> Result<Vec<u8>, QrError> {
        let size = options.size;
        let (module, offset) = self.layout(size, options.margin)?;
        let row_bytes = (size as usize).div_ceil(8);
        let mut pixels = vec![0xFFu8; row_bytes * size as usize];
        let code_px = self.width as u32 * module;
        for py in offset..offset + code_px {
            let my = ((py - offset) / module) as usize;
            let row = &mut pixels[py as usize * row_bytes..(py as usize + 1) * row_bytes];
            for px in offset..offset + code_px {
                let mx = ((px - offset) / module) as usize;
                if self.is_dark(mx, my) {
                    row[px as usize / 8] &= !(0x80 >> (px % 8));
                }
            }
        }
        Ok(pixels)
    }

    /// A 1-bit grayscale PNG of `options.size` px.
    pub fn to_png(&self, options: &QrOptions) -> Result<Vec<u8>, QrError> {
        png_1bit(options.size, options.size, &self.to_rows(options)?)
    }

    /// A standalone SVG of `options.size` × `options.size` px, titled `title`.
    pub fn to_svg(&self, options: &QrOptions, title: &str) -> Result<String, QrError> {
        let size = options.size;
        let (module, offset) = self.layout(size, options.margin)?;
        let path = self.svg_path(f64::from(offset), f64::from(offset), f64::from(module));
        Ok(format!(
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                "\n",
                r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{size}" height="{size}" viewBox="0 0 {size} {size}" shape-rendering="crispEdges">"#,
                "<title>{title}</title>",
                r##"<rect width="{size}" height="{size}" fill="#ffffff"/>"##,
                r##"<path fill="#000000" d="{path}"/>"##,
                "</svg>\n"
            ),
            size = size,
            title = escape_xml(title),
            path = path,
        ))
    }
}

/// A 1-bit grayscale PNG of `width` × `height` from packed rows (see
/// [`QrMatrix::to_rows`]).
pub fn png_1bit(width: u32, height: u32, rows: &[u8]) -> Result<Vec<u8>, QrError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder
        .write_header()
        .map_err(|e| QrError::Png(e.to_string()))?;
    writer
        .write_image_data(rows)
        .map_err(|e| QrError::Png(e.to_string()))?;
    writer.finish().map_err(|e| QrError::Png(e.to_string()))?;
    Ok(out)
}

/// A number for SVG/PDF: integers without a fraction, others with up to 3 decimals.
pub fn fmt_num(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    if rounded.fract() == 0.0 {
        format!("{}", rounded as i64)
    } else {
        let text = format!("{rounded:.3}");
        text.trim_end_matches('0').to_owned()
    }
}

/// Escapes `& < > " '` for XML (SVG) and HTML text and attribute values.
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "https://id.example.com/01/09506000134352/10/L1/21/S1";

    #[test]
    fn png_is_exactly_the_size_asked() {
        let m = QrMatrix::encode(URI, Ecc::M).unwrap();
        let png = m
            .to_png(&QrOptions {
                size: 300,
                margin: 4,
                ecc: Ecc::M,
            })
            .unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        assert_eq!(reader.info().width, 300);
        assert_eq!(reader.info().height, 300);
    }

    #[test]
    fn too_small_is_an_error() {
        let m = QrMatrix::encode(URI, Ecc::H).unwrap();
        let err = m
            .to_png(&QrOptions {
                size: 64,
                margin: 16,
                ecc: Ecc::H,
            })
            .unwrap_err();
        assert!(matches!(err, QrError::TooSmall { .. }), "{err}");
    }

    #[test]
    fn svg_has_the_runs_and_an_escaped_title() {
        let m = QrMatrix::encode(URI, Ecc::L).unwrap();
        let svg = m.to_svg(&QrOptions::default(), "a<b&c").unwrap();
        assert!(svg.contains("<title>a&lt;b&amp;c</title>"));
        assert!(svg.contains(r#"width="512""#));
        let dark = m.dark.iter().filter(|d| **d).count();
        let run_total: usize = m.runs().iter().map(|r| r.2).sum();
        assert_eq!(dark, run_total);
    }

    #[test]
    fn numbers_are_compact() {
        assert_eq!(fmt_num(3.0), "3");
        assert_eq!(fmt_num(2.5), "2.5");
        assert_eq!(fmt_num(1.0 / 3.0), "0.333");
    }

    #[test]
    fn escape_xml_escapes_the_five_characters() {
        assert_eq!(
            escape_xml(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape_xml("plain"), "plain");
    }
}
