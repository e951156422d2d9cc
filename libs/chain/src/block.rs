//! A block and its binary record: the bytes the ledger publishes to
//! `ledger.blocks` and appends to its block store.
//!
//! Record layout (all integers big-endian `u32`):
//!
//! ```text
//! "TCB1"
//! header_len  header      RFC 8785 canonical JSON of the header
//!             signature   64 bytes, ed25519 over the header bytes
//! note_len    checkpoint  the C2SP tlog-checkpoint signed note for tree_size
//! count       count × (len, event)   each event's RFC 8785 canonical bytes
//! ```
//!
//! The record carries the events themselves, so the chain is self-contained:
//! a verifier recomputes every leaf hash (`SHA-256(0x00 ‖ event)`) and root
//! from it, and a new ledger instance rebuilds its store from the topic alone.
//! Decoding checks structure only; [`crate::ChainVerifier`] checks the
//! cryptography.

use tracechain_core::{Checkpoint, Hash, NoteSigner, Signature, SigningKey, leaf_hash};

use crate::error::BlockError;
use crate::header::{BlockHeader, header_hash};

/// The record's first four bytes.
pub const RECORD_MAGIC: &[u8; 4] = b"TCB1";
/// Largest header accepted.
pub const MAX_HEADER_BYTES: usize = 1 << 20;
/// Largest checkpoint note accepted.
pub const MAX_NOTE_BYTES: usize = 64 << 10;
/// Largest single event accepted (Kafka's default record limit).
pub const MAX_EVENT_BYTES: usize = 1 << 20;
/// Most events in one block.
pub const MAX_BLOCK_EVENTS: usize = 1 << 20;

const SIGNATURE_LEN: usize = 64;

/// A signed block: header, its signature, the checkpoint note for its tree
/// size, and its events' canonical bytes in leaf order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    header: BlockHeader,
    header_bytes: Vec<u8>,
    signature: Signature,
    checkpoint: String,
    events: Vec<Vec<u8>>,
    /// The events' leaf hashes, computed once (every user of a block needs them).
    leaves: Vec<Hash>,
}

impl Block {
    /// Signs `header` (whose root the caller computed over `events`) and its
    /// checkpoint with `key`. The checkpoint's origin is the header's origin.
    pub fn seal(
        header: BlockHeader,
        events: Vec<Vec<u8>>,
        key: &SigningKey,
    ) -> Result<Block, BlockError> {
        let leaves = events.iter().map(|e| leaf_hash(e)).collect();
        Block::seal_hashed(header, events, leaves, key)
    }

    /// [`seal`](Self::seal) for a caller that already hashed the events
    /// (`leaves[i]` must be the leaf hash of `events[i]`).
    pub fn seal_hashed(
        header: BlockHeader,
        events: Vec<Vec<u8>>,
        leaves: Vec<Hash>,
        key: &SigningKey,
    ) -> Result<Block, BlockError> {
        header.validate()?;
        if leaves.len() != events.len() {
            return Err(BlockError::Sign(format!(
                "{} leaf hashes for {} events",
                leaves.len(),
                events.len()
            )));
        }
        if header.key_id != key.key_id() {
            return Err(BlockError::Sign(format!(
                "header names key {} but the key is {}",
                header.key_id,
                key.key_id()
            )));
        }
        check_event_count(&header, events.len())?;
        let header_bytes = header.canonical_bytes()?;
        let signature = key.sign(&header_bytes);
        let checkpoint = checkpoint_note(&header, key)?;
        Ok(Block {
            header,
            header_bytes,
            signature,
            checkpoint,
            events,
            leaves,
        })
    }

    /// The header.
    pub fn header(&self) -> &BlockHeader {
        &self.header
    }

    /// The header's canonical bytes (what the signature covers).
    pub fn header_bytes(&self) -> &[u8] {
        &self.header_bytes
    }

    /// SHA-256 of the header's canonical bytes.
    pub fn hash(&self) -> Hash {
        header_hash(&self.header_bytes)
    }

    /// The ed25519 signature over [`header_bytes`](Self::header_bytes).
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The signed C2SP checkpoint note for the header's tree size and root.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// The events' canonical bytes, in leaf order.
    pub fn events(&self) -> &[Vec<u8>] {
        &self.events
    }

    /// Gives the events back.
    pub fn into_events(self) -> Vec<Vec<u8>> {
        self.events
    }

    /// The events' RFC 6962 leaf hashes, in leaf order.
    pub fn leaf_hashes(&self) -> Vec<Hash> {
        self.leaves.clone()
    }

    /// The events' RFC 6962 leaf hashes, in leaf order, without a copy.
    pub fn leaves(&self) -> &[Hash] {
        &self.leaves
    }

    /// The binary record (see the module docs).
    pub fn to_record(&self) -> Vec<u8> {
        let events_len: usize = self.events.iter().map(|e| 4 + e.len()).sum();
        let mut out = Vec::with_capacity(
            4 + 4
                + self.header_bytes.len()
                + SIGNATURE_LEN
                + 4
                + self.checkpoint.len()
                + 4
                + events_len,
        );
        out.extend_from_slice(RECORD_MAGIC);
        put_bytes(&mut out, &self.header_bytes);
        out.extend_from_slice(&self.signature.to_bytes());
        put_bytes(&mut out, self.checkpoint.as_bytes());
        put_len(&mut out, self.events.len());
        for event in &self.events {
            put_bytes(&mut out, event);
        }
        out
    }

    /// Decodes a record, checking its structure and the header's fields
    /// (not the signatures or the root: see [`crate::ChainVerifier`]).
    pub fn from_record(record: &[u8]) -> Result<Block, BlockError> {
        let head = RecordHead::decode(record)?;
        let mut r = Reader {
            rest: &record[head.events_offset()..],
        };
        let count = r.len("event count")?;
        if count > MAX_BLOCK_EVENTS {
            return Err(BlockError::Record(format!(
                "{count} events exceed the limit of {MAX_BLOCK_EVENTS}"
            )));
        }
        let mut events = Vec::with_capacity(count);
        for i in 0..count {
            events.push(r.bytes(MAX_EVENT_BYTES, &format!("event {i}"))?.to_vec());
        }
        if !r.rest.is_empty() {
            return Err(BlockError::Record(format!(
                "{} bytes after the last event",
                r.rest.len()
            )));
        }
        let leaves = events.iter().map(|e| leaf_hash(e)).collect();
        Ok(Block {
            header: head.header,
            header_bytes: head.header_bytes,
            signature: head.signature,
            checkpoint: head.checkpoint,
            events,
            leaves,
        })
    }
}

/// The leading part of a block record: header, signature and checkpoint,
/// decoded without copying the events (for scanning a store quickly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHead {
    /// The header.
    pub header: BlockHeader,
    /// Its canonical bytes.
    pub header_bytes: Vec<u8>,
    /// The header signature.
    pub signature: Signature,
    /// The checkpoint note.
    pub checkpoint: String,
}

impl RecordHead {
    /// Decodes the head of `record`, checking the header's fields and that the
    /// event count it announces matches the record's.
    pub fn decode(record: &[u8]) -> Result<RecordHead, BlockError> {
        let mut r = Reader { rest: record };
        if r.take(4, "magic")? != RECORD_MAGIC {
            return Err(BlockError::Record(
                "not a tracechain block record (bad magic)".to_owned(),
            ));
        }
        let header_bytes = r.bytes(MAX_HEADER_BYTES, "header")?.to_vec();
        let header = BlockHeader::from_canonical_bytes(&header_bytes)?;
        let signature = Signature::from_slice(r.take(SIGNATURE_LEN, "signature")?)
            .map_err(|e| BlockError::Record(format!("signature: {e}")))?;
        let checkpoint = std::str::from_utf8(r.bytes(MAX_NOTE_BYTES, "checkpoint")?)
            .map_err(|_| BlockError::Record("checkpoint is not UTF-8".to_owned()))?
            .to_owned();
        let count = r.len("event count")?;
        check_event_count(&header, count)?;
        Ok(RecordHead {
            header,
            header_bytes,
            signature,
            checkpoint,
        })
    }

    /// A head from its parts as a ledger's API serves them (the signed
    /// header bytes, the signature, the checkpoint note), parsing the header
    /// from the bytes — which must be canonical — so the two always agree.
    pub fn from_parts(
        header_bytes: Vec<u8>,
        signature: Signature,
        checkpoint: String,
    ) -> Result<RecordHead, BlockError> {
        let header = BlockHeader::from_canonical_bytes(&header_bytes)?;
        Ok(RecordHead {
            header,
            header_bytes,
            signature,
            checkpoint,
        })
    }

    /// SHA-256 of the header's canonical bytes.
    pub fn hash(&self) -> Hash {
        header_hash(&self.header_bytes)
    }

    /// Where the event count starts in the record.
    fn events_offset(&self) -> usize {
        4 + 4 + self.header_bytes.len() + SIGNATURE_LEN + 4 + self.checkpoint.len()
    }
}

fn check_event_count(header: &BlockHeader, count: usize) -> Result<(), BlockError> {
    if u64::try_from(count).ok() != Some(header.count) {
        return Err(BlockError::Record(format!(
            "header counts {} events but the block holds {count}",
            header.count
        )));
    }
    Ok(())
}

/// The signed C2SP tlog-checkpoint for `header`'s tree, signed by `key`
/// under the note key name `header.origin`.
pub fn checkpoint_note(header: &BlockHeader, key: &SigningKey) -> Result<String, BlockError> {
    let sign_err = |e: &dyn std::fmt::Display| BlockError::Sign(e.to_string());
    let signer = NoteSigner::new(header.origin.clone(), key.clone()).map_err(|e| sign_err(&e))?;
    Checkpoint::new(header.origin.clone(), header.tree_size, header.root)
        .map_err(|e| sign_err(&e))?
        .sign(&[signer])
        .map_err(|e| sign_err(&e))
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Every length was bounded well below 4 GiB by the limits above or by
    // the caller (events are at most MAX_EVENT_BYTES when they were read).
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], BlockError> {
        if self.rest.len() < n {
            return Err(BlockError::Record(format!(
                "truncated in {what}: {n} bytes wanted, {} left",
                self.rest.len()
            )));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn len(&mut self, what: &str) -> Result<usize, BlockError> {
        let bytes: [u8; 4] = self
            .take(4, what)?
            .try_into()
            .map_err(|_| BlockError::Record(format!("{what}: short length")))?;
        usize::try_from(u32::from_be_bytes(bytes))
            .map_err(|_| BlockError::Record(format!("{what}: length does not fit")))
    }

    fn bytes(&mut self, max: usize, what: &str) -> Result<&'a [u8], BlockError> {
        let len = self.len(what)?;
        if len > max {
            return Err(BlockError::Record(format!(
                "{what} of {len} bytes exceeds the limit of {max}"
            )));
        }
        self.take(len, what)
    }
}
