//! A publish stream on Kafka ([`EventBus::publish_stream`]): records are
//! taken from the caller's stream as the window allows, encoded and handed
//! to the producer one by one, and their outcomes yielded in input order as
//! the acknowledgements come.
//!
//! Invariants:
//! - at most `window` records are in flight: with the producer and not
//!   acknowledged (or failed), or waiting for room in its queue;
//! - at most twice `window` records are taken from the input and their
//!   outcome not yielded: outcomes are yielded in input order, so the
//!   acknowledgements that come before an earlier record's wait for it, and
//!   a slow record holds at most a window of later ones;
//! - one outcome per record, in input order ([`InFlight`]);
//! - a stream sends on one producer at a time. When the bus's producer is
//!   replaced (after a failed publish, this stream's or another publisher's:
//!   see `Inner::replace_producer`), the stream sends nothing more until
//!   every record it has in flight on the old producer is answered, then
//!   goes on with the new one; so two records of one key never travel on
//!   two producers at once, where the later could overtake the earlier.
//!
//! [`EventBus::publish_stream`]: crate::EventBus::publish_stream

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::stream::{BoxStream, Stream, StreamExt};
use tokio::time::Sleep;

use crate::bus::StreamEvent;
use crate::deadline::deadline_after;
use crate::error::BusError;
use crate::outgoing::StreamEncoder;
use crate::record::Position;
use crate::topic::validate_topic_name;

use super::producer::{InFlight, QUEUE_FULL_RETRY, QueueFull, Reports};
use super::{Inner, SharedProducer};

/// An input record that met a full queue, and when to give up on it.
type Waiting<'a> = (StreamEvent<'a>, Instant);

/// The stream [`KafkaBus::publish_stream`](super::KafkaBus) returns.
pub(super) struct PublishStream<'a> {
    inner: &'a Inner,
    topic: &'a str,
    /// Whether `topic` is a valid name (if not, every record fails with why).
    topic_valid: bool,
    events: BoxStream<'a, StreamEvent<'a>>,
    /// Most records in flight (at least 1); see the module docs.
    window: usize,
    encoder: StreamEncoder,
    /// The producer records are sent on, and its generation.
    producer: Arc<SharedProducer>,
    generation: u64,
    /// Set when the bus's producer was replaced: send nothing until
    /// `in_flight` is empty, then take the new one (see the module docs).
    switching: bool,
    in_flight: InFlight,
    /// The record the producer's queue had no room for.
    waiting: Option<Waiting<'a>>,
    /// Wakes a retry of `waiting` when none of this stream's records are in
    /// the full queue (it is full of other publishers' records), so no
    /// acknowledgement of ours will.
    retry: Option<Pin<Box<Sleep>>>,
    /// The input ended.
    exhausted: bool,
}

impl<'a> PublishStream<'a> {
    pub(super) fn new(
        inner: &'a Inner,
        topic: &'a str,
        events: BoxStream<'a, StreamEvent<'a>>,
        window: usize,
    ) -> PublishStream<'a> {
        let window = window.max(1);
        let (generation, producer) = inner.producer();
        PublishStream {
            inner,
            topic,
            topic_valid: validate_topic_name(topic).is_ok(),
            events,
            window,
            encoder: StreamEncoder::new(),
            producer,
            generation,
            switching: false,
            in_flight: InFlight::new(
                topic,
                inner.config.delivery_timeout,
                window.saturating_mul(2),
                Reports::Each,
            ),
            waiting: None,
            retry: None,
            exhausted: false,
        }
    }

    /// Takes and sends records while the window has room and the input has
    /// some ready. Returns with a wake-up registered for whatever it waits
    /// on (the input, the retry timer), or with the window full (whose
    /// acknowledgements `poll_next` then waits on).
    fn fill(&mut self, cx: &mut Context<'_>) {
        loop {
            if self.switching {
                if !self.in_flight.is_empty() {
                    return;
                }
                (self.generation, self.producer) = self.inner.producer();
                self.switching = false;
            }
            let (item, give_up) = match self.waiting.take() {
                Some((item, give_up)) => (item, Some(give_up)),
                None => {
                    if self.exhausted || !self.has_room() {
                        return;
                    }
                    match self.events.poll_next_unpin(cx) {
                        Poll::Ready(Some(item)) => (item, None),
                        Poll::Ready(None) => {
                            self.exhausted = true;
                            return;
                        }
                        Poll::Pending => return,
                    }
                }
            };
            if self.inner.generation() != self.generation {
                self.switching = true;
                self.waiting = Some((item, give_up.unwrap_or_else(|| self.give_up_at())));
                continue;
            }
            if !self.topic_valid
                && let Err(error) = validate_topic_name(self.topic)
            {
                self.in_flight.refuse(error);
                continue;
            }
            let record = match self.encoder.encode(self.topic, &item.key, &item.envelope) {
                Ok(record) => record,
                Err(error) => {
                    self.in_flight.refuse(error);
                    continue;
                }
            };
            if let Err(QueueFull) = self.in_flight.send(&self.producer, record) {
                let give_up = give_up.unwrap_or_else(|| self.give_up_at());
                if Instant::now() >= give_up {
                    self.in_flight.queue_stayed_full();
                    continue;
                }
                self.waiting = Some((item, give_up));
                if self.in_flight.unacknowledged() > 0 {
                    // The acknowledgement of one of ours makes room, and
                    // wakes this stream.
                    return;
                }
                let retry = self
                    .retry
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(QUEUE_FULL_RETRY)));
                retry
                    .as_mut()
                    .reset(tokio::time::Instant::now() + QUEUE_FULL_RETRY);
                if retry.as_mut().poll(cx).is_pending() {
                    return;
                }
            }
        }
    }

    /// Whether another record may be taken (see the module docs).
    fn has_room(&self) -> bool {
        self.in_flight.unacknowledged() < self.window
            && self.in_flight.len() < self.window.saturating_mul(2)
    }

    /// When a record that meets a full queue now is failed.
    fn give_up_at(&self) -> Instant {
        deadline_after(self.inner.config.delivery_timeout)
    }
}

impl Stream for PublishStream<'_> {
    type Item = Result<Position, BusError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // Acknowledgements that came make room before more is taken.
        this.in_flight.take_reports(cx);
        this.fill(cx);
        match this.in_flight.poll_next(cx) {
            Poll::Ready(Some(outcome)) => {
                if let Err(BusError::Publish { .. }) = outcome
                    && !this.switching
                {
                    // Not acknowledged: the producer is replaced, as after
                    // any failed publish (see `Inner::replace_producer`);
                    // the records still in flight on it fail or succeed on
                    // their own, without replacing it again.
                    this.inner.replace_producer(this.generation);
                    this.switching = true;
                }
                Poll::Ready(Some(outcome.map(|(partition, offset)| Position {
                    topic: this.topic.to_owned(),
                    partition,
                    offset,
                })))
            }
            Poll::Ready(None) if this.exhausted && this.waiting.is_none() => Poll::Ready(None),
            // Nothing in flight: `fill` registered the wake-up it waits on.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}
