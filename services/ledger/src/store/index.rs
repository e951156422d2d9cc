//! The block store's index (redb): everything needed to answer a query
//! without scanning the segments.
//!
//! Tables:
//! - `blocks`: height → where the record lives, how long its head part is,
//!   its first leaf, event count and its offset in `ledger.blocks`;
//! - `leaf_blocks`: first leaf → height (which block holds a leaf);
//! - `events`: event id → leaf index, height and where its bytes live;
//! - `tiles`: every perfect Merkle node (leaf hashes are level 0), grouped
//!   in tiles of 8 levels (the layout of C2SP tlog-tiles, but holding every
//!   level of the tile, not only its bottom row): tile `(t, n)` holds the
//!   nodes of levels `8t..8t+8` above bottom-row nodes `[256n, 256n+256)` of
//!   level `8t` — 510 hashes. A proof at 10M leaves reads about three
//!   tiles instead of ~48 separate nodes;
//! - `meta`: `blocks`, the number of blocks indexed.
//!
//! The index is derived from the segments: one write transaction per
//! append, committed after the segment frames are durable, so after a crash
//! it trails the segments by at most the blocks of one append, which
//! opening re-indexes.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

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
pub(crate) const TILES: TableDefinition<'static, u128, &'static [u8]> =
    TableDefinition::new("tiles");
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

/// Levels per tile.
const TILE_HEIGHT: u8 = 8;
/// Nodes in a tile's bottom row.
const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Hashes in a full tile: 256 + 128 + … + 2 (the node above the top row
/// is in the bottom row of the tile above).
const TILE_NODES: usize = 2 * TILE_WIDTH as usize - 2;
/// Bytes of a tile.
pub(crate) const TILE_BYTES: usize = TILE_NODES * 32;

/// The `tiles` key of the tile holding `id`, and the hash's byte offset in it.
pub(crate) fn tile_of(id: NodeId) -> (u128, usize) {
    let tile_level = id.level / TILE_HEIGHT;
    let sub_level = u32::from(id.level % TILE_HEIGHT);
    let row = TILE_WIDTH >> sub_level;
    let tile_index = id.index / row;
    // Rows of the tile before this one: 256 + 128 + … (sub_level rows).
    let row_start = (2 * TILE_WIDTH - ((2 * TILE_WIDTH) >> sub_level)) as usize;
    let slot = row_start + (id.index % row) as usize;
    (
        (u128::from(tile_level) << 64) | u128::from(tile_index),
        slot * 32,
    )
}

fn backend(error: impl std::error::Error + Send + Sync + 'static) -> tracechain_core::StoreError {
    tracechain_core::StoreError::Backend(Box::new(error))
}

/// Reads nodes through a cache of the tiles already read in this call.
fn read_nodes(
    table: &impl ReadableTable<u128, &'static [u8]>,
    ids: &[NodeId],
) -> Result<Vec<Hash>, tracechain_core::StoreError> {
    let mut tiles: HashMap<u128, Option<Vec<u8>>> = HashMap::new();
    ids.iter()
        .map(|id| {
            let (key, at) = tile_of(*id);
            let tile = match tiles.entry(key) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => {
                    let bytes = table.get(key).map_err(backend)?.map(|g| g.value().to_vec());
                    entry.insert(bytes)
                }
            };
            let bytes = tile
                .as_deref()
                .and_then(|t| t.get(at..at + 32))
                .ok_or(tracechain_core::StoreError::Missing(*id))?;
            let hash = Hash::from_slice(bytes).map_err(backend)?;
            // An unwritten slot of a partial tile is all zeros.
            if hash.as_bytes() == &[0; 32] {
                return Err(tracechain_core::StoreError::Missing(*id));
            }
            Ok(hash)
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

/// Writes completed nodes into their tiles within one write transaction:
/// each touched tile is read once and written once.
#[derive(Default)]
pub(crate) struct TileWriter {
    tiles: HashMap<u128, Vec<u8>>,
}

impl TileWriter {
    /// Sets `hash` at `id`.
    pub(crate) fn put(
        &mut self,
        table: &redb::Table<'_, u128, &'static [u8]>,
        id: NodeId,
        hash: &Hash,
    ) -> Result<(), StoreError> {
        let (key, at) = tile_of(id);
        let tile = match self.tiles.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let existing = table
                    .get(key)
                    .map_err(index_error)?
                    .map(|g| g.value().to_vec());
                entry.insert(existing.unwrap_or_else(|| vec![0; TILE_BYTES]))
            }
        };
        if tile.len() != TILE_BYTES {
            return Err(StoreError::Corrupt(format!(
                "a tile of {} bytes in the index",
                tile.len()
            )));
        }
        tile[at..at + 32].copy_from_slice(hash.as_bytes());
        Ok(())
    }

    /// Writes every touched tile.
    pub(crate) fn flush(
        self,
        table: &mut redb::Table<'_, u128, &'static [u8]>,
    ) -> Result<(), StoreError> {
        for (key, tile) in self.tiles {
            table.insert(key, tile.as_slice()).map_err(index_error)?;
        }
        Ok(())
    }
}

/// Turns any redb error into a store error.
pub(crate) fn index_error(error: impl Into<redb::Error>) -> StoreError {
    StoreError::Index(error.into().to_string())
}

#[cfg(test)]
mod tile_tests {
    use super::*;

    #[test]
    fn every_node_of_a_tile_has_its_own_slot() {
        let mut seen = std::collections::HashSet::new();
        for level in 0..8u8 {
            for index in 0..(256u64 >> level) {
                let (key, at) = tile_of(NodeId::new(level, index));
                assert_eq!(key, 0);
                assert!(at + 32 <= TILE_BYTES);
                assert!(seen.insert(at), "slot {at} used twice");
            }
        }
        assert_eq!(seen.len(), TILE_NODES);
        // The next row of tiles and the next tile level.
        assert_eq!(tile_of(NodeId::new(0, 256)), (1, 0));
        assert_eq!(tile_of(NodeId::new(7, 2)), (1, 508 * 32));
        assert_eq!(tile_of(NodeId::new(8, 0)), (1u128 << 64, 0));
        assert_eq!(
            tile_of(NodeId::new(9, 130)),
            ((1u128 << 64) | 1, (256 + 2) * 32)
        );
    }
}
