//! Signing and opening C2SP signed notes.
//!
//! A signed note is UTF-8 text with no control characters other than newline:
//! the note *text* (ending in a newline, possibly containing blank lines), a
//! blank line, then one or more signature lines
//! `— <key name> <base64(4-byte key hash || signature)>\n` (U+2014 em dash).
//! The text ends at the *last* blank line of the message.
//!
//! Opening follows the spec and Go's `sumdb/note`:
//! - malformed notes are refused outright;
//! - more than [`MAX_SIGNATURES`] signature lines are refused;
//! - signatures whose (name, key hash) match no verifier are kept as
//!   unverified and otherwise ignored;
//! - a signature from a known key that fails to verify rejects the note;
//! - a (name, key hash) that matches two verifiers is refused as ambiguous;
//! - repeated signatures by one key count once;
//! - at least one signature must verify.

use std::collections::HashSet;

use super::keys::{NoteSigner, NoteVerifier, is_valid_name};
use crate::encoding;
use crate::signing::KeyError;

/// Most signature lines a note may carry (Go's limit; the spec requires at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Prefix of every signature line: em dash and space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note could not be signed or opened, or a note key parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The message is not UTF-8.
    #[error("note is not valid utf-8")]
    NotUtf8,
    /// The message contains an ASCII control character other than newline.
    #[error("note contains control character {0:#04x}")]
    ControlCharacter(u32),
    /// The note text does not end with a newline.
    #[error("note text must end with a newline")]
    TextMissingNewline,
    /// No blank line separates text and signatures.
    #[error("note has no blank line before a signature block")]
    MissingSignatureBlock,
    /// The signature block is empty or does not end with a newline.
    #[error("note signature block is empty or does not end with a newline")]
    MalformedSignatureBlock,
    /// A signature line is malformed.
    #[error("signature line {line} is malformed: {reason}")]
    MalformedSignature {
        /// 1-based line number within the signature block.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More signature lines than [`MAX_SIGNATURES`].
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// Signing with no signers.
    #[error("a note needs at least one signer")]
    NoSigners,
    /// A key name that is empty or has white space, `+` or control characters.
    #[error(
        "key name {name:?} is invalid: it must be non-empty, without white space, '+' or control characters"
    )]
    InvalidKeyName {
        /// The refused name.
        name: String,
    },
    /// A malformed verifier key string.
    #[error("verifier key is malformed: {reason}")]
    MalformedVerifierKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A malformed signer key string.
    #[error("signer key is malformed: {reason}")]
    MalformedSignerKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key string whose key hash does not match its name and key.
    #[error("key hash {given:08x} does not match the name and key, which hash to {computed:08x}")]
    KeyHashMismatch {
        /// The hash written in the key string.
        given: u32,
        /// The hash of the name and key.
        computed: u32,
    },
    /// A key of a signature type other than Ed25519 (0x01).
    #[error("unsupported note key type {0:#04x}")]
    UnknownAlgorithm(u8),
    /// The key bytes are not a usable Ed25519 key.
    #[error("note key is not a usable ed25519 key")]
    Key(#[source] KeyError),
    /// Two verifiers share a name and key hash.
    #[error("ambiguous key {name}+{key_hash:08x}: more than one verifier matches")]
    AmbiguousKey {
        /// The key name.
        name: String,
        /// The key hash.
        key_hash: u32,
    },
    /// A signature from a known key does not verify.
    #[error("invalid signature for key {name}+{key_hash:08x}")]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key hash.
        key_hash: u32,
    },
    /// No signature from a known key.
    #[error("note has no signature from a known key")]
    NoVerifiedSignature,
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key hash.
    pub key_hash: u32,
    /// The signature bytes, after the 4-byte key hash.
    pub signature: Vec<u8>,
}

/// An opened note whose text is vouched for by at least one known key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    /// The note text, ending with a newline.
    pub text: String,
    /// Signatures verified by a given verifier, in note order; never empty.
    pub signatures: Vec<NoteSignature>,
    /// Signatures from unknown keys, in note order, duplicates dropped.
    pub unverified: Vec<NoteSignature>,
}

/// Checks `text` is valid note text: ends with a newline, no control
/// characters besides newline.
pub(crate) fn check_text(text: &str) -> Result<(), NoteError> {
    check_controls(text)?;
    if !text.ends_with('\n') {
        return Err(NoteError::TextMissingNewline);
    }
    Ok(())
}

fn check_controls(text: &str) -> Result<(), NoteError> {
    match text.bytes().find(|&b| b < 0x20 && b != b'\n') {
        Some(control) => Err(NoteError::ControlCharacter(u32::from(control))),
        None => Ok(()),
    }
}

/// Signs `text` with every signer, in order, and returns the signed note.
pub fn sign_note(text: &str, signers: &[NoteSigner]) -> Result<String, NoteError> {
    check_text(text)?;
    if signers.is_empty() {
        return Err(NoteError::NoSigners);
    }
    if signers.len() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures);
    }
    let mut note = String::with_capacity(text.len() + 1 + signers.len() * 110);
    note.push_str(text);
    note.push('\n');
    for signer in signers {
        let mut blob = Vec::with_capacity(4 + 64);
        blob.extend_from_slice(&signer.key_hash().to_be_bytes());
        blob.extend_from_slice(&signer.sign(text.as_bytes()));
        note.push_str(SIG_PREFIX);
        note.push_str(signer.name());
        note.push(' ');
        note.push_str(&encoding::to_base64(&blob));
        note.push('\n');
    }
    Ok(note)
}

/// Parses `message` as a signed note and verifies it against `verifiers`.
pub fn open_note(message: &[u8], verifiers: &[NoteVerifier]) -> Result<VerifiedNote, NoteError> {
    let message = std::str::from_utf8(message).map_err(|_| NoteError::NotUtf8)?;
    check_controls(message)?;
    let split = message
        .rfind("\n\n")
        .ok_or(NoteError::MissingSignatureBlock)?;
    // The text keeps its final newline; the blank line is dropped.
    let (text, block) = (&message[..split + 1], &message[split + 2..]);
    if block.is_empty() || !block.ends_with('\n') {
        return Err(NoteError::MalformedSignatureBlock);
    }

    let mut note = VerifiedNote {
        text: text.to_owned(),
        signatures: Vec::new(),
        unverified: Vec::new(),
    };
    let mut seen_verified: HashSet<(&str, u32)> = HashSet::new();
    let mut seen_unverified: HashSet<&str> = HashSet::new();
    for (number, line) in block.split_terminator('\n').enumerate() {
        let line_no = number + 1;
        if line_no > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let malformed = |reason| NoteError::MalformedSignature {
            line: line_no,
            reason,
        };
        let body = line
            .strip_prefix(SIG_PREFIX)
            .ok_or(malformed("does not start with an em dash and a space"))?;
        let (name, b64) = body
            .split_once(' ')
            .ok_or(malformed("has no space between key name and signature"))?;
        if !is_valid_name(name) {
            return Err(malformed("key name is invalid"));
        }
        let blob =
            encoding::base64_to_vec(b64).map_err(|_| malformed("signature is not base64"))?;
        let Some((hash_bytes, signature)) = blob.split_first_chunk::<4>() else {
            return Err(malformed("signature is shorter than 5 bytes"));
        };
        if signature.is_empty() {
            return Err(malformed("signature is shorter than 5 bytes"));
        }
        let key_hash = u32::from_be_bytes(*hash_bytes);
        let entry = NoteSignature {
            name: name.to_owned(),
            key_hash,
            signature: signature.to_vec(),
        };

        let mut matching = verifiers
            .iter()
            .filter(|v| v.name() == name && v.key_hash() == key_hash);
        let Some(verifier) = matching.next() else {
            if seen_unverified.insert(body) {
                note.unverified.push(entry);
            }
            continue;
        };
        if matching.next().is_some() {
            return Err(NoteError::AmbiguousKey {
                name: name.to_owned(),
                key_hash,
            });
        }
        if !seen_verified.insert((name, key_hash)) {
            continue;
        }
        if !verifier.verifies(text.as_bytes(), signature) {
            return Err(NoteError::InvalidSignature {
                name: name.to_owned(),
                key_hash,
            });
        }
        note.signatures.push(entry);
    }

    if note.signatures.is_empty() {
        return Err(NoteError::NoVerifiedSignature);
    }
    Ok(note)
}
