//! What a consumer receives ([`Record`]) and where a record sits in a topic
//! ([`Position`]).
//!
//! A record is an owned copy of what the broker (or the embedded log) holds:
//! the same bytes whichever implementation delivered it. An envelope's payload
//! is its RFC 8785 canonical JSON, so [`Record::envelope`] followed by
//! `canonical_bytes()` gives back exactly the bytes that were published.

use tracechain_domain::Envelope;
use uuid::Uuid;

use crate::headers::{self, Headers};

/// Where a record sits: topic, partition and offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// The topic.
    pub topic: String,
    /// The partition, `0..partitions`.
    pub partition: i32,
    /// The record's offset in the partition (not the next one to read).
    pub offset: i64,
}

/// One record read from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The topic it was read from.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition: consecutive within a partition on the
    /// embedded bus; increasing (not always consecutive) on Kafka.
    pub offset: i64,
    /// The key it was published with; `None` for a record without one.
    pub key: Option<Vec<u8>>,
    /// Its headers, in the order they were written.
    pub headers: Headers,
    /// Its payload bytes.
    pub payload: Vec<u8>,
    /// Milliseconds since the Unix epoch at which it was produced, when known.
    pub timestamp_ms: Option<i64>,
}

/// Why a record is not a valid envelope.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The `content-type` header names something other than JSON.
    #[error(
        "record at {topic} partition {partition} offset {offset} has content-type {content_type:?}, expected application/json"
    )]
    ContentType {
        /// The record's topic.
        topic: String,
        /// Its partition.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// The header's value (lossily decoded).
        content_type: String,
    },
    /// The payload is not an envelope.
    #[error(
        "record at {topic} partition {partition} offset {offset} is not a valid envelope: {source}"
    )]
    Payload {
        /// The record's topic.
        topic: String,
        /// Its partition.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The `tc-event-id` header disagrees with the envelope's id.
    #[error(
        "record at {topic} partition {partition} offset {offset} has header tc-event-id {header:?} but envelope id {envelope_id}"
    )]
    IdMismatch {
        /// The record's topic.
        topic: String,
        /// Its partition.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// The header's value (lossily decoded).
        header: String,
        /// The id inside the payload.
        envelope_id: Uuid,
    },
}

impl Record {
    /// Where this record sits.
    pub fn position(&self) -> Position {
        Position {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
        }
    }

    /// Decodes the payload as an [`Envelope`].
    ///
    /// Checks the `content-type` (when present) and that `tc-event-id` (when
    /// present) names the envelope's id, so a header cannot describe another
    /// event than the one carried.
    pub fn envelope(&self) -> Result<Envelope, DecodeError> {
        if let Some(ct) = self.headers.get(headers::CONTENT_TYPE) {
            let media_type = ct.split(|b| *b == b';').next().unwrap_or_default();
            if !media_type
                .trim_ascii()
                .eq_ignore_ascii_case(headers::CONTENT_TYPE_JSON.as_bytes())
            {
                return Err(DecodeError::ContentType {
                    topic: self.topic.clone(),
                    partition: self.partition,
                    offset: self.offset,
                    content_type: String::from_utf8_lossy(ct).into_owned(),
                });
            }
        }
        let envelope: Envelope =
            serde_json::from_slice(&self.payload).map_err(|source| DecodeError::Payload {
                topic: self.topic.clone(),
                partition: self.partition,
                offset: self.offset,
                source,
            })?;
        if let Some(id) = self.headers.get(headers::EVENT_ID) {
            let matches = std::str::from_utf8(id)
                .ok()
                .and_then(|s| Uuid::parse_str(s).ok())
                .is_some_and(|id| id == envelope.id());
            if !matches {
                return Err(DecodeError::IdMismatch {
                    topic: self.topic.clone(),
                    partition: self.partition,
                    offset: self.offset,
                    header: String::from_utf8_lossy(id).into_owned(),
                    envelope_id: envelope.id(),
                });
            }
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outgoing::OutgoingRecord;

    fn record(headers: Headers, payload: Vec<u8>) -> Record {
        Record {
            topic: "t".into(),
            partition: 1,
            offset: 7,
            key: None,
            headers,
            payload,
            timestamp_ms: None,
        }
    }

    fn envelope() -> Envelope {
        Envelope::new(
            tracechain_domain::EventType::parse("test.happened").unwrap(),
            "agg",
            "tests",
            Default::default(),
            serde_json::json!({"n": 1}),
        )
    }

    #[test]
    fn envelope_round_trips_through_its_wire_form() {
        let env = envelope();
        let out = OutgoingRecord::from_envelope("t", b"agg", &env).unwrap();
        let rec = record(out.headers.to_headers(), out.payload.clone());
        let back = rec.envelope().unwrap();
        assert_eq!(back, env);
        assert_eq!(back.canonical_bytes().unwrap(), out.payload);
    }

    #[test]
    fn garbage_wrong_content_type_and_mismatched_id_are_refused() {
        let err = record(Headers::new(), b"\xff not json".to_vec())
            .envelope()
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("record at t partition 1 offset 7 is not a valid envelope")
        );

        let env = envelope();
        let payload = env.canonical_bytes().unwrap();
        let mut h = Headers::new();
        h.insert(headers::CONTENT_TYPE, "text/plain");
        assert!(matches!(
            record(h, payload.clone()).envelope(),
            Err(DecodeError::ContentType { .. })
        ));
        let mut h = Headers::new();
        h.insert(headers::CONTENT_TYPE, "application/json; charset=utf-8");
        h.insert(headers::EVENT_ID, Uuid::now_v7().to_string());
        assert!(matches!(
            record(h, payload).envelope(),
            Err(DecodeError::IdMismatch { .. })
        ));
    }
}
