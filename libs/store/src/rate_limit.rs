//! The answer of a rate-limit check.
//!
//! Both stores count requests per principal in **fixed windows**: the first
//! request opens a window of the given length, every request in it counts, and
//! the `limit + 1`-th is refused until the window closes. Fixed windows need
//! one counter and one atomic step per request; their known weakness, up to
//! `2 × limit` requests around a window boundary, is acceptable for API
//! protection.

use std::time::Duration;

/// Whether one request is allowed, and what to tell the client (the values of
/// the `RateLimit-*` and `Retry-After` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// True if this request is within the limit.
    pub allowed: bool,
    /// The limit that was applied, per window.
    pub limit: u32,
    /// Requests still allowed in the current window after this one.
    pub remaining: u32,
    /// When refused: how long until a request can succeed. `None` when allowed.
    pub retry_after: Option<Duration>,
    /// How long until the current window closes and the count starts over.
    pub reset_after: Duration,
}

impl RateDecision {
    /// Builds the decision for the `count`-th request of a window that closes
    /// in `reset_after`. Shared by both stores so that they answer alike.
    pub(crate) fn from_count(count: u64, limit: u32, reset_after: Duration) -> Self {
        let allowed = count <= u64::from(limit);
        let remaining = u64::from(limit).saturating_sub(count);
        RateDecision {
            allowed,
            limit,
            // remaining <= limit, which is a u32.
            remaining: u32::try_from(remaining).unwrap_or(limit),
            retry_after: (!allowed).then_some(reset_after),
            reset_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_from_count() {
        let window = Duration::from_millis(800);
        let first = RateDecision::from_count(1, 3, window);
        assert!(first.allowed);
        assert_eq!(first.remaining, 2);
        assert_eq!(first.retry_after, None);
        let last = RateDecision::from_count(3, 3, window);
        assert!(last.allowed);
        assert_eq!(last.remaining, 0);
        let over = RateDecision::from_count(4, 3, window);
        assert!(!over.allowed);
        assert_eq!(over.remaining, 0);
        assert_eq!(over.retry_after, Some(window));
    }
}
