//! The serial number (AI 21): which individual item, within one GTIN.

use serde::{Deserialize, Serialize};

use super::cset82::{TextError, TextKind, validate};
use crate::newtype::string_newtype;

/// A serial number, displayed exactly as given.
///
/// Invariant: 1 to [`Serial::MAX_LEN`] characters, all from GS1 AI encodable
/// character set 82 (see [`cset82`](super::cset82)); hence pure ASCII.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Serial(String);

impl Serial {
    /// The most characters a serial may have.
    pub const MAX_LEN: usize = 20;

    /// Parses a serial number.
    ///
    /// ```
    /// use tracechain_domain::gs1::Serial;
    /// assert_eq!(Serial::parse("ABC-1/2").unwrap().as_str(), "ABC-1/2");
    /// assert_eq!(
    ///     Serial::parse("A B").unwrap_err().to_string(),
    ///     "serial contains ' ' at position 2, which is not in GS1 character set 82"
    /// );
    /// ```
    pub fn parse(s: &str) -> Result<Self, TextError> {
        validate(TextKind::Serial, s, Self::MAX_LEN)?;
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(Serial, TextError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_cset82_character() {
        for chunk in super::super::cset82::CSET82.as_bytes().chunks(20) {
            let s = std::str::from_utf8(chunk).unwrap();
            assert_eq!(Serial::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn errors() {
        let msg = |s: &str| Serial::parse(s).unwrap_err().to_string();
        assert_eq!(msg(""), "serial is empty");
        assert_eq!(
            msg(&"A".repeat(21)),
            "serial is 21 characters, at most 20 allowed"
        );
        assert_eq!(
            msg("ABé"),
            "serial contains 'é' at position 3, which is not in GS1 character set 82"
        );
        assert_eq!(
            msg("#1"),
            "serial contains '#' at position 1, which is not in GS1 character set 82"
        );
        assert_eq!(
            msg("1234~"),
            "serial contains '~' at position 5, which is not in GS1 character set 82"
        );
    }

    #[test]
    fn serde_validates() {
        assert_eq!(
            serde_json::from_str::<Serial>("\"S1\"").unwrap().as_str(),
            "S1"
        );
        assert!(serde_json::from_str::<Serial>("\"S 1\"").is_err());
    }
}
