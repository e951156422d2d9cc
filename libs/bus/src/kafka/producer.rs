//! Publishing on Kafka: hand records to the idempotent producer and follow
//! each one's delivery report.
//!
//! A record counts as published only when its delivery report says the
//! broker acknowledged it (`acks=all`); a report of failure, a full queue
//! that does not drain within the delivery timeout, a report still missing
//! past the delivery timeout, or a producer dropped before reporting are
//! failures. Records are enqueued in order, and the idempotent producer keeps
//! that order per partition across retries.
//!
//! [`InFlight`] holds what one publisher handed over and has not been told
//! the outcome of yet, reads the reports (each as it comes, or the oldest
//! first: see [`Reports`]), and gives the outcomes in the order the records
//! were handed over. A batch ([`send_all`]) and a publish stream (`stream`)
//! are both built on it.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::time::Sleep;

use crate::deadline::deadline_after;
use crate::error::BusError;
use crate::outgoing::WireRecord;

use super::context::BusContext;

/// The outcome of one record: `(partition, offset)` or why it failed
/// ([`BusError::Publish`] when the producer did not get it acknowledged).
pub(crate) type Delivery = Result<(i32, i64), BusError>;

/// How long after the delivery timeout a missing report counts as a failure.
const REPORT_GRACE: Duration = Duration::from_millis(500);

/// How long a publisher whose records are not in the producer's full queue
/// (it is full of other publishers' records) waits before trying again.
pub(crate) const QUEUE_FULL_RETRY: Duration = Duration::from_millis(2);

fn headers_of(record: &WireRecord<'_>) -> OwnedHeaders {
    record.fold_headers(
        OwnedHeaders::new_with_capacity(record.header_count()),
        |hs, key, value| {
            hs.insert(Header {
                key,
                value: Some(value),
            })
        },
    )
}

/// The producer's queue had no room for a record; it was not handed over.
#[derive(Debug)]
pub(crate) struct QueueFull;

/// A record handed over, as [`InFlight`] keeps it until its outcome is given.
enum Slot {
    /// With the producer, no report yet.
    Waiting {
        /// When a missing report becomes a failure.
        until: Instant,
        /// The report, when followed as the oldest ([`Reports::Oldest`];
        /// with [`Reports::Each`] it is in [`InFlight::reports`]).
        report: Option<DeliveryFuture>,
    },
    /// Its outcome is known.
    Done(Delivery),
}

/// How an [`InFlight`] follows delivery reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reports {
    /// Only the oldest record's report wakes the publisher; the others are
    /// read when their turn comes. For a batch, which waits for all of them
    /// anyway: one wake-up per burst of reports, not one per report.
    Oldest,
    /// Each report wakes the publisher as it comes: for a stream, which
    /// sends its next record as soon as any is acknowledged.
    Each,
}

/// A delivery report tagged with its record's sequence number.
struct Report {
    seq: usize,
    report: DeliveryFuture,
}

impl Future for Report {
    type Output = (
        usize,
        Result<OwnedDeliveryResult, futures::channel::oneshot::Canceled>,
    );

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let seq = self.seq;
        self.report.poll_unpin(cx).map(|result| (seq, result))
    }
}

/// The records one publisher handed over and has not been given the outcome
/// of, oldest first.
///
/// Invariants:
/// - outcomes come out in the order records went in, one each;
/// - `unacknowledged` counts the records with the producer whose report was
///   not read (nor their deadline passed). Following [`Reports::Each`],
///   every report is read as it comes and kept until the records before it
///   are answered, so a publisher can keep a window of records in flight
///   however the reports of different partitions interleave;
/// - a missing report is bounded by one timer, armed for the oldest
///   record's deadline and re-armed only when it fires before the current
///   oldest record's (deadlines grow with sending order): no timer per
///   record. The oldest record is the first that can time out, its deadline
///   being the earliest.
pub(crate) struct InFlight {
    /// The topic, for errors.
    topic: String,
    /// The producer's `message.timeout.ms`, for errors.
    delivery_timeout: Duration,
    /// How long after sending a record without a report counts as failed.
    bound: Duration,
    /// Records without their outcome given, oldest first; `slots[i]` has
    /// sequence number `first + i`.
    slots: VecDeque<Slot>,
    /// The sequence number of `slots[0]`.
    first: usize,
    /// How reports are followed.
    follow: Reports,
    /// With [`Reports::Each`], the reports not come yet (or come after
    /// their record timed out).
    reports: FuturesUnordered<Report>,
    /// Records in `slots` handed to the producer whose outcome is not known.
    unacknowledged: usize,
    /// Wakes the publisher at (or before) the oldest record's deadline.
    timer: Option<Pin<Box<Sleep>>>,
}

impl InFlight {
    /// An empty window for records to `topic`, with room for `capacity`
    /// records before it grows.
    pub(crate) fn new(
        topic: &str,
        delivery_timeout: Duration,
        capacity: usize,
        follow: Reports,
    ) -> InFlight {
        InFlight {
            topic: topic.to_owned(),
            delivery_timeout,
            // librdkafka enforces `message.timeout.ms` itself, but reports
            // late (seconds after it) when the broker is gone; past this
            // bound a record is reported as failed. It may still be written
            // later: publishing is at least once, and consumers deduplicate
            // by event id.
            bound: delivery_timeout.saturating_add(REPORT_GRACE),
            // Sized once: growing it record by record reallocates a buffer
            // of up to tens of kilobytes several times per batch, and each
            // large allocation makes glibc's malloc consolidate every small
            // free chunk.
            slots: VecDeque::with_capacity(capacity),
            first: 0,
            follow,
            reports: FuturesUnordered::new(),
            unacknowledged: 0,
            timer: None,
        }
    }

    /// How many records have no outcome given yet.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether every record's outcome was given.
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// How many records are with the producer, their outcome not known
    /// (following [`Reports::Oldest`], known only as the oldest is answered).
    pub(crate) fn unacknowledged(&self) -> usize {
        self.unacknowledged
    }

    /// Hands `record` to `producer`. A full queue leaves it out (try again
    /// once there is room); any other refusal is the record's failure.
    pub(crate) fn send(
        &mut self,
        producer: &FutureProducer<BusContext>,
        record: WireRecord<'_>,
    ) -> Result<(), QueueFull> {
        let mut to_send = FutureRecord::to(&self.topic)
            .payload(record.payload)
            .headers(headers_of(&record));
        if let Some(key) = record.key {
            to_send = to_send.key(key);
        }
        match producer.send_result(to_send) {
            Ok(report) => {
                let until = deadline_after(self.bound);
                let report = match self.follow {
                    Reports::Oldest => Some(report),
                    Reports::Each => {
                        let seq = self.first + self.slots.len();
                        self.reports.push(Report { seq, report });
                        None
                    }
                };
                self.slots.push_back(Slot::Waiting { until, report });
                self.unacknowledged += 1;
                Ok(())
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => Err(QueueFull),
            Err((error, _)) => {
                self.fail(error.to_string());
                Ok(())
            }
        }
    }

    /// Adds a record that failed before reaching the producer, with `error`.
    pub(crate) fn refuse(&mut self, error: BusError) {
        self.slots.push_back(Slot::Done(Err(error)));
    }

    /// Adds a record the producer did not take, failed with `reason`.
    pub(crate) fn fail(&mut self, reason: String) {
        let error = self.publish_error(None, reason);
        self.refuse(error);
    }

    /// A failure to report for the record that met a full queue for the
    /// whole delivery timeout.
    pub(crate) fn queue_stayed_full(&mut self) {
        self.fail(format!(
            "the producer's queue stayed full for the delivery timeout of {:?}",
            self.delivery_timeout
        ));
    }

    fn publish_error(&self, partition: Option<i32>, reason: String) -> BusError {
        BusError::Publish {
            topic: self.topic.clone(),
            partition,
            reason,
        }
    }

    fn outcome(
        &self,
        report: Result<OwnedDeliveryResult, futures::channel::oneshot::Canceled>,
    ) -> Delivery {
        match report {
            Ok(Ok(delivery)) => Ok((delivery.partition, delivery.offset)),
            Ok(Err((error, message))) => {
                // Negative until the partitioner ran.
                let partition = Some(message.partition()).filter(|p| *p >= 0);
                Err(self.publish_error(partition, error.to_string()))
            }
            Err(_) => Err(self.publish_error(
                None,
                "the producer was dropped before reporting delivery".to_owned(),
            )),
        }
    }

    /// Takes every report that came, and registers for the next (with
    /// [`Reports::Each`]; nothing to do with [`Reports::Oldest`]).
    pub(crate) fn take_reports(&mut self, cx: &mut Context<'_>) {
        while let Poll::Ready(Some((seq, report))) = self.reports.poll_next_unpin(cx) {
            // Below `first`: its record timed out and was answered already.
            let Some(index) = seq.checked_sub(self.first) else {
                continue;
            };
            let outcome = self.outcome(report);
            if let Some(slot @ Slot::Waiting { .. }) = self.slots.get_mut(index) {
                *slot = Slot::Done(outcome);
                self.unacknowledged -= 1;
            }
        }
    }

    /// The outcome of the oldest record once it is known; `None` when no
    /// record is left.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        self.take_reports(cx);
        let until = match self.slots.pop_front() {
            None => return Poll::Ready(None),
            Some(Slot::Done(outcome)) => {
                self.first += 1;
                return Poll::Ready(Some(outcome));
            }
            Some(Slot::Waiting {
                until,
                report: Some(mut report),
            }) => match report.poll_unpin(cx) {
                Poll::Ready(result) => {
                    self.first += 1;
                    self.unacknowledged -= 1;
                    return Poll::Ready(Some(self.outcome(result)));
                }
                Poll::Pending => {
                    let report = Some(report);
                    self.slots.push_front(Slot::Waiting { until, report });
                    until
                }
            },
            Some(
                waiting @ Slot::Waiting {
                    report: None,
                    until,
                },
            ) => {
                self.slots.push_front(waiting);
                until
            }
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until.into())));
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= until {
                // Its report, if it ever comes, is dropped (`take_reports`).
                self.slots.pop_front();
                self.first += 1;
                self.unacknowledged -= 1;
                let reason = format!(
                    "not acknowledged within the delivery timeout of {:?}",
                    self.delivery_timeout
                );
                return Poll::Ready(Some(Err(self.publish_error(None, reason))));
            }
            // Armed for an earlier record, since answered: re-armed for this one.
            timer.as_mut().reset(until.into());
        }
    }

    /// The outcome of the oldest record; `None` when no record is left.
    pub(crate) async fn next(&mut self) -> Option<Delivery> {
        poll_fn(|cx| self.poll_next(cx)).await
    }
}

/// Publishes `records` to `topic` and waits for all their delivery reports;
/// one outcome per record, in input order.
pub(crate) async fn send_all(
    producer: &FutureProducer<BusContext>,
    topic: &str,
    records: impl ExactSizeIterator<Item = WireRecord<'_>>,
    delivery_timeout: Duration,
) -> Vec<Delivery> {
    let deadline = deadline_after(delivery_timeout);
    let count = records.len();
    let mut in_flight = InFlight::new(topic, delivery_timeout, count, Reports::Oldest);
    let mut outcomes = Vec::with_capacity(count);
    for record in records {
        while let Err(QueueFull) = in_flight.send(producer, record) {
            if Instant::now() >= deadline {
                in_flight.queue_stayed_full();
                break;
            }
            // Make room: wait for the oldest delivery of this call, or
            // briefly when the queue is full of others' records.
            match in_flight.next().await {
                Some(outcome) => outcomes.push(outcome),
                None => tokio::time::sleep(QUEUE_FULL_RETRY).await,
            }
        }
    }
    while let Some(outcome) = in_flight.next().await {
        outcomes.push(outcome);
    }
    outcomes
}
