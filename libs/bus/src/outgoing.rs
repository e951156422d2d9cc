//! The wire form of a record about to be published, built the same way for
//! every bus implementation, so both put identical bytes and headers on the wire.
//!
//! An envelope travels as its RFC 8785 canonical bytes (what the ledger
//! hashes), with the `tc-event-id`, `tc-event-type`, `tc-schema-version` and
//! `content-type` headers, and the publishing span's `traceparent` when it has
//! one.

use tracechain_domain::Envelope;

use crate::error::BusError;
use crate::headers::{self, Headers};

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
        headers.inject_current_trace_context();
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
