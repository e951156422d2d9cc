//! What a caller may ask of a QR image: [`QrQuery`] (the query parameters as
//! given, documented for OpenAPI) and [`QrOptions`] (the same, checked).
//!
//! Invariant: a [`QrOptions`] built by [`QrQuery::validate`] has a size in
//! [`MIN_SIZE`]`..=`[`MAX_SIZE`] and a margin in `0..=`[`MAX_MARGIN`]; an
//! out-of-bounds or malformed value is a [`QrParameterError`] naming the
//! parameter, never silently clamped.

use qrcode::EcLevel;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

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
    /// The encoder's level.
    pub(crate) fn level(self) -> EcLevel {
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
///
/// The values are strings so that a malformed one reaches
/// [`QrQuery::validate`], which names it, instead of failing in the query
/// extractor with a generic message.
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

/// A QR query parameter is malformed or out of bounds (a service answers 400
/// naming [`parameter`](Self::parameter)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter} is invalid: {message}")]
pub struct QrParameterError {
    /// The parameter's name: `size`, `margin` or `ecc`.
    pub parameter: &'static str,
    /// What is wrong with it, quoting at most 20 characters of the value.
    pub message: String,
}

/// At most 20 characters of a refused value, so an error never echoes a
/// long input.
fn shown(text: &str) -> String {
    text.chars().take(20).collect()
}

fn bounded(
    parameter: &'static str,
    text: Option<&str>,
    min: u32,
    max: u32,
    default: u32,
) -> Result<u32, QrParameterError> {
    let Some(text) = text else {
        return Ok(default);
    };
    let value: u32 = text.parse().map_err(|_| QrParameterError {
        parameter,
        message: format!(
            "must be a whole number from {min} to {max}, got {:?}",
            shown(text)
        ),
    })?;
    if !(min..=max).contains(&value) {
        return Err(QrParameterError {
            parameter,
            message: format!("must be from {min} to {max}, got {value}"),
        });
    }
    Ok(value)
}

impl QrQuery {
    /// Checks bounds; the error names the parameter.
    pub fn validate(&self) -> Result<QrOptions, QrParameterError> {
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
            Some(text) => Ecc::parse(text).ok_or_else(|| QrParameterError {
                parameter: "ecc",
                message: format!("must be L, M, Q or H, got {:?}", shown(text)),
            })?,
        };
        Ok(QrOptions { size, margin, ecc })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(size: Option<&str>, margin: Option<&str>, ecc: Option<&str>) -> QrQuery {
        QrQuery {
            size: size.map(str::to_owned),
            margin: margin.map(str::to_owned),
            ecc: ecc.map(str::to_owned),
        }
    }

    #[test]
    fn query_bounds_name_the_parameter() {
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
                Err(QrParameterError { parameter, .. }) => assert_eq!(parameter, name),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn messages_quote_at_most_twenty_characters() {
        let err = q(Some(&"9".repeat(100)), None, None)
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "size is invalid: must be a whole number from 64 to 2048, got {:?}",
                "9".repeat(20)
            )
        );
        let err = q(None, None, Some("extremely-long-ecc-value")).validate();
        assert_eq!(
            err.unwrap_err().message,
            "must be L, M, Q or H, got \"extremely-long-ecc-v\""
        );
    }
}
