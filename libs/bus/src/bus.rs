//! The bus interfaces every service codes against: [`EventBus`] (publish,
//! administer, open consumers), [`GroupConsumer`] (consume as a group with
//! explicit commits) and [`PartitionReader`] (read from explicit positions).
//!
//! Both implementations (`KafkaBus`, `EmbeddedBus`) keep the same contract,
//! checked by one conformance suite (`tests/conformance`):
//!
//! - a publish resolves only once the record is durable: acknowledged by the
//!   broker with `acks=all`, or written and fsync'd by the embedded log;
//! - keys map to partitions with Kafka's Java murmur2 partitioner, and records
//!   of one partition are delivered in offset order;
//! - a group consumer starts from its group's committed offset (earliest when
//!   none), commits only what it is told was handled, never commits for a
//!   partition it no longer owns, and hands a partition to another member
//!   only at its next poll or close — so a caller that commits before polling
//!   again never has an event it committed handled by another member;
//! - topics are created only by `ensure_topics`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use tracechain_domain::Envelope;

use crate::error::BusError;
use crate::headers::Headers;
use crate::record::{Position, Record};
use crate::topic::TopicSpec;

/// A topic and one of its partitions.
pub type TopicPartition = (String, i32);

/// Settings of one group consumer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerOptions {
    /// How long the group waits for a silent member before giving its
    /// partitions to others (Kafka's `session.timeout.ms`; short means fast
    /// joins and fast failover). `None`: the bus's configured default. The
    /// embedded bus has no sessions: a member leaves when closed or dropped.
    pub session_timeout: Option<Duration>,
    /// Extra librdkafka properties for this consumer (ignored by the embedded bus).
    pub extra: BTreeMap<String, String>,
}

/// The event bus. Object-safe: services hold an `Arc<dyn EventBus>`.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Creates each topic that does not exist yet; existing ones are left
    /// alone (a different partition count is logged, never changed).
    async fn ensure_topics(&self, specs: &[TopicSpec]) -> Result<(), BusError>;

    /// Publishes `envelope` under `key` and resolves once it is durable,
    /// with the position it was given.
    async fn publish(
        &self,
        topic: &str,
        key: &[u8],
        envelope: &Envelope,
    ) -> Result<Position, BusError>;

    /// Publishes every `(key, envelope)` and resolves once all are durable,
    /// with their positions in input order. Records of one key keep their
    /// order. On failure the error lists which records were not acknowledged
    /// (the others were).
    async fn publish_batch(
        &self,
        topic: &str,
        events: &[(Vec<u8>, Envelope)],
    ) -> Result<Vec<Position>, BusError>;

    /// Publishes a non-envelope payload (ledger blocks, dead letters) with the
    /// given headers, and resolves once it is durable. The current span's
    /// `traceparent` is added unless `headers` has one.
    async fn publish_raw(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        headers: Headers,
        payload: &[u8],
    ) -> Result<Position, BusError>;

    /// Joins consumer group `group` on `topics`. The consumer reads from the
    /// group's committed offsets (from the earliest record where there are
    /// none) and commits only through [`GroupConsumer::commit`].
    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
        options: ConsumerOptions,
    ) -> Result<Box<dyn GroupConsumer>, BusError>;

    /// Reads `topic` from explicit positions, without a group: `start` maps a
    /// partition to the next offset to read; partitions not named are not read.
    async fn reader(
        &self,
        topic: &str,
        start: &BTreeMap<i32, i64>,
    ) -> Result<Box<dyn PartitionReader>, BusError>;

    /// The next offset to be written in each partition (the high watermark).
    async fn end_offsets(&self, topic: &str) -> Result<BTreeMap<i32, i64>, BusError>;

    /// How many partitions `topic` has.
    async fn partition_count(&self, topic: &str) -> Result<i32, BusError>;

    /// Waits until every record handed to the bus is acknowledged, or `timeout`.
    async fn flush(&self, timeout: Duration) -> Result<(), BusError>;

    /// Checks the bus answers within `timeout` (readiness).
    async fn ping(&self, timeout: Duration) -> Result<(), BusError>;
}

/// A member of a consumer group.
///
/// Cancel-safe: dropping a `poll_batch` future loses nothing (the
/// records come back at the next poll). Dropping the consumer without
/// [`close`](Self::close) is a crash: uncommitted records are redelivered to
/// whoever gets their partitions.
#[async_trait]
pub trait GroupConsumer: Send + Sync {
    /// Up to `max` records, waiting up to `timeout` for the first one; empty
    /// when none came. Records of one partition are in offset order. This is
    /// where partitions are handed over in a rebalance: commit what was
    /// handled before calling it again.
    async fn poll_batch(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>, BusError>;

    /// Commits, synchronously, the offset after the highest handled position
    /// of each partition in `handled`. Positions of partitions this member no
    /// longer owns are skipped and logged. Returns the positions committed
    /// (the highest per partition).
    async fn commit(&mut self, handled: &[Position]) -> Result<Vec<Position>, BusError>;

    /// The partitions this member currently owns.
    async fn assignment(&self) -> Result<Vec<TopicPartition>, BusError>;

    /// Leaves the group cleanly so its partitions move at once; commits
    /// nothing more (commit what was handled first). Later calls fail with
    /// [`BusError::Closed`].
    async fn close(&mut self) -> Result<(), BusError>;
}

/// Reads partitions of one topic from explicit positions, without a group.
#[async_trait]
pub trait PartitionReader: Send {
    /// Up to `max` records, waiting up to `timeout` for the first one.
    /// Records of one partition are in offset order.
    async fn poll_batch(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>, BusError>;

    /// The next offset to read in each partition read.
    fn positions(&self) -> BTreeMap<i32, i64>;
}
