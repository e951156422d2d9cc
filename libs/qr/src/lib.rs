//! QR codes for GS1 Digital Link URIs, shared by every service that prints or
//! serves them (the registry's item QR images and label sheets, the
//! shipments service's SSCC labels).
//!
//! - [`QrQuery`]: the `size`, `margin` and `ecc` query parameters as given,
//!   with their OpenAPI description (`IntoParams`), so every service documents
//!   and checks them identically; [`QrQuery::validate`] turns them into
//!   [`QrOptions`] or a [`QrParameterError`] naming the parameter, which a
//!   service maps to its own 400 in one place.
//! - [`QrMatrix`]: the modules of one code, rendered to PNG (1-bit grayscale)
//!   or SVG (one path of filled runs), or drawn by the caller (label sheets)
//!   from [`QrMatrix::runs`] / [`QrMatrix::svg_path`].
//!
//! # Invariants
//!
//! - An image is exactly `size` × `size` pixels (SVG: user units), with at
//!   least `margin` light modules of quiet zone on every side (the pixels left
//!   over by integer module scaling are added to the quiet zone, split
//!   evenly); every module is a whole number of pixels, so scanners see crisp
//!   edges.
//! - Options are checked by [`QrQuery::validate`] before any rendering, so
//!   rendering never fails on a user's input, except [`QrError::TooSmall`]
//!   (a size too small for the code's width at that margin, which only the
//!   data decides) and an encoder failure on data longer than a QR code holds,
//!   which a Digital Link of GS1-bounded fields never is.
//! - Every text put into an SVG goes through [`escape_xml`].
//!
//! Pure: no I/O.
//!
//! ```
//! use tracechain_qr::{QrMatrix, QrQuery};
//!
//! let query = QrQuery { size: Some("256".into()), ..QrQuery::default() };
//! let options = query.validate()?;
//! let matrix = QrMatrix::encode("https://id.example.com/01/09506000134352/21/S1", options.ecc)?;
//! let png = matrix.to_png(&options)?;
//! assert!(png.starts_with(b"\x89PNG"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod matrix;
mod options;

pub use crate::matrix::{QrError, QrMatrix, escape_xml, fmt_num, png_1bit};
pub use crate::options::{
    DEFAULT_MARGIN, DEFAULT_SIZE, Ecc, MAX_MARGIN, MAX_SIZE, MIN_SIZE, QrOptions, QrParameterError,
    QrQuery,
};
