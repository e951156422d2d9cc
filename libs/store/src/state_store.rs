//! The interface every service programs against: [`StateStore`].
//!
//! It is object-safe (services hold `Arc<dyn StateStore>`) and works on bytes;
//! [`Projection`](crate::Projection) adds typed JSON on top. Each method states
//! the contract that the conformance suite (`tests/conformance`) checks against
//! both implementations. All keys are relative to the store's [`Namespace`].

use std::time::Duration;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::idempotency::IdempotencyState;
use crate::index::{IndexCursor, IndexPage};
use crate::namespace::Namespace;
use crate::rate_limit::RateDecision;
use crate::versioned::{CasOutcome, Versioned};

/// Projections, indexes, idempotency keys, nonces and rate limits under one
/// namespace. See the [crate documentation](crate) for the invariants.
///
/// Keys, index names, members, scopes, nonces and principals are non-empty
/// strings of at most [`MAX_KEY_LEN`](crate::MAX_KEY_LEN) bytes; TTLs and
/// windows are 1 ms to [`MAX_TTL`](crate::MAX_TTL), rounded up to whole
/// milliseconds. Anything else is refused with
/// [`StoreError::InvalidInput`] before the backend is touched.
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// The namespace all keys of this store live under.
    fn namespace(&self) -> &Namespace;

    /// Reads a projection: its bytes and version, or `None` if absent.
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError>;

    /// Reads many projections in one round trip; the answer is in the order
    /// of `keys`, with `None` for each absent key.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Versioned>>, StoreError>;

    /// Writes a projection unconditionally and returns its new version
    /// (1 if it did not exist).
    async fn put(&self, key: &str, value: &[u8]) -> Result<u64, StoreError>;

    /// Writes a projection only if its version is `expected` (`None`: only if
    /// it does not exist). Atomic: of concurrent calls with the same
    /// `expected`, exactly one is applied.
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<u64>,
        value: &[u8],
    ) -> Result<CasOutcome, StoreError>;

    /// Deletes a projection; true if it existed. Its version starts over at 1
    /// on the next write.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;

    /// Puts `member` in `index` at `score`, moving it if it was there at
    /// another score. True if the index changed.
    async fn index_add(&self, index: &str, member: &str, score: u64) -> Result<bool, StoreError>;

    /// Removes `member` from `index`; true if it was there.
    async fn index_remove(&self, index: &str, member: &str) -> Result<bool, StoreError>;

    /// Reads up to `limit` (1 to [`MAX_PAGE_LIMIT`](crate::MAX_PAGE_LIMIT))
    /// entries of `index` in `(score, member)` order, starting after `after`
    /// (from the beginning if `None`). Following `next` until it is `None`
    /// returns every member exactly once.
    async fn index_range(
        &self,
        index: &str,
        after: Option<&IndexCursor>,
        limit: usize,
    ) -> Result<IndexPage, StoreError>;

    /// Claims an idempotency key for `lease` if it is free; otherwise says who
    /// has it or returns the stored response. See [`IdempotencyState`].
    async fn idempotency_begin(
        &self,
        key: &str,
        lease: Duration,
    ) -> Result<IdempotencyState, StoreError>;

    /// Stores the response of a claimed key, kept for `retention`. True if
    /// stored; false if the key had already been completed, in which case the
    /// first response stays.
    async fn idempotency_complete(
        &self,
        key: &str,
        response: &[u8],
        retention: Duration,
    ) -> Result<bool, StoreError>;

    /// Releases a claimed key that was not completed, so that a retry can
    /// claim it at once. A completed key is left as it is. True if released.
    async fn idempotency_abandon(&self, key: &str) -> Result<bool, StoreError>;

    /// Records `nonce` within `scope` for `window`: true the first time, false
    /// if it was already seen and its window has not passed.
    async fn nonce_first_seen(
        &self,
        scope: &str,
        nonce: &str,
        window: Duration,
    ) -> Result<bool, StoreError>;

    /// Counts one request of `principal` and decides whether it is within
    /// `limit` (at least 1) requests per fixed `window`. Atomic. See
    /// [`RateDecision`].
    async fn rate_limit(
        &self,
        principal: &str,
        limit: u32,
        window: Duration,
    ) -> Result<RateDecision, StoreError>;

    /// Checks that the backend answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Removes every key of this namespace, and nothing else; returns how many
    /// were removed. For rebuilds and tests. Keys written concurrently may
    /// survive: stop the writers first.
    async fn clear_namespace(&self) -> Result<u64, StoreError>;

    /// Makes what was written durable where the backend needs to be told
    /// (the embedded store writes its snapshot); Redis does nothing.
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Flushes and stops accepting operations; call it last on shutdown.
    async fn close(&self) -> Result<(), StoreError> {
        self.flush().await
    }
}
