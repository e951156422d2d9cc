//! Pure building blocks of tracechain, with no I/O: the bytes an event hashes
//! as, the Merkle log that orders events, the keys that sign blocks and scans,
//! and the signed notes that publish checkpoints.
//!
//! - [`canonical`]: RFC 8785 JSON canonicalization.
//! - [`merkle`]: the RFC 6962 / RFC 9162 Merkle log, proofs and node storage.
//! - [`signing`]: ed25519 keys, signatures and key ids.
//! - [`note`]: C2SP signed notes and tlog checkpoints.
//! - [`encoding`]: the shared hex/base64 decoding error.
//!
//! The most used items are re-exported here.

pub mod canonical;
pub mod encoding;
pub mod merkle;
pub mod note;
pub mod signing;

pub use canonical::{CanonicalError, canonicalize, canonicalize_str, to_canonical_vec};
pub use encoding::DecodeError;
pub use merkle::{
    ConsistencyProof, Hash, InclusionProof, LogError, MemoryNodeStore, MerkleAccumulator,
    MerkleLog, NodeId, NodeStore, ProofError, StoreError, empty_root, leaf_hash, node_hash,
    root_from_inclusion_proof, root_from_leaf_hashes, verify_consistency, verify_inclusion,
};
pub use note::{
    Checkpoint, CheckpointError, NoteError, NoteSigner, NoteVerifier, VerifiedNote, open_note,
    sign_note,
};
pub use signing::{
    KeyError, KeyId, Signature, SigningKey, VerifyError, VerifyingKey, verify_batch,
};
