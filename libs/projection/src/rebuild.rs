//! Replaying topics from offset 0 into a projection, and the one function
//! that applies a record (shared by the live runner and the rebuild, so both
//! skip, apply and count alike).

use std::collections::BTreeMap;
use std::time::Duration;

use tracechain_bus::{BusError, EventBus, Record};
use tracechain_store::{StateStore, StoreError};

use crate::positions::AppliedPositions;
use crate::projector::{ProjectionError, Projector};

/// Why a rebuild stopped.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// Reading the topics failed.
    #[error("rebuild of projection {projection} could not read {topic}")]
    Bus {
        /// The projection being rebuilt.
        projection: String,
        /// The topic being read.
        topic: String,
        /// The bus error.
        #[source]
        source: BusError,
    },
    /// The store failed (after retries).
    #[error("rebuild of projection {projection} could not write the store")]
    Store {
        /// The projection being rebuilt.
        projection: String,
        /// The store error.
        #[source]
        source: StoreError,
    },
}

/// What a rebuild did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildReport {
    /// Events applied.
    pub applied: u64,
    /// Records skipped because they were already applied.
    pub skipped: u64,
    /// Events the projector refused as invalid (logged, not applied).
    pub invalid: u64,
    /// Records that are not envelopes (logged, not applied).
    pub undecodable: u64,
    /// Per topic, the end offsets the rebuild read up to.
    pub end_offsets: BTreeMap<String, BTreeMap<i32, i64>>,
}

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The projector applied it.
    Applied,
    /// Its position was already applied.
    Skipped,
}

/// Applies `record` unless its position is already applied; marks the
/// position (in memory) when it was.
pub(crate) async fn apply_record(
    store: &dyn StateStore,
    projector: &dyn Projector,
    positions: &mut AppliedPositions,
    record: &Record,
    envelope: &tracechain_domain::Envelope,
) -> Result<Applied, ProjectionError> {
    if let Some(applied) = positions
        .applied(store, &record.topic, record.partition)
        .await?
        && record.offset <= applied
    {
        return Ok(Applied::Skipped);
    }
    projector.apply(store, envelope).await?;
    positions.mark(&record.topic, record.partition, record.offset);
    Ok(Applied::Applied)
}

/// Records per poll while rebuilding.
const REBUILD_BATCH: usize = 1000;
/// Store retries per record while rebuilding.
const STORE_ATTEMPTS: u32 = 5;

/// Rebuilds `projector`'s state in `store` from every partition of its
/// topics, from offset 0 up to the end offsets found at the start.
///
/// With `clear`, the store's namespace is emptied first (a full rebuild);
/// without, the store is rebuilt in place (after it lost its state). The completeness marker is
/// removed first and written last, so a rebuild cut short is redone. Either
/// way every event is replayed (projectors are idempotent): positions found
/// in a store that lost its state cannot be trusted.
pub async fn rebuild(
    bus: &dyn EventBus,
    store: &dyn StateStore,
    projector: &dyn Projector,
    positions: &mut AppliedPositions,
    clear: bool,
) -> Result<RebuildReport, RebuildError> {
    let name = projector.name().to_owned();
    let store_error = |source| RebuildError::Store {
        projection: name.clone(),
        source,
    };
    let marker = AppliedPositions::marker_key(&name);
    store.delete(&marker).await.map_err(store_error)?;
    if clear {
        let removed = store.clear_namespace().await.map_err(store_error)?;
        tracing::info!(projection = %name, removed, "Cleared the store for a full rebuild");
    }
    // Replay everything from offset 0, whatever positions the store holds:
    // a store that lost its state may have been handed positions since by a
    // consumer still draining its backlog. Projectors are idempotent.
    positions.reset_for_rebuild();

    let mut report = RebuildReport::default();
    for topic in projector.topics() {
        let bus_error = |source| RebuildError::Bus {
            projection: name.clone(),
            topic: topic.clone(),
            source,
        };
        let ends = bus.end_offsets(&topic).await.map_err(bus_error)?;
        let starts: BTreeMap<i32, i64> = ends
            .iter()
            .filter(|(_, end)| **end > 0)
            .map(|(partition, _)| (*partition, 0))
            .collect();
        report.end_offsets.insert(topic.clone(), ends.clone());
        if starts.is_empty() {
            continue;
        }
        let mut reader = bus.reader(&topic, &starts).await.map_err(bus_error)?;
        while !reached(&reader.positions(), &ends) {
            let batch = reader
                .poll_batch(REBUILD_BATCH, Duration::from_millis(500))
                .await
                .map_err(bus_error)?;
            for record in batch {
                let Some(end) = ends.get(&record.partition) else {
                    continue;
                };
                if record.offset >= *end {
                    continue;
                }
                apply_with_retries(store, projector, positions, &record, &mut report)
                    .await
                    .map_err(store_error)?;
            }
            positions.persist(store).await.map_err(store_error)?;
        }
    }
    store.flush().await.map_err(store_error)?;
    // From here on the cache holds every replayed position, and positions in
    // the store are ours again.
    positions.trust_store_again();
    store.put(&marker, b"1").await.map_err(store_error)?;
    store.flush().await.map_err(store_error)?;
    tracing::info!(projection = %name, ?report, "Projection rebuilt");
    Ok(report)
}

fn reached(positions: &BTreeMap<i32, i64>, ends: &BTreeMap<i32, i64>) -> bool {
    ends.iter()
        .all(|(partition, end)| *end == 0 || positions.get(partition).is_some_and(|p| p >= end))
}

async fn apply_with_retries(
    store: &dyn StateStore,
    projector: &dyn Projector,
    positions: &mut AppliedPositions,
    record: &Record,
    report: &mut RebuildReport,
) -> Result<(), StoreError> {
    let envelope = match record.envelope() {
        Ok(envelope) => envelope,
        Err(error) => {
            report.undecodable += 1;
            tracing::warn!(%error, topic = %record.topic, partition = record.partition,
                offset = record.offset, "Rebuild skipped an undecodable record");
            return Ok(());
        }
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        match apply_record(store, projector, positions, record, &envelope).await {
            Ok(Applied::Applied) => {
                report.applied += 1;
                return Ok(());
            }
            Ok(Applied::Skipped) => {
                report.skipped += 1;
                return Ok(());
            }
            Err(ProjectionError::Invalid(reason)) => {
                report.invalid += 1;
                // Mark it so the live consumer does not try it again either.
                positions.mark(&record.topic, record.partition, record.offset);
                tracing::warn!(%reason, event_id = %envelope.id(), "Rebuild skipped an invalid event");
                return Ok(());
            }
            Err(ProjectionError::Store(error)) if attempt >= STORE_ATTEMPTS => return Err(error),
            Err(ProjectionError::Store(error)) => {
                tracing::warn!(%error, attempt, "Store failed during rebuild; retrying");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
        }
    }
}
