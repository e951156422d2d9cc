//! Cursor paging over a store index, the same for every service's listings:
//! `?cursor=&limit=` in, `{items, next_cursor}` out.
//!
//! A cursor handed to clients is the base64url of the store's
//! [`IndexCursor`], so it survives URLs unescaped; a cursor this API did not
//! issue is a 400 naming `cursor`, never a store error. Following
//! `next_cursor` until it is absent visits every entry once (the index's
//! own guarantee).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tracechain_http::FieldError;
use tracechain_store::IndexCursor;
use utoipa::{IntoParams, ToSchema};

/// Default page size of listings.
pub const DEFAULT_LIMIT: usize = 20;
/// Largest page size of listings.
pub const MAX_LIMIT: usize = 100;

/// `cursor` and `limit` of a listing, as given.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page, unchanged; omit for the first page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Entries per page, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// A checked page request.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Where to start.
    pub after: Option<IndexCursor>,
    /// How many entries.
    pub limit: usize,
}

impl PageQuery {
    /// Checks `limit` (1..=100) and decodes `cursor`; the error names the
    /// parameter (a 400 in every service).
    pub fn validate(&self) -> Result<PageRequest, FieldError> {
        Ok(PageRequest {
            after: self.cursor.as_deref().map(decode_cursor).transpose()?,
            limit: parse_limit(self.limit.as_deref())?,
        })
    }
}

/// Parses `limit`: absent → [`DEFAULT_LIMIT`], else 1..=[`MAX_LIMIT`].
pub fn parse_limit(text: Option<&str>) -> Result<usize, FieldError> {
    match text {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => {
                let shown: String = text.chars().take(20).collect();
                Err(FieldError::new(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}, got {shown:?}"),
                ))
            }
        },
    }
}

/// A cursor as handed to clients: base64url of the store's index cursor.
pub fn encode_cursor(cursor: &IndexCursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cursor.as_str())
}

/// Reads a cursor [`encode_cursor`] produced.
pub fn decode_cursor(text: &str) -> Result<IndexCursor, FieldError> {
    let invalid = || {
        FieldError::new(
            "cursor",
            "is not a cursor this API issued (pass `next_cursor` from the previous page unchanged)",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    IndexCursor::parse(&text).map_err(|_| invalid())
}

/// A page of a listing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The entries.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use tracechain_store::IndexEntry;

    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_name_the_parameter() {
        let cursor = IndexCursor::after(&IndexEntry {
            score: 42,
            member: "a/b c".to_owned(),
        });
        let text = encode_cursor(&cursor);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(decode_cursor(&text).unwrap(), cursor);
        for bad in ["", "!!", "bm90IGEgY3Vyc29y"] {
            assert_eq!(decode_cursor(bad).unwrap_err().field, "cursor", "{bad}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(Some("100")).unwrap(), 100);
        for bad in ["0", "101", "-1", "x", "1.5"] {
            let error = parse_limit(Some(bad)).unwrap_err();
            assert_eq!(error.field, "limit");
            assert!(error.message.contains(bad), "{}", error.message);
        }
    }
}
