//! [`ProjectionRunner`]: keeps a projection current from a consumer group,
//! and rebuilds it when the store lost it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracechain_bus::{
    BusError, ConsumerOptions, ConsumerStats, EventBus, Handler, HandlerError, LoopOptions,
    Position, Record, RetryPolicy, run_consumer_with,
};
use tracechain_domain::Envelope;
use tracechain_store::StateStore;

use crate::positions::AppliedPositions;
use crate::projector::{ProjectionError, Projector};
use crate::rebuild::{RebuildError, RebuildReport, apply_record, rebuild};

/// Settings of a [`ProjectionRunner`].
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Consumer-group settings (session timeout, librdkafka extras).
    pub consumer: ConsumerOptions,
    /// How often the live consumer checks that the store still holds the
    /// projection (one read of the marker key).
    pub marker_check_interval: Duration,
    /// Most records per batch (and so per commit).
    pub batch_size: usize,
    /// Longest wait for records in one poll.
    pub poll_timeout: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            consumer: ConsumerOptions::default(),
            marker_check_interval: Duration::from_secs(1),
            batch_size: 500,
            poll_timeout: Duration::from_millis(200),
        }
    }
}

/// Keeps one projection current.
///
/// On start, and whenever the completeness marker has vanished from the
/// store, it replays the projection's topics from offset 0 ([`rebuild`]);
/// otherwise it consumes as group `<name>-projection`, applying each event
/// once per position, and before every commit it persists the applied
/// positions and flushes the store, so committed offsets never run ahead of
/// durable state.
///
/// One runner per projection per process; several processes may run one
/// each (they split partitions as a group). Their rebuilds after a store
/// loss may overlap, which only repeats idempotent work.
#[derive(Clone)]
pub struct ProjectionRunner {
    bus: Arc<dyn EventBus>,
    store: Arc<dyn StateStore>,
    projector: Arc<dyn Projector>,
    options: RunnerOptions,
    positions: Arc<Mutex<AppliedPositions>>,
    last_marker_check: Arc<Mutex<Option<Instant>>>,
    /// True while the store is known to hold the complete projection:
    /// cleared the moment a check finds the marker gone, set again once the
    /// rebuild finished. Readiness reads it.
    complete: Arc<AtomicBool>,
    /// True from the moment a rebuild starts until one succeeds: the store
    /// holds part of the projection. Request handlers read it to refuse
    /// (503) rather than answer from a half-rebuilt store.
    rebuilding: Arc<AtomicBool>,
}

impl std::fmt::Debug for ProjectionRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionRunner")
            .field("projection", &self.projector.name())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Why a runner stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// Rebuilding failed.
    #[error(transparent)]
    Rebuild(#[from] RebuildError),
    /// The consumer could not be opened or failed for good.
    #[error("projection consumer failed")]
    Bus(#[from] BusError),
}

impl ProjectionRunner {
    /// A runner of `projector` over `bus` into `store`.
    pub fn new(
        bus: Arc<dyn EventBus>,
        store: Arc<dyn StateStore>,
        projector: Arc<dyn Projector>,
        options: RunnerOptions,
    ) -> Self {
        let positions = AppliedPositions::new(projector.name());
        ProjectionRunner {
            bus,
            store,
            projector,
            options,
            positions: Arc::new(Mutex::new(positions)),
            last_marker_check: Arc::new(Mutex::new(None)),
            complete: Arc::new(AtomicBool::new(false)),
            rebuilding: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The flag this runner keeps true from the start of a rebuild until a
    /// rebuild succeeds (see [`ProjectionRunner::is_rebuilding`]).
    pub fn rebuilding(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.rebuilding)
    }

    /// Whether the store holds a projection being rebuilt: a rebuild
    /// started (the store was found without it) and none has succeeded
    /// since. Before the first check this is false: an unchecked store is
    /// not known to be partial.
    pub fn is_rebuilding(&self) -> bool {
        self.rebuilding.load(Ordering::Acquire)
    }

    /// The flag this runner keeps true exactly while the store is known to
    /// hold the complete projection (see [`ProjectionRunner::is_complete`]).
    pub fn completeness(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.complete)
    }

    /// Whether the last check found the projection complete and no check
    /// since found it gone. A store that lost its state is noticed at the
    /// next check (at most `marker_check_interval` later).
    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// The consumer group the runner joins.
    pub fn group(&self) -> String {
        format!("{}-projection", self.projector.name())
    }

    /// Rebuilds now: with `clear`, from an emptied namespace.
    pub async fn rebuild(&self, clear: bool) -> Result<RebuildReport, RebuildError> {
        self.complete.store(false, Ordering::Release);
        self.rebuilding.store(true, Ordering::Release);
        let mut positions = self.positions.lock().await;
        let report = rebuild(
            self.bus.as_ref(),
            self.store.as_ref(),
            self.projector.as_ref(),
            &mut positions,
            clear,
        )
        .await?;
        self.complete.store(true, Ordering::Release);
        self.rebuilding.store(false, Ordering::Release);
        Ok(report)
    }

    /// Rebuilds if the store does not hold a complete projection. Returns the
    /// report when it rebuilt.
    pub async fn ensure_complete(&self) -> Result<Option<RebuildReport>, RebuildError> {
        let marker = AppliedPositions::marker_key(self.projector.name());
        let present = self
            .store
            .get(&marker)
            .await
            .map_err(|source| RebuildError::Store {
                projection: self.projector.name().to_owned(),
                source,
            })?
            .is_some();
        *self.last_marker_check.lock().await = Some(Instant::now());
        if present {
            self.complete.store(true, Ordering::Release);
            return Ok(None);
        }
        tracing::warn!(projection = %self.projector.name(), "Store does not hold the projection; rebuilding from offset 0");
        self.rebuild(false).await.map(Some)
    }

    /// Makes the projection complete, then consumes until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> Result<ConsumerStats, RunnerError> {
        self.ensure_complete().await?;
        let topics = self.projector.topics();
        let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        let consumer = self
            .bus
            .subscribe(&self.group(), &topic_refs, self.options.consumer.clone())
            .await?;
        let options = LoopOptions {
            // A store outage must stall the projection, never dead-letter
            // events that are perfectly valid.
            retry: RetryPolicy {
                max_attempts: u32::MAX,
                initial_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_secs(5),
            },
            batch_size: self.options.batch_size,
            poll_timeout: self.options.poll_timeout,
            ..LoopOptions::default()
        };
        let bus = Arc::clone(&self.bus);
        // The store can lose its state while no event arrives; a watchdog
        // notices that without waiting for traffic.
        let watchdog = tokio::spawn(self.clone().watch_marker(shutdown.clone()));
        // A group left with a partition nobody consumes (a broker that keeps
        // a dead member's assignment) stalls forever unless someone rejoins.
        let leave = shutdown.child_token();
        let stalls = tokio::spawn(self.clone().watch_stalls(leave.clone()));
        let result = run_consumer_with(consumer, bus, self, options, leave).await;
        watchdog.abort();
        stalls.abort();
        Ok(result?)
    }

    /// How long a partition may lag without any progress before the
    /// member leaves the group to make it rebalance: five session timeouts,
    /// past any rebalance a live group goes through.
    fn stall_limit(&self) -> Duration {
        5 * self
            .options
            .consumer
            .session_timeout
            .unwrap_or(Duration::from_secs(10))
    }

    /// Cancels `leave` (ending this consumer: the runner's caller joins
    /// again) when a partition of the projection's topics has had records
    /// to apply, and no member applied any, for [`Self::stall_limit`].
    /// Progress is read from the applied positions every member writes to
    /// the shared store, so a partition another member owns counts too.
    async fn watch_stalls(self, leave: CancellationToken) {
        let limit = self.stall_limit();
        let mut interval = tokio::time::interval(limit / 5);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut clock = StallClock::default();
        loop {
            tokio::select! {
                () = leave.cancelled() => return,
                _ = interval.tick() => {}
            }
            let mut positions = AppliedPositions::new(self.projector.name());
            for topic in self.projector.topics() {
                let Ok(ends) = self.bus.end_offsets(&topic).await else {
                    continue;
                };
                for (partition, end) in ends {
                    let Ok(applied) = positions
                        .applied(self.store.as_ref(), &topic, partition)
                        .await
                    else {
                        continue;
                    };
                    let stalled = clock.observe(&topic, partition, applied, end, Instant::now());
                    if stalled >= limit {
                        tracing::warn!(
                            projection = %self.projector.name(), %topic, partition,
                            ?applied, end, stalled_secs = stalled.as_secs(),
                            "No member applies this partition; leaving the group to make it rebalance"
                        );
                        leave.cancel();
                        return;
                    }
                }
            }
        }
    }

    /// Checks the completeness marker every `marker_check_interval` and
    /// rebuilds when it is gone, until `shutdown`.
    async fn watch_marker(self, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(self.options.marker_check_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
            if let Err(error) = self.check_marker_if_due().await {
                tracing::warn!(projection = %self.projector.name(), %error, "Projection check failed; will retry");
            }
        }
    }

    async fn check_marker_if_due(&self) -> Result<(), HandlerError> {
        let due = match *self.last_marker_check.lock().await {
            Some(at) => at.elapsed() >= self.options.marker_check_interval,
            None => true,
        };
        if due {
            self.ensure_complete()
                .await
                .map_err(HandlerError::transient)?;
        }
        Ok(())
    }
}

/// When each partition of a projection last made progress while it had
/// records to apply.
#[derive(Debug, Default)]
struct StallClock {
    /// Per topic and partition: the applied offset last seen, and since when.
    since: std::collections::HashMap<(String, i32), (Option<i64>, Instant)>,
}

impl StallClock {
    /// Records that `partition` of `topic` has `applied` of the offsets
    /// below `end` at `now`; how long it has had records to apply without
    /// any being applied (zero when it is caught up or just moved).
    fn observe(
        &mut self,
        topic: &str,
        partition: i32,
        applied: Option<i64>,
        end: i64,
        now: Instant,
    ) -> Duration {
        let behind = end > 0 && applied.is_none_or(|a| a + 1 < end);
        let entry = self
            .since
            .entry((topic.to_owned(), partition))
            .or_insert((applied, now));
        if !behind || entry.0 != applied {
            *entry = (applied, now);
            return Duration::ZERO;
        }
        now.saturating_duration_since(entry.1)
    }
}

#[async_trait]
impl Handler for ProjectionRunner {
    async fn handle(&self, record: &Record, envelope: &Envelope) -> Result<(), HandlerError> {
        self.check_marker_if_due().await?;
        let mut positions = self.positions.lock().await;
        match apply_record(
            self.store.as_ref(),
            self.projector.as_ref(),
            &mut positions,
            record,
            envelope,
        )
        .await
        {
            Ok(_) => Ok(()),
            Err(error @ ProjectionError::Store(_)) => Err(HandlerError::transient(error)),
            Err(error @ ProjectionError::Invalid(_)) => {
                drop(positions);
                // An event that does not follow from the store's state is
                // only wrong if the store still holds the projection: after
                // the store lost it (a FLUSHALL), the event is fine and the
                // state is missing. Rebuild, then apply it again.
                match self.ensure_complete().await {
                    Ok(Some(_)) => Err(HandlerError::transient(error)),
                    Ok(None) => {
                        // Dead-lettered: the projection has moved past it,
                        // and its partition must not look stalled for it.
                        self.positions.lock().await.mark(
                            &record.topic,
                            record.partition,
                            record.offset,
                        );
                        Err(HandlerError::permanent(error))
                    }
                    Err(rebuild) => Err(HandlerError::transient(rebuild)),
                }
            }
        }
    }

    async fn before_commit(&self, _handled: &[Position]) -> Result<(), HandlerError> {
        let mut positions = self.positions.lock().await;
        positions
            .persist(self.store.as_ref())
            .await
            .map_err(HandlerError::transient)?;
        self.store.flush().await.map_err(HandlerError::transient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_stalls_only_while_it_lags_without_progress() {
        let mut clock = StallClock::default();
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        // Caught up (applied the last offset, 9 of end 10), or empty: never stalled.
        assert_eq!(clock.observe("t", 0, Some(9), 10, at(0)), Duration::ZERO);
        assert_eq!(clock.observe("t", 0, Some(9), 10, at(100)), Duration::ZERO);
        assert_eq!(clock.observe("t", 1, None, 0, at(100)), Duration::ZERO);
        // Lagging and not moving: the stall grows from the first sight.
        assert_eq!(clock.observe("t", 0, Some(9), 20, at(100)), Duration::ZERO);
        assert_eq!(
            clock.observe("t", 0, Some(9), 25, at(130)),
            Duration::from_secs(30)
        );
        // Progress restarts the clock; other partitions keep their own.
        assert_eq!(clock.observe("t", 0, Some(12), 25, at(140)), Duration::ZERO);
        assert_eq!(
            clock.observe("t", 0, Some(12), 25, at(150)),
            Duration::from_secs(10)
        );
        assert_eq!(clock.observe("t", 2, None, 5, at(150)), Duration::ZERO);
        assert_eq!(
            clock.observe("t", 2, None, 5, at(170)),
            Duration::from_secs(20)
        );
        assert_eq!(
            clock.observe("u", 2, None, 5, at(170)),
            Duration::ZERO,
            "per topic"
        );
    }
}
