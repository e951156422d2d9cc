//! [`EventType`]: the name of what happened, e.g. `product.registered`.

use serde::{Deserialize, Serialize};

use crate::newtype::string_newtype;

/// An event type: lowercase, dotted, `<aggregate>.<event>` (more segments
/// allowed), e.g. `product.registered`, `shipment.scan.accepted`.
///
/// Invariant: 3 to 64 characters; two or more `.`-separated segments, each
/// matching `[a-z][a-z0-9_]*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventType(String);

/// Why a string is not an event type. Checks run in the order of the variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventTypeError {
    /// Shorter than 3 or longer than 64 characters.
    #[error("event type is {len} characters, expected 3 to 64")]
    Length {
        /// The number of characters found.
        len: usize,
    },
    /// A character outside `a-z 0-9 _ .`.
    #[error("event type contains {ch:?} at position {position}, expected a-z, 0-9, '_' or '.'")]
    InvalidChar {
        /// The first offending character.
        ch: char,
        /// Its 1-based character position.
        position: usize,
    },
    /// Only one segment.
    #[error(
        "event type '{input}' has no '.', expected '<aggregate>.<event>' like 'product.registered'"
    )]
    NotDotted {
        /// The input.
        input: String,
    },
    /// A segment is empty (leading, trailing or doubled `.`).
    #[error("event type '{input}' has an empty segment (a leading, trailing or doubled '.')")]
    EmptySegment {
        /// The input.
        input: String,
    },
    /// A segment starts with a digit or `_`.
    #[error("event type segment '{segment}' does not start with a letter a-z")]
    SegmentStart {
        /// The offending segment.
        segment: String,
    },
}

impl EventType {
    /// Parses an event type.
    ///
    /// ```
    /// use tracechain_domain::EventType;
    /// assert!(EventType::parse("shipment.picked_up").is_ok());
    /// assert_eq!(
    ///     EventType::parse("Product.Registered").unwrap_err().to_string(),
    ///     "event type contains 'P' at position 1, expected a-z, 0-9, '_' or '.'"
    /// );
    /// ```
    pub fn parse(s: &str) -> Result<Self, EventTypeError> {
        let len = s.chars().count();
        if !(3..=64).contains(&len) {
            return Err(EventTypeError::Length { len });
        }
        let allowed =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.';
        if let Some((i, ch)) = s.chars().enumerate().find(|(_, c)| !allowed(*c)) {
            return Err(EventTypeError::InvalidChar {
                ch,
                position: i + 1,
            });
        }
        if !s.contains('.') {
            return Err(EventTypeError::NotDotted {
                input: s.to_owned(),
            });
        }
        for segment in s.split('.') {
            match segment.bytes().next() {
                None => {
                    return Err(EventTypeError::EmptySegment {
                        input: s.to_owned(),
                    });
                }
                Some(first) if !first.is_ascii_lowercase() => {
                    return Err(EventTypeError::SegmentStart {
                        segment: segment.to_owned(),
                    });
                }
                Some(_) => {}
            }
        }
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(EventType, EventTypeError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid() {
        for s in [
            "a.b",
            "product.registered",
            "shipment.scan.accepted",
            "settlement.v2_posted",
        ] {
            assert_eq!(EventType::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn errors() {
        let msg = |s: &str| EventType::parse(s).unwrap_err().to_string();
        assert_eq!(msg("ab"), "event type is 2 characters, expected 3 to 64");
        assert_eq!(
            msg(&"a.".repeat(33)),
            "event type is 66 characters, expected 3 to 64"
        );
        assert_eq!(
            msg("product-registered"),
            "event type contains '-' at position 8, expected a-z, 0-9, '_' or '.'"
        );
        assert_eq!(
            msg("product"),
            "event type 'product' has no '.', expected '<aggregate>.<event>' like 'product.registered'"
        );
        assert_eq!(
            msg("product..registered"),
            "event type 'product..registered' has an empty segment (a leading, trailing or doubled '.')"
        );
        assert!(msg(".product").contains("empty segment"));
        assert!(msg("product.").contains("empty segment"));
        assert_eq!(
            msg("product.1st"),
            "event type segment '1st' does not start with a letter a-z"
        );
        assert!(serde_json::from_str::<EventType>("\"Product.x\"").is_err());
    }
}
