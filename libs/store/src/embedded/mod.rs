//! [`StateStore`] in memory, snapshotted to the data directory, for the
//! all-in-one mode: no Redis needed.
//!
//! The state is a set of maps behind one `tokio::sync::RwLock` (see
//! `state.rs`); each operation holds the lock for its whole read-modify-write,
//! which makes it atomic just as a Lua script is in Redis. A background task
//! snapshots the state (see `snapshot.rs`) when it changed, every
//! `snapshot_interval`, and sweeps expired entries every `sweep_interval`;
//! [`StateStore::flush`] snapshots at once and [`StateStore::close`] takes a
//! last snapshot and refuses further operations. Reopening the same namespace
//! in the same directory loads the snapshot.
//!
//! # Durability
//!
//! A write is acknowledged before it is on disk: a crash loses what changed
//! since the last snapshot (at most one `snapshot_interval`). That is by
//! design: everything in the store is rebuilt from Kafka. A consumer that
//! needs its projection and its input position to agree should keep the
//! position in the store too (they are then snapshotted together), or flush
//! before committing its offsets.
//!
//! One process should open a given namespace and directory at a time: two
//! stores on the same file would overwrite each other's snapshots.

mod config;
mod snapshot;
mod state;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, RwLock};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

pub use self::config::EmbeddedConfig;
use self::state::State;
use crate::error::StoreError;
use crate::idempotency::IdempotencyState;
use crate::index::{self, IndexCursor, IndexPage};
use crate::namespace::Namespace;
use crate::rate_limit::RateDecision;
use crate::state_store::StateStore;
use crate::validate;
use crate::versioned::{CasOutcome, Versioned};

/// The in-memory store with snapshots. Hold it in an `Arc`; dropping it stops
/// its background task without a last snapshot (call
/// [`close`](StateStore::close) for that).
pub struct EmbeddedStore {
    /// Shared with the background task, which holds only a `Weak`.
    inner: Arc<Inner>,
}

/// What the store and its background task share.
struct Inner {
    /// The prefix of this store.
    namespace: Namespace,
    /// The snapshot file.
    path: PathBuf,
    /// The memory. `Arc` so that a blocking snapshot thread can read it.
    state: Arc<RwLock<State>>,
    /// The generation of the last snapshot written. Held while a snapshot is
    /// written, so that two never interleave.
    saved: tokio::sync::Mutex<u64>,
    /// Wakes the background task to stop.
    stop: Notify,
    /// The background task, until `close` takes it.
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("namespace", &self.inner.namespace)
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens the store of `namespace` in `data_dir` with default intervals,
    /// loading its snapshot if there is one.
    pub async fn open(
        data_dir: impl AsRef<Path>,
        namespace: Namespace,
    ) -> Result<Self, StoreError> {
        Self::open_with(EmbeddedConfig::new(data_dir.as_ref(), namespace)).await
    }

    /// Opens the store with explicit settings. Must run inside a Tokio
    /// runtime (it spawns the background task).
    pub async fn open_with(config: EmbeddedConfig) -> Result<Self, StoreError> {
        config.validate()?;
        let path = snapshot::path_for(&config.data_dir, &config.namespace);
        let dir = config.data_dir.clone();
        let file = path.clone();
        let namespace = config.namespace.clone();
        let state = tokio::task::spawn_blocking(move || -> Result<State, StoreError> {
            std::fs::create_dir_all(&dir).map_err(|source| StoreError::Snapshot {
                op: "create directory",
                path: dir.clone(),
                source,
            })?;
            match snapshot::read(&file)? {
                Some(bytes) => snapshot::decode(&bytes, &file, &namespace),
                None => Ok(State::default()),
            }
        })
        .await
        .map_err(|err| StoreError::Snapshot {
            op: "load",
            path: path.clone(),
            source: std::io::Error::other(err),
        })??;
        tracing::info!(
            namespace = %config.namespace,
            path = %path.display(),
            projections = state.projections.len(),
            "Opened embedded store"
        );
        let inner = Arc::new(Inner {
            namespace: config.namespace,
            path,
            state: Arc::new(RwLock::new(state)),
            saved: tokio::sync::Mutex::new(0),
            stop: Notify::new(),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(maintain(
            Arc::downgrade(&inner),
            config.snapshot_interval,
            config.sweep_interval,
        ));
        *inner.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        Ok(EmbeddedStore { inner })
    }

    /// Writes a snapshot now if anything changed since the last one; true if
    /// one was written.
    pub async fn snapshot(&self) -> Result<bool, StoreError> {
        self.inner.snapshot().await
    }

    /// The snapshot file.
    pub fn snapshot_path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `op` under the read lock, unless the store is closed.
    async fn read<R>(
        &self,
        op: &'static str,
        key: &str,
        f: impl FnOnce(&State) -> R,
    ) -> Result<R, StoreError> {
        let state = self.inner.state.read().await;
        if state.closed {
            return Err(self.closed(op, key));
        }
        Ok(f(&state))
    }

    /// Runs `op` under the write lock at the current time, unless the store
    /// is closed, and marks the state changed.
    async fn write<R>(
        &self,
        op: &'static str,
        key: &str,
        f: impl FnOnce(&mut State, Instant) -> R,
    ) -> Result<R, StoreError> {
        let mut state = self.inner.state.write().await;
        if state.closed {
            return Err(self.closed(op, key));
        }
        state.generation += 1;
        Ok(f(&mut state, Instant::now()))
    }

    fn closed(&self, op: &'static str, key: &str) -> StoreError {
        StoreError::Closed {
            op,
            key: format!("{}{key}", self.inner.namespace),
        }
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        self.inner.stop.notify_one();
    }
}

impl Inner {
    /// Writes a snapshot if the state changed since the last one.
    async fn snapshot(&self) -> Result<bool, StoreError> {
        let mut saved = self.saved.lock().await;
        if self.state.read().await.generation == *saved {
            return Ok(false);
        }
        let state = Arc::clone(&self.state);
        let namespace = self.namespace.clone();
        let path = self.path.clone();
        let started = std::time::Instant::now();
        let (generation, bytes) = tokio::task::spawn_blocking(move || {
            // Serialize under the read lock, write outside it.
            let (generation, encoded) = {
                let state = state.blocking_read();
                (state.generation, snapshot::encode(&state, &namespace))
            };
            let bytes = encoded.map_err(|err| StoreError::Snapshot {
                op: "encode",
                path: path.clone(),
                source: std::io::Error::other(err),
            })?;
            snapshot::write_atomic(&path, &bytes)?;
            Ok::<_, StoreError>((generation, bytes.len()))
        })
        .await
        .map_err(|err| StoreError::Snapshot {
            op: "write",
            path: self.path.clone(),
            source: std::io::Error::other(err),
        })??;
        *saved = generation;
        tracing::debug!(
            namespace = %self.namespace,
            bytes,
            elapsed_ms = started.elapsed().as_millis(),
            "Wrote store snapshot"
        );
        Ok(true)
    }
}

/// The background task: periodic snapshots and sweeps until stopped or until
/// the store is dropped.
async fn maintain(inner: Weak<Inner>, snapshot_every: Duration, sweep_every: Duration) {
    let mut snapshots = tokio::time::interval_at(Instant::now() + snapshot_every, snapshot_every);
    snapshots.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sweeps = tokio::time::interval_at(Instant::now() + sweep_every, sweep_every);
    sweeps.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let Some(store) = inner.upgrade() else { return };
        tokio::select! {
            () = store.stop.notified() => return,
            _ = snapshots.tick() => {
                if let Err(error) = store.snapshot().await {
                    tracing::warn!(%error, namespace = %store.namespace, "Store snapshot failed; will retry");
                }
            }
            _ = sweeps.tick() => {
                let removed = store.state.write().await.sweep(Instant::now());
                tracing::debug!(namespace = %store.namespace, removed, "Swept expired store entries");
            }
        }
    }
}

#[async_trait]
impl StateStore for EmbeddedStore {
    fn namespace(&self) -> &Namespace {
        &self.inner.namespace
    }

    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        validate::key("key", key)?;
        self.read("get", key, |s| s.get(key)).await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Versioned>>, StoreError> {
        for key in keys {
            validate::key("key", key)?;
        }
        self.read("get_many", keys.first().copied().unwrap_or(""), |s| {
            keys.iter().map(|key| s.get(key)).collect()
        })
        .await
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<u64, StoreError> {
        validate::key("key", key)?;
        self.write("put", key, |s, _| s.put(key, value)).await
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<u64>,
        value: &[u8],
    ) -> Result<CasOutcome, StoreError> {
        validate::key("key", key)?;
        self.write("compare_and_set", key, |s, _| {
            s.compare_and_set(key, expected, value)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        validate::key("key", key)?;
        self.write("delete", key, |s, _| s.delete(key)).await
    }

    async fn index_add(&self, index: &str, member: &str, score: u64) -> Result<bool, StoreError> {
        validate::key("index", index)?;
        validate::key("member", member)?;
        self.write("index_add", index, |s, _| s.index_add(index, member, score))
            .await
    }

    async fn index_remove(&self, index: &str, member: &str) -> Result<bool, StoreError> {
        validate::key("index", index)?;
        validate::key("member", member)?;
        self.write("index_remove", index, |s, _| s.index_remove(index, member))
            .await
    }

    async fn index_range(
        &self,
        index: &str,
        after: Option<&IndexCursor>,
        limit: usize,
    ) -> Result<IndexPage, StoreError> {
        validate::key("index", index)?;
        index::check_limit(limit)?;
        self.read("index_range", index, |s| s.index_range(index, after, limit))
            .await
    }

    async fn idempotency_begin(
        &self,
        key: &str,
        lease: Duration,
    ) -> Result<IdempotencyState, StoreError> {
        validate::key("idempotency key", key)?;
        let lease = Duration::from_millis(validate::ttl_millis("lease", lease)?);
        self.write("idempotency_begin", key, |s, now| {
            s.idempotency_begin(key, lease, now)
        })
        .await
    }

    async fn idempotency_complete(
        &self,
        key: &str,
        response: &[u8],
        retention: Duration,
    ) -> Result<bool, StoreError> {
        validate::key("idempotency key", key)?;
        let retention = Duration::from_millis(validate::ttl_millis("retention", retention)?);
        self.write("idempotency_complete", key, |s, now| {
            s.idempotency_complete(key, response, retention, now)
        })
        .await
    }

    async fn idempotency_abandon(&self, key: &str) -> Result<bool, StoreError> {
        validate::key("idempotency key", key)?;
        self.write("idempotency_abandon", key, |s, now| {
            s.idempotency_abandon(key, now)
        })
        .await
    }

    async fn nonce_first_seen(
        &self,
        scope: &str,
        nonce: &str,
        window: Duration,
    ) -> Result<bool, StoreError> {
        validate::key("nonce scope", scope)?;
        validate::key("nonce", nonce)?;
        let window = Duration::from_millis(validate::ttl_millis("window", window)?);
        self.write("nonce_first_seen", nonce, |s, now| {
            s.nonce_first_seen(scope, nonce, window, now)
        })
        .await
    }

    async fn rate_limit(
        &self,
        principal: &str,
        limit: u32,
        window: Duration,
    ) -> Result<RateDecision, StoreError> {
        validate::key("principal", principal)?;
        if limit == 0 {
            return Err(StoreError::invalid("limit", "0", "must be at least 1"));
        }
        let window = Duration::from_millis(validate::ttl_millis("window", window)?);
        self.write("rate_limit", principal, |s, now| {
            s.rate_limit(principal, limit, window, now)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read("ping", "", |_| ()).await
    }

    async fn clear_namespace(&self) -> Result<u64, StoreError> {
        let removed = self
            .write("clear_namespace", "", |s, now| s.clear(now))
            .await?;
        tracing::info!(namespace = %self.inner.namespace, removed, "Cleared store namespace");
        Ok(removed)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.read("flush", "", |_| ()).await?;
        self.inner.snapshot().await.map(|_| ())
    }

    async fn close(&self) -> Result<(), StoreError> {
        {
            let mut state = self.inner.state.write().await;
            if state.closed {
                return Ok(());
            }
            state.closed = true;
        }
        self.inner.stop.notify_one();
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            // The task only ever ends by returning; a join error would mean it
            // panicked, and the final snapshot below is what matters anyway.
            let _ = task.await;
        }
        self.inner.snapshot().await?;
        tracing::info!(namespace = %self.inner.namespace, "Closed embedded store");
        Ok(())
    }
}
