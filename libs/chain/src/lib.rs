//! The ledger's chain format, shared by the ledger service, the `tracechain
//! verify` command and every consumer of `ledger.blocks`.
//!
//! The ledger is one RFC 6962/9162 Merkle log over all events (leaf index =
//! global sequence number, leaf = `SHA-256(0x00 ‖ event's RFC 8785 bytes)`).
//! A block appends a run of events to it and commits to the result:
//!
//! - [`BlockHeader`]: height, previous header hash, first leaf, count, tree
//!   size and root after the block, time, input positions, signing key id —
//!   canonical JSON, hashed with SHA-256 and signed with ed25519;
//! - [`Block`]: header + signature + the C2SP tlog-checkpoint note for the
//!   new tree + the events themselves, as one binary record;
//! - [`ChainVerifier`]: accepts a block only if it extends the verified head
//!   (see its module docs), which is also how a reader applies the
//!   first-valid-block-per-height rule that fences a zombie writer; a block
//!   is checked from its events or, as a ledger's API serves it, from its
//!   [`RecordHead`] and leaf hashes, by one implementation.
//!
//! Pure: no I/O, no clocks (the caller passes the time).

mod block;
mod error;
mod header;
mod verify;

pub use block::{
    Block, MAX_BLOCK_EVENTS, MAX_EVENT_BYTES, MAX_HEADER_BYTES, MAX_NOTE_BYTES, RECORD_MAGIC,
    RecordHead, checkpoint_note,
};
pub use error::{BlockError, ChainError};
pub use header::{
    BlockHeader, GENESIS_PREV_HASH, HEADER_VERSION, Positions, format_time, header_hash,
};
pub use verify::{ChainVerifier, KeyRing, VerifiedHead};

#[cfg(test)]
mod tests;
