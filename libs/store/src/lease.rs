//! [`LeaseLock`]: a mutual-exclusion lock with a lease, over the idempotency
//! keys of any [`StateStore`], for serialising writes to one aggregate (one
//! product, one shipment) across every replica of a service.
//!
//! Protocol: [`LeaseLock::acquire`] claims the key with
//! [`idempotency_begin`](StateStore::idempotency_begin) for `lease`; while
//! another holder has it, it retries with exponential backoff (5 ms doubling
//! to 100 ms) until `wait` would be exceeded, then gives up with
//! [`LeaseError::Busy`]. [`LeaseLock::release`] frees the key with
//! [`idempotency_abandon`](StateStore::idempotency_abandon).
//!
//! Invariants:
//!
//! - At most one holder at a time per key and namespace, as long as each
//!   holder finishes within its lease (the store's compare-and-set on the
//!   key decides; there are no fencing tokens, so the lease must comfortably
//!   exceed the longest critical section).
//! - A holder that disappears never blocks others for longer than its lease:
//!   dropped while held (a cancelled request), the lock is released by a
//!   background task; if the process dies, the lease expires.
//! - A lock key is never completed. Finding one in the completed state means
//!   another writer used the key for something else; that is
//!   [`LeaseError::Corrupt`], because abandoning cannot clear it.

use std::sync::Arc;
use std::time::Duration;

use crate::error::StoreError;
use crate::idempotency::IdempotencyState;
use crate::state_store::StateStore;

/// The first pause between attempts to take a held lock.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// The longest pause between attempts (the backoff doubles up to it).
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// Why [`LeaseLock::acquire`] did not get the lock.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another holder kept the lock for longer than the caller would wait
    /// (a service answers 409 with `Retry-After`).
    #[error("lock {key:?} is held by another writer; gave up after waiting {waited:?}")]
    Busy {
        /// The lock key (without namespace).
        key: String,
        /// How long the caller waited.
        waited: Duration,
    },
    /// The store failed (see [`StoreError::is_unavailable`] for 503s).
    #[error("the lock could not be taken: {0}")]
    Store(#[from] StoreError),
    /// The lock key is in the completed idempotency state, which a lock never
    /// writes: the key is shared with something else, or state is corrupt.
    #[error("lock key {key:?} is in the completed state, which no lock writes")]
    Corrupt {
        /// The lock key (without namespace).
        key: String,
    },
}

/// A held lease lock; release it with [`LeaseLock::release`]. Dropped while
/// held, it is released by a background task on the current tokio runtime;
/// if the process dies, its lease expires.
pub struct LeaseLock {
    /// The store holding the key.
    store: Arc<dyn StateStore>,
    /// The lock key, relative to the store's namespace.
    key: String,
    /// True until released; a lock dropped while held is released in the
    /// background.
    held: bool,
}

impl std::fmt::Debug for LeaseLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseLock")
            .field("key", &self.key)
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

impl LeaseLock {
    /// Takes the lock `key` for `lease`, waiting up to `wait` while another
    /// holder has it (a zero `wait` tries once). The lease bounds how long
    /// a holder that vanished blocks the others.
    ///
    /// Errors: [`LeaseError::Busy`] when still held after `wait`;
    /// [`LeaseError::Store`] when the store fails or refuses `key` or
    /// `lease` (empty key, zero lease, ...); [`LeaseError::Corrupt`] when the
    /// key is in the completed state.
    pub async fn acquire(
        store: Arc<dyn StateStore>,
        key: String,
        lease: Duration,
        wait: Duration,
    ) -> Result<LeaseLock, LeaseError> {
        let started = tokio::time::Instant::now();
        let deadline = started + wait;
        let mut pause = FIRST_PAUSE;
        loop {
            match store.idempotency_begin(&key, lease).await? {
                IdempotencyState::New => {
                    return Ok(LeaseLock {
                        store,
                        key,
                        held: true,
                    });
                }
                IdempotencyState::InFlight => {}
                IdempotencyState::Completed(_) => return Err(LeaseError::Corrupt { key }),
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(LeaseError::Busy {
                    key,
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    /// The lock key, relative to the store's namespace.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Releases the lock. A failure is logged, not returned: the lease
    /// expires anyway, and the caller's work is already done.
    pub async fn release(mut self) {
        self.held = false;
        if let Err(error) = self.store.idempotency_abandon(&self.key).await {
            tracing::warn!(%error, key = %self.key, "Releasing a lease lock failed; its lease will expire");
        }
    }
}

impl Drop for LeaseLock {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        let store = Arc::clone(&self.store);
        let key = std::mem::take(&mut self.key);
        // Outside a runtime nothing can be spawned; the lease expires.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(error) = store.idempotency_abandon(&key).await {
                    tracing::warn!(%error, %key, "Releasing a dropped lease lock failed; its lease will expire");
                }
            });
        }
    }
}
