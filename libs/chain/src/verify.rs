//! Verifying a chain block by block, trusting nothing but the public keys.
//!
//! [`ChainVerifier`] keeps the verified head (height, header hash and the
//! Merkle frontier of the log) and accepts a block only if all of these hold:
//!
//! - it is the next height and its `prev_hash` is the head's header hash;
//! - its `origin` is the chain's and its `first_leaf` is the log's size;
//! - its header signature verifies (strictly) under the key its `key_id`
//!   names, which must be one of the trusted keys;
//! - the root recomputed from the head's frontier and the block's own events
//!   equals the header's root;
//! - its checkpoint note is signed by the same key under the origin's name
//!   and commits to the same tree size and root.
//!
//! A refused block leaves the verifier unchanged, so a reader of
//! `ledger.blocks` can apply the first-valid-block-per-height rule: feed it
//! every block in topic order and keep the ones it accepts.
//!
//! A block can be checked with its events ([`ChainVerifier::apply`]) or with
//! only its head part and its events' leaf hashes
//! ([`ChainVerifier::apply_leaves`]), which is what a ledger's API serves to
//! readers who may not see every event body. Both run the same checks; the
//! first recomputes the leaf hashes from the events, the second takes them
//! as given — which is still sound, because the root they must fold to is
//! signed.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use tracechain_core::{
    Checkpoint, Hash, KeyId, MerkleAccumulator, NoteVerifier, Signature, SigningKey, VerifyingKey,
    leaf_hash,
};

use crate::block::{Block, RecordHead};
use crate::error::{BlockError, ChainError};
use crate::header::{BlockHeader, GENESIS_PREV_HASH, HEADER_VERSION, Positions, format_time};

/// The trusted public keys of one chain, by key id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    keys: BTreeMap<KeyId, VerifyingKey>,
}

impl KeyRing {
    /// A ring holding `keys`.
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> KeyRing {
        KeyRing {
            keys: keys.into_iter().map(|k| (k.key_id(), k)).collect(),
        }
    }

    /// Adds a key.
    pub fn insert(&mut self, key: VerifyingKey) {
        self.keys.insert(key.key_id(), key);
    }

    /// The key with `id`.
    pub fn get(&self, id: &KeyId) -> Option<&VerifyingKey> {
        self.keys.get(id)
    }

    /// Every key, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&KeyId, &VerifyingKey)> {
        self.keys.iter()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The verified head of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHead {
    /// Height of the last verified block.
    pub height: u64,
    /// SHA-256 of its header.
    pub hash: Hash,
    /// The log's size after it.
    pub tree_size: u64,
    /// The log's root after it.
    pub root: Hash,
}

/// The signed part of a block, borrowed from a whole [`Block`] or from a
/// [`RecordHead`], so both kinds of input go through one implementation.
#[derive(Clone, Copy)]
struct Signed<'a> {
    header: &'a BlockHeader,
    /// The canonical bytes the signature covers (`header` was parsed from them).
    header_bytes: &'a [u8],
    signature: &'a Signature,
    checkpoint: &'a str,
}

impl<'a> Signed<'a> {
    fn of_block(block: &'a Block) -> Self {
        Signed {
            header: block.header(),
            header_bytes: block.header_bytes(),
            signature: block.signature(),
            checkpoint: block.checkpoint(),
        }
    }

    fn of_head(head: &'a RecordHead) -> Self {
        Signed {
            header: &head.header,
            header_bytes: &head.header_bytes,
            signature: &head.signature,
            checkpoint: &head.checkpoint,
        }
    }

    fn hash(&self) -> Hash {
        crate::header::header_hash(self.header_bytes)
    }
}

/// A [`RecordHead`]'s fields are public, so one may have been built by hand
/// with a `header` that is not what `header_bytes` say. The signature covers
/// only the bytes, and every check reads the parsed header, so the two must
/// agree or a forged header would pass under a genuine signature.
fn check_parsed_from_bytes(head: &RecordHead) -> Result<(), ChainError> {
    match head.header.canonical_bytes() {
        Ok(bytes) if bytes == head.header_bytes => Ok(()),
        _ => Err(ChainError::Invalid {
            height: head.header.height,
            reason: "the parsed header is not the signed header bytes".to_owned(),
        }),
    }
}

/// Verifies blocks in order. See the module docs.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    origin: String,
    keys: KeyRing,
    head: Option<VerifiedHead>,
    log: MerkleAccumulator,
}

impl ChainVerifier {
    /// A verifier for a chain from its first block.
    pub fn from_genesis(origin: impl Into<String>, keys: KeyRing) -> ChainVerifier {
        ChainVerifier {
            origin: origin.into(),
            keys,
            head: None,
            log: MerkleAccumulator::new(),
        }
    }

    /// A verifier that continues after `block`, which it checks in itself
    /// (signature, checkpoint) without its predecessors, with `frontier` the
    /// log's frontier hashes at the block's tree size (as a ledger serves
    /// them, or as read from a store): they must fold to the block's root.
    ///
    /// Use it to verify from a trusted checkpoint onwards: the caller first
    /// checks that `block` commits to the trusted tree size and root.
    pub fn resume_after(
        origin: impl Into<String>,
        keys: KeyRing,
        block: &Block,
        frontier: Vec<Hash>,
    ) -> Result<ChainVerifier, ChainError> {
        Self::resume(origin.into(), keys, Signed::of_block(block), frontier)
    }

    /// [`resume_after`](Self::resume_after) from a block's head part only
    /// (its events are not needed: the frontier stands for them).
    pub fn resume_after_head(
        origin: impl Into<String>,
        keys: KeyRing,
        head: &RecordHead,
        frontier: Vec<Hash>,
    ) -> Result<ChainVerifier, ChainError> {
        check_parsed_from_bytes(head)?;
        Self::resume(origin.into(), keys, Signed::of_head(head), frontier)
    }

    fn resume(
        origin: String,
        keys: KeyRing,
        block: Signed<'_>,
        frontier: Vec<Hash>,
    ) -> Result<ChainVerifier, ChainError> {
        let mut verifier = ChainVerifier::from_genesis(origin, keys);
        let header = block.header;
        let invalid = |reason: String| ChainError::Invalid {
            height: header.height,
            reason,
        };
        verifier.check_signatures(block)?;
        let log = MerkleAccumulator::from_frontier(header.tree_size, frontier)
            .map_err(|e| invalid(format!("frontier: {e}")))?;
        if log.root() != header.root {
            return Err(invalid(format!(
                "the frontier folds to {} but the header's root is {}",
                log.root(),
                header.root
            )));
        }
        verifier.log = log;
        verifier.head = Some(VerifiedHead {
            height: header.height,
            hash: block.hash(),
            tree_size: header.tree_size,
            root: header.root,
        });
        Ok(verifier)
    }

    /// The chain's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The trusted keys.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The last verified block, if any.
    pub fn head(&self) -> Option<&VerifiedHead> {
        self.head.as_ref()
    }

    /// The height the next block must have.
    pub fn next_height(&self) -> u64 {
        self.head.as_ref().map_or(0, |h| h.height + 1)
    }

    /// The log's size after the verified head.
    pub fn tree_size(&self) -> u64 {
        self.log.size()
    }

    /// The Merkle frontier after the verified head.
    pub fn frontier(&self) -> &[Hash] {
        self.log.frontier()
    }

    /// Checks `block` extends the verified chain and, if it does, makes it
    /// the head. A refused block changes nothing.
    pub fn apply(&mut self, block: &Block) -> Result<&VerifiedHead, ChainError> {
        self.extend(Signed::of_block(block), block.leaves(), "the events")
    }

    /// Checks that the block whose head part is `head` and whose events'
    /// RFC 6962 leaf hashes are `leaf_hashes` (in leaf order) extends the
    /// verified chain and, if it does, makes it the head. The same checks as
    /// [`apply`](Self::apply), for a reader that has the leaf hashes but not
    /// the events (a ledger's `/v1/blocks/{height}`). A refused block changes
    /// nothing.
    pub fn apply_leaves(
        &mut self,
        head: &RecordHead,
        leaf_hashes: &[Hash],
    ) -> Result<&VerifiedHead, ChainError> {
        check_parsed_from_bytes(head)?;
        self.extend(Signed::of_head(head), leaf_hashes, "the leaf hashes")
    }

    /// The one implementation of [`apply`](Self::apply) and
    /// [`apply_leaves`](Self::apply_leaves); `source` names where the leaf
    /// hashes came from, for the error message.
    fn extend(
        &mut self,
        block: Signed<'_>,
        leaf_hashes: &[Hash],
        source: &str,
    ) -> Result<&VerifiedHead, ChainError> {
        let header = block.header;
        let height = header.height;
        let expected = self.next_height();
        if height != expected {
            return Err(ChainError::Height { height, expected });
        }
        let want_prev = self.head.as_ref().map_or(GENESIS_PREV_HASH, |h| h.hash);
        if header.prev_hash != want_prev {
            return Err(ChainError::PrevHash {
                height,
                got: header.prev_hash.to_hex(),
                want: want_prev.to_hex(),
            });
        }
        let invalid = |reason: String| ChainError::Invalid { height, reason };
        if header.first_leaf != self.log.size() {
            return Err(invalid(format!(
                "first_leaf is {} but the log holds {} leaves",
                header.first_leaf,
                self.log.size()
            )));
        }
        // A decoded Block already agrees with its header's count; leaf
        // hashes handed in from elsewhere may not.
        if u64::try_from(leaf_hashes.len()).ok() != Some(header.count) {
            return Err(invalid(format!(
                "the header counts {} events but {} leaf hashes were given",
                header.count,
                leaf_hashes.len()
            )));
        }
        self.check_signatures(block)?;
        let mut log = self.log.clone();
        for (i, leaf) in leaf_hashes.iter().enumerate() {
            log.append(*leaf)
                .map_err(|e| invalid(format!("event {i}: {e}")))?;
        }
        if log.root() != header.root {
            return Err(invalid(format!(
                "root recomputed from {source} is {} but the header says {}",
                log.root(),
                header.root
            )));
        }
        self.log = log;
        Ok(self.head.insert(VerifiedHead {
            height,
            hash: block.hash(),
            tree_size: header.tree_size,
            root: header.root,
        }))
    }

    /// Builds, signs and applies the next block over `events` (canonical
    /// envelope bytes, in leaf order): the writer's side of [`apply`](Self::apply).
    /// Nothing is re-verified — the block is built from this verifier's own
    /// head — and on error nothing changes.
    pub fn seal_next(
        &mut self,
        events: Vec<Vec<u8>>,
        positions: Positions,
        time: OffsetDateTime,
        key: &SigningKey,
    ) -> Result<Block, BlockError> {
        let mut log = self.log.clone();
        let leaves: Vec<Hash> = events.iter().map(|e| leaf_hash(e)).collect();
        for leaf in &leaves {
            log.append(*leaf)
                .map_err(|e| BlockError::Header(e.to_string()))?;
        }
        let header = BlockHeader {
            version: HEADER_VERSION,
            origin: self.origin.clone(),
            height: self.next_height(),
            prev_hash: self.head.as_ref().map_or(GENESIS_PREV_HASH, |h| h.hash),
            first_leaf: self.log.size(),
            count: u64::try_from(events.len()).map_err(|e| BlockError::Header(e.to_string()))?,
            tree_size: log.size(),
            root: log.root(),
            time: format_time(time),
            positions,
            key_id: key.key_id(),
        };
        let block = Block::seal_hashed(header, events, leaves, key)?;
        self.log = log;
        self.head = Some(VerifiedHead {
            height: block.header().height,
            hash: block.hash(),
            tree_size: block.header().tree_size,
            root: block.header().root,
        });
        Ok(block)
    }

    /// Header signature, origin and checkpoint note of `block`.
    fn check_signatures(&self, block: Signed<'_>) -> Result<(), ChainError> {
        let header = block.header;
        let invalid = |reason: String| ChainError::Invalid {
            height: header.height,
            reason,
        };
        if header.origin != self.origin {
            return Err(invalid(format!(
                "origin {:?} is not the chain's origin {:?}",
                header.origin, self.origin
            )));
        }
        let key = self
            .keys
            .get(&header.key_id)
            .ok_or_else(|| invalid(format!("signed by unknown key {}", header.key_id)))?;
        key.verify_strict(block.header_bytes, block.signature)
            .map_err(|e| invalid(format!("header signature: {e}")))?;
        let verifier = NoteVerifier::new(self.origin.clone(), *key)
            .map_err(|e| invalid(format!("checkpoint key: {e}")))?;
        let (checkpoint, _) = Checkpoint::open(block.checkpoint.as_bytes(), &[verifier])
            .map_err(|e| invalid(format!("checkpoint: {e}")))?;
        if checkpoint.origin() != self.origin
            || checkpoint.size() != header.tree_size
            || *checkpoint.root_hash() != header.root
        {
            return Err(invalid(format!(
                "checkpoint commits to {} leaves with root {} but the header to {} with {}",
                checkpoint.size(),
                checkpoint.root_hash(),
                header.tree_size,
                header.root
            )));
        }
        Ok(())
    }
}
