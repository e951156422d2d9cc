//! The Global Location Number (GLN, AI 414 / 417): which party or place.
//!
//! 13 digits, the last being the mod-10 check digit of the first 12.

use serde::{Deserialize, Serialize};

use super::key::{KeyError, KeyKind, validate_numeric_key, with_check_digit};
use crate::newtype::string_newtype;

/// A GLN.
///
/// Invariant: exactly 13 ASCII digits whose last is the mod-10 check digit of
/// the first 12.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Gln(String);

impl Gln {
    /// Parses a 13-digit GLN, verifying its check digit.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        validate_numeric_key(KeyKind::Gln, s, &[13], "13")?;
        Ok(Self(s.to_owned()))
    }

    /// Builds a GLN from its first 12 digits, appending the check digit.
    pub fn from_first12(body: &str) -> Result<Self, KeyError> {
        with_check_digit(KeyKind::Gln, body, 12, "12 (without the check digit)").map(Self)
    }
}

string_newtype!(Gln, KeyError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid() {
        // GS1 example company prefix 0614141, location reference 00000.
        let gln = Gln::parse("0614141000005").unwrap();
        assert_eq!(gln.as_str(), "0614141000005");
        assert_eq!(Gln::from_first12("061414100000").unwrap(), gln);
        let msg = |s: &str| Gln::parse(s).unwrap_err().to_string();
        assert_eq!(msg("0614141000006"), "gln check digit is 6, expected 5");
        assert_eq!(msg("614141000005"), "gln is 12 digits long, expected 13");
        assert_eq!(
            msg("061414100000é"),
            "gln contains 'é' at position 13, expected a digit"
        );
    }
}
