//! The bus interfaces every service codes against: [`EventBus`] (publish,
//! administer, open consumers), [`GroupConsumer`] (consume as a group with
//! explicit commits) and [`PartitionReader`] (read from explicit positions).
//!
//! Both implementations (`KafkaBus`, `EmbeddedBus`) keep the same contract,
//! checked by one conformance suite (`tests/conformance`):
//!
//! - a publish resolves only once the record is durable: acknowledged by the
//!   broker with `acks=all`, or written and fsync'd by the embedded log; a
//!   publish stream yields a record's position under the same condition;
//! - keys map to partitions with Kafka's Java murmur2 partitioner, and records
//!   of one partition are delivered in offset order;
//! - a group consumer starts from its group's committed offset (earliest when
//!   none), commits only what it is told was handled, never commits for a
//!   partition it no longer owns, and hands a partition to another member
//!   only at its next poll or close — so a caller that commits before polling
//!   again never has an event it committed handled by another member;
//! - topics are created only by `ensure_topics`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
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

/// One event for [`EventBus::publish_stream`]: its partitioning key and its
/// envelope, owned (given away, e.g. received from a channel) or borrowed
/// (kept by the publisher, e.g. to publish it again after a failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent<'a> {
    /// The partitioning key.
    pub key: Cow<'a, [u8]>,
    /// The envelope.
    pub envelope: Cow<'a, Envelope>,
}

impl<'a> StreamEvent<'a> {
    /// An event the publisher keeps.
    pub fn borrowed(key: &'a [u8], envelope: &'a Envelope) -> StreamEvent<'a> {
        StreamEvent {
            key: Cow::Borrowed(key),
            envelope: Cow::Borrowed(envelope),
        }
    }
}

impl StreamEvent<'static> {
    /// An event given away to the stream.
    pub fn owned(key: Vec<u8>, envelope: Envelope) -> StreamEvent<'static> {
        StreamEvent {
            key: Cow::Owned(key),
            envelope: Cow::Owned(envelope),
        }
    }
}

impl From<(Vec<u8>, Envelope)> for StreamEvent<'static> {
    fn from((key, envelope): (Vec<u8>, Envelope)) -> StreamEvent<'static> {
        StreamEvent::owned(key, envelope)
    }
}

impl<'a> From<&'a (Vec<u8>, Envelope)> for StreamEvent<'a> {
    fn from((key, envelope): &'a (Vec<u8>, Envelope)) -> StreamEvent<'a> {
        StreamEvent::borrowed(key, envelope)
    }
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

    /// Publishes each event of `events` as it comes and yields one outcome
    /// per record, in input order: its position once it is durable, or why
    /// it is not.
    ///
    /// At most `window` records (at least 1) are in flight, taken from
    /// `events` and not yet durable (nor failed): the next record is taken
    /// as soon as any is acknowledged. So one publisher keeps its window
    /// full, where successive [`publish_batch`](Self::publish_batch) calls
    /// each wait for their last acknowledgement before sending more.
    /// Outcomes are yielded in input order, so those of records durable
    /// before an earlier one wait for it: at most twice `window` records
    /// are taken and not yet yielded.
    ///
    /// - Records of one key keep their order.
    /// - A record fails alone: one whose envelope cannot be encoded, that the
    ///   bus refuses or that is not acknowledged yields its error, and the
    ///   stream goes on with the next, so a later record of the same key may
    ///   be published after the gap. A publisher that wants no gap stops at
    ///   the first error by dropping the stream: records taken and not yet
    ///   answered may or may not be published then (as when a `publish`
    ///   future is dropped).
    /// - Every record carries the trace context of the span current when
    ///   this method is called (the stream is polled from wherever its
    ///   caller is).
    /// - Nothing is taken from `events` before the returned stream is
    ///   polled; it ends after the outcome of the last record of `events`.
    fn publish_stream<'a>(
        &'a self,
        topic: &'a str,
        events: BoxStream<'a, StreamEvent<'a>>,
        window: usize,
    ) -> BoxStream<'a, Result<Position, BusError>>;

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
