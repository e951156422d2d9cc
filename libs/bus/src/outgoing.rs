//! The wire form of a record about to be published, built the same way for
//! every bus implementation, so both put identical bytes and headers on the wire.
//!
//! An envelope travels as its RFC 8785 canonical bytes (what the ledger
//! hashes), with the `tc-event-id`, `tc-event-type`, `tc-schema-version` and
//! `content-type` headers, and the publishing span's `traceparent` when it has
//! one.
//!
//! Canonicalization is CPU work (about 2 µs for a 300-byte envelope, 2 ms for
//! a batch of 1000), done before anything of a batch is handed to the bus so
//! an envelope that cannot be encoded fails the whole batch with nothing
//! published. Large batches are therefore split across the cores
//! ([`OutgoingRecord::from_batch`]): the calling thread is held half as long
//! on two cores, and the batch reaches the broker that much sooner.

use std::num::NonZeroUsize;

use tracechain_domain::Envelope;

use crate::error::BusError;
use crate::headers::{self, Headers};

/// Fewest records one thread encodes when a batch is split across cores:
/// below this, starting a thread costs more than it saves.
const MIN_RECORDS_PER_THREAD: usize = 256;

/// The current span's trace context headers (none outside a traced span).
fn current_trace_context() -> Headers {
    let mut trace = Headers::new();
    trace.inject_current_trace_context();
    trace
}

/// A record ready to be handed to a bus implementation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutgoingRecord {
    /// The partitioning key; `None` spreads records round-robin.
    pub(crate) key: Option<Vec<u8>>,
    /// Headers, in order.
    pub(crate) headers: Headers,
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
        OutgoingRecord::encode(topic, key, envelope, &current_trace_context())
    }

    /// The wire form of every `(key, envelope)` of a batch, in input order,
    /// each with the current span's trace context; fails with the first
    /// envelope (in input order) that cannot be encoded.
    ///
    /// The trace context is read once, on the calling thread (the span is
    /// thread-local), and copied to each record. A batch of at least
    /// `2 × MIN_RECORDS_PER_THREAD` records is split into contiguous parts
    /// across the available cores: the caller encodes the first part, scoped
    /// threads the others (a part whose thread cannot be started is encoded
    /// by the caller).
    pub(crate) fn from_batch(
        topic: &str,
        events: &[(Vec<u8>, Envelope)],
    ) -> Result<Vec<OutgoingRecord>, BusError> {
        let trace = current_trace_context();
        let encode = |part: &[(Vec<u8>, Envelope)]| {
            part.iter()
                .map(|(key, envelope)| OutgoingRecord::encode(topic, key, envelope, &trace))
                .collect::<Result<Vec<_>, _>>()
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .min(events.len() / MIN_RECORDS_PER_THREAD)
            .max(1);
        if threads == 1 {
            return encode(events);
        }
        let mut parts = events.chunks(events.len().div_ceil(threads));
        let first = parts.next().unwrap_or_default();
        std::thread::scope(|scope| {
            let others: Vec<_> = parts
                .map(|part| {
                    std::thread::Builder::new()
                        .name("bus-encode".to_owned())
                        .spawn_scoped(scope, move || encode(part))
                        .map_err(|_| part)
                })
                .collect();
            let mut records = encode(first)?;
            for other in others {
                let encoded = match other {
                    Ok(thread) => thread
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                    Err(part) => encode(part),
                };
                records.extend(encoded?);
            }
            Ok(records)
        })
    }

    /// The wire form of `envelope` with the trace context headers `trace`.
    fn encode(
        topic: &str,
        key: &[u8],
        envelope: &Envelope,
        trace: &Headers,
    ) -> Result<OutgoingRecord, BusError> {
        let payload = envelope
            .canonical_bytes()
            .map_err(|source| BusError::Encode {
                topic: topic.to_owned(),
                event_id: envelope.id(),
                source,
            })?;
        let mut headers = Headers::new();
        headers.append(headers::EVENT_ID, envelope.id().to_string());
        headers.append(headers::EVENT_TYPE, envelope.event_type().as_str());
        headers.append(
            headers::SCHEMA_VERSION,
            envelope.schema_version().to_string(),
        );
        headers.append(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON);
        for (name, value) in trace.as_slice() {
            headers.append(name.clone(), value.clone());
        }
        Ok(OutgoingRecord {
            key: Some(key.to_vec()),
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
            headers,
            payload: payload.to_vec(),
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
    fn a_split_batch_is_encoded_like_one_record_at_a_time_in_order() {
        let events: Vec<_> = (0..3 * MIN_RECORDS_PER_THREAD + 5)
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
    fn the_first_unencodable_envelope_in_input_order_fails_the_batch() {
        // Beyond 2^53: it would change value as a double, so it has no canonical form.
        let unencodable = || envelope(json!(9_007_199_254_740_993_u64));
        let failing_id =
            |events: &[(Vec<u8>, Envelope)]| match OutgoingRecord::from_batch("t", events) {
                Err(BusError::Encode { event_id, .. }) => event_id,
                other => panic!("expected an encode error, got {other:?}"),
            };
        let mut events: Vec<_> = (0..4 * MIN_RECORDS_PER_THREAD)
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
