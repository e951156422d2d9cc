//! The Global Trade Item Number (GTIN, AI 01): which product something is.
//!
//! Accepted as GTIN-8, GTIN-12 (UPC-A), GTIN-13 (EAN-13) or GTIN-14, digits only,
//! check digit verified; always stored as GTIN-14 by left-padding with zeros
//! (the check digit does not change, see [`check_digit`](fn@super::check_digit)).
//! Two spellings of one GTIN are therefore equal once parsed.

use serde::{Deserialize, Serialize};

use super::key::{KeyError, KeyKind, validate_numeric_key};
use crate::newtype::string_newtype;

/// A GTIN, normalised to 14 digits.
///
/// Invariant: exactly 14 ASCII digits whose last is the mod-10 check digit of
/// the first 13.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Gtin(String);

impl Gtin {
    /// Parses a GTIN-8, -12, -13 or -14 and normalises it to GTIN-14.
    ///
    /// ```
    /// use tracechain_domain::gs1::Gtin;
    /// let gtin = Gtin::parse("9506000134352").unwrap();
    /// assert_eq!(gtin.as_str(), "09506000134352");
    /// assert_eq!(
    ///     Gtin::parse("09506000134353").unwrap_err().to_string(),
    ///     "gtin check digit is 3, expected 2"
    /// );
    /// ```
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        validate_numeric_key(KeyKind::Gtin, s, &[8, 12, 13, 14], "8, 12, 13 or 14")?;
        Ok(Self(format!("{s:0>14}")))
    }
}

string_newtype!(Gtin, KeyError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_digital_link_example() {
        let gtin: Gtin = "09506000134352".parse().unwrap();
        assert_eq!(gtin.as_str(), "09506000134352");
        assert_eq!(gtin.to_string(), "09506000134352");
    }

    #[test]
    fn shorter_forms_normalise_to_gtin_14() {
        // GTIN-13 of the same item.
        assert_eq!(
            Gtin::parse("9506000134352").unwrap(),
            Gtin::parse("09506000134352").unwrap()
        );
        // GTIN-12 (UPC-A) and GTIN-8.
        assert_eq!(
            Gtin::parse("614141000036").unwrap().as_str(),
            "00614141000036"
        );
        assert_eq!(Gtin::parse("95010014").unwrap().as_str(), "00000095010014");
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let msg = |s: &str| Gtin::parse(s).unwrap_err().to_string();
        assert_eq!(msg(""), "gtin is empty");
        assert_eq!(msg("0950600013435"), "gtin check digit is 5, expected 9");
        assert_eq!(msg("09506000134353"), "gtin check digit is 3, expected 2");
        assert_eq!(
            msg("0950600013435X"),
            "gtin contains 'X' at position 14, expected a digit"
        );
        assert_eq!(
            msg(" 9506000134352"),
            "gtin contains ' ' at position 1, expected a digit"
        );
        assert_eq!(
            msg("12345678901"),
            "gtin is 11 digits long, expected 8, 12, 13 or 14"
        );
        assert_eq!(
            msg("095060001343520"),
            "gtin is 15 digits long, expected 8, 12, 13 or 14"
        );
    }

    #[test]
    fn serde_validates() {
        let gtin: Gtin = serde_json::from_str("\"9506000134352\"").unwrap();
        assert_eq!(serde_json::to_string(&gtin).unwrap(), "\"09506000134352\"");
        let err = serde_json::from_str::<Gtin>("\"09506000134353\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("gtin check digit is 3, expected 2"),
            "{err}"
        );
    }
}
