//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys, and
//! transparency-log checkpoints (<https://c2sp.org/tlog-checkpoint>) carried
//! in them.
//!
//! Wire-compatible with Go's `golang.org/x/mod/sumdb/note` and the
//! transparency-dev tooling: the same key strings (`name+hash+base64`), the
//! same key hashes, the same signature lines, the same limits.
//!
//! - [`keys`]: [`NoteSigner`] and [`NoteVerifier`], their text forms and key hashes.
//! - [`signed`]: [`sign_note`] and [`open_note`].
//! - [`checkpoint`]: the [`Checkpoint`] note text.

pub mod checkpoint;
pub mod keys;
pub mod signed;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use keys::{NoteSigner, NoteVerifier, note_key_hash};
pub use signed::{MAX_SIGNATURES, NoteError, NoteSignature, VerifiedNote, open_note, sign_note};
