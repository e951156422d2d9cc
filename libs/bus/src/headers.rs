//! Record headers: the ordered `(name, value)` pairs Kafka carries beside a
//! record, and the names tracechain gives them.
//!
//! Invariants: order is kept exactly as written, duplicates are allowed (Kafka
//! allows them), and a header Kafka delivers with a null value arrives here
//! with an empty value. Names are compared exactly (Kafka header names are
//! case-sensitive), except by the trace-context helpers, which follow
//! `tracechain-telemetry` and compare ASCII case-insensitively.

use tracechain_telemetry::{KafkaHeaders, KafkaHeadersRef};

/// The event's id (a UUIDv7, hyphenated).
pub const EVENT_ID: &str = "tc-event-id";
/// The event's type, e.g. `shipment.delivered`.
pub const EVENT_TYPE: &str = "tc-event-type";
/// The payload's schema version, in decimal.
pub const SCHEMA_VERSION: &str = "tc-schema-version";
/// The payload's media type.
pub const CONTENT_TYPE: &str = "content-type";
/// The W3C trace context of the span that published the record.
pub const TRACEPARENT: &str = tracechain_telemetry::TRACEPARENT_HEADER;
/// The media type of an envelope payload (its RFC 8785 canonical JSON).
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// On a dead-lettered record: why it was dead-lettered (the error's message).
pub const DLQ_ERROR: &str = "tc-dlq-error";
/// On a dead-lettered record: `undecodable`, `permanent` or `retries-exhausted`.
pub const DLQ_REASON: &str = "tc-dlq-reason";
/// On a dead-lettered record: the topic it was consumed from.
pub const DLQ_SOURCE_TOPIC: &str = "tc-dlq-source-topic";
/// On a dead-lettered record: the partition it was consumed from, in decimal.
pub const DLQ_SOURCE_PARTITION: &str = "tc-dlq-source-partition";
/// On a dead-lettered record: its offset in the source partition, in decimal.
pub const DLQ_SOURCE_OFFSET: &str = "tc-dlq-source-offset";
/// On a dead-lettered record: how many times the handler was called (0 when
/// the record could not be decoded).
pub const DLQ_ATTEMPTS: &str = "tc-dlq-attempts";

/// Ordered record headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, Vec<u8>)>);

impl Headers {
    /// No headers.
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// The value of the first header named `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The value of the first header named `name`, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Sets `name` to `value`: removes every header of that name, then appends.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        let name = name.into();
        self.0.retain(|(n, _)| *n != name);
        self.0.push((name, value.into()));
    }

    /// Appends a header, keeping any others of the same name.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.0.push((name.into(), value.into()));
    }

    /// Removes every header named `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| n != name);
    }

    /// The headers, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs, in order.
    pub fn as_slice(&self) -> &[(String, Vec<u8>)] {
        &self.0
    }

    /// Takes the pairs.
    pub fn into_vec(self) -> Vec<(String, Vec<u8>)> {
        self.0
    }

    /// Writes the current `tracing` span's W3C trace context (`traceparent`,
    /// and `tracestate` when there is one), replacing any already there.
    /// Writes nothing when the span has no OpenTelemetry context.
    pub fn inject_current_trace_context(&mut self) {
        tracechain_telemetry::inject_into(&mut KafkaHeaders(&mut self.0));
    }

    /// Sets the remote trace carried by these headers as the parent of `span`
    /// (before it is entered). Without a valid `traceparent`, or without an
    /// OpenTelemetry layer, `span` stays as it is.
    pub fn set_trace_parent_of(&self, span: &tracing::Span) {
        if let Err(error) =
            tracechain_telemetry::set_parent_from_carrier(span, &KafkaHeadersRef(&self.0))
        {
            tracing::trace!(%error, "Trace context not attached");
        }
    }
}

impl From<Vec<(String, Vec<u8>)>> for Headers {
    fn from(pairs: Vec<(String, Vec<u8>)>) -> Headers {
        Headers(pairs)
    }
}

impl<N: Into<String>, V: Into<Vec<u8>>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Headers {
        Headers(
            iter.into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_append_keeps_order_and_duplicates() {
        let mut h = Headers::new();
        h.append("a", b"1".to_vec());
        h.append("b", b"2".to_vec());
        h.append("a", b"3".to_vec());
        assert_eq!(h.get("a"), Some(&b"1"[..]));
        assert_eq!(h.len(), 3);
        h.insert("a", "4");
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            vec![("b", &b"2"[..]), ("a", &b"4"[..])]
        );
        h.remove("b");
        assert_eq!(h.get("b"), None);
        assert_eq!(h.get_str("a"), Some("4"));
    }

    #[test]
    fn names_are_case_sensitive() {
        let h: Headers = [("Content-Type", "x")].into_iter().collect();
        assert_eq!(h.get(CONTENT_TYPE), None);
    }
}
