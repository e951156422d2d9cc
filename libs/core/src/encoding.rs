//! Text encodings of fixed-size byte strings (hashes, keys, signatures).
//!
//! Every byte string in this crate has one canonical text form per encoding:
//! lowercase hex, or standard base64 (RFC 4648 §4) with padding. Decoding is
//! strict: the input must decode to exactly the expected number of bytes, and
//! base64 must be canonical (padding present, unused trailing bits zero), so
//! one value never has two accepted spellings in base64. Hex input is accepted
//! in either case; output is always lowercase.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Why a text form could not be decoded into the expected bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is not hexadecimal, or has an odd number of digits.
    #[error("input is not valid hex")]
    InvalidHex,
    /// The input is not canonical, padded standard base64.
    #[error("input is not valid padded standard base64")]
    InvalidBase64,
    /// The input decoded to the wrong number of bytes.
    #[error("expected {expected} bytes, got {got}")]
    InvalidLength {
        /// How many bytes the value must have.
        expected: usize,
        /// How many bytes the input held.
        got: usize,
    },
}

/// Copies `bytes` into an array of exactly `N` bytes.
pub(crate) fn array_from_slice<const N: usize>(bytes: &[u8]) -> Result<[u8; N], DecodeError> {
    <[u8; N]>::try_from(bytes).map_err(|_| DecodeError::InvalidLength {
        expected: N,
        got: bytes.len(),
    })
}

/// Decodes hex (either case) into exactly `N` bytes.
pub(crate) fn hex_to_array<const N: usize>(text: &str) -> Result<[u8; N], DecodeError> {
    if text.len() != 2 * N {
        // Report the length in bytes when the text is well-formed hex.
        return match hex::decode(text) {
            Ok(bytes) => Err(DecodeError::InvalidLength {
                expected: N,
                got: bytes.len(),
            }),
            Err(_) => Err(DecodeError::InvalidHex),
        };
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| DecodeError::InvalidHex)?;
    Ok(out)
}

/// Decodes canonical padded standard base64 into exactly `N` bytes.
pub(crate) fn base64_to_array<const N: usize>(text: &str) -> Result<[u8; N], DecodeError> {
    let bytes = base64_to_vec(text)?;
    array_from_slice(&bytes)
}

/// Decodes canonical padded standard base64 into bytes of any length.
pub(crate) fn base64_to_vec(text: &str) -> Result<Vec<u8>, DecodeError> {
    STANDARD
        .decode(text)
        .map_err(|_| DecodeError::InvalidBase64)
}

/// Encodes bytes as padded standard base64.
pub(crate) fn to_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        assert_eq!(hex_to_array::<2>("abCD"), Ok([0xab, 0xcd]));
        assert_eq!(hex_to_array::<2>("zz00"), Err(DecodeError::InvalidHex));
        assert_eq!(
            hex_to_array::<2>("ab"),
            Err(DecodeError::InvalidLength {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(hex_to_array::<2>("abc"), Err(DecodeError::InvalidHex));
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(base64_to_array::<1>("AA=="), Ok([0]));
        // Missing padding, non-zero trailing bits and stray characters all fail.
        assert_eq!(base64_to_array::<1>("AA"), Err(DecodeError::InvalidBase64));
        assert_eq!(
            base64_to_array::<1>("AB=="),
            Err(DecodeError::InvalidBase64)
        );
        assert_eq!(
            base64_to_array::<1>(" AA=="),
            Err(DecodeError::InvalidBase64)
        );
        assert_eq!(
            base64_to_array::<2>("AA=="),
            Err(DecodeError::InvalidLength {
                expected: 2,
                got: 1
            })
        );
    }
}
