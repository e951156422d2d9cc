//! Ed25519 (RFC 8032) keys and signatures, over `ed25519-dalek` 2.
//!
//! - [`SigningKey`]: the 32-byte secret. Its `Debug` shows only the key id; its
//!   exports come back in [`Zeroizing`] buffers, and the key itself is wiped on
//!   drop.
//! - [`VerifyingKey`]: a public key that decompresses to a valid point of
//!   large order (weak, small-order keys are refused when parsed, since strict
//!   verification would reject every signature from them anyway).
//! - [`Signature`]: 64 bytes, parsed from raw bytes, base64 or hex.
//! - [`KeyId`]: lowercase hex of the first 8 bytes of SHA-256 over the 32
//!   public key bytes — 16 characters, stable for a key forever. It names a key
//!   in block headers and logs; it is an identifier, not a security boundary.
//!
//! Verification is strict ([`VerifyingKey::verify_strict`]): non-canonical
//! signatures and small-order components are rejected, so a signature cannot be
//! mutated into another valid one. [`verify_batch`] uses dalek's batch equation,
//! which is faster but, as dalek documents, may accept some signatures strict
//! verification refuses; use it for throughput where that difference is
//! acceptable, and strict verification where an accepted signature becomes
//! evidence.
//!
//! Text forms: public keys and signatures are padded standard base64 in serde
//! and `Display`; key ids are hex.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer as _, Verifier as _};
use rand_core::{CryptoRngCore, OsRng};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

pub use ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing;

use crate::encoding::{self, DecodeError};

/// Length of a secret key (the RFC 8032 seed) in bytes.
pub const SECRET_KEY_LEN: usize = 32;
/// Length of a public key in bytes.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of a signature in bytes.
pub const SIGNATURE_LEN: usize = 64;
/// Length of a key id in bytes (16 hex characters).
pub const KEY_ID_LEN: usize = 8;

/// Why a key could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key's text or byte form is malformed.
    #[error("key encoding is invalid")]
    Decode(#[from] DecodeError),
    /// The bytes are not the encoding of a curve point.
    #[error("bytes are not a valid ed25519 public key")]
    InvalidPublicKey,
    /// The point has small order; no signature from it can verify strictly.
    #[error("public key is weak (small order) and is refused")]
    WeakPublicKey,
    /// Not a PKCS#8 PEM ed25519 private key.
    #[error("not a pkcs#8 pem ed25519 private key: {reason}")]
    InvalidPrivateKeyPem {
        /// What the PEM/DER decoder reported.
        reason: String,
    },
    /// Not an SPKI PEM ed25519 public key.
    #[error("not an spki pem ed25519 public key: {reason}")]
    InvalidPublicKeyPem {
        /// What the PEM/DER decoder reported.
        reason: String,
    },
    /// PEM encoding failed.
    #[error("pem encoding failed: {reason}")]
    PemEncoding {
        /// What the encoder reported.
        reason: String,
    },
}

/// Why a signature check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature is not valid for this message and key.
    #[error("signature is invalid for this message and key")]
    Invalid,
    /// At least one signature of the batch is invalid (which one is unknown).
    #[error("batch holds at least one invalid signature")]
    BatchInvalid,
    /// Batch inputs of different lengths.
    #[error("batch has {messages} messages, {signatures} signatures and {keys} keys")]
    BatchLengthMismatch {
        /// Number of messages.
        messages: usize,
        /// Number of signatures.
        signatures: usize,
        /// Number of keys.
        keys: usize,
    },
}

/// An ed25519 secret key. Never printed; wiped from memory on drop.
#[derive(Clone)]
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Self {
        Self::generate_with(&mut OsRng)
    }

    /// A fresh key from the given cryptographic RNG.
    pub fn generate_with<R: CryptoRngCore + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; SECRET_KEY_LEN]);
        rng.fill_bytes(seed.as_mut());
        Self::from_bytes(&seed)
    }

    /// The key whose RFC 8032 secret (seed) is `secret`.
    pub fn from_bytes(secret: &[u8; SECRET_KEY_LEN]) -> Self {
        SigningKey {
            inner: ed25519_dalek::SigningKey::from_bytes(secret),
        }
    }

    /// The key from a slice of exactly 32 secret bytes.
    pub fn from_slice(secret: &[u8]) -> Result<Self, KeyError> {
        let bytes: Zeroizing<[u8; SECRET_KEY_LEN]> =
            Zeroizing::new(encoding::array_from_slice(secret)?);
        Ok(Self::from_bytes(&bytes))
    }

    /// The 32 secret bytes, in a buffer wiped on drop.
    pub fn to_bytes(&self) -> Zeroizing<[u8; SECRET_KEY_LEN]> {
        Zeroizing::new(self.inner.to_bytes())
    }

    /// Reads a PKCS#8 (RFC 8410) PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(|inner| SigningKey { inner })
            .map_err(|error| KeyError::InvalidPrivateKeyPem {
                reason: error.to_string(),
            })
    }

    /// Writes the key as PKCS#8 (RFC 8410) PEM with LF line endings.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.inner
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|error| KeyError::PemEncoding {
                reason: error.to_string(),
            })
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            inner: self.inner.verifying_key(),
        }
    }

    /// Id of the matching public key.
    pub fn key_id(&self) -> KeyId {
        self.verifying_key().key_id()
    }

    /// Signs `message` (pure Ed25519, deterministic).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature {
            inner: self.inner.sign(message),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// An ed25519 public key of large order.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifyingKey {
    inner: ed25519_dalek::VerifyingKey,
}

impl VerifyingKey {
    /// The key encoded by 32 bytes; refuses invalid and weak (small-order) points.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<Self, KeyError> {
        let inner = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| KeyError::InvalidPublicKey)?;
        if inner.is_weak() {
            return Err(KeyError::WeakPublicKey);
        }
        Ok(VerifyingKey { inner })
    }

    /// The key from a slice of exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        Self::from_bytes(&encoding::array_from_slice(bytes)?)
    }

    /// The key from padded standard base64 of its 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&encoding::base64_to_array(text)?)
    }

    /// The key from hex of its 32 bytes.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&encoding::hex_to_array(text)?)
    }

    /// Reads an SPKI (RFC 8410) PEM public key (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_public_key_pem(pem: &str) -> Result<Self, KeyError> {
        let inner = ed25519_dalek::VerifyingKey::from_public_key_pem(pem).map_err(|error| {
            KeyError::InvalidPublicKeyPem {
                reason: error.to_string(),
            }
        })?;
        Self::from_bytes(inner.as_bytes())
    }

    /// Writes the key as SPKI (RFC 8410) PEM with LF line endings.
    pub fn to_public_key_pem(&self) -> Result<String, KeyError> {
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .map_err(|error| KeyError::PemEncoding {
                reason: error.to_string(),
            })
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        self.inner.as_bytes()
    }

    /// The 32 bytes, by value.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.inner.to_bytes()
    }

    /// Padded standard base64 of the 32 bytes.
    pub fn to_base64(&self) -> String {
        encoding::to_base64(self.as_bytes())
    }

    /// Lowercase hex of the 32 bytes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// `hex(SHA-256(public key bytes)[..8])`: see [`KeyId`].
    pub fn key_id(&self) -> KeyId {
        let digest = Sha256::digest(self.as_bytes());
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        KeyId(id)
    }

    /// Strict RFC 8032 verification (dalek's `verify_strict`): also refuses
    /// non-canonical signatures and small-order `R`.
    pub fn verify_strict(&self, message: &[u8], signature: &Signature) -> Result<(), VerifyError> {
        self.inner
            .verify_strict(message, &signature.inner)
            .map_err(|_| VerifyError::Invalid)
    }

    /// Cofactorless RFC 8032 verification as most libraries do it (dalek's
    /// `verify`). Prefer [`verify_strict`](Self::verify_strict).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), VerifyError> {
        self.inner
            .verify(message, &signature.inner)
            .map_err(|_| VerifyError::Invalid)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({} id {})", self.to_base64(), self.key_id())
    }
}

impl fmt::Display for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl FromStr for VerifyingKey {
    type Err = KeyError;

    /// Parses the Display form (base64).
    fn from_str(text: &str) -> Result<Self, KeyError> {
        Self::from_base64(text)
    }
}

impl Serialize for VerifyingKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for VerifyingKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// An ed25519 signature (64 bytes: `R || S`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    inner: ed25519_dalek::Signature,
}

impl Signature {
    /// The signature from 64 raw bytes.
    pub fn from_bytes(bytes: &[u8; SIGNATURE_LEN]) -> Self {
        Signature {
            inner: ed25519_dalek::Signature::from_bytes(bytes),
        }
    }

    /// The signature from a slice of exactly 64 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(Self::from_bytes(&encoding::array_from_slice(bytes)?))
    }

    /// The signature from padded standard base64.
    pub fn from_base64(text: &str) -> Result<Self, DecodeError> {
        Ok(Self::from_bytes(&encoding::base64_to_array(text)?))
    }

    /// The signature from hex.
    pub fn from_hex(text: &str) -> Result<Self, DecodeError> {
        Ok(Self::from_bytes(&encoding::hex_to_array(text)?))
    }

    /// The 64 bytes.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        self.inner.to_bytes()
    }

    /// Padded standard base64 of the 64 bytes.
    pub fn to_base64(&self) -> String {
        encoding::to_base64(&self.to_bytes())
    }

    /// Lowercase hex of the 64 bytes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_base64())
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl FromStr for Signature {
    type Err = DecodeError;

    /// Parses the Display form (base64).
    fn from_str(text: &str) -> Result<Self, DecodeError> {
        Self::from_base64(text)
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// Short, stable name of a public key: the first 8 bytes of SHA-256 over the
/// 32 public key bytes, written as 16 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    /// The 8 bytes.
    pub const fn as_bytes(&self) -> &[u8; KEY_ID_LEN] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = DecodeError;

    /// Parses exactly 16 lowercase hex characters (one spelling per id).
    fn from_str(text: &str) -> Result<Self, DecodeError> {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(DecodeError::InvalidHex);
        }
        encoding::hex_to_array(text).map(KeyId)
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Verifies `signatures[i]` over `messages[i]` by `keys[i]` for every `i` at
/// once (dalek's batch verification: deterministic, about twice as fast per
/// signature as one-by-one). On failure it does not say which signature is
/// bad; verify one by one to find out. An empty batch verifies.
pub fn verify_batch(
    messages: &[&[u8]],
    signatures: &[Signature],
    keys: &[VerifyingKey],
) -> Result<(), VerifyError> {
    if messages.len() != signatures.len() || messages.len() != keys.len() {
        return Err(VerifyError::BatchLengthMismatch {
            messages: messages.len(),
            signatures: signatures.len(),
            keys: keys.len(),
        });
    }
    let signatures: Vec<ed25519_dalek::Signature> =
        signatures.iter().map(|signature| signature.inner).collect();
    let keys: Vec<ed25519_dalek::VerifyingKey> = keys.iter().map(|key| key.inner).collect();
    ed25519_dalek::verify_batch(messages, &signatures, &keys).map_err(|_| VerifyError::BatchInvalid)
}
