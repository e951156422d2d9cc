//! The Serial Shipping Container Code (SSCC, AI 00): which logistic unit
//! (pallet, parcel, container) something is.
//!
//! 18 digits: an extension digit, the GS1 company prefix, a serial reference
//! (prefix and reference together 16 digits), and the mod-10 check digit. Our
//! services issue SSCCs, so besides [`Sscc::parse`] there are constructors that
//! compute the check digit: [`Sscc::from_body`] and [`Sscc::from_first17`].

use serde::{Deserialize, Serialize};

use super::key::{KeyError, KeyKind, validate_numeric_key, with_check_digit};
use crate::newtype::string_newtype;

/// An SSCC.
///
/// Invariant: exactly 18 ASCII digits whose last is the mod-10 check digit of
/// the first 17.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sscc(String);

/// Why the parts given to [`Sscc::from_body`] do not make an SSCC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsccBodyError {
    /// The extension digit is not a single decimal digit.
    #[error("sscc extension digit is {found}, expected 0 to 9")]
    ExtensionDigit {
        /// The value given.
        found: u8,
    },
    /// The company prefix holds a non-digit.
    #[error("sscc company prefix contains {ch:?} at position {position}, expected a digit")]
    CompanyPrefixNotDigit {
        /// The first offending character.
        ch: char,
        /// Its 1-based character position in the company prefix.
        position: usize,
    },
    /// The company prefix is not 4 to 12 digits long (the lengths GS1 allocates).
    #[error("sscc company prefix is {len} digits long, expected 4 to 12")]
    CompanyPrefixLength {
        /// The number of digits given.
        len: usize,
    },
    /// The serial reference holds a non-digit.
    #[error("sscc serial reference contains {ch:?} at position {position}, expected a digit")]
    SerialReferenceNotDigit {
        /// The first offending character.
        ch: char,
        /// Its 1-based character position in the serial reference.
        position: usize,
    },
    /// Company prefix and serial reference do not add up to 16 digits.
    #[error("sscc company prefix and serial reference are {len} digits long together, expected 16")]
    BodyLength {
        /// Their combined length.
        len: usize,
    },
}

impl Sscc {
    /// Parses an 18-digit SSCC, verifying its check digit.
    ///
    /// ```
    /// use tracechain_domain::gs1::Sscc;
    /// assert!(Sscc::parse("106141412345678908").is_ok());
    /// assert_eq!(
    ///     Sscc::parse("106141412345678909").unwrap_err().to_string(),
    ///     "sscc check digit is 9, expected 8"
    /// );
    /// ```
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        validate_numeric_key(KeyKind::Sscc, s, &[18], "18")?;
        Ok(Self(s.to_owned()))
    }

    /// Builds an SSCC from its first 17 digits, appending the check digit.
    pub fn from_first17(body: &str) -> Result<Self, KeyError> {
        with_check_digit(KeyKind::Sscc, body, 17, "17 (without the check digit)").map(Self)
    }

    /// Builds an SSCC from its parts, computing the check digit: the way a
    /// company issues one.
    ///
    /// `extension_digit` is `0..=9` (chosen freely by the issuer to widen the
    /// serial range); `company_prefix` is the issuer's GS1 company prefix (4 to
    /// 12 digits); `serial_reference` fills the remaining digits so that prefix
    /// and reference are 16 digits together (pad it with leading zeros).
    ///
    /// ```
    /// use tracechain_domain::gs1::Sscc;
    /// let sscc = Sscc::from_body(1, "0614141", "234567890").unwrap();
    /// assert_eq!(sscc.as_str(), "106141412345678908");
    /// ```
    pub fn from_body(
        extension_digit: u8,
        company_prefix: &str,
        serial_reference: &str,
    ) -> Result<Self, SsccBodyError> {
        if extension_digit > 9 {
            return Err(SsccBodyError::ExtensionDigit {
                found: extension_digit,
            });
        }
        if let Some((ch, position)) = first_non_digit(company_prefix) {
            return Err(SsccBodyError::CompanyPrefixNotDigit { ch, position });
        }
        if !(4..=12).contains(&company_prefix.len()) {
            return Err(SsccBodyError::CompanyPrefixLength {
                len: company_prefix.len(),
            });
        }
        if let Some((ch, position)) = first_non_digit(serial_reference) {
            return Err(SsccBodyError::SerialReferenceNotDigit { ch, position });
        }
        let len = company_prefix.len() + serial_reference.len();
        if len != 16 {
            return Err(SsccBodyError::BodyLength { len });
        }
        let body = format!("{extension_digit}{company_prefix}{serial_reference}");
        // Cannot fail: `body` is 17 ASCII digits, checked above.
        Self::from_first17(&body).map_err(|_| SsccBodyError::BodyLength { len })
    }

    /// The extension digit (the first digit), `0..=9`.
    pub fn extension_digit(&self) -> u8 {
        // Indexing cannot fail: the invariant guarantees 18 ASCII digits.
        self.0.as_bytes()[0] - b'0'
    }
}

/// The first non-ASCII-digit in `s` with its 1-based position.
fn first_non_digit(s: &str) -> Option<(char, usize)> {
    s.chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_digit())
        .map(|(i, c)| (c, i + 1))
}

string_newtype!(Sscc, KeyError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_example() {
        // SSCC 106141412345678908 (GS1 General Specifications, AI 00 example).
        let sscc: Sscc = "106141412345678908".parse().unwrap();
        assert_eq!(sscc.to_string(), "106141412345678908");
        assert_eq!(sscc.extension_digit(), 1);
        assert_eq!(Sscc::from_first17("10614141234567890").unwrap(), sscc);
        assert_eq!(Sscc::from_body(1, "0614141", "234567890").unwrap(), sscc);
    }

    #[test]
    fn parse_errors() {
        let msg = |s: &str| Sscc::parse(s).unwrap_err().to_string();
        assert_eq!(
            msg("106141412345678909"),
            "sscc check digit is 9, expected 8"
        );
        assert_eq!(
            msg("10614141234567890"),
            "sscc is 17 digits long, expected 18"
        );
        assert_eq!(
            msg("00106141412345678908"),
            "sscc is 20 digits long, expected 18"
        );
        assert_eq!(
            msg("1061414123456789O8"),
            "sscc contains 'O' at position 17, expected a digit"
        );
        assert_eq!(
            Sscc::from_first17("1061414123456789")
                .unwrap_err()
                .to_string(),
            "sscc is 16 digits long, expected 17 (without the check digit)"
        );
    }

    #[test]
    fn from_body_errors() {
        let msg = |e: u8, p: &str, r: &str| Sscc::from_body(e, p, r).unwrap_err().to_string();
        assert_eq!(
            msg(10, "0614141", "234567890"),
            "sscc extension digit is 10, expected 0 to 9"
        );
        assert_eq!(
            msg(1, "06a4141", "234567890"),
            "sscc company prefix contains 'a' at position 3, expected a digit"
        );
        assert_eq!(
            msg(1, "061", "2345678901234"),
            "sscc company prefix is 3 digits long, expected 4 to 12"
        );
        assert_eq!(
            msg(1, "0614141", "23456789-"),
            "sscc serial reference contains '-' at position 9, expected a digit"
        );
        assert_eq!(
            msg(1, "0614141", "23456789"),
            "sscc company prefix and serial reference are 15 digits long together, expected 16"
        );
    }
}
