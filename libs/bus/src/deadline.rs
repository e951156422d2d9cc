//! Deadlines from caller-given timeouts, without overflow: a timeout too
//! large to add to now (e.g. `Duration::MAX`) means "a year from now", never
//! a panic.

use std::time::{Duration, Instant};

/// Stand-in for a timeout that does not fit: long enough to mean "never".
const FAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// `now + timeout`, or a year from now when that overflows.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or(now + FAR)
}

/// The same as a `tokio` instant.
pub(crate) fn tokio_deadline_after(timeout: Duration) -> tokio::time::Instant {
    tokio::time::Instant::from_std(deadline_after(timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_timeouts_do_not_overflow() {
        assert!(deadline_after(Duration::MAX) > Instant::now() + Duration::from_secs(3600));
        let _ = tokio_deadline_after(Duration::MAX);
        assert!(deadline_after(Duration::ZERO) <= Instant::now());
    }
}
