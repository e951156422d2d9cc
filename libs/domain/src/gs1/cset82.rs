//! GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1),
//! the alphabet of alphanumeric attribute values such as lot (AI 10) and serial
//! (AI 21), and the checks shared by the types built on it.
//!
//! The 82 characters, all ASCII, are exactly:
//!
//! ```text
//! ! " % & ' ( ) * + , - . /  0-9  : ; < = > ?  A-Z  _  a-z
//! ```
//!
//! Notably absent: space, `#`, `$`, `@`, `[`, `\`, `]`, `^`, `` ` ``, `{`, `|`,
//! `}`, `~`, and every non-ASCII character.

use std::fmt;

/// The 82 characters of GS1 AI encodable character set 82, in ASCII order.
pub const CSET82: &str =
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

/// Whether `c` is in GS1 AI encodable character set 82.
pub fn is_cset82(c: char) -> bool {
    matches!(c,
        '!' | '"' | '%'..='/' | '0'..='9' | ':'..='?' | 'A'..='Z' | '_' | 'a'..='z')
}

/// Which character-set-82 value an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextKind {
    /// Batch or lot number (AI 10).
    Lot,
    /// Serial number (AI 21).
    Serial,
}

impl TextKind {
    /// The lowercase name used in error messages: `lot`, `serial`.
    pub fn as_str(self) -> &'static str {
        match self {
            TextKind::Lot => "lot",
            TextKind::Serial => "serial",
        }
    }
}

impl fmt::Display for TextKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a valid character-set-82 value. Checks run in the order
/// of the variants, so the first rule broken is the one reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// The input is the empty string.
    #[error("{kind} is empty")]
    Empty {
        /// The value being parsed.
        kind: TextKind,
    },
    /// The input is longer than allowed.
    #[error("{kind} is {len} characters, at most {max} allowed")]
    TooLong {
        /// The value being parsed.
        kind: TextKind,
        /// The number of characters found.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// The input holds a character outside character set 82.
    #[error("{kind} contains {ch:?} at position {position}, which is not in GS1 character set 82")]
    InvalidChar {
        /// The value being parsed.
        kind: TextKind,
        /// The first offending character.
        ch: char,
        /// Its 1-based character position in the input.
        position: usize,
    },
}

/// Verifies that `s` is 1..=`max` characters, all from character set 82.
pub(crate) fn validate(kind: TextKind, s: &str, max: usize) -> Result<(), TextError> {
    if s.is_empty() {
        return Err(TextError::Empty { kind });
    }
    let len = s.chars().count();
    if len > max {
        return Err(TextError::TooLong { kind, len, max });
    }
    if let Some((i, ch)) = s.chars().enumerate().find(|(_, c)| !is_cset82(*c)) {
        return Err(TextError::InvalidChar {
            kind,
            ch,
            position: i + 1,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_has_82_ascii_characters_in_order() {
        assert_eq!(CSET82.chars().count(), 82);
        assert!(CSET82.is_ascii());
        let mut sorted: Vec<char> = CSET82.chars().collect();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.into_iter().collect::<String>(), CSET82);
    }

    #[test]
    fn is_cset82_matches_the_table() {
        for c in (0u32..=0x2FF).filter_map(char::from_u32) {
            assert_eq!(is_cset82(c), CSET82.contains(c), "{c:?}");
        }
    }
}
