//! Sorted indexes for listings, paged by an opaque cursor.
//!
//! An index is a set of members, each with a `u64` score, ordered by
//! `(score, member bytes)`. A member appears at most once: adding it again
//! moves it to its new score. Pages are read with
//! [`StateStore::index_range`](crate::StateStore::index_range) after a cursor;
//! the cursor names the last entry returned, not a position, so members added
//! or removed between two pages never make a page repeat or skip another
//! member (a member added before the cursor is simply not seen).
//!
//! Scores are integers so that both stores order exactly alike: in Redis each
//! entry is the sorted-set member `{score as 16 hex digits}:{member}` at score
//! 0 and pages are read with `ZRANGEBYLEX` (lexicographic order of that string
//! is `(score, member bytes)` order); a hash beside it maps member → score. For
//! newest-first listings, index `u64::MAX - timestamp`.

use std::fmt;

use crate::error::StoreError;

/// The largest page [`StateStore::index_range`](crate::StateStore::index_range) returns.
pub const MAX_PAGE_LIMIT: usize = 1000;

/// The number of hex digits a score takes in an encoded entry.
const SCORE_DIGITS: usize = 16;

/// One member of an index and its score.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexEntry {
    /// The sort key (ordered first).
    pub score: u64,
    /// The member, typically an aggregate id (ordered second, bytewise).
    pub member: String,
}

/// One page of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPage {
    /// The entries, in `(score, member)` order; at most the requested limit.
    pub entries: Vec<IndexEntry>,
    /// Where the next page starts; `None` when this page reached the end.
    pub next: Option<IndexCursor>,
}

/// The position after an entry of an index. Opaque to callers: hand out
/// [`IndexCursor::as_str`] (URL-encode it: it contains the member) and read it
/// back with [`IndexCursor::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexCursor {
    /// Invariant: [`encode_entry`] of a valid entry.
    encoded: String,
}

impl IndexCursor {
    /// The cursor just after `entry`.
    pub fn after(entry: &IndexEntry) -> Self {
        IndexCursor {
            encoded: encode_entry(entry.score, &entry.member),
        }
    }

    /// Reads a cursor previously handed out by [`IndexCursor::as_str`].
    pub fn parse(cursor: &str) -> Result<Self, StoreError> {
        decode_entry(cursor)
            .map(|_| IndexCursor {
                encoded: cursor.to_owned(),
            })
            .ok_or_else(|| StoreError::invalid("cursor", cursor, "is not an index cursor"))
    }

    /// The cursor as text.
    pub fn as_str(&self) -> &str {
        &self.encoded
    }

    /// The entry this cursor is after.
    pub fn entry(&self) -> IndexEntry {
        // The invariant guarantees the decode succeeds; the fallback is unreachable.
        decode_entry(&self.encoded).unwrap_or(IndexEntry {
            score: 0,
            member: String::new(),
        })
    }
}

impl fmt::Display for IndexCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encoded)
    }
}

/// `{score:016x}:{member}`: lexicographic order of this string is
/// `(score, member bytes)` order.
pub(crate) fn encode_entry(score: u64, member: &str) -> String {
    format!("{}:{member}", encode_score(score))
}

/// A score as exactly 16 lowercase hex digits.
pub(crate) fn encode_score(score: u64) -> String {
    format!("{score:0width$x}", width = SCORE_DIGITS)
}

/// The inverse of [`encode_entry`]; `None` if `encoded` is not one.
pub(crate) fn decode_entry(encoded: &str) -> Option<IndexEntry> {
    let digits = encoded.get(..SCORE_DIGITS)?;
    let member = encoded.get(SCORE_DIGITS..)?.strip_prefix(':')?;
    if member.is_empty()
        || !digits
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let score = u64::from_str_radix(digits, 16).ok()?;
    Some(IndexEntry {
        score,
        member: member.to_owned(),
    })
}

/// Checks a page limit: 1 to [`MAX_PAGE_LIMIT`].
pub(crate) fn check_limit(limit: usize) -> Result<(), StoreError> {
    if limit == 0 || limit > MAX_PAGE_LIMIT {
        return Err(StoreError::invalid(
            "limit",
            &limit.to_string(),
            format!("must be between 1 and {MAX_PAGE_LIMIT}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_orders_like_score_then_member() {
        let mut entries = [
            (u64::MAX, "a"),
            (0, "b"),
            (1, "a"),
            (0, "a:z"),
            (0, "a"),
            (16, "a"),
            (255, "é"),
            (255, "z"),
        ];
        let mut encoded: Vec<String> = entries.iter().map(|(s, m)| encode_entry(*s, m)).collect();
        entries.sort();
        encoded.sort();
        let decoded: Vec<(u64, String)> = encoded
            .iter()
            .map(|e| {
                let d = decode_entry(e).unwrap();
                (d.score, d.member)
            })
            .collect();
        let expected: Vec<(u64, String)> =
            entries.iter().map(|(s, m)| (*s, m.to_string())).collect();
        assert_eq!(decoded, expected);
    }

    #[test]
    fn cursor_round_trips_and_refuses_garbage() {
        let entry = IndexEntry {
            score: 42,
            member: "gtin:0123:lot".into(),
        };
        let cursor = IndexCursor::after(&entry);
        assert_eq!(cursor.as_str(), "000000000000002a:gtin:0123:lot");
        let parsed = IndexCursor::parse(cursor.as_str()).unwrap();
        assert_eq!(parsed.entry(), entry);
        for bad in [
            "",
            "2a:x",
            "000000000000002a",
            "000000000000002a:",
            "000000000000002A:x",
            "000000000000002g:x",
            "+00000000000002a:x",
            "000000000000002ax",
        ] {
            assert!(IndexCursor::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert!(check_limit(1).is_ok());
        assert!(check_limit(MAX_PAGE_LIMIT).is_ok());
        assert!(check_limit(0).is_err());
        assert!(check_limit(MAX_PAGE_LIMIT + 1).is_err());
    }
}
