//! [`TenantId`]: the stable, URL- and key-safe name of a tenant.

use serde::{Deserialize, Serialize};

use crate::newtype::string_newtype;

/// A tenant id: a slug such as `acme-foods`.
///
/// Invariant: 1 to [`TenantId::MAX_LEN`] characters from `a-z`, `0-9` and `-`,
/// the first not `-` (pattern `[a-z0-9][a-z0-9-]*`). Safe unescaped in URLs,
/// Redis keys and Kafka headers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

/// Why a string is not a tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantIdError {
    /// The input is the empty string.
    #[error("tenant id is empty")]
    Empty,
    /// The input is longer than allowed.
    #[error("tenant id is {len} characters, at most 64 allowed")]
    TooLong {
        /// The number of characters found.
        len: usize,
    },
    /// A character outside `a-z 0-9 -`.
    #[error("tenant id contains {ch:?} at position {position}, expected a-z, 0-9 or '-'")]
    InvalidChar {
        /// The first offending character.
        ch: char,
        /// Its 1-based character position.
        position: usize,
    },
    /// The first character is `-`.
    #[error("tenant id starts with '-', expected a-z or 0-9")]
    LeadingHyphen,
}

impl TenantId {
    /// The most characters a tenant id may have.
    pub const MAX_LEN: usize = 64;

    /// Parses a tenant id.
    ///
    /// ```
    /// use tracechain_domain::tenancy::TenantId;
    /// assert!(TenantId::parse("acme-foods").is_ok());
    /// assert_eq!(
    ///     TenantId::parse("Acme").unwrap_err().to_string(),
    ///     "tenant id contains 'A' at position 1, expected a-z, 0-9 or '-'"
    /// );
    /// ```
    pub fn parse(s: &str) -> Result<Self, TenantIdError> {
        if s.is_empty() {
            return Err(TenantIdError::Empty);
        }
        let len = s.chars().count();
        if len > Self::MAX_LEN {
            return Err(TenantIdError::TooLong { len });
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if let Some((i, ch)) = s.chars().enumerate().find(|(_, c)| !allowed(*c)) {
            return Err(TenantIdError::InvalidChar {
                ch,
                position: i + 1,
            });
        }
        if s.starts_with('-') {
            return Err(TenantIdError::LeadingHyphen);
        }
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(TenantId, TenantIdError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid() {
        for s in ["a", "0", "acme-foods", "carrier-2-", &"x".repeat(64)] {
            assert_eq!(TenantId::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn errors() {
        let msg = |s: &str| TenantId::parse(s).unwrap_err().to_string();
        assert_eq!(msg(""), "tenant id is empty");
        assert_eq!(
            msg(&"x".repeat(65)),
            "tenant id is 65 characters, at most 64 allowed"
        );
        assert_eq!(
            msg("-acme"),
            "tenant id starts with '-', expected a-z or 0-9"
        );
        assert_eq!(
            msg("acme_foods"),
            "tenant id contains '_' at position 5, expected a-z, 0-9 or '-'"
        );
        assert_eq!(
            msg("acme foods"),
            "tenant id contains ' ' at position 5, expected a-z, 0-9 or '-'"
        );
        assert!(serde_json::from_str::<TenantId>("\"ACME\"").is_err());
        assert_eq!(
            serde_json::from_str::<TenantId>("\"acme\"")
                .unwrap()
                .as_str(),
            "acme"
        );
    }
}
