//! Writing blocks while elected: input records → blocks → `ledger.blocks`
//! → the store, as a pipeline.
//!
//! - Input: one reader per input topic, from the accepted head's positions,
//!   feeding one channel.
//! - Cutting: events are taken in the order they arrive; a block is cut at
//!   `block_max_events` events, `block_max_bytes` bytes of events, or when
//!   its first event has waited `block_max_wait`. Its header records every
//!   input position after the last record taken (skipped records included).
//! - Publishing: up to `max_blocks_in_flight` blocks await the broker's
//!   acknowledgement at once; acknowledgements come back in order (one
//!   partition, idempotent producer).
//! - Confirming: a block is accepted iff its offset is the one right after
//!   the last accepted record; then it goes to the persister. Anything else
//!   ends the term (see [`crate::engine`]).
//! - Persisting: a task appends confirmed blocks to the store, several per
//!   fsync when it falls behind.
//! - Tracing: an event whose record carries a W3C `traceparent` gets a
//!   `ledger.anchor` span in the publisher's trace, open from the moment it
//!   is taken until its block is confirmed, so one scan can be followed
//!   from the phone's request to the block that anchors it.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracechain_bus::{BusError, Headers, PartitionReader, Position, Record};
use tracechain_chain::{Block, ChainVerifier, Positions};
use uuid::Uuid;

use super::{CaughtUp, Engine, EngineError, EngineStatus};
use crate::store::{BlockStore, StoreError};

/// Records per input poll.
const INPUT_POLL_RECORDS: usize = 2000;
/// How long an input poll waits.
const INPUT_POLL_WAIT: std::time::Duration = std::time::Duration::from_millis(50);
/// Confirmed blocks waiting for the persister, at most.
const PERSIST_QUEUE: usize = 64;

/// The content type of a block record in `ledger.blocks`.
pub const BLOCK_CONTENT_TYPE: &str = "application/vnd.tracechain.block";

/// A block, its publication's outcome, and the spans of its traced events
/// (closed when the outcome is handled).
type Published = (Block, Result<Position, BusError>, Vec<tracing::Span>);

/// The block being filled.
#[derive(Debug, Default)]
struct Pending {
    events: Vec<Vec<u8>>,
    ids: Vec<Uuid>,
    bytes: usize,
    since: Option<Instant>,
    /// `ledger.anchor` spans of the events that arrived with a trace context.
    spans: Vec<tracing::Span>,
}

/// Ids anchored in blocks that are sealed but not stored yet (and in the
/// pending block): the store cannot answer for them.
#[derive(Debug, Default)]
struct RecentIds {
    by_height: VecDeque<(u64, Vec<Uuid>)>,
    set: HashSet<Uuid>,
}

impl RecentIds {
    fn forget_stored(&mut self, stored_height: Option<u64>) {
        let Some(stored) = stored_height else { return };
        while self.by_height.front().is_some_and(|(h, _)| *h <= stored) {
            if let Some((_, ids)) = self.by_height.pop_front() {
                for id in ids {
                    self.set.remove(&id);
                }
            }
        }
    }
}

/// One term as writer.
struct Term<'a> {
    engine: &'a Engine,
    verifier: ChainVerifier,
    positions: Positions,
    pending: Pending,
    recent: RecentIds,
    in_flight: FuturesOrdered<BoxFuture<'static, Published>>,
    expected_offset: i64,
    persist: mpsc::Sender<(Block, i64)>,
}

/// How a term ended.
enum End {
    /// Stop, or the election was lost.
    Done,
    /// The topic held something unexpected: follow, then maybe write again.
    Fenced,
}

impl Engine {
    pub(crate) async fn write(
        &self,
        caught_up: CaughtUp,
        elected: &watch::Receiver<bool>,
        stop: &CancellationToken,
    ) -> Result<(), EngineError> {
        let inputs = stop.child_token();
        let _stop_inputs = inputs.clone().drop_guard();
        let head_positions = self
            .store
            .head()
            .map(|h| h.header.positions.clone())
            .unwrap_or_default();
        let (input_tx, mut input_rx) = mpsc::channel(4);
        let mut positions = Positions::new();
        for topic in &self.config.input_topics {
            let partitions = self.bus.partition_count(topic).await?;
            let start: BTreeMap<i32, i64> = (0..partitions)
                .map(|p| {
                    let at = head_positions
                        .get(topic)
                        .and_then(|m| m.get(&p))
                        .copied()
                        .unwrap_or(0);
                    (p, at)
                })
                .collect();
            let reader = self.bus.reader(topic, &start).await?;
            positions.insert(topic.clone(), start);
            tokio::spawn(read_input(reader, input_tx.clone(), inputs.clone()));
        }
        drop(input_tx);

        let (persist_tx, persist_rx) = mpsc::channel(PERSIST_QUEUE);
        let persister = tokio::spawn(persist(
            Arc::clone(&self.store),
            persist_rx,
            Arc::clone(&self.status),
        ));
        let mut term = Term {
            engine: self,
            verifier: caught_up.verifier,
            positions,
            pending: Pending::default(),
            recent: RecentIds::default(),
            in_flight: FuturesOrdered::new(),
            expected_offset: caught_up.next_offset,
            persist: persist_tx,
        };
        let mut elected = elected.clone();
        let outcome = term.run(&mut input_rx, &mut elected, stop).await;
        inputs.cancel();
        // Blocks already handed to the broker: store the ones accepted, so a
        // graceful stop leaves the store at the topic's end.
        let drained = term.drain().await;
        drop(term);
        let persisted = finish_persister(persister).await;
        persisted?;
        match (outcome, drained) {
            (Err(error), _) | (Ok(_), Err(error)) => Err(error),
            (Ok(End::Fenced), _) | (Ok(_), Ok(End::Fenced)) => {
                self.status.fenced.inc();
                Ok(())
            }
            (Ok(End::Done), Ok(End::Done)) => Ok(()),
        }
    }
}

async fn finish_persister(
    persister: JoinHandle<Result<(), StoreError>>,
) -> Result<(), EngineError> {
    match persister.await {
        Ok(result) => Ok(result?),
        Err(error) => Err(EngineError::Resume(format!(
            "the persister task failed: {error}"
        ))),
    }
}

impl Term<'_> {
    async fn run(
        &mut self,
        input: &mut mpsc::Receiver<Result<Vec<Record>, BusError>>,
        elected: &mut watch::Receiver<bool>,
        stop: &CancellationToken,
    ) -> Result<End, EngineError> {
        let max_wait = self.engine.config.block_max_wait;
        let max_in_flight = self.engine.config.max_blocks_in_flight.max(1);
        loop {
            let deadline = self.pending.since.map(|t| t + max_wait);
            let room = self.in_flight.len() < max_in_flight;
            tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(End::Done),
                changed = elected.changed() => {
                    if changed.is_err() || !*elected.borrow() {
                        tracing::info!("No longer the elected writer");
                        return Ok(End::Done);
                    }
                }
                Some(published) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    if let End::Fenced = self.confirm(published).await? {
                        return Ok(End::Fenced);
                    }
                }
                () = sleep_until_opt(deadline), if room && deadline.is_some() => {
                    self.seal()?;
                }
                batch = input.recv(), if room => {
                    let records = match batch {
                        Some(Ok(records)) => records,
                        Some(Err(error)) => return Err(error.into()),
                        None => return Err(EngineError::Resume("the input readers stopped".to_owned())),
                    };
                    if let End::Fenced = self.take(records).await? {
                        return Ok(End::Fenced);
                    }
                }
            }
        }
    }

    /// Adds input records to the pending block, cutting blocks as they fill.
    async fn take(&mut self, records: Vec<Record>) -> Result<End, EngineError> {
        let stored = self.engine.store.head().map(|h| h.header.height);
        self.recent.forget_stored(stored);
        let mut decoded = Vec::with_capacity(records.len());
        for record in &records {
            match record.envelope() {
                Ok(envelope) => match envelope.canonical_bytes() {
                    Ok(bytes) => decoded.push(Some((envelope.id(), bytes))),
                    Err(error) => {
                        self.skip_invalid(record, &error.to_string());
                        decoded.push(None);
                    }
                },
                Err(error) => {
                    self.skip_invalid(record, &error.to_string());
                    decoded.push(None);
                }
            }
        }
        let ids: Vec<Uuid> = decoded.iter().flatten().map(|(id, _)| *id).collect();
        let store = Arc::clone(&self.engine.store);
        let anchored = tokio::task::spawn_blocking(move || store.anchored_among(&ids))
            .await
            .map_err(|e| EngineError::Resume(format!("store task failed: {e}")))??;
        let limits = (
            self.engine.config.block_max_events.max(1),
            self.engine.config.block_max_bytes.max(1),
        );
        for (record, event) in records.iter().zip(decoded) {
            if let Some((id, bytes)) = event {
                if anchored.contains(&id) || self.recent.set.contains(&id) {
                    self.engine.status.events_duplicate.inc();
                    tracing::debug!(event_id = %id, "Skipping an event that is already anchored");
                } else {
                    let full = self.pending.events.len() >= limits.0
                        || (!self.pending.events.is_empty()
                            && self.pending.bytes + bytes.len() > limits.1);
                    if full && let End::Fenced = self.seal_with_room().await? {
                        return Ok(End::Fenced);
                    }
                    if record.headers.get("traceparent").is_some() {
                        let span = tracing::info_span!(
                            "ledger.anchor",
                            event_id = %id,
                            block_height = tracing::field::Empty,
                        );
                        record.headers.set_trace_parent_of(&span);
                        self.pending.spans.push(span);
                    }
                    self.pending.bytes += bytes.len();
                    self.pending.events.push(bytes);
                    self.pending.ids.push(id);
                    self.pending.since.get_or_insert_with(Instant::now);
                    self.recent.set.insert(id);
                }
            }
            advance(&mut self.positions, record);
        }
        let full = self.pending.events.len() >= limits.0 || self.pending.bytes >= limits.1;
        if full {
            return self.seal_with_room().await;
        }
        Ok(End::Done)
    }

    fn skip_invalid(&self, record: &Record, reason: &str) {
        self.engine.status.events_invalid.inc();
        tracing::warn!(
            topic = %record.topic, partition = record.partition, offset = record.offset,
            %reason, "Skipping an input record that is not an event envelope"
        );
    }

    /// Seals the pending block once there is room in flight.
    async fn seal_with_room(&mut self) -> Result<End, EngineError> {
        let max_in_flight = self.engine.config.max_blocks_in_flight.max(1);
        while self.in_flight.len() >= max_in_flight {
            let Some(published) = self.in_flight.next().await else {
                break;
            };
            if let End::Fenced = self.confirm(published).await? {
                return Ok(End::Fenced);
            }
        }
        self.seal()?;
        Ok(End::Done)
    }

    /// Seals the pending block (if it has events) and publishes it.
    fn seal(&mut self) -> Result<(), EngineError> {
        if self.pending.events.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let block = self.verifier.seal_next(
            pending.events,
            self.positions.clone(),
            OffsetDateTime::now_utc(),
            &self.engine.key,
        )?;
        let height = block.header().height;
        self.recent.by_height.push_back((height, pending.ids));
        for span in &pending.spans {
            span.record("block_height", height);
        }
        let spans = pending.spans;
        let bus = Arc::clone(&self.engine.bus);
        let topic = self.engine.config.blocks_topic.clone();
        self.in_flight.push_back(Box::pin(async move {
            let mut headers = Headers::new();
            headers.insert("content-type", BLOCK_CONTENT_TYPE);
            headers.insert("block-height", height.to_string());
            let record = block.to_record();
            let result = bus
                .publish_raw(&topic, Some(&height.to_be_bytes()), headers, &record)
                .await;
            (block, result, spans)
        }));
        Ok(())
    }

    /// Handles one acknowledgement (or failure) of a published block.
    async fn confirm(&mut self, (block, result, _spans): Published) -> Result<End, EngineError> {
        let height = block.header().height;
        let position = match result {
            Ok(position) => position,
            Err(error) => {
                // It may or may not have landed: the follower will see.
                tracing::warn!(height, %error, "Publishing a block failed; re-reading the chain");
                return Ok(End::Fenced);
            }
        };
        if position.offset != self.expected_offset {
            tracing::warn!(
                height,
                offset = position.offset,
                expected = self.expected_offset,
                "Another record reached the blocks topic first; re-reading the chain"
            );
            return Ok(End::Fenced);
        }
        self.expected_offset += 1;
        if self.persist.send((block, position.offset)).await.is_err() {
            return Err(EngineError::Resume("the persister stopped".to_owned()));
        }
        Ok(End::Done)
    }

    /// Waits for the blocks still in flight and confirms them.
    async fn drain(&mut self) -> Result<End, EngineError> {
        let mut end = End::Done;
        while let Some(published) = self.in_flight.next().await {
            if let End::Done = end {
                end = self.confirm(published).await?;
            }
        }
        Ok(end)
    }
}

fn advance(positions: &mut Positions, record: &Record) {
    positions
        .entry(record.topic.clone())
        .or_default()
        .insert(record.partition, record.offset + 1);
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Polls one input reader into the channel until `stop`.
async fn read_input(
    mut reader: Box<dyn PartitionReader>,
    out: mpsc::Sender<Result<Vec<Record>, BusError>>,
    stop: CancellationToken,
) {
    loop {
        let polled = tokio::select! {
            () = stop.cancelled() => return,
            polled = reader.poll_batch(INPUT_POLL_RECORDS, INPUT_POLL_WAIT) => polled,
        };
        let failed = polled.is_err();
        match polled {
            Ok(records) if records.is_empty() => continue,
            other => {
                tokio::select! {
                    () = stop.cancelled() => return,
                    sent = out.send(other) => if sent.is_err() { return },
                }
            }
        }
        if failed {
            return;
        }
    }
}

/// Appends confirmed blocks to the store, coalescing when behind.
async fn persist(
    store: Arc<BlockStore>,
    mut confirmed: mpsc::Receiver<(Block, i64)>,
    status: Arc<EngineStatus>,
) -> Result<(), StoreError> {
    while let Some(first) = confirmed.recv().await {
        let mut batch = vec![first];
        while batch.len() < PERSIST_QUEUE {
            match confirmed.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let blocks = batch.len() as u64;
        let events: u64 = batch.iter().map(|(b, _)| b.header().count).sum();
        let store_for_task = Arc::clone(&store);
        tokio::task::spawn_blocking(move || store_for_task.append(batch))
            .await
            .map_err(|e| StoreError::Corrupt(format!("the append task failed: {e}")))??;
        status.blocks_written.inc_by(blocks);
        status.events_anchored.inc_by(events);
        if let Some(head) = store.head() {
            status.height.set(head.header.height as i64);
        }
    }
    Ok(())
}
