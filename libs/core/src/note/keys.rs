//! Named Ed25519 note keys and their text forms.
//!
//! A note key is a key *name* plus an Ed25519 key. Its 32-bit *key hash* is
//! the first 4 bytes (big-endian) of `SHA-256(name || "\n" || 0x01 || public
//! key)`; signature lines carry it so verifiers find the right key. Text forms,
//! as Go's `sumdb/note` writes them:
//!
//! - verifier key: `<name>+<8 hex digits of key hash>+<base64(0x01 || public key)>`
//! - signer key: `PRIVATE+KEY+<name>+<8 hex digits>+<base64(0x01 || secret seed)>`
//!
//! Invariants: a [`NoteVerifier`] or [`NoteSigner`] always has a valid name
//! (non-empty, no Unicode white space, no `+`, no control characters) and a
//! key hash that matches its name and key; parsing checks a given hash against
//! the computed one.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use super::signed::NoteError;
use crate::encoding;
use crate::signing::{SigningKey, VerifyingKey, Zeroizing};

/// Signature type byte of Ed25519 note keys.
const ALG_ED25519: u8 = 0x01;

/// Key hash of an Ed25519 key under `name`: the first 4 bytes, big-endian, of
/// `SHA-256(name || 0x0A || 0x01 || public key)`.
pub fn note_key_hash(name: &str, key: &VerifyingKey) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ALG_ED25519]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Whether `name` may name a note key: non-empty, with no Unicode white space,
/// no `+` and no control characters below U+0020.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c < '\u{20}')
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName {
            name: name.to_owned(),
        })
    }
}

/// Parses `<hash hex>+<base64 key>` (the tail shared by both key strings).
fn parse_hash_and_key(
    rest: &str,
    malformed: fn(&'static str) -> NoteError,
) -> Result<(u32, Vec<u8>), NoteError> {
    let (hash_hex, key_b64) = rest
        .split_once('+')
        .ok_or(malformed("missing '+' before the key"))?;
    if hash_hex.len() != 8 || !hash_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed("key hash is not 8 hex digits"));
    }
    // Cannot fail: 8 hex digits always fit a u32.
    let hash =
        u32::from_str_radix(hash_hex, 16).map_err(|_| malformed("key hash is not 8 hex digits"))?;
    let key = encoding::base64_to_vec(key_b64).map_err(|_| malformed("key is not base64"))?;
    match key.split_first() {
        None => Err(malformed("key is empty")),
        Some((&ALG_ED25519, body)) if body.len() == 32 => Ok((hash, key)),
        Some((&ALG_ED25519, _)) => Err(malformed("ed25519 key is not 32 bytes")),
        Some((&alg, _)) => Err(NoteError::UnknownAlgorithm(alg)),
    }
}

/// A public note key: verifies signatures by `name` with `key`.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    /// Valid key name.
    name: String,
    /// `note_key_hash(name, key)`.
    key_hash: u32,
    /// The Ed25519 public key.
    key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for `key` under `name`.
    pub fn new(name: impl Into<String>, key: VerifyingKey) -> Result<Self, NoteError> {
        let name = name.into();
        check_name(&name)?;
        let key_hash = note_key_hash(&name, &key);
        Ok(NoteVerifier {
            name,
            key_hash,
            key,
        })
    }

    /// Parses a verifier key string `<name>+<hash>+<base64(0x01 || key)>`.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let malformed = |reason| NoteError::MalformedVerifierKey { reason };
        let (name, rest) = vkey
            .split_once('+')
            .ok_or(malformed("missing '+' after the name"))?;
        check_name(name)?;
        let (hash, key) = parse_hash_and_key(rest, malformed)?;
        let key = VerifyingKey::from_slice(&key[1..]).map_err(NoteError::Key)?;
        let verifier = NoteVerifier::new(name, key)?;
        if verifier.key_hash != hash {
            return Err(NoteError::KeyHashMismatch {
                given: hash,
                computed: verifier.key_hash,
            });
        }
        Ok(verifier)
    }

    /// The verifier key string (the inverse of [`parse`](Self::parse)).
    pub fn to_vkey(&self) -> String {
        let mut key = Vec::with_capacity(33);
        key.push(ALG_ED25519);
        key.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_hash,
            encoding::to_base64(&key)
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit key hash.
    pub fn key_hash(&self) -> u32 {
        self.key_hash
    }

    /// The Ed25519 public key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Whether `signature` (without the 4-byte key hash) is this key's strict
    /// Ed25519 signature over `text`.
    pub(crate) fn verifies(&self, text: &[u8], signature: &[u8]) -> bool {
        crate::signing::Signature::from_slice(signature)
            .is_ok_and(|signature| self.key.verify_strict(text, &signature).is_ok())
    }
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({})", self.to_vkey())
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_vkey())
    }
}

impl FromStr for NoteVerifier {
    type Err = NoteError;

    fn from_str(vkey: &str) -> Result<Self, NoteError> {
        Self::parse(vkey)
    }
}

/// A private note key: signs notes as `name`. Never printed.
#[derive(Clone)]
pub struct NoteSigner {
    /// Valid key name.
    name: String,
    /// `note_key_hash(name, key.verifying_key())`.
    key_hash: u32,
    /// The Ed25519 secret key.
    key: SigningKey,
}

impl NoteSigner {
    /// A signer with `key` under `name`.
    pub fn new(name: impl Into<String>, key: SigningKey) -> Result<Self, NoteError> {
        let name = name.into();
        check_name(&name)?;
        let key_hash = note_key_hash(&name, &key.verifying_key());
        Ok(NoteSigner {
            name,
            key_hash,
            key,
        })
    }

    /// Parses a signer key string `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`.
    pub fn parse(skey: &str) -> Result<Self, NoteError> {
        let malformed = |reason| NoteError::MalformedSignerKey { reason };
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(malformed("missing PRIVATE+KEY+ prefix"))?;
        let (name, rest) = rest
            .split_once('+')
            .ok_or(malformed("missing '+' after the name"))?;
        check_name(name)?;
        let (hash, seed) = parse_hash_and_key(rest, malformed)?;
        let seed = Zeroizing::new(seed);
        let key = SigningKey::from_slice(&seed[1..]).map_err(NoteError::Key)?;
        let signer = NoteSigner::new(name, key)?;
        if signer.key_hash != hash {
            return Err(NoteError::KeyHashMismatch {
                given: hash,
                computed: signer.key_hash,
            });
        }
        Ok(signer)
    }

    /// The signer key string (the inverse of [`parse`](Self::parse)). Secret.
    pub fn to_skey(&self) -> Zeroizing<String> {
        let mut seed = Zeroizing::new(Vec::with_capacity(33));
        seed.push(ALG_ED25519);
        seed.extend_from_slice(self.key.to_bytes().as_ref());
        Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_hash,
            encoding::to_base64(&seed)
        ))
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_hash: self.key_hash,
            key: self.key.verifying_key(),
        }
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit key hash.
    pub fn key_hash(&self) -> u32 {
        self.key_hash
    }

    /// Ed25519 signature over `text`.
    pub(crate) fn sign(&self, text: &[u8]) -> [u8; 64] {
        self.key.sign(text).to_bytes()
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_hash", &format_args!("{:08x}", self.key_hash))
            .finish_non_exhaustive()
    }
}
