//! The wire form of a record about to be published, built the same way for
//! every bus implementation, so both put identical bytes and headers on the wire.
//!
//! An envelope travels as its RFC 8785 canonical bytes (what the ledger
//! hashes), with the `tc-event-id`, `tc-event-type`, `tc-schema-version` and
//! `content-type` headers, and the publishing span's `traceparent` when it has
//! one.
//!
//! Encoding is CPU work on the publishing path, paid per record where a bare
//! producer sends bytes it already has, so it is kept cheap: the envelope
//! writes its canonical bytes directly (`Envelope::write_canonical_bytes`);
//! a Kafka batch ([`EncodedBatch`]) writes every payload into one buffer and
//! hands the producer borrowed keys and headers made on the fly, so nothing
//! is allocated per record; a Kafka publish stream ([`StreamEncoder`])
//! writes each payload into one reused buffer the same way; an
//! [`OutgoingRecord`] (single publishes, the embedded bus, which keeps
//! records) takes two allocations for its headers (see [`OutgoingHeaders`]),
//! not one per name and value. Either way a batch is encoded whole on the
//! calling thread before anything of it is handed to the bus, so an envelope
//! that cannot be encoded fails the batch with nothing published; a stream
//! fails only that envelope's record. (Encoding used to be split across
//! scoped threads per call; at well under a millisecond per 1000 records,
//! starting threads cost more than it saved on two cores.)

use std::borrow::Cow;

use tracechain_domain::Envelope;

use crate::error::BusError;
use crate::headers::{self, Headers};

/// The current span's trace context headers (none outside a traced span).
pub(crate) fn current_trace_context() -> Headers {
    let mut trace = Headers::new();
    trace.inject_current_trace_context();
    trace
}

/// The headers of an outgoing record, in order: what [`Headers`] holds, laid
/// out to be built cheaply on every publish.
///
/// Invariant: the value ends in `entries` are non-decreasing and the last is
/// `values.len()`; header `i`'s value is `values[end of i - 1..end of i]`
/// (from 0 for the first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OutgoingHeaders {
    /// Each header's name (ours are static, so not allocated) and where its
    /// value ends in `values`.
    entries: Vec<(Cow<'static, str>, usize)>,
    /// Every value, one after another.
    values: Vec<u8>,
}

impl OutgoingHeaders {
    /// Room for `count` headers whose values total `value_bytes`.
    fn with_capacity(count: usize, value_bytes: usize) -> OutgoingHeaders {
        OutgoingHeaders {
            entries: Vec::with_capacity(count),
            values: Vec::with_capacity(value_bytes),
        }
    }

    /// Appends a header.
    fn append(&mut self, name: impl Into<Cow<'static, str>>, value: &[u8]) {
        self.values.extend_from_slice(value);
        self.entries.push((name.into(), self.values.len()));
    }

    /// The headers, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().scan(0, |start, (name, end)| {
            let end = *end;
            let value = &self.values[*start..end];
            *start = end;
            Some((name.as_ref(), value))
        })
    }

    /// How many headers there are.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The same headers as [`Headers`].
    #[cfg(test)]
    pub(crate) fn to_headers(&self) -> Headers {
        self.iter().collect()
    }
}

impl From<Headers> for OutgoingHeaders {
    fn from(headers: Headers) -> OutgoingHeaders {
        let value_bytes = headers.iter().map(|(_, v)| v.len()).sum();
        let mut out = OutgoingHeaders::with_capacity(headers.len(), value_bytes);
        for (name, value) in headers.into_vec() {
            out.append(name, &value);
        }
        out
    }
}

/// A record ready to be handed to a bus implementation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutgoingRecord {
    /// The partitioning key; `None` spreads records round-robin.
    pub(crate) key: Option<Vec<u8>>,
    /// Headers, in order.
    pub(crate) headers: OutgoingHeaders,
    /// Payload bytes.
    pub(crate) payload: Vec<u8>,
}

impl OutgoingRecord {
    /// The wire form of `envelope`, keyed by `key`, for `topic` (named in errors).
    pub(crate) fn from_envelope(
        topic: &str,
        key: &[u8],
        envelope: &Envelope,
    ) -> Result<OutgoingRecord, BusError> {
        OutgoingRecord::encode(topic, key.to_vec(), envelope, &current_trace_context())
    }

    /// The wire form of every `(key, envelope)` of a batch, in input order,
    /// each with the current span's trace context; fails with the first
    /// envelope (in input order) that cannot be encoded.
    ///
    /// The trace context is read once (the span is thread-local) and copied
    /// to each record.
    pub(crate) fn from_batch(
        topic: &str,
        events: &[(Vec<u8>, Envelope)],
    ) -> Result<Vec<OutgoingRecord>, BusError> {
        let trace = current_trace_context();
        events
            .iter()
            .map(|(key, envelope)| OutgoingRecord::encode(topic, key.clone(), envelope, &trace))
            .collect()
    }

    /// The wire form of `envelope`, keyed by `key`, with the trace context
    /// headers `trace`.
    pub(crate) fn encode(
        topic: &str,
        key: Vec<u8>,
        envelope: &Envelope,
        trace: &Headers,
    ) -> Result<OutgoingRecord, BusError> {
        let mut payload = Vec::new();
        write_payload(topic, envelope, &mut payload)?;
        let trace_bytes: usize = trace.iter().map(|(_, v)| v.len()).sum();
        let mut headers = OutgoingHeaders::with_capacity(
            ENVELOPE_HEADERS + trace.len(),
            uuid::fmt::Hyphenated::LENGTH
                + envelope.event_type().as_str().len()
                + U32_DIGITS
                + headers::CONTENT_TYPE_JSON.len()
                + trace_bytes,
        );
        envelope_headers(envelope, trace, |name, value| match name {
            HeaderName::Ours(name) => headers.append(name, value),
            HeaderName::Trace(name) => headers.append(name.to_owned(), value),
        });
        Ok(OutgoingRecord {
            key: Some(key),
            headers,
            payload,
        })
    }

    /// A record with caller-chosen headers and payload. The current span's
    /// trace context is added unless the headers already carry a `traceparent`
    /// (a dead-lettered record keeps the one of the event it copies).
    pub(crate) fn raw(key: Option<&[u8]>, mut headers: Headers, payload: &[u8]) -> OutgoingRecord {
        if headers.get(headers::TRACEPARENT).is_none() {
            headers.inject_current_trace_context();
        }
        OutgoingRecord {
            key: key.map(<[u8]>::to_vec),
            headers: headers.into(),
            payload: payload.to_vec(),
        }
    }

    /// The record as handed to the producer.
    pub(crate) fn wire(&self) -> WireRecord<'_> {
        WireRecord {
            key: self.key.as_deref(),
            payload: &self.payload,
            headers: WireHeaders::Built(&self.headers),
        }
    }
}

/// Appends `envelope`'s canonical bytes to `out`; `topic` is named in the error.
fn write_payload(topic: &str, envelope: &Envelope, out: &mut Vec<u8>) -> Result<(), BusError> {
    envelope
        .write_canonical_bytes(out)
        .map_err(|source| BusError::Encode {
            topic: topic.to_owned(),
            event_id: envelope.id(),
            source,
        })
}

/// Headers every envelope record carries before its trace context.
const ENVELOPE_HEADERS: usize = 4;

/// A header name passed to [`envelope_headers`]'s callback.
#[derive(Debug, Clone, Copy)]
enum HeaderName<'a> {
    /// One of ours (a constant).
    Ours(&'static str),
    /// A trace context header's.
    Trace(&'a str),
}

impl HeaderName<'_> {
    fn as_str(&self) -> &str {
        match self {
            HeaderName::Ours(name) => name,
            HeaderName::Trace(name) => name,
        }
    }
}

/// Calls `header` with each header of `envelope`'s record, in order: its
/// id, type, schema version and content type, then the trace context
/// `trace`. The one definition of an envelope record's headers, whether
/// they are kept ([`OutgoingRecord`]) or handed straight to a producer
/// ([`EncodedBatch`]).
fn envelope_headers(
    envelope: &Envelope,
    trace: &Headers,
    mut header: impl FnMut(HeaderName<'_>, &[u8]),
) {
    let mut id = [0_u8; uuid::fmt::Hyphenated::LENGTH];
    header(
        HeaderName::Ours(headers::EVENT_ID),
        envelope.id().hyphenated().encode_lower(&mut id).as_bytes(),
    );
    header(
        HeaderName::Ours(headers::EVENT_TYPE),
        envelope.event_type().as_str().as_bytes(),
    );
    let mut version = [0_u8; U32_DIGITS];
    header(
        HeaderName::Ours(headers::SCHEMA_VERSION),
        decimal(envelope.schema_version(), &mut version),
    );
    header(
        HeaderName::Ours(headers::CONTENT_TYPE),
        headers::CONTENT_TYPE_JSON.as_bytes(),
    );
    for (name, value) in trace.iter() {
        header(HeaderName::Trace(name), value);
    }
}

/// A batch of envelopes encoded for a producer that copies what it is
/// given (Kafka): every payload is written, in input order, into one
/// buffer before anything is sent, so an envelope that cannot be encoded
/// fails the batch with nothing published; keys are borrowed from the
/// input and headers are produced as each record is handed over. Nothing
/// is allocated per record, as a producer sending ready bytes would not.
#[derive(Debug)]
pub(crate) struct EncodedBatch<'a> {
    /// The input, in order.
    events: &'a [(Vec<u8>, Envelope)],
    /// The calling span's trace context, given to every record.
    trace: Headers,
    /// Every canonical payload, one after another.
    payloads: Vec<u8>,
    /// Where each payload ends in `payloads` (it starts where the previous
    /// one ends); one per event.
    ends: Vec<usize>,
}

impl<'a> EncodedBatch<'a> {
    /// Encodes every envelope of `events` (see [`OutgoingRecord::from_batch`]:
    /// the same payloads, headers and failure).
    pub(crate) fn encode(
        topic: &str,
        events: &'a [(Vec<u8>, Envelope)],
    ) -> Result<EncodedBatch<'a>, BusError> {
        let mut payloads = Vec::new();
        let mut ends = Vec::with_capacity(events.len());
        for (_, envelope) in events {
            write_payload(topic, envelope, &mut payloads)?;
            if ends.is_empty() {
                // Sized on the first payload, to copy the buffer rarely.
                payloads.reserve(payloads.len().saturating_mul(events.len()));
            }
            ends.push(payloads.len());
        }
        Ok(EncodedBatch {
            events,
            trace: current_trace_context(),
            payloads,
            ends,
        })
    }

    /// The records, in input order.
    pub(crate) fn records(&self) -> impl ExactSizeIterator<Item = WireRecord<'_>> + Send {
        self.events
            .iter()
            .zip(&self.ends)
            .enumerate()
            .map(|(i, ((key, envelope), &end))| {
                let start = if i == 0 { 0 } else { self.ends[i - 1] };
                WireRecord {
                    key: Some(key),
                    payload: &self.payloads[start..end],
                    headers: WireHeaders::Envelope {
                        envelope,
                        trace: &self.trace,
                    },
                }
            })
    }
}

/// Encodes the envelopes of a publish stream one at a time for a producer
/// that copies what it is given (Kafka): each payload is written into one
/// reused buffer and headers are produced as the record is handed over, so
/// nothing is allocated per record (the same bytes and headers as
/// [`OutgoingRecord::from_envelope`]).
#[derive(Debug)]
pub(crate) struct StreamEncoder {
    /// The trace context of the span the stream was started in, given to
    /// every record (a stream is polled from wherever its caller is, so the
    /// span current at each poll says nothing about who published).
    trace: Headers,
    /// The payload of the record being handed over.
    payload: Vec<u8>,
}

impl StreamEncoder {
    /// An encoder carrying the current span's trace context.
    pub(crate) fn new() -> StreamEncoder {
        StreamEncoder {
            trace: current_trace_context(),
            payload: Vec::new(),
        }
    }

    /// The wire form of `envelope` under `key`, valid until the next call;
    /// `topic` is named in the error.
    pub(crate) fn encode<'s>(
        &'s mut self,
        topic: &str,
        key: &'s [u8],
        envelope: &'s Envelope,
    ) -> Result<WireRecord<'s>, BusError> {
        self.payload.clear();
        write_payload(topic, envelope, &mut self.payload)?;
        Ok(WireRecord {
            key: Some(key),
            payload: &self.payload,
            headers: WireHeaders::Envelope {
                envelope,
                trace: &self.trace,
            },
        })
    }
}

/// A record borrowed for a producer to copy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireRecord<'a> {
    /// The partitioning key; `None` spreads records round-robin.
    pub(crate) key: Option<&'a [u8]>,
    /// Payload bytes.
    pub(crate) payload: &'a [u8],
    /// Its headers.
    headers: WireHeaders<'a>,
}

/// Where a [`WireRecord`]'s headers come from.
#[derive(Debug, Clone, Copy)]
enum WireHeaders<'a> {
    /// Built already.
    Built(&'a OutgoingHeaders),
    /// An envelope's, produced on demand (see [`envelope_headers`]).
    Envelope {
        envelope: &'a Envelope,
        trace: &'a Headers,
    },
}

impl WireRecord<'_> {
    /// How many headers it has.
    pub(crate) fn header_count(&self) -> usize {
        match self.headers {
            WireHeaders::Built(headers) => headers.len(),
            WireHeaders::Envelope { trace, .. } => ENVELOPE_HEADERS + trace.len(),
        }
    }

    /// Folds `f` over the `(name, value)` pairs, in order.
    pub(crate) fn fold_headers<T>(&self, init: T, mut f: impl FnMut(T, &str, &[u8]) -> T) -> T {
        match self.headers {
            WireHeaders::Built(headers) => headers
                .iter()
                .fold(init, |acc, (name, value)| f(acc, name, value)),
            WireHeaders::Envelope { envelope, trace } => {
                // `envelope_headers` calls back once per header; the
                // accumulator is moved through it.
                let mut acc = Some(init);
                envelope_headers(envelope, trace, |name, value| {
                    acc = acc.take().map(|a| f(a, name.as_str(), value));
                });
                // Put back after every call, so always `Some`.
                acc.expect("the accumulator is put back after every header")
            }
        }
    }
}

/// Digits of `u32::MAX`.
const U32_DIGITS: usize = 10;

/// `value` in decimal, written at the end of `buffer`.
fn decimal(mut value: u32, buffer: &mut [u8; U32_DIGITS]) -> &[u8] {
    let mut start = buffer.len();
    loop {
        start -= 1;
        // A single decimal digit: the cast is exact.
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &buffer[start..];
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tracechain_domain::EventType;

    use super::*;

    fn envelope(n: serde_json::Value) -> Envelope {
        Envelope::new(
            EventType::parse("test.happened").unwrap(),
            "agg",
            "tests",
            Default::default(),
            json!({ "n": n }),
        )
    }

    #[test]
    fn a_batch_is_encoded_like_one_record_at_a_time_in_order() {
        let events: Vec<_> = (0..700)
            .map(|i| (format!("k{i}").into_bytes(), envelope(json!(i))))
            .collect();
        let one_by_one: Vec<_> = events
            .iter()
            .map(|(key, env)| OutgoingRecord::from_envelope("t", key, env).unwrap())
            .collect();
        assert_eq!(
            OutgoingRecord::from_batch("t", &events).unwrap(),
            one_by_one
        );
        assert_eq!(
            OutgoingRecord::from_batch("t", &events[..3]).unwrap(),
            one_by_one[..3]
        );
    }

    #[test]
    fn an_encoded_batch_hands_over_what_from_batch_builds() {
        let events: Vec<_> = (0..300)
            .map(|i| {
                let env = envelope(json!({"i": i, "s": "x".repeat(i % 7)}))
                    .with_schema_version(u32::try_from(i).unwrap());
                (format!("k{i}").into_bytes(), env)
            })
            .collect();
        let built = OutgoingRecord::from_batch("t", &events).unwrap();
        let batch = EncodedBatch::encode("t", &events).unwrap();
        assert_eq!(batch.records().len(), built.len());
        for (wire, record) in batch.records().zip(&built) {
            let expected = record.wire();
            assert_eq!(wire.key, expected.key);
            assert_eq!(wire.payload, expected.payload);
            assert_eq!(wire.header_count(), expected.header_count());
            let headers = wire.fold_headers(Headers::new(), |mut hs, name, value| {
                hs.append(name, value);
                hs
            });
            assert_eq!(headers, record.headers.to_headers());
        }
        assert_eq!(EncodedBatch::encode("t", &[]).unwrap().records().len(), 0);
        let mut encoder = StreamEncoder::new();
        for ((key, env), record) in events.iter().zip(&built) {
            let wire = encoder.encode("t", key, env).unwrap();
            let expected = record.wire();
            assert_eq!(wire.key, expected.key);
            assert_eq!(wire.payload, expected.payload);
            assert_eq!(wire.header_count(), expected.header_count());
            let headers = wire.fold_headers(Headers::new(), |mut hs, name, value| {
                hs.append(name, value);
                hs
            });
            assert_eq!(headers, record.headers.to_headers());
        }
    }

    #[test]
    fn an_envelope_record_carries_its_canonical_bytes_and_four_headers() {
        let env = envelope(json!(1)).with_schema_version(4_294_967_295);
        let record = OutgoingRecord::from_envelope("t", b"agg", &env).unwrap();
        assert_eq!(record.key.as_deref(), Some(&b"agg"[..]));
        assert_eq!(record.payload, env.canonical_bytes().unwrap());
        let id = env.id().to_string();
        assert_eq!(
            record.headers.iter().collect::<Vec<_>>(),
            vec![
                (headers::EVENT_ID, id.as_bytes()),
                (headers::EVENT_TYPE, &b"test.happened"[..]),
                (headers::SCHEMA_VERSION, &b"4294967295"[..]),
                (headers::CONTENT_TYPE, &b"application/json"[..]),
            ]
        );
        let zero = envelope(json!(1)).with_schema_version(0);
        let record = OutgoingRecord::from_envelope("t", b"agg", &zero).unwrap();
        assert_eq!(
            record.headers.to_headers().get(headers::SCHEMA_VERSION),
            Some(&b"0"[..])
        );
    }

    #[test]
    fn raw_headers_keep_their_order_duplicates_and_empty_values() {
        let mut given = Headers::new();
        given.append("a", "1");
        given.append("b", "");
        given.append("a", "3");
        given.append(headers::TRACEPARENT, "00-x");
        let record = OutgoingRecord::raw(None, given.clone(), b"p");
        assert_eq!(record.headers.len(), 4);
        assert_eq!(record.headers.to_headers(), given);
    }

    #[test]
    fn the_first_unencodable_envelope_in_input_order_fails_the_batch() {
        // Beyond 2^53: it would change value as a double, so it has no canonical form.
        let unencodable = || envelope(json!(9_007_199_254_740_993_u64));
        let failing_id = |events: &[(Vec<u8>, Envelope)]| {
            let encoded = match EncodedBatch::encode("t", events) {
                Err(BusError::Encode { event_id, .. }) => event_id,
                other => panic!("expected an encode error, got {other:?}"),
            };
            match OutgoingRecord::from_batch("t", events) {
                Err(BusError::Encode { event_id, .. }) => assert_eq!(event_id, encoded),
                other => panic!("expected an encode error, got {other:?}"),
            }
            encoded
        };
        let mut events: Vec<_> = (0..1024)
            .map(|i| (b"k".to_vec(), envelope(json!(i))))
            .collect();
        let (late, last) = (events.len() / 2 + 1, events.len() - 1);
        events[late].1 = unencodable();
        events[last].1 = unencodable();
        assert_eq!(failing_id(&events), events[late].1.id());
        events[3].1 = unencodable();
        assert_eq!(failing_id(&events), events[3].1.id());
    }
}
