//! Versioned values and the outcome of a compare-and-set.
//!
//! A version is a per-key write counter: 1 after the first write, +1 on each
//! later one. Readers keep the version they saw and hand it back to
//! [`StateStore::compare_and_set`](crate::StateStore::compare_and_set), which
//! applies the write only if nobody wrote in between.

/// A value together with the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T = Vec<u8>> {
    /// The write counter of the key: at least 1, +1 per write since the key
    /// was created (or last deleted).
    pub version: u64,
    /// The value as of that version (raw bytes, or decoded JSON in a
    /// [`Projection`](crate::Projection)).
    pub value: T,
}

/// What a compare-and-set did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    /// The write was applied; this is the key's new version.
    Applied(u64),
    /// The key's version was not the expected one; nothing was written.
    Conflict {
        /// The version found (`None`: the key does not exist).
        current: Option<u64>,
    },
}

impl CasOutcome {
    /// True when the write was applied.
    pub fn is_applied(&self) -> bool {
        matches!(self, CasOutcome::Applied(_))
    }
}
