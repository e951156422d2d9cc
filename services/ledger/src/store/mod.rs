//! The ledger's own block store: append-only segment files of block
//! records ([`segments`]) plus an index ([`index`]) — what the ledger serves
//! from.
//!
//! # Invariants
//!
//! - The store holds a prefix of the accepted chain: blocks are appended in
//!   height order, each extending the previous one (checked again here), and
//!   only after `ledger.blocks` accepted them.
//! - An append returns only when its frames are fsync'd and the index that
//!   points at them is committed; readers see a block only after that.
//! - Opening checks the whole store before anything is served: every
//!   frame's CRC-32C, every header's canonical form, height, `prev_hash`
//!   link and ed25519 signature, the index against the frames, and the last
//!   root against the stored Merkle nodes. A torn final frame (a crash during
//!   an append, not yet indexed) is cut off with a warning; anything else
//!   that does not add up is [`StoreError::Corrupt`] and the store does not
//!   open. Nothing is ever repaired silently. (Full recomputation of every
//!   leaf is `tracechain verify`'s job.)
//! - Memory does not grow with the chain: lookups go to the index (with a
//!   bounded cache) and to the segments by positioned reads.

mod index;
mod scan;
mod segments;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use redb::{Database, ReadableDatabase, ReadableTable};
use tracechain_chain::{Block, BlockHeader, ChainVerifier, KeyRing, RecordHead};
use tracechain_core::{
    ConsistencyProof, Hash, InclusionProof, LogError, MerkleAccumulator, MerkleLog, NodeId,
};
use uuid::Uuid;

use self::index::{
    BLOCKS, BlockEntry, EVENTS, EventEntry, LEAF_BLOCKS, META, META_BLOCKS, NodeReader, TILES,
    TileWriter, index_error,
};
use self::segments::{Location, Scanned, Segments};

pub use self::scan::{
    BadFrame, BadFrameKind, ScanError, ScannedBlock, StoreScan, segment_file_name,
};

/// Why the store failed or refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed.
    #[error("block store: cannot {what}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The index database failed.
    #[error("block store index: {0}")]
    Index(String),
    /// The store's contents do not add up; it must not be served.
    #[error("block store is corrupted: {0}")]
    Corrupt(String),
    /// An append that does not extend the stored chain.
    #[error("block {height} does not extend the stored chain: {reason}")]
    NotNext {
        /// The block's height.
        height: u64,
        /// Why.
        reason: String,
    },
    /// A query outside what the store holds.
    #[error("{0}")]
    OutOfRange(String),
}

impl From<LogError> for StoreError {
    fn from(error: LogError) -> Self {
        match error {
            LogError::Store(inner) => StoreError::Index(inner.to_string()),
            other => StoreError::OutOfRange(other.to_string()),
        }
    }
}

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The chain's origin.
    pub origin: String,
    /// Keys whose signatures are accepted.
    pub keys: KeyRing,
    /// Start a new segment file past this size.
    pub segment_bytes: u64,
    /// Memory the index may use as cache.
    pub index_cache_bytes: usize,
}

impl StoreOptions {
    /// Options with 256 MiB segments and a 64 MiB index cache.
    pub fn new(origin: impl Into<String>, keys: KeyRing) -> StoreOptions {
        StoreOptions {
            origin: origin.into(),
            keys,
            segment_bytes: 256 << 20,
            index_cache_bytes: 64 << 20,
        }
    }
}

/// The newest stored block, as served for the chain head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHead {
    /// Its header.
    pub header: BlockHeader,
    /// SHA-256 of the header's canonical bytes.
    pub hash: Hash,
    /// The header's canonical bytes.
    pub header_bytes: Vec<u8>,
    /// The header signature.
    pub signature: tracechain_core::Signature,
    /// The signed checkpoint note.
    pub checkpoint: String,
    /// Where the block sits in `ledger.blocks`.
    pub topic_offset: i64,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The event's RFC 8785 canonical bytes.
    pub bytes: Vec<u8>,
    /// Its leaf index.
    pub leaf_index: u64,
    /// The height of the block holding it.
    pub height: u64,
}

/// The head part of a stored block (no events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlockHead {
    /// Header, signature and checkpoint.
    pub head: RecordHead,
    /// Where the block sits in `ledger.blocks`.
    pub topic_offset: i64,
}

/// Appends need the Merkle frontier of the stored log and its head.
#[derive(Debug)]
struct Tail {
    log: MerkleAccumulator,
    head: Option<Arc<StoredHead>>,
}

/// The block store. Appends are serialised; reads run concurrently.
#[derive(Debug)]
pub struct BlockStore {
    dir: PathBuf,
    segments: Segments,
    db: Database,
    tail: Mutex<Tail>,
    head: RwLock<Option<Arc<StoredHead>>>,
}

impl BlockStore {
    /// Opens (or creates) the store in `dir`, checking it as described in
    /// the module docs.
    pub fn open(dir: &Path, options: &StoreOptions) -> Result<BlockStore, StoreError> {
        let segments = Segments::open(&dir.join("blocks"), options.segment_bytes)?;
        let db = Database::builder()
            .set_cache_size(options.index_cache_bytes)
            .create(dir.join("index.redb"))
            .map_err(index_error)?;
        {
            let txn = db.begin_write().map_err(index_error)?;
            txn.open_table(BLOCKS).map_err(index_error)?;
            txn.open_table(LEAF_BLOCKS).map_err(index_error)?;
            txn.open_table(EVENTS).map_err(index_error)?;
            txn.open_table(TILES).map_err(index_error)?;
            txn.open_table(META).map_err(index_error)?;
            txn.commit().map_err(index_error)?;
        }
        let store = BlockStore {
            dir: dir.to_owned(),
            segments,
            db,
            tail: Mutex::new(Tail {
                log: MerkleAccumulator::new(),
                head: None,
            }),
            head: RwLock::new(None),
        };
        store.recover(options)?;
        Ok(store)
    }

    /// The directory it lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Checks every frame against the index, re-indexes frames a crash left
    /// unindexed, and loads the head.
    fn recover(&self, options: &StoreOptions) -> Result<(), StoreError> {
        let indexed = self.indexed_blocks()?;
        let mut checker = HeaderChain::new(options);
        let mut unindexed: Vec<(Location, i64, Vec<u8>)> = Vec::new();
        let mut torn = None;
        let mut height = 0u64;
        let read = self.db.begin_read().map_err(index_error)?;
        let blocks = read.open_table(BLOCKS).map_err(index_error)?;
        self.segments.scan(|scanned| match scanned {
            Scanned::Frame(at, topic_offset, record) => {
                if height < indexed {
                    let entry = blocks
                        .get(height)
                        .map_err(index_error)?
                        .map(|g| BlockEntry::decode(g.value()))
                        .transpose()?
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!("block {height} is missing from the index"))
                        })?;
                    if entry.at != at || entry.topic_offset != topic_offset {
                        return Err(StoreError::Corrupt(format!(
                            "block {height}: the index points at segment {} offset {}, the frame is at segment {} offset {}",
                            entry.at.segment, entry.at.offset, at.segment, at.offset
                        )));
                    }
                    let head = RecordHead::decode(&record)
                        .map_err(|e| StoreError::Corrupt(format!("block {height}: {e}")))?;
                    checker.check(height, &head)?;
                    *self.head.write().unwrap_or_else(PoisonError::into_inner) =
                        Some(Arc::new(stored_head(head, entry.topic_offset)));
                } else {
                    unindexed.push((at, topic_offset, record));
                }
                height += 1;
                Ok(())
            }
            Scanned::Bad {
                segment,
                offset,
                reason,
                at_tail,
            } => {
                if at_tail && height >= indexed {
                    torn = Some((segment, offset, reason));
                    Ok(())
                } else {
                    Err(StoreError::Corrupt(format!(
                        "block {height} (segment {segment}, offset {offset}): {reason}"
                    )))
                }
            }
        })?;
        drop(blocks);
        drop(read);
        if height < indexed {
            return Err(StoreError::Corrupt(format!(
                "the index holds {indexed} blocks but the segments only {height}"
            )));
        }
        if let Some((segment, offset, reason)) = torn {
            tracing::warn!(segment, offset, %reason, "Cutting off a torn, unindexed block record left by a crash");
            self.segments.truncate_tail(segment, offset)?;
        }
        // The log's frontier at the indexed head, checked against its root.
        let head = self.head();
        let size = head.as_ref().map_or(0, |h| h.header.tree_size);
        let log = self.frontier_log(size)?;
        if let Some(head) = &head
            && log.root() != head.header.root
        {
            return Err(StoreError::Corrupt(format!(
                "the stored Merkle nodes give root {} at size {size}, block {} says {}",
                log.root(),
                head.header.height,
                head.header.root
            )));
        }
        {
            let mut tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
            tail.log = log;
            tail.head = head;
        }
        if !unindexed.is_empty() {
            tracing::info!(
                blocks = unindexed.len(),
                "Re-indexing blocks a crash left unindexed"
            );
            self.reindex(options, unindexed)?;
        }
        Ok(())
    }

    /// Indexes complete, durable frames that follow the indexed head.
    fn reindex(
        &self,
        options: &StoreOptions,
        frames: Vec<(Location, i64, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        let mut verifier = match self.head() {
            None => ChainVerifier::from_genesis(options.origin.clone(), options.keys.clone()),
            Some(head) => {
                let last = self.block(head.header.height)?.ok_or_else(|| {
                    StoreError::Corrupt("the head block cannot be read".to_owned())
                })?;
                let frontier = self.frontier(head.header.tree_size)?;
                ChainVerifier::resume_after(
                    options.origin.clone(),
                    options.keys.clone(),
                    &last,
                    frontier,
                )
                .map_err(|e| StoreError::Corrupt(e.to_string()))?
            }
        };
        for (at, topic_offset, record) in frames {
            let block = Block::from_record(&record)
                .map_err(|e| StoreError::Corrupt(format!("unindexed record: {e}")))?;
            verifier
                .apply(&block)
                .map_err(|e| StoreError::Corrupt(format!("unindexed {e}")))?;
            self.index(&[(block, at, topic_offset)])?;
        }
        Ok(())
    }

    /// The number of blocks in the index.
    fn indexed_blocks(&self) -> Result<u64, StoreError> {
        let read = self.db.begin_read().map_err(index_error)?;
        let meta = read.open_table(META).map_err(index_error)?;
        Ok(meta
            .get(META_BLOCKS)
            .map_err(index_error)?
            .map_or(0, |g| g.value()))
    }

    /// The log of `size` leaves over the stored nodes (reads O(log n) nodes).
    fn frontier_log(&self, size: u64) -> Result<MerkleAccumulator, StoreError> {
        let frontier = self.frontier(size)?;
        MerkleAccumulator::from_frontier(size, frontier)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn nodes(&self) -> Result<NodeReader, StoreError> {
        let read = self.db.begin_read().map_err(index_error)?;
        Ok(NodeReader(read.open_table(TILES).map_err(index_error)?))
    }

    /// The newest stored block's head, if any.
    pub fn head(&self) -> Option<Arc<StoredHead>> {
        self.head
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The log's size after the stored head.
    pub fn tree_size(&self) -> u64 {
        self.head().map_or(0, |h| h.header.tree_size)
    }

    /// Appends `blocks` (with their offsets in `ledger.blocks`), each of
    /// which must extend the one before; returns once they are durable.
    pub fn append(&self, blocks: Vec<(Block, i64)>) -> Result<(), StoreError> {
        if blocks.is_empty() {
            return Ok(());
        }
        let tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        let first_height = tail.head.as_ref().map_or(0, |h| h.header.height + 1);
        let mut expect_prev = tail
            .head
            .as_ref()
            .map_or(tracechain_chain::GENESIS_PREV_HASH, |h| h.hash);
        let mut expect_leaf = tail.log.size();
        for (expect_height, (block, _)) in (first_height..).zip(&blocks) {
            let header = block.header();
            let not_next = |reason: String| StoreError::NotNext {
                height: header.height,
                reason,
            };
            if header.height != expect_height {
                return Err(not_next(format!("expected height {expect_height}")));
            }
            if header.prev_hash != expect_prev {
                return Err(not_next(
                    "prev_hash does not match the stored head".to_owned(),
                ));
            }
            if header.first_leaf != expect_leaf {
                return Err(not_next(format!("expected first leaf {expect_leaf}")));
            }
            expect_prev = block.hash();
            expect_leaf = header.tree_size;
        }
        drop(tail);
        let records: Vec<(i64, Vec<u8>)> =
            blocks.iter().map(|(b, o)| (*o, b.to_record())).collect();
        let locations = self.segments.append(&records)?;
        self.segments.sync()?;
        let entries: Vec<(Block, Location, i64)> = blocks
            .into_iter()
            .zip(locations)
            .map(|((block, offset), at)| (block, at, offset))
            .collect();
        self.index(&entries)
    }

    /// Writes the index entries of durable frames in one transaction, then
    /// publishes the new head to readers.
    fn index(&self, blocks: &[(Block, Location, i64)]) -> Result<(), StoreError> {
        let mut tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        let mut log = tail.log.clone();
        let txn = self.db.begin_write().map_err(index_error)?;
        let mut new_head = None;
        {
            let mut block_table = txn.open_table(BLOCKS).map_err(index_error)?;
            let mut leaf_table = txn.open_table(LEAF_BLOCKS).map_err(index_error)?;
            let mut event_table = txn.open_table(EVENTS).map_err(index_error)?;
            let mut tile_table = txn.open_table(TILES).map_err(index_error)?;
            let mut tiles = TileWriter::default();
            let mut meta = txn.open_table(META).map_err(index_error)?;
            let mut completed: Vec<(NodeId, Hash)> = Vec::new();
            for (block, at, topic_offset) in blocks {
                let header = block.header();
                let head_len = record_head_len(block);
                block_table
                    .insert(
                        header.height,
                        BlockEntry {
                            at: *at,
                            head_len,
                            first_leaf: header.first_leaf,
                            count: header.count,
                            topic_offset: *topic_offset,
                        }
                        .encode()
                        .as_slice(),
                    )
                    .map_err(index_error)?;
                leaf_table
                    .insert(header.first_leaf, header.height)
                    .map_err(index_error)?;
                // Event bytes start after the head part and the count.
                let mut offset = at.record_offset() + u64::from(head_len) + 4;
                for (i, event) in block.events().iter().enumerate() {
                    let leaf = header.first_leaf + i as u64;
                    let len = event.len() as u32;
                    if let Some(id) = event_id(event) {
                        let entry = EventEntry {
                            leaf,
                            height: header.height,
                            segment: at.segment,
                            offset: offset + 4,
                            len,
                        };
                        let key = id.as_u128();
                        // The first anchoring of an id is the one it is
                        // known by; the writer never anchors one twice.
                        if event_table.get(key).map_err(index_error)?.is_none() {
                            event_table
                                .insert(key, entry.encode().as_slice())
                                .map_err(index_error)?;
                        }
                    }
                    offset += 4 + u64::from(len);
                    log.append_with(block.leaves()[i], |id, hash| {
                        completed.push((id, *hash));
                    })
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                }
                for (id, hash) in completed.drain(..) {
                    tiles.put(&tile_table, id, &hash)?;
                }
                if log.root() != header.root {
                    return Err(StoreError::NotNext {
                        height: header.height,
                        reason: format!(
                            "its events give root {} but its header says {}",
                            log.root(),
                            header.root
                        ),
                    });
                }
                new_head = Some(Arc::new(StoredHead {
                    header: header.clone(),
                    hash: block.hash(),
                    header_bytes: block.header_bytes().to_vec(),
                    signature: *block.signature(),
                    checkpoint: block.checkpoint().to_owned(),
                    topic_offset: *topic_offset,
                }));
            }
            tiles.flush(&mut tile_table)?;
            let count = new_head.as_ref().map_or(0, |h| h.header.height + 1);
            meta.insert(META_BLOCKS, count).map_err(index_error)?;
        }
        txn.commit().map_err(index_error)?;
        tail.log = log;
        if let Some(head) = new_head {
            tail.head = Some(Arc::clone(&head));
            *self.head.write().unwrap_or_else(PoisonError::into_inner) = Some(head);
        }
        Ok(())
    }

    fn entry(&self, height: u64) -> Result<Option<BlockEntry>, StoreError> {
        let read = self.db.begin_read().map_err(index_error)?;
        let table = read.open_table(BLOCKS).map_err(index_error)?;
        table
            .get(height)
            .map_err(index_error)?
            .map(|g| BlockEntry::decode(g.value()))
            .transpose()
    }

    /// The whole block at `height`.
    pub fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        let Some(entry) = self.entry(height)? else {
            return Ok(None);
        };
        let record = self.segments.read_record(entry.at)?;
        Block::from_record(&record)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("block {height}: {e}")))
    }

    /// The head part (header, signature, checkpoint) of the block at `height`.
    pub fn block_head(&self, height: u64) -> Result<Option<StoredBlockHead>, StoreError> {
        let Some(entry) = self.entry(height)? else {
            return Ok(None);
        };
        // The head part plus the event count, which RecordHead checks.
        let bytes = self.segments.read_at(
            entry.at.segment,
            entry.at.record_offset(),
            entry.head_len as usize + 4,
        )?;
        let head = RecordHead::decode(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("block {height}: {e}")))?;
        Ok(Some(StoredBlockHead {
            head,
            topic_offset: entry.topic_offset,
        }))
    }

    /// Where the block at `height` sits in `ledger.blocks`.
    pub fn topic_offset(&self, height: u64) -> Result<Option<i64>, StoreError> {
        Ok(self.entry(height)?.map(|e| e.topic_offset))
    }

    /// Whether an event with `id` is anchored.
    pub fn contains_event(&self, id: Uuid) -> Result<bool, StoreError> {
        let read = self.db.begin_read().map_err(index_error)?;
        let table = read.open_table(EVENTS).map_err(index_error)?;
        Ok(table.get(id.as_u128()).map_err(index_error)?.is_some())
    }

    /// Which of `ids` are anchored (one read transaction).
    pub fn anchored_among(&self, ids: &[Uuid]) -> Result<HashSet<Uuid>, StoreError> {
        let read = self.db.begin_read().map_err(index_error)?;
        let table = read.open_table(EVENTS).map_err(index_error)?;
        let mut found = HashSet::new();
        for id in ids {
            if table.get(id.as_u128()).map_err(index_error)?.is_some() {
                found.insert(*id);
            }
        }
        Ok(found)
    }

    /// The event with `id`, if anchored.
    pub fn event(&self, id: Uuid) -> Result<Option<StoredEvent>, StoreError> {
        let entry = {
            let read = self.db.begin_read().map_err(index_error)?;
            let table = read.open_table(EVENTS).map_err(index_error)?;
            let Some(guard) = table.get(id.as_u128()).map_err(index_error)? else {
                return Ok(None);
            };
            EventEntry::decode(guard.value())?
        };
        let bytes = self
            .segments
            .read_at(entry.segment, entry.offset, entry.len as usize)?;
        Ok(Some(StoredEvent {
            bytes,
            leaf_index: entry.leaf,
            height: entry.height,
        }))
    }

    /// The height of the block holding leaf `index`.
    pub fn height_of_leaf(&self, index: u64) -> Result<Option<u64>, StoreError> {
        if index >= self.tree_size() {
            return Ok(None);
        }
        let read = self.db.begin_read().map_err(index_error)?;
        let table = read.open_table(LEAF_BLOCKS).map_err(index_error)?;
        let found = table
            .range(..=index)
            .map_err(index_error)?
            .next_back()
            .transpose()
            .map_err(index_error)?;
        Ok(found.map(|(_, height)| height.value()))
    }

    fn check_size(&self, size: u64) -> Result<(), StoreError> {
        let have = self.tree_size();
        if size > have {
            return Err(StoreError::OutOfRange(format!(
                "tree size {size} is beyond the anchored size {have}"
            )));
        }
        Ok(())
    }

    /// The leaf hash of leaf `index`.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, StoreError> {
        self.check_size(index.saturating_add(1))?;
        use tracechain_core::NodeStore;
        let nodes = self.nodes()?;
        let hashes = nodes
            .get_nodes(&[NodeId::leaf(index)])
            .map_err(|e| StoreError::Index(e.to_string()))?;
        hashes
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Index("no leaf hash returned".to_owned()))
    }

    /// The frontier hashes of the log at `size` (they fold to its root).
    pub fn frontier(&self, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_size(size)?;
        use tracechain_core::NodeStore;
        let ids = MerkleAccumulator::from_frontier(
            size,
            vec![Hash::default(); size.count_ones() as usize],
        )
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .frontier_ids();
        self.nodes()?
            .get_nodes(&ids)
            .map_err(|e| StoreError::Index(e.to_string()))
    }

    /// The root of the log's first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        Ok(self.frontier_log(size)?.root())
    }

    /// RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<InclusionProof, StoreError> {
        Ok(self.inclusion_proof_and_root(index, size)?.0)
    }

    /// [`inclusion_proof`](Self::inclusion_proof) and the root at `size`,
    /// from one read of the nodes.
    pub fn inclusion_proof_and_root(
        &self,
        index: u64,
        size: u64,
    ) -> Result<(InclusionProof, Hash), StoreError> {
        self.check_size(size)?;
        let log = MerkleLog::open(self.nodes()?, size)?;
        Ok((log.inclusion_proof(index, size)?, log.root()))
    }

    /// RFC 9162 consistency proof from `old` to `new` leaves.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<ConsistencyProof, StoreError> {
        self.check_size(new)?;
        let log = MerkleLog::open(self.nodes()?, new)?;
        Ok(log.consistency_proof(old, new)?)
    }
}

/// Bytes of a block's record before its event count.
fn record_head_len(block: &Block) -> u32 {
    let len = 4 + 4 + block.header_bytes().len() + 64 + 4 + block.checkpoint().len();
    len as u32
}

fn stored_head(head: RecordHead, topic_offset: i64) -> StoredHead {
    StoredHead {
        hash: head.hash(),
        header: head.header,
        header_bytes: head.header_bytes,
        signature: head.signature,
        checkpoint: head.checkpoint,
        topic_offset,
    }
}

/// The `id` of an event's canonical JSON, if it has one.
fn event_id(event: &[u8]) -> Option<Uuid> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: Uuid,
    }
    serde_json::from_slice::<Id>(event).ok().map(|e| e.id)
}

/// Checks headers while scanning: heights, links and signatures.
struct HeaderChain<'a> {
    options: &'a StoreOptions,
    prev: Option<Hash>,
    next_leaf: u64,
}

impl<'a> HeaderChain<'a> {
    fn new(options: &'a StoreOptions) -> Self {
        HeaderChain {
            options,
            prev: None,
            next_leaf: 0,
        }
    }

    fn check(&mut self, height: u64, head: &RecordHead) -> Result<(), StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt(format!("block {height}: {reason}"));
        let header = &head.header;
        if header.height != height {
            return Err(corrupt(format!("its header says height {}", header.height)));
        }
        let want_prev = self.prev.unwrap_or(tracechain_chain::GENESIS_PREV_HASH);
        if header.prev_hash != want_prev {
            return Err(corrupt(
                "prev_hash does not match the previous header".to_owned(),
            ));
        }
        if header.first_leaf != self.next_leaf {
            return Err(corrupt(format!(
                "first_leaf {} but the previous block ended at {}",
                header.first_leaf, self.next_leaf
            )));
        }
        if header.origin != self.options.origin {
            return Err(corrupt(format!(
                "origin {:?} is not {:?}",
                header.origin, self.options.origin
            )));
        }
        let key = self
            .options
            .keys
            .get(&header.key_id)
            .ok_or_else(|| corrupt(format!("signed by unknown key {}", header.key_id)))?;
        key.verify_strict(&head.header_bytes, &head.signature)
            .map_err(|e| corrupt(format!("header signature: {e}")))?;
        self.prev = Some(head.hash());
        self.next_leaf = header.tree_size;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
