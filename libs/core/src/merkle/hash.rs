//! SHA-256 tree hashes as RFC 6962 §2.1 / RFC 9162 §2.1.1 define them.
//!
//! - leaf hash: `SHA-256(0x00 || leaf bytes)`
//! - node hash: `SHA-256(0x01 || left || right)`
//! - root of the empty tree: `SHA-256("")`
//!
//! The distinct prefixes keep a leaf from ever being mistaken for an interior
//! node (second-preimage resistance of the tree). A [`Hash`](struct@Hash) is always exactly
//! 32 bytes; its text forms are lowercase hex (Display, serde) and padded
//! standard base64 (signed notes, the transparency-dev test vectors).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::encoding::{self, DecodeError};

/// Length of a SHA-256 digest in bytes.
pub const HASH_LEN: usize = 32;

/// A SHA-256 digest: a leaf hash, a node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash([u8; HASH_LEN]);

/// Root of the empty tree, `SHA-256("")`.
pub const EMPTY_ROOT: Hash = Hash([
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);

impl Hash {
    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; HASH_LEN]) -> Self {
        Hash(bytes)
    }

    /// Copies exactly 32 bytes out of a slice.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DecodeError> {
        encoding::array_from_slice(bytes).map(Hash)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Result<Self, DecodeError> {
        encoding::hex_to_array(text).map(Hash)
    }

    /// Parses padded standard base64 of 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, DecodeError> {
        encoding::base64_to_array(text).map(Hash)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// The raw bytes, by value.
    pub const fn to_bytes(self) -> [u8; HASH_LEN] {
        self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Padded standard base64, 44 characters.
    pub fn to_base64(&self) -> String {
        encoding::to_base64(&self.0)
    }
}

impl From<[u8; HASH_LEN]> for Hash {
    fn from(bytes: [u8; HASH_LEN]) -> Self {
        Hash(bytes)
    }
}

impl From<Hash> for [u8; HASH_LEN] {
    fn from(hash: Hash) -> Self {
        hash.0
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 2 * HASH_LEN];
        // Cannot fail: the buffer is exactly twice the input length.
        hex::encode_to_slice(self.0, &mut buf).map_err(|_| fmt::Error)?;
        // Hex digits are ASCII, hence valid UTF-8.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl FromStr for Hash {
    type Err = DecodeError;

    /// Parses hex, the Display form.
    fn from_str(text: &str) -> Result<Self, DecodeError> {
        Hash::from_hex(text)
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HexVisitor;
        impl serde::de::Visitor<'_> for HexVisitor {
            type Value = Hash;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sha-256 hash as 64 hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Hash, E> {
                Hash::from_hex(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(HexVisitor)
    }
}

/// `SHA-256(0x00 || data)`: the hash of one log entry.
pub fn leaf_hash(data: &[u8]) -> Hash {
    // The 0x00 prefix takes one byte of the two-block budget.
    if data.len() < MAX_TWO_BLOCK_MESSAGE {
        return two_block_digest(0x00, data, &[]);
    }
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    Hash(hasher.finalize().into())
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    two_block_digest(0x01, &left.0, &right.0)
}

/// SHA-256 initial hash value (FIPS 180-4 §5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Longest message that fits two SHA-256 blocks with its padding (a 0x80
/// byte and the 8-byte bit length).
const MAX_TWO_BLOCK_MESSAGE: usize = 128 - 9;

/// `SHA-256(prefix || head || tail)` for messages of at most
/// [`MAX_TWO_BLOCK_MESSAGE`] bytes: pads by hand (FIPS 180-4 §5.1.1) and runs
/// the compression function once over both blocks. Node hashes (65 bytes) and
/// short leaves are the hot path of tree building, and one `compress256` call
/// costs less than the streaming hasher's buffering for inputs this small.
/// Callers guarantee the length bound; `leaf_hash` and `node_hash` are
/// checked against the streaming hasher for every length in the tests.
fn two_block_digest(prefix: u8, head: &[u8], tail: &[u8]) -> Hash {
    use sha2::digest::generic_array::GenericArray;

    let len = 1 + head.len() + tail.len();
    debug_assert!(len <= MAX_TWO_BLOCK_MESSAGE);
    let mut buf = [0u8; 128];
    buf[0] = prefix;
    buf[1..1 + head.len()].copy_from_slice(head);
    buf[1 + head.len()..len].copy_from_slice(tail);
    buf[len] = 0x80;
    let blocks = if len + 9 <= 64 { 1 } else { 2 };
    let end = 64 * blocks;
    buf[end - 8..end].copy_from_slice(&(len as u64 * 8).to_be_bytes());
    let (first, second) = buf.split_at(64);
    // Both halves are exactly 64 bytes, the block size, so these cannot fail.
    let pair = [
        *GenericArray::from_slice(first),
        *GenericArray::from_slice(second),
    ];
    let mut state = SHA256_IV;
    sha2::compress256(&mut state, &pair[..blocks]);
    let mut out = [0u8; HASH_LEN];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    Hash(out)
}

/// Root of the empty tree, `SHA-256("")` (the same as [`EMPTY_ROOT`]).
pub const fn empty_root() -> Hash {
    EMPTY_ROOT
}

/// The Merkle Tree Hash (RFC 9162 §2.1.1) of a list of leaf hashes, of any
/// length. Computed bottom-up, level by level: pairing neighbours and carrying
/// an odd last node up unchanged builds exactly the tree whose left subtrees
/// are the largest powers of two, as the RFC's recursive definition does.
pub fn root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => EMPTY_ROOT,
        [only] => *only,
        _ => {
            let mut level: Vec<Hash> = leaves
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => node_hash(left, right),
                    _ => pair[0],
                })
                .collect();
            while level.len() > 1 {
                let next = level.len().div_ceil(2);
                for i in 0..next {
                    level[i] = match level.get(2 * i + 1) {
                        Some(right) => node_hash(&level[2 * i], right),
                        None => level[2 * i],
                    };
                }
                level.truncate(next);
            }
            level[0]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT.as_bytes()[..], Sha256::digest(b"")[..]);
        assert_eq!(root_from_leaf_hashes(&[]), EMPTY_ROOT);
    }

    #[test]
    fn fast_paths_match_the_streaming_hasher() {
        for len in 0..=300 {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let mut leaf = Sha256::new();
            leaf.update([0x00]);
            leaf.update(&data);
            assert_eq!(
                leaf_hash(&data).0[..],
                leaf.finalize()[..],
                "leaf of {len} bytes"
            );
        }
        let (left, right) = (leaf_hash(b"l"), leaf_hash(b"r"));
        let mut node = Sha256::new();
        node.update([0x01]);
        node.update(left.0);
        node.update(right.0);
        assert_eq!(node_hash(&left, &right).0[..], node.finalize()[..]);
    }

    #[test]
    fn text_forms_round_trip() {
        let hash = leaf_hash(b"x");
        assert_eq!(Hash::from_hex(&hash.to_hex()), Ok(hash));
        assert_eq!(Hash::from_base64(&hash.to_base64()), Ok(hash));
        assert_eq!(hash.to_string(), hash.to_hex());
        let json = serde_json::to_string(&hash).unwrap();
        assert_eq!(json, format!("\"{}\"", hash.to_hex()));
        assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), hash);
        assert!(serde_json::from_str::<Hash>("\"abcd\"").is_err());
    }
}
