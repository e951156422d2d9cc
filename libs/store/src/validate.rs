//! Argument checks shared by both implementations, so that they refuse exactly
//! the same inputs with the same [`StoreError::InvalidInput`].
//!
//! Keys are binary-safe strings for both backends; only their length is
//! bounded. Durations are whole milliseconds (Redis `PX` resolution), at least
//! one and at most [`MAX_TTL`], so that no deadline arithmetic can overflow.

use std::time::Duration;

use crate::error::StoreError;

/// The longest key, index name, member, scope, nonce or principal accepted, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// The longest TTL or window accepted (366 days).
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// Checks a key-like argument: non-empty and at most [`MAX_KEY_LEN`] bytes.
pub(crate) fn key(what: &'static str, value: &str) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::invalid(what, value, "is empty"));
    }
    if value.len() > MAX_KEY_LEN {
        return Err(StoreError::invalid(
            what,
            value,
            format!("is {} bytes, more than {MAX_KEY_LEN}", value.len()),
        ));
    }
    Ok(())
}

/// Checks a TTL or window and returns it in whole milliseconds, rounded up
/// (a 1.5 ms TTL lives 2 ms, never less than asked).
pub(crate) fn ttl_millis(what: &'static str, ttl: Duration) -> Result<u64, StoreError> {
    if ttl.is_zero() {
        return Err(StoreError::invalid(what, "0s", "must be at least 1 ms"));
    }
    if ttl > MAX_TTL {
        return Err(StoreError::invalid(
            what,
            &format!("{ttl:?}"),
            format!("must be at most {} days", MAX_TTL.as_secs() / 86_400),
        ));
    }
    let millis = ttl.as_nanos().div_ceil(1_000_000);
    // Bounded by MAX_TTL (about 3.2e10 ms), far below u64::MAX.
    Ok(u64::try_from(millis).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_non_empty_and_bounded() {
        assert!(key("key", "a").is_ok());
        assert!(key("key", &"k".repeat(MAX_KEY_LEN)).is_ok());
        assert!(key("key", "").is_err());
        assert!(key("key", &"k".repeat(MAX_KEY_LEN + 1)).is_err());
    }

    #[test]
    fn ttls_round_up_to_whole_milliseconds() {
        assert_eq!(ttl_millis("ttl", Duration::from_millis(1)).unwrap(), 1);
        assert_eq!(ttl_millis("ttl", Duration::from_micros(1500)).unwrap(), 2);
        assert_eq!(ttl_millis("ttl", Duration::from_nanos(1)).unwrap(), 1);
        assert!(ttl_millis("ttl", Duration::ZERO).is_err());
        assert!(ttl_millis("ttl", MAX_TTL + Duration::from_secs(1)).is_err());
        assert!(ttl_millis("ttl", Duration::MAX).is_err());
    }
}
