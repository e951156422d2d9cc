//! Transparency-log checkpoints (c2sp.org/tlog-checkpoint): the note text that
//! commits a log to its size and root hash.
//!
//! ```text
//! <origin>\n
//! <tree size in decimal>\n
//! <base64 root hash>\n
//! [<extension line>\n]...
//! ```
//!
//! Invariants of a [`Checkpoint`]: the origin and every extension line are
//! non-empty and contain no newline or other control character, so
//! [`Checkpoint::to_note_text`] always produces text that
//! [`Checkpoint::parse`] reads back to the same value. Parsing is strict: the
//! size has no sign and no leading zeros, the root hash is canonical base64 of
//! exactly 32 bytes, and the text ends with a newline.

use super::keys::{NoteSigner, NoteVerifier};
use super::signed::{NoteError, VerifiedNote, open_note, sign_note};
use crate::merkle::Hash;

/// Why a checkpoint is malformed, or its signed note did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The signed note around the checkpoint is malformed or unverified.
    #[error("checkpoint note did not open")]
    Note(#[from] NoteError),
    /// The text does not end with a newline.
    #[error("checkpoint text must end with a newline")]
    MissingNewline,
    /// Fewer than the three mandatory lines.
    #[error("checkpoint needs at least three lines: origin, tree size and root hash")]
    TooFewLines,
    /// The origin line is empty or contains control characters.
    #[error("checkpoint origin must be non-empty and free of control characters")]
    InvalidOrigin,
    /// The size line is not a canonical decimal `u64`.
    #[error(
        "tree size {0:?} is not a decimal number without sign or leading zeros that fits 64 bits"
    )]
    InvalidSize(String),
    /// The root hash line is not canonical base64 of 32 bytes.
    #[error("root hash {0:?} is not base64 of 32 bytes")]
    InvalidRootHash(String),
    /// An extension line is empty or contains control characters.
    #[error("extension line {0} must be non-empty and free of control characters")]
    InvalidExtension(usize),
}

/// A log's commitment to its tree at one size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Non-empty log identity, no control characters.
    origin: String,
    /// Number of leaves.
    size: u64,
    /// RFC 9162 root of the first `size` leaves.
    root_hash: Hash,
    /// Opaque extra lines, each non-empty without control characters.
    extensions: Vec<String>,
}

fn is_valid_line(line: &str) -> bool {
    !line.is_empty() && !line.chars().any(|c| c < '\u{20}')
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(
        origin: impl Into<String>,
        size: u64,
        root_hash: Hash,
    ) -> Result<Self, CheckpointError> {
        let origin = origin.into();
        if !is_valid_line(&origin) {
            return Err(CheckpointError::InvalidOrigin);
        }
        Ok(Checkpoint {
            origin,
            size,
            root_hash,
            extensions: Vec::new(),
        })
    }

    /// The same checkpoint with these extension lines (the spec advises
    /// against using them; monitors cannot audit them).
    pub fn with_extensions(mut self, extensions: Vec<String>) -> Result<Self, CheckpointError> {
        if let Some(bad) = extensions.iter().position(|line| !is_valid_line(line)) {
            return Err(CheckpointError::InvalidExtension(bad + 1));
        }
        self.extensions = extensions;
        Ok(self)
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash.
    pub fn root_hash(&self) -> &Hash {
        &self.root_hash
    }

    /// The extension lines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: origin, size, base64 root, extensions, each ending in `\n`.
    pub fn to_note_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root_hash.to_base64()
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Parses checkpoint note text (without signatures).
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingNewline)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::TooFewLines);
        };
        if !is_valid_line(origin) {
            return Err(CheckpointError::InvalidOrigin);
        }
        let canonical_decimal = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size_value = canonical_decimal
            .then(|| size.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| CheckpointError::InvalidSize(size.to_owned()))?;
        let root_hash = Hash::from_base64(root)
            .map_err(|_| CheckpointError::InvalidRootHash(root.to_owned()))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        Checkpoint::new(origin, size_value, root_hash)?.with_extensions(extensions)
    }

    /// Signs the checkpoint, returning the signed note.
    pub fn sign(&self, signers: &[NoteSigner]) -> Result<String, CheckpointError> {
        Ok(sign_note(&self.to_note_text(), signers)?)
    }

    /// Opens a signed checkpoint note: verifies it, then parses its text.
    pub fn open(
        message: &[u8],
        verifiers: &[NoteVerifier],
    ) -> Result<(Checkpoint, VerifiedNote), CheckpointError> {
        let note = open_note(message, verifiers)?;
        let checkpoint = Checkpoint::parse(&note.text)?;
        Ok((checkpoint, note))
    }
}
