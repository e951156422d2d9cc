//! The batch or lot number (AI 10): which production run an item belongs to.

use serde::{Deserialize, Serialize};

use super::cset82::{TextError, TextKind, validate};
use crate::newtype::string_newtype;

/// A lot number, displayed exactly as given.
///
/// Invariant: 1 to [`Lot::MAX_LEN`] characters, all from GS1 AI encodable
/// character set 82 (see [`cset82`](super::cset82)); hence pure ASCII.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Lot(String);

impl Lot {
    /// The most characters a lot may have.
    pub const MAX_LEN: usize = 20;

    /// Parses a lot number.
    ///
    /// ```
    /// use tracechain_domain::gs1::Lot;
    /// assert_eq!(Lot::parse("ABC-1/2").unwrap().as_str(), "ABC-1/2");
    /// assert_eq!(
    ///     Lot::parse("A B").unwrap_err().to_string(),
    ///     "lot contains ' ' at position 2, which is not in GS1 character set 82"
    /// );
    /// ```
    pub fn parse(s: &str) -> Result<Self, TextError> {
        validate(TextKind::Lot, s, Self::MAX_LEN)?;
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(Lot, TextError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_cset82_character() {
        for chunk in super::super::cset82::CSET82.as_bytes().chunks(20) {
            let s = std::str::from_utf8(chunk).unwrap();
            assert_eq!(Lot::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn errors() {
        let msg = |s: &str| Lot::parse(s).unwrap_err().to_string();
        assert_eq!(msg(""), "lot is empty");
        assert_eq!(
            msg(&"A".repeat(21)),
            "lot is 21 characters, at most 20 allowed"
        );
        assert_eq!(
            msg("ABé"),
            "lot contains 'é' at position 3, which is not in GS1 character set 82"
        );
        assert_eq!(
            msg("#1"),
            "lot contains '#' at position 1, which is not in GS1 character set 82"
        );
    }

    #[test]
    fn serde_validates() {
        assert_eq!(
            serde_json::from_str::<Lot>("\"L1\"").unwrap().as_str(),
            "L1"
        );
        assert!(serde_json::from_str::<Lot>("\"L 1\"").is_err());
    }
}
