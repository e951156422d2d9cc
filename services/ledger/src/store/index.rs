//! The block store's index (redb): everything needed to answer a query
//! without scanning the segments.
//!
//! Tables:
//! - `blocks`: height → where the record lives, how long its head part is,
//!   its first leaf, event count and its offset in `ledger.blocks`;
//! - `leaf_blocks`: first leaf → height (which block holds a leaf);
//! - `events`: event id → leaf index, height and where its bytes live;
//! - `nodes`: (level, index) → hash, every perfect Merkle node (leaf hashes
//!   are level 0), so proofs read O(log n) nodes;
//! - `meta`: `blocks`, the number of blocks indexed.
//!
//! The index is derived from the segments: one write transaction per
//! append, committed after the segment frames are durable, so after a crash
//! it trails the segments by at most the blocks of one append, which
//! opening re-indexes.

use redb::{ReadableTable, TableDefinition};
use tracechain_core::{Hash, NodeId, NodeStore};

use super::StoreError;
use super::segments::Location;

pub(crate) const BLOCKS: TableDefinition<'static, u64, &'static [u8]> =
    TableDefinition::new("blocks");
pub(crate) const LEAF_BLOCKS: TableDefinition<'static, u64, u64> =
    TableDefinition::new("leaf_blocks");
pub(crate) const EVENTS: TableDefinition<'static, u128, &'static [u8]> =
    TableDefinition::new("events");
pub(crate) const NODES: TableDefinition<'static, u128, &'static [u8]> =
    TableDefinition::new("nodes");
pub(crate) const META: TableDefinition<'static, &'static str, u64> = TableDefinition::new("meta");

/// `meta` key: number of blocks indexed.
pub(crate) const META_BLOCKS: &str = "blocks";

/// What `blocks` holds for one height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockEntry {
    pub(crate) at: Location,
    /// Bytes of the record before the events (magic, header, signature, note).
    pub(crate) head_len: u32,
    pub(crate) first_leaf: u64,
    pub(crate) count: u64,
    /// Offset of the block's record in `ledger.blocks`.
    pub(crate) topic_offset: i64,
}

const BLOCK_ENTRY_LEN: usize = 4 + 8 + 4 + 4 + 8 + 8 + 8;

impl BlockEntry {
    pub(crate) fn encode(&self) -> [u8; BLOCK_ENTRY_LEN] {
        let mut out = [0u8; BLOCK_ENTRY_LEN];
        let mut w = Writer(&mut out, 0);
        w.put(&self.at.segment.to_be_bytes());
        w.put(&self.at.offset.to_be_bytes());
        w.put(&self.at.len.to_be_bytes());
        w.put(&self.head_len.to_be_bytes());
        w.put(&self.first_leaf.to_be_bytes());
        w.put(&self.count.to_be_bytes());
        w.put(&self.topic_offset.to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<BlockEntry, StoreError> {
        let mut r = Fields::new(bytes, BLOCK_ENTRY_LEN, "block entry")?;
        Ok(BlockEntry {
            at: Location {
                segment: r.u32(),
                offset: r.u64(),
                len: r.u32(),
            },
            head_len: r.u32(),
            first_leaf: r.u64(),
            count: r.u64(),
            topic_offset: r.u64() as i64,
        })
    }
}

/// What `events` holds for one event id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventEntry {
    pub(crate) leaf: u64,
    pub(crate) height: u64,
    pub(crate) segment: u32,
    /// Offset of the event's bytes in the segment.
    pub(crate) offset: u64,
    pub(crate) len: u32,
}

const EVENT_ENTRY_LEN: usize = 8 + 8 + 4 + 8 + 4;

impl EventEntry {
    pub(crate) fn encode(&self) -> [u8; EVENT_ENTRY_LEN] {
        let mut out = [0u8; EVENT_ENTRY_LEN];
        let mut w = Writer(&mut out, 0);
        w.put(&self.leaf.to_be_bytes());
        w.put(&self.height.to_be_bytes());
        w.put(&self.segment.to_be_bytes());
        w.put(&self.offset.to_be_bytes());
        w.put(&self.len.to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<EventEntry, StoreError> {
        let mut r = Fields::new(bytes, EVENT_ENTRY_LEN, "event entry")?;
        Ok(EventEntry {
            leaf: r.u64(),
            height: r.u64(),
            segment: r.u32(),
            offset: r.u64(),
            len: r.u32(),
        })
    }
}

struct Writer<'a>(&'a mut [u8], usize);

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.0[self.1..self.1 + bytes.len()].copy_from_slice(bytes);
        self.1 += bytes.len();
    }
}

/// Fixed-width big-endian fields of a checked-length entry.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8], want: usize, what: &str) -> Result<Fields<'a>, StoreError> {
        if bytes.len() != want {
            return Err(StoreError::Corrupt(format!(
                "{what} of {} bytes in the index, expected {want}",
                bytes.len()
            )));
        }
        Ok(Fields { bytes, at: 0 })
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[self.at..self.at + N]);
        self.at += N;
        out
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take())
    }

    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take())
    }
}

/// The `nodes` key of a node.
pub(crate) fn node_key(id: NodeId) -> u128 {
    (u128::from(id.level) << 64) | u128::from(id.index)
}

fn backend(error: impl std::error::Error + Send + Sync + 'static) -> tracechain_core::StoreError {
    tracechain_core::StoreError::Backend(Box::new(error))
}

fn read_nodes(
    table: &impl ReadableTable<u128, &'static [u8]>,
    ids: &[NodeId],
) -> Result<Vec<Hash>, tracechain_core::StoreError> {
    ids.iter()
        .map(|id| {
            let guard = table
                .get(node_key(*id))
                .map_err(backend)?
                .ok_or(tracechain_core::StoreError::Missing(*id))?;
            Hash::from_slice(guard.value()).map_err(backend)
        })
        .collect()
}

/// Merkle nodes as seen by one read transaction (proofs; never written).
pub(crate) struct NodeReader(pub(crate) redb::ReadOnlyTable<u128, &'static [u8]>);

impl NodeStore for NodeReader {
    fn get_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, tracechain_core::StoreError> {
        read_nodes(&self.0, ids)
    }

    fn put_nodes(&mut self, nodes: &[(NodeId, Hash)]) -> Result<(), tracechain_core::StoreError> {
        match nodes.first() {
            None => Ok(()),
            Some((id, _)) => Err(tracechain_core::StoreError::Conflict(*id)),
        }
    }
}

/// Turns any redb error into a store error.
pub(crate) fn index_error(error: impl Into<redb::Error>) -> StoreError {
    StoreError::Index(error.into().to_string())
}
