//! What the numeric GS1 keys (GTIN, SSCC, GLN) share: an all-digit string of a
//! fixed length whose last digit is the mod-10 [`check_digit`](fn@super::check_digit)
//! of the others, and the error that says exactly which of those rules failed.

use std::fmt;

use super::check_digit::check_digit;

/// Which numeric GS1 key an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// Global Trade Item Number (AI 01).
    Gtin,
    /// Serial Shipping Container Code (AI 00).
    Sscc,
    /// Global Location Number (AI 414 / 417).
    Gln,
}

impl KeyKind {
    /// The lowercase name used in error messages: `gtin`, `sscc`, `gln`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Gtin => "gtin",
            KeyKind::Sscc => "sscc",
            KeyKind::Gln => "gln",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a valid numeric GS1 key. Checks run in the order of
/// the variants, so the first rule broken is the one reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The input is the empty string.
    #[error("{kind} is empty")]
    Empty {
        /// The key being parsed.
        kind: KeyKind,
    },
    /// The input holds something other than an ASCII digit.
    #[error("{kind} contains {ch:?} at position {position}, expected a digit")]
    NotDigit {
        /// The key being parsed.
        kind: KeyKind,
        /// The first offending character.
        ch: char,
        /// Its 1-based character position in the input.
        position: usize,
    },
    /// The input is all digits but not of an accepted length.
    #[error("{kind} is {len} digits long, expected {expected}")]
    Length {
        /// The key being parsed.
        kind: KeyKind,
        /// The number of digits found.
        len: usize,
        /// The accepted lengths, in words (e.g. `8, 12, 13 or 14`).
        expected: &'static str,
    },
    /// The last digit is not the mod-10 check digit of the others.
    #[error("{kind} check digit is {found}, expected {expected}")]
    CheckDigit {
        /// The key being parsed.
        kind: KeyKind,
        /// The check digit in the input.
        found: u8,
        /// The check digit computed from the other digits.
        expected: u8,
    },
}

/// Verifies that `s` is all digits, has one of `lengths`, and ends in the right
/// check digit. `expected` describes `lengths` for the error message.
pub(crate) fn validate_numeric_key(
    kind: KeyKind,
    s: &str,
    lengths: &[usize],
    expected: &'static str,
) -> Result<(), KeyError> {
    validate_digits(kind, s)?;
    if !lengths.contains(&s.len()) {
        return Err(KeyError::Length {
            kind,
            len: s.len(),
            expected,
        });
    }
    let (body, last) = s.split_at(s.len() - 1);
    // `s` is all ASCII digits and at least one long (lengths never hold 0),
    // so `last` is one digit.
    let found = last.as_bytes()[0] - b'0';
    match check_digit(body) {
        Some(computed) if computed == found => Ok(()),
        Some(computed) => Err(KeyError::CheckDigit {
            kind,
            found,
            expected: computed,
        }),
        // Only reachable with a one-digit key, which no GS1 key is; report it as
        // a length problem rather than panic.
        None => Err(KeyError::Length {
            kind,
            len: s.len(),
            expected,
        }),
    }
}

/// Verifies that `s` is non-empty and all ASCII digits.
pub(crate) fn validate_digits(kind: KeyKind, s: &str) -> Result<(), KeyError> {
    if s.is_empty() {
        return Err(KeyError::Empty { kind });
    }
    if let Some((i, ch)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(KeyError::NotDigit {
            kind,
            ch,
            position: i + 1,
        });
    }
    Ok(())
}

/// Appends the check digit to `body`, which must be `len` ASCII digits
/// (`expected` describes `len` for the error message): how keys are issued.
pub(crate) fn with_check_digit(
    kind: KeyKind,
    body: &str,
    len: usize,
    expected: &'static str,
) -> Result<String, KeyError> {
    validate_digits(kind, body)?;
    match check_digit(body) {
        Some(digit) if body.len() == len => Ok(format!("{body}{digit}")),
        // `check_digit` only fails on empty or non-digit input, ruled out above,
        // so this arm is the length mismatch.
        _ => Err(KeyError::Length {
            kind,
            len: body.len(),
            expected,
        }),
    }
}
