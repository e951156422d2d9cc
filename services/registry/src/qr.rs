//! QR codes for Digital Link URIs, rendered to PNG (1-bit grayscale) and SVG
//! (one path of filled runs), plus the module matrix the label sheets draw.
//!
//! Invariants: an image is exactly `size` × `size` pixels (SVG: user units),
//! with at least `margin` light modules of quiet zone on every side (the
//! pixels left over by integer module scaling are added to the quiet zone,
//! split evenly); every module is a whole number of pixels, so scanners see
//! crisp edges. Options are checked by [`QrQuery::validate`] before any
//! rendering, so rendering never fails on a user's input (only an encoder
//! failure on data longer than a QR code holds, which a Digital Link of
//! GS1-bounded fields never is).

use std::fmt::Write as _;

use qrcode::{Color, EcLevel, QrCode};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::error::RegistryError;

/// Smallest accepted image size, in pixels.
pub const MIN_SIZE: u32 = 64;
/// Largest accepted image size, in pixels.
pub const MAX_SIZE: u32 = 2048;
/// Default image size, in pixels.
pub const DEFAULT_SIZE: u32 = 512;
/// Largest accepted quiet zone, in modules.
pub const MAX_MARGIN: u32 = 16;
/// Default quiet zone, in modules (what ISO/IEC 18004 asks for).
pub const DEFAULT_MARGIN: u32 = 4;

/// Error-correction level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum Ecc {
    /// About 7% of the code can be damaged.
    L,
    /// About 15% (the default).
    M,
    /// About 25%.
    Q,
    /// About 30%.
    H,
}

impl Ecc {
    fn level(self) -> EcLevel {
        match self {
            Ecc::L => EcLevel::L,
            Ecc::M => EcLevel::M,
            Ecc::Q => EcLevel::Q,
            Ecc::H => EcLevel::H,
        }
    }

    /// Parses `L`, `M`, `Q` or `H` (either case).
    pub fn parse(text: &str) -> Option<Ecc> {
        match text {
            "L" | "l" => Some(Ecc::L),
            "M" | "m" => Some(Ecc::M),
            "Q" | "q" => Some(Ecc::Q),
            "H" | "h" => Some(Ecc::H),
            _ => None,
        }
    }
}

/// The query parameters of a QR image, as given (checked by [`QrQuery::validate`]).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QrQuery {
    /// Image width and height in pixels, 64 to 2048 (default 512).
    #[param(value_type = Option<u32>, minimum = 64, maximum = 2048)]
    pub size: Option<String>,
    /// Quiet zone around the code, in modules, 0 to 16 (default 4).
    #[param(value_type = Option<u32>, minimum = 0, maximum = 16)]
    pub margin: Option<String>,
    /// Error-correction level: L, M (default), Q or H.
    #[param(value_type = Option<Ecc>)]
    pub ecc: Option<String>,
}

/// Checked QR options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QrOptions {
    /// Image size in pixels.
    pub size: u32,
    /// Quiet zone in modules.
    pub margin: u32,
    /// Error-correction level.
    pub ecc: Ecc,
}

impl Default for QrOptions {
    fn default() -> Self {
        QrOptions {
            size: DEFAULT_SIZE,
            margin: DEFAULT_MARGIN,
            ecc: Ecc::M,
        }
    }
}

fn bounded(
    name: &str,
    text: Option<&str>,
    min: u32,
    max: u32,
    default: u32,
) -> Result<u32, RegistryError> {
    let Some(text) = text else {
        return Ok(default);
    };
    let shown: String = text.chars().take(20).collect();
    let value: u32 = text.parse().map_err(|_| {
        RegistryError::parameter(
            name,
            format!("must be a whole number from {min} to {max}, got {shown:?}"),
        )
    })?;
    if !(min..=max).contains(&value) {
        return Err(RegistryError::parameter(
            name,
            format!("must be from {min} to {max}, got {value}"),
        ));
    }
    Ok(value)
}

impl QrQuery {
    /// Checks bounds; the error names the parameter.
    pub fn validate(&self) -> Result<QrOptions, RegistryError> {
        let size = bounded(
            "size",
            self.size.as_deref(),
            MIN_SIZE,
            MAX_SIZE,
            DEFAULT_SIZE,
        )?;
        let margin = bounded(
            "margin",
            self.margin.as_deref(),
            0,
            MAX_MARGIN,
            DEFAULT_MARGIN,
        )?;
        let ecc = match self.ecc.as_deref() {
            None => Ecc::M,
            Some(text) => Ecc::parse(text).ok_or_else(|| {
                let shown: String = text.chars().take(20).collect();
                RegistryError::parameter("ecc", format!("must be L, M, Q or H, got {shown:?}"))
            })?,
        };
        Ok(QrOptions { size, margin, ecc })
    }
}

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

    /// A 1-bit grayscale PNG of `options.size` px.
    pub fn to_png(&self, options: &QrOptions) -> Result<Vec<u8>, QrError> {
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
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, size, size);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder
            .write_header()
            .map_err(|e| QrError::Png(e.to_string()))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| QrError::Png(e.to_string()))?;
        writer.finish().map_err(|e| QrError::Png(e.to_string()))?;
        Ok(out)
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
            title = crate::html::escape(title),
            path = path,
        ))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "https://id.example.com/01/09506000134352/10/L1/21/S1";

    #[test]
    fn query_bounds_name_the_parameter() {
        let q = |size: Option<&str>, margin: Option<&str>, ecc: Option<&str>| QrQuery {
            size: size.map(str::to_owned),
            margin: margin.map(str::to_owned),
            ecc: ecc.map(str::to_owned),
        };
        assert_eq!(
            q(None, None, None).validate().unwrap(),
            QrOptions::default()
        );
        assert_eq!(
            q(Some("64"), Some("0"), Some("h")).validate().unwrap(),
            QrOptions {
                size: 64,
                margin: 0,
                ecc: Ecc::H
            }
        );
        for (query, name) in [
            (q(Some("63"), None, None), "size"),
            (q(Some("2049"), None, None), "size"),
            (q(Some("big"), None, None), "size"),
            (q(None, Some("17"), None), "margin"),
            (q(None, Some("-1"), None), "margin"),
            (q(None, None, Some("X")), "ecc"),
        ] {
            match query.validate() {
                Err(RegistryError::InvalidParameter { parameter, .. }) => {
                    assert_eq!(parameter, name)
                }
                other => panic!("{other:?}"),
            }
        }
    }

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
}
