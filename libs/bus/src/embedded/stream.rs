//! A publish stream on the embedded bus ([`EventBus::publish_stream`]), with
//! the Kafka bus's semantics: records are taken from the caller's stream as
//! the window allows and their outcomes yielded in input order, each once
//! its record is written and fsync'd.
//!
//! Records are written in groups, one group at a time (one write and one
//! fsync per partition each): the records taken while a group is being
//! written wait, and go together in the next. The next group starts once
//! the last is written and either the caller has taken every outcome so far
//! or half the window waits: one fsync covers many records, and a caller
//! slow to take its outcomes holds back at most half a window.
//!
//! Invariants:
//! - at most `window` records are in flight: taken and not yet written
//!   (waiting, or being written);
//! - at most twice `window` records are taken and their outcome not
//!   yielded (outcomes of written records wait for the caller to take them);
//! - one outcome per record, in input order;
//! - groups are written one after the other, in input order, so records of
//!   one key keep their order.
//!
//! [`EventBus::publish_stream`]: crate::EventBus::publish_stream

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, Stream, StreamExt};
use tracechain_domain::Envelope;

use crate::bus::StreamEvent;
use crate::error::BusError;
use crate::headers::Headers;
use crate::outgoing::{OutgoingRecord, current_trace_context};
use crate::record::Position;
use crate::topic::validate_topic_name;

use super::{EmbeddedBus, segment};

/// The outcomes of one group, in input order.
type Outcomes = Vec<Result<Position, BusError>>;

/// The stream [`EmbeddedBus::publish_stream`](super::EmbeddedBus) returns.
pub(super) struct PublishStream<'a> {
    bus: &'a EmbeddedBus,
    topic: &'a str,
    /// Whether `topic` is a valid name (if not, every record fails with why).
    topic_valid: bool,
    events: BoxStream<'a, StreamEvent<'a>>,
    /// Most records in flight (at least 1); see the module docs.
    window: usize,
    /// The trace context of the span the stream was created in.
    trace: Headers,
    /// Records taken and not written yet, in input order; one refused
    /// before writing holds why.
    waiting: Vec<Result<OutgoingRecord, BusError>>,
    /// The group being written, and how many records it holds.
    writing: Option<(BoxFuture<'a, Outcomes>, usize)>,
    /// Outcomes not yet yielded.
    ready: VecDeque<Result<Position, BusError>>,
    /// The input ended.
    exhausted: bool,
}

impl<'a> PublishStream<'a> {
    pub(super) fn new(
        bus: &'a EmbeddedBus,
        topic: &'a str,
        events: BoxStream<'a, StreamEvent<'a>>,
        window: usize,
    ) -> PublishStream<'a> {
        PublishStream {
            bus,
            topic,
            topic_valid: validate_topic_name(topic).is_ok(),
            events,
            window: window.max(1),
            trace: current_trace_context(),
            waiting: Vec::new(),
            writing: None,
            ready: VecDeque::new(),
            exhausted: false,
        }
    }

    /// Whether another record may be taken (see the module docs).
    fn has_room(&self) -> bool {
        let in_flight = self.waiting.len() + self.writing.as_ref().map_or(0, |(_, n)| *n);
        in_flight < self.window && in_flight + self.ready.len() < self.window.saturating_mul(2)
    }

    /// Takes records while the window has room and the input has some ready.
    fn fill(&mut self, cx: &mut Context<'_>) {
        while !self.exhausted && self.has_room() {
            match self.events.poll_next_unpin(cx) {
                Poll::Ready(Some(event)) => {
                    let record = self.prepare(event.key.into_owned(), &event.envelope);
                    self.waiting.push(record);
                }
                Poll::Ready(None) => self.exhausted = true,
                Poll::Pending => return,
            }
        }
    }

    /// The record to write for `envelope`, or why it is refused.
    fn prepare(&self, key: Vec<u8>, envelope: &Envelope) -> Result<OutgoingRecord, BusError> {
        if !self.topic_valid {
            validate_topic_name(self.topic)?;
        }
        let record = OutgoingRecord::encode(self.topic, key, envelope, &self.trace)?;
        let limit = self.bus.inner.options.max_record_bytes;
        let size = segment::encoded_len(&record);
        if size > limit {
            return Err(BusError::RecordTooLarge {
                topic: self.topic.to_owned(),
                size,
                limit,
            });
        }
        Ok(record)
    }

    /// Starts writing the waiting records as one group.
    fn start_writing(&mut self) {
        let group = std::mem::take(&mut self.waiting);
        let count = group.len();
        let mut records = Vec::with_capacity(count);
        // `None` where a record is written, its error where it was refused.
        let slots: Vec<Option<BusError>> = group
            .into_iter()
            .map(|slot| match slot {
                Ok(record) => {
                    records.push(record);
                    None
                }
                Err(error) => Some(error),
            })
            .collect();
        let (bus, topic) = (self.bus, self.topic);
        let written = async move {
            let mut written = if records.is_empty() {
                Vec::new()
            } else {
                bus.append_each(topic, records).await
            }
            .into_iter();
            slots
                .into_iter()
                .map(|slot| match slot {
                    Some(error) => Err(error),
                    None => written.next().unwrap_or_else(|| {
                        Err(BusError::Publish {
                            topic: topic.to_owned(),
                            partition: None,
                            reason: "no position returned".to_owned(),
                        })
                    }),
                })
                .collect()
        };
        self.writing = Some((written.boxed(), count));
    }
}

impl Stream for PublishStream<'_> {
    type Item = Result<Position, BusError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.fill(cx);
        loop {
            if let Some((written, _)) = &mut this.writing {
                match written.as_mut().poll(cx) {
                    Poll::Ready(outcomes) => {
                        this.ready.extend(outcomes);
                        this.writing = None;
                    }
                    Poll::Pending => break,
                }
            }
            let enough = this.ready.is_empty() || this.waiting.len() * 2 >= this.window;
            if this.waiting.is_empty() || !enough {
                break;
            }
            this.start_writing();
        }
        if let Some(outcome) = this.ready.pop_front() {
            return Poll::Ready(Some(outcome));
        }
        if this.exhausted && this.writing.is_none() && this.waiting.is_empty() {
            return Poll::Ready(None);
        }
        // Waiting on the input (`fill` registered it) or on the group being written.
        Poll::Pending
    }
}
