//! The state store of tracechain: the fast, disposable state the services keep
//! beside Kafka.
//!
//! Kafka is the system of record. This crate holds what is derived from it or
//! only needed for a short while:
//!
//! - **projections**: versioned byte values per key ([`StateStore::get`],
//!   [`StateStore::put`], [`StateStore::compare_and_set`]), with a typed JSON
//!   layer on top ([`Projection`]), and sorted **indexes** paged by cursor for
//!   listings ([`StateStore::index_range`]);
//! - **idempotency keys** that hand back the first result for a repeated
//!   request ([`StateStore::idempotency_begin`]);
//! - **scan nonces** refused when seen twice within a window
//!   ([`StateStore::nonce_first_seen`]);
//! - per-principal **rate limits** ([`StateStore::rate_limit`]);
//! - **lease locks** that serialise writes to one aggregate across replicas
//!   ([`LeaseLock`], built on the idempotency keys).
//!
//! One interface, [`StateStore`], has two implementations that pass the same
//! conformance suite (`tests/conformance`): [`RedisStore`] for the distributed
//! mode and [`EmbeddedStore`] (in memory, snapshotted to the data directory) for
//! the all-in-one mode. Services hold an `Arc<dyn StateStore>` and never know
//! which one they have.
//!
//! # Invariants
//!
//! - Every key a store touches lives under its [`Namespace`] (`tc:{service}:`,
//!   plus a per-test segment in tests); namespaces never overlap, so
//!   [`StateStore::clear_namespace`] on one never touches another, not even a
//!   child namespace.
//! - A projection's version starts at 1 and grows by exactly 1 on every write;
//!   a write is applied atomically with its version bump. Deleting a key resets
//!   it: a later write starts again at 1.
//! - Everything here can be rebuilt from Kafka: clear the namespace and replay
//!   the topics from offset 0. That is why the embedded store's snapshot may lag
//!   the memory state, and why nothing here is a source of truth.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tracechain_store::{
//!     CasOutcome, EmbeddedStore, IdempotencyState, Namespace, Projection, StateStore,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tracechain_store::StoreError> {
//! # let dir = tempfile::tempdir().unwrap();
//! // Distributed mode: RedisStore::connect(RedisConfig::new(url, namespace)).
//! let store: Arc<dyn StateStore> =
//!     Arc::new(EmbeddedStore::open(dir.path(), Namespace::service("registry")?).await?);
//!
//! // A typed projection, written with optimistic concurrency.
//! let names = Projection::<String>::new(Arc::clone(&store), "product-name")?;
//! assert_eq!(names.compare_and_set("p1", None, &"Widget".into()).await?, CasOutcome::Applied(1));
//! store.index_add("products-of:m1", "p1", 1_700_000_000).await?;
//! let page = store.index_range("products-of:m1", None, 50).await?;
//! assert_eq!(page.entries[0].member, "p1");
//!
//! // An idempotent request: the first caller owns the key.
//! let lease = Duration::from_secs(30);
//! assert_eq!(store.idempotency_begin("req-42", lease).await?, IdempotencyState::New);
//! store.idempotency_complete("req-42", b"201 Created", Duration::from_secs(86_400)).await?;
//! assert_eq!(
//!     store.idempotency_begin("req-42", lease).await?,
//!     IdempotencyState::Completed(b"201 Created".to_vec())
//! );
//! store.close().await?;
//! # Ok(())
//! # }
//! ```

mod embedded;
mod error;
mod idempotency;
mod index;
mod keys;
mod lease;
mod namespace;
mod projection;
mod rate_limit;
mod redis;
mod state_store;
mod validate;
mod versioned;

pub use crate::embedded::{EmbeddedConfig, EmbeddedStore};
pub use crate::error::StoreError;
pub use crate::idempotency::IdempotencyState;
pub use crate::index::{IndexCursor, IndexEntry, IndexPage, MAX_PAGE_LIMIT};
pub use crate::lease::{LeaseError, LeaseLock};
pub use crate::namespace::Namespace;
pub use crate::projection::{DEFAULT_UPDATE_ATTEMPTS, Projection};
pub use crate::rate_limit::RateDecision;
pub use crate::redis::{RedisConfig, RedisStore};
pub use crate::state_store::StateStore;
pub use crate::validate::{MAX_KEY_LEN, MAX_TTL};
pub use crate::versioned::{CasOutcome, Versioned};
