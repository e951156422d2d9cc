//! The ledger's engine: one loop that keeps the local block store equal to
//! the accepted chain and, while this instance is the elected writer,
//! extends it.
//!
//! # The accepted chain
//!
//! `ledger.blocks` (one partition) is authoritative. A block is *accepted*
//! when it is the first record in the topic that extends the accepted chain
//! ([`ChainVerifier::apply`]: next height, links to the accepted head, signed
//! by a trusted key, root recomputed from its events). Every reader applies
//! this rule, so a block published by a writer that lost its role (a zombie
//! woken from a pause) is ignored by everyone: it either sits at a height
//! already taken or links to a block nobody accepted.
//!
//! # Roles
//!
//! - **Follower** (always, first): reads `ledger.blocks` from the stored
//!   head's offset and appends each accepted block to the store.
//! - **Writer** (when [`election`] says so, and only once the follower has
//!   read to the end of the topic): reads the input topics from the input
//!   positions of the accepted head, cuts blocks, publishes them, and stores
//!   each one whose offset shows it is first at its height (the offset right
//!   after the last accepted record: nothing else can sit between). Any
//!   other outcome — an unexpected offset, a failed publish, losing the
//!   election — ends writing; the follower then reads what really landed and
//!   the writer, if still elected, resumes from the accepted head.
//!
//! # Exactly-once anchoring
//!
//! A block's header records the input positions after its last event, and
//! a writer starts from the accepted head's positions: after any crash, no
//! event is skipped and none is read twice into the chain. An event whose
//! id is already anchored (a producer's duplicate, a redelivery) is skipped
//! by id, checked against the store and the blocks still in flight.

pub mod election;
mod follower;
mod writer;

pub use writer::BLOCK_CONTENT_TYPE;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracechain_bus::{BusError, EventBus};
use tracechain_chain::{BlockError, ChainVerifier, KeyRing};
use tracechain_core::SigningKey;
use tracechain_http::Metrics;

use crate::store::{BlockStore, StoreError};

/// What the engine needs to know.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The chain's origin.
    pub origin: String,
    /// The topic of blocks (one partition).
    pub blocks_topic: String,
    /// The topics whose events are anchored.
    pub input_topics: Vec<String>,
    /// Cut a block at this many events…
    pub block_max_events: usize,
    /// …or this many bytes of events…
    pub block_max_bytes: usize,
    /// …or when its first event has waited this long.
    pub block_max_wait: Duration,
    /// Blocks published but not yet acknowledged, at most.
    pub max_blocks_in_flight: usize,
}

/// Why an engine step failed (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The block store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A block could not be built.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The stored chain does not verify (it cannot be extended).
    #[error("the stored chain cannot be resumed: {0}")]
    Resume(String),
}

/// The engine's counters and state, shared with the API and `/metrics`.
#[derive(Debug, Default)]
pub struct EngineStatus {
    writer: AtomicBool,
    caught_up: AtomicBool,
    failed: AtomicBool,
    /// `ledger_blocks_written_total`: blocks this instance wrote and stored.
    pub blocks_written: Counter,
    /// `ledger_blocks_followed_total`: accepted blocks read from the topic.
    pub blocks_followed: Counter,
    /// `ledger_blocks_ignored_total`: blocks in the topic that were not accepted.
    pub blocks_ignored: Counter,
    /// `ledger_events_anchored_total`: events in blocks this instance wrote.
    pub events_anchored: Counter,
    /// `ledger_events_duplicate_total`: input events skipped as already anchored.
    pub events_duplicate: Counter,
    /// `ledger_events_invalid_total`: input records that are no envelope.
    pub events_invalid: Counter,
    /// `ledger_fenced_total`: times writing stopped because the topic held something unexpected.
    pub fenced: Counter,
    /// `ledger_height`: height of the stored head.
    pub height: Gauge,
    /// Writer terms started.
    terms: AtomicU64,
}

impl EngineStatus {
    /// Registers the counters in `metrics`.
    pub fn register(self: &Arc<Self>, metrics: &Metrics) {
        metrics.register(
            "ledger_blocks_written",
            "Blocks this instance wrote and stored",
            self.blocks_written.clone(),
        );
        metrics.register(
            "ledger_blocks_followed",
            "Accepted blocks read from the blocks topic",
            self.blocks_followed.clone(),
        );
        metrics.register(
            "ledger_blocks_ignored",
            "Records of the blocks topic that were not accepted",
            self.blocks_ignored.clone(),
        );
        metrics.register(
            "ledger_events_anchored",
            "Events in blocks this instance wrote",
            self.events_anchored.clone(),
        );
        metrics.register(
            "ledger_events_duplicate",
            "Input events skipped because their id is already anchored",
            self.events_duplicate.clone(),
        );
        metrics.register(
            "ledger_events_invalid",
            "Input records skipped because they are not an event envelope",
            self.events_invalid.clone(),
        );
        metrics.register(
            "ledger_fenced",
            "Times writing stopped because the blocks topic held something unexpected",
            self.fenced.clone(),
        );
        metrics.register(
            "ledger_height",
            "Height of the stored head",
            self.height.clone(),
        );
    }

    /// Whether this instance is writing.
    pub fn is_writer(&self) -> bool {
        self.writer.load(Ordering::Acquire)
    }

    /// Whether the store has caught up with the topic at least once.
    pub fn is_caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
    }

    /// Whether the store failed (the engine stopped; restart the process).
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// How many times this instance started writing.
    pub fn writer_terms(&self) -> u64 {
        self.terms.load(Ordering::Acquire)
    }
}

/// The engine. See the module docs.
pub struct Engine {
    pub(crate) store: Arc<BlockStore>,
    pub(crate) bus: Arc<dyn EventBus>,
    pub(crate) config: EngineConfig,
    pub(crate) key: SigningKey,
    pub(crate) keys: KeyRing,
    pub(crate) status: Arc<EngineStatus>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("key_id", &self.key.key_id())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `store` and `bus`, signing with `key` and accepting
    /// blocks signed by any of `keys` (which must include `key`).
    pub fn new(
        store: Arc<BlockStore>,
        bus: Arc<dyn EventBus>,
        config: EngineConfig,
        key: SigningKey,
        keys: KeyRing,
    ) -> Engine {
        let status = Arc::new(EngineStatus::default());
        if let Some(head) = store.head() {
            status.height.set(head.header.height as i64);
        }
        Engine {
            store,
            bus,
            config,
            key,
            keys,
            status,
        }
    }

    /// The shared status.
    pub fn status(&self) -> Arc<EngineStatus> {
        Arc::clone(&self.status)
    }

    /// A verifier positioned at the stored head.
    pub(crate) fn verifier_at_head(&self) -> Result<ChainVerifier, EngineError> {
        let origin = self.config.origin.clone();
        let Some(head) = self.store.head() else {
            return Ok(ChainVerifier::from_genesis(origin, self.keys.clone()));
        };
        let block = self
            .store
            .block(head.header.height)?
            .ok_or_else(|| EngineError::Resume("the head block is missing".to_owned()))?;
        let frontier = self.store.frontier(head.header.tree_size)?;
        ChainVerifier::resume_after(origin, self.keys.clone(), &block, frontier)
            .map_err(|e| EngineError::Resume(e.to_string()))
    }

    /// Runs until `stop`: follow, and write while elected. `elected` is the
    /// election's verdict ([`election::run`]).
    pub async fn run(self: Arc<Self>, elected: watch::Receiver<bool>, stop: CancellationToken) {
        let mut pause = Duration::from_millis(100);
        while !stop.is_cancelled() {
            match self.step(&elected, &stop).await {
                Ok(()) => pause = Duration::from_millis(100),
                Err(EngineError::Store(error)) => {
                    // The store refused or failed a write: nothing more can
                    // be appended safely until the process restarts and the
                    // store checks itself again.
                    tracing::error!(%error, "The block store failed; the ledger stops anchoring");
                    self.status.failed.store(true, Ordering::Release);
                    self.status.writer.store(false, Ordering::Release);
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "Ledger engine step failed; retrying");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Follows to the end of the topic, then writes if elected.
    async fn step(
        &self,
        elected: &watch::Receiver<bool>,
        stop: &CancellationToken,
    ) -> Result<(), EngineError> {
        let Some(caught_up) = self.follow(elected, stop).await? else {
            return Ok(());
        };
        self.status.caught_up.store(true, Ordering::Release);
        self.status.writer.store(true, Ordering::Release);
        self.status.terms.fetch_add(1, Ordering::AcqRel);
        tracing::info!(
            height = self.store.head().map(|h| h.header.height),
            next_offset = caught_up.next_offset,
            "Writing blocks"
        );
        let outcome = self.write(caught_up, elected, stop).await;
        self.status.writer.store(false, Ordering::Release);
        outcome
    }
}

/// Where following stopped because this instance may write.
#[derive(Debug)]
pub(crate) struct CaughtUp {
    /// The verifier at the accepted head.
    pub(crate) verifier: ChainVerifier,
    /// The offset the next record of the blocks topic will get.
    pub(crate) next_offset: i64,
}
