//! The block header: what a ledger signs for each block.
//!
//! A header is a JSON object whose signed form is its RFC 8785 canonical
//! bytes, so any verifier that can canonicalize JSON can rebuild exactly the
//! bytes that were signed and hashed. Its fields:
//!
//! - `version` (1), `origin` (the log's identity, also the checkpoint's
//!   origin line);
//! - `height` (0 for the first block) and `prev_hash`, the SHA-256 of the
//!   previous header's canonical bytes (32 zero bytes for height 0);
//! - `first_leaf`, `count`, `tree_size` (`first_leaf + count`) and `root`,
//!   the RFC 9162 root of the log's first `tree_size` leaves;
//! - `time`, UTC, RFC 3339 with microseconds;
//! - `positions`: for each input topic, each partition's next offset to
//!   read after this block — where a writer resumes after a crash;
//! - `key_id` of the ed25519 key that signed it.
//!
//! Hashes are lowercase hex, as everywhere in tracechain's JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracechain_core::{Hash, KeyId};

use crate::error::BlockError;

/// The only header version this crate writes and reads.
pub const HEADER_VERSION: u32 = 1;

/// The `prev_hash` of the block at height 0.
pub const GENESIS_PREV_HASH: Hash = Hash::from_bytes([0; 32]);

/// Next offset to read per partition, per input topic.
pub type Positions = BTreeMap<String, BTreeMap<i32, i64>>;

/// A block header. See the module docs for each field's meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    /// Format version, [`HEADER_VERSION`].
    pub version: u32,
    /// The log's identity.
    pub origin: String,
    /// Position of the block in the chain, from 0.
    pub height: u64,
    /// SHA-256 of the previous header's canonical bytes.
    pub prev_hash: Hash,
    /// Leaf index of the block's first event.
    pub first_leaf: u64,
    /// Number of events in the block (at least 1).
    pub count: u64,
    /// Leaves in the log after this block.
    pub tree_size: u64,
    /// RFC 9162 root of the first `tree_size` leaves.
    pub root: Hash,
    /// When the block was cut: UTC, RFC 3339, microseconds.
    pub time: String,
    /// Where reading resumes after this block.
    pub positions: Positions,
    /// The signing key's id.
    pub key_id: KeyId,
}

/// Formats `t` as the header's `time`: UTC, six fractional digits, `Z`.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

impl BlockHeader {
    /// The header's canonical bytes: what is signed and hashed.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, BlockError> {
        let value = serde_json::to_value(self).map_err(|e| BlockError::Header(e.to_string()))?;
        tracechain_core::to_canonical_vec(&value).map_err(|e| BlockError::Header(e.to_string()))
    }

    /// Parses canonical header bytes, refusing any other encoding of the same
    /// header (the signature covers these exact bytes), unknown fields and
    /// inconsistent values.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<BlockHeader, BlockError> {
        let header: BlockHeader =
            serde_json::from_slice(bytes).map_err(|e| BlockError::Header(e.to_string()))?;
        if header.canonical_bytes()? != bytes {
            return Err(BlockError::Header(
                "header bytes are not in RFC 8785 canonical form".to_owned(),
            ));
        }
        header.validate()?;
        Ok(header)
    }

    /// Checks the fields agree with each other.
    pub fn validate(&self) -> Result<(), BlockError> {
        let bad = |reason: String| Err(BlockError::Header(reason));
        if self.version != HEADER_VERSION {
            return bad(format!("unsupported header version {}", self.version));
        }
        if self.origin.is_empty() || self.origin.chars().any(char::is_control) {
            return bad("origin must be non-empty without control characters".to_owned());
        }
        if self.count == 0 {
            return bad("a block holds at least one event".to_owned());
        }
        if self.first_leaf.checked_add(self.count) != Some(self.tree_size) {
            return bad(format!(
                "first_leaf {} + count {} != tree_size {}",
                self.first_leaf, self.count, self.tree_size
            ));
        }
        if self.height == 0 && (self.prev_hash != GENESIS_PREV_HASH || self.first_leaf != 0) {
            return bad("block 0 must start at leaf 0 with a zero prev_hash".to_owned());
        }
        match OffsetDateTime::parse(&self.time, &Rfc3339) {
            Ok(t) if format_time(t) == self.time => {}
            _ => {
                return bad(format!(
                    "time {:?} is not UTC RFC 3339 with microseconds",
                    self.time
                ));
            }
        }
        for (topic, partitions) in &self.positions {
            if topic.is_empty() {
                return bad("positions name an empty topic".to_owned());
            }
            if let Some((p, o)) = partitions.iter().find(|(p, o)| **p < 0 || **o < 0) {
                return bad(format!("negative position {topic}/{p}: {o}"));
            }
        }
        Ok(())
    }

    /// SHA-256 of the canonical bytes: the next header's `prev_hash`.
    pub fn hash(&self) -> Result<Hash, BlockError> {
        Ok(header_hash(&self.canonical_bytes()?))
    }
}

/// SHA-256 of a header's canonical bytes.
pub fn header_hash(canonical: &[u8]) -> Hash {
    Hash::from_bytes(Sha256::digest(canonical).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> BlockHeader {
        BlockHeader {
            version: HEADER_VERSION,
            origin: "tracechain.test/ledger".to_owned(),
            height: 0,
            prev_hash: GENESIS_PREV_HASH,
            first_leaf: 0,
            count: 2,
            tree_size: 2,
            root: Hash::from_bytes([7; 32]),
            time: "2026-11-24T01:02:03.000004Z".to_owned(),
            positions: [("registry.events".to_owned(), [(0, 2), (10, 0)].into())].into(),
            key_id: "0123456789abcdef".parse().unwrap(),
        }
    }

    #[test]
    fn canonical_bytes_sort_keys_and_round_trip() {
        let bytes = header().canonical_bytes().unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with(
            r#"{"count":2,"first_leaf":0,"height":0,"key_id":"0123456789abcdef","origin":"#
        ));
        // Partition keys are strings, sorted as strings: "0" < "10".
        assert!(text.contains(r#""positions":{"registry.events":{"0":2,"10":0}}"#));
        assert_eq!(BlockHeader::from_canonical_bytes(&bytes).unwrap(), header());
    }

    #[test]
    fn non_canonical_bytes_are_refused() {
        let pretty = serde_json::to_vec_pretty(&header()).unwrap();
        let err = BlockHeader::from_canonical_bytes(&pretty).unwrap_err();
        assert!(err.to_string().contains("canonical"), "{err}");
    }

    #[test]
    fn inconsistent_headers_are_refused() {
        type Change = fn(&mut BlockHeader);
        let cases: [(&str, Change); 6] = [
            ("version", |h| h.version = 2),
            ("at least one event", |h| h.count = 0),
            ("tree_size", |h| h.tree_size = 3),
            ("prev_hash", |h| h.prev_hash = Hash::from_bytes([1; 32])),
            ("time", |h| h.time = "2026-11-24T01:02:03Z".to_owned()),
            ("negative position", |h| {
                h.positions.insert("t".to_owned(), [(-1, 0)].into());
            }),
        ];
        for (want, change) in cases {
            let mut h = header();
            change(&mut h);
            let err = h.validate().unwrap_err().to_string();
            assert!(err.contains(want), "{want}: {err}");
        }
    }

    #[test]
    fn time_has_six_fractional_digits_in_utc() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_763_946_123_000_004_999).unwrap();
        assert_eq!(format_time(t), "2025-11-24T01:02:03.000004Z");
    }
}
