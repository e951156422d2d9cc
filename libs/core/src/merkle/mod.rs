//! The RFC 6962 / RFC 9162 Merkle tree log: SHA-256, leaves hashed with a 0x00
//! prefix, interior nodes with 0x01, so any standard transparency-log verifier
//! can check our proofs.
//!
//! - [`hash`]: the [`Hash`](struct@Hash) type and the leaf/node hash functions.
//! - [`proof`]: inclusion and consistency proofs and their verification.
//! - [`accumulator`]: an O(log n) append-only accumulator of the current root.
//! - [`store`]: where the log keeps its nodes ([`NodeStore`], [`MemoryNodeStore`]).
//! - [`log`]: [`MerkleLog`], the append-only log that serves roots and proofs.
//!
//! Throughout, node `(level k, index i)` is the root of the perfect subtree over
//! leaves `[i·2^k, (i+1)·2^k)`; level 0 nodes are leaf hashes.

pub mod accumulator;
pub mod hash;
pub mod log;
pub mod proof;
pub mod store;
mod tree;

pub use accumulator::{AccumulatorError, MerkleAccumulator};
pub use hash::{
    EMPTY_ROOT, HASH_LEN, Hash, empty_root, leaf_hash, node_hash, root_from_leaf_hashes,
};
pub use log::{LogError, MerkleLog};
pub use proof::{
    ConsistencyProof, InclusionProof, ProofError, root_from_inclusion_proof, verify_consistency,
    verify_inclusion,
};
pub use store::{MemoryNodeStore, NodeId, NodeStore, StoreError};
