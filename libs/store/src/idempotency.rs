//! The state of an idempotency key.
//!
//! Protocol for a request carrying an `Idempotency-Key`:
//!
//! 1. [`idempotency_begin`](crate::StateStore::idempotency_begin) with a lease
//!    TTL. [`IdempotencyState::New`]: this caller owns the key and does the
//!    work; [`IdempotencyState::InFlight`]: another request with the same key
//!    is being handled (answer 409 and let the client retry);
//!    [`IdempotencyState::Completed`]: answer with the stored response.
//! 2. The owner then either stores its response with
//!    [`idempotency_complete`](crate::StateStore::idempotency_complete) (kept
//!    for the given retention TTL) or, if the work failed and may be retried,
//!    releases the key with
//!    [`idempotency_abandon`](crate::StateStore::idempotency_abandon).
//!
//! The first completed response wins: a completion never overwrites another.
//! If the owner dies, the key becomes free again when the lease TTL expires.

/// What [`idempotency_begin`](crate::StateStore::idempotency_begin) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// The key was free and is now held by this caller, who must complete or
    /// abandon it.
    New,
    /// Another caller holds the key and has not completed yet.
    InFlight,
    /// The key was completed; this is the response stored by the first
    /// completion, byte for byte.
    Completed(Vec<u8>),
}
