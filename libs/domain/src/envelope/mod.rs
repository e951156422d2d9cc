//! The one event envelope of the system: every event on every domain topic is
//! an [`Envelope`], and the ledger hashes its canonical bytes into the Merkle log.
//!
//! Invariants, kept on construction **and** on deserialization:
//!
//! - `id` is a UUIDv7 (see the private `id` module), so ids are time-ordered;
//! - `occurred_at` is UTC with microsecond precision and is written as
//!   `YYYY-MM-DDTHH:MM:SS.ffffffZ` (see the private `occurred_at` module), so one instant has
//!   one spelling;
//! - `type` is a valid [`EventType`] and every party a valid [`TenantId`];
//! - unknown fields are **rejected** (`deny_unknown_fields`). The envelope is
//!   hashed into the ledger: a field this crate does not know would either be
//!   dropped on re-serialization (so our canonical bytes and leaf hash would no
//!   longer match what the producer sent) or be carried unvalidated. A new
//!   field therefore comes with a new release of this crate (and a
//!   `schema_version` bump where the payload changes), deployed to consumers
//!   before producers.
//!
//! Together these make [`Envelope::canonical_bytes`] (RFC 8785 JSON of the
//! serialized envelope) a pure function of the envelope's value: deserializing
//! and re-serializing never changes it.
//!
//! Serialized shape (field names are the contract):
//!
//! ```json
//! {"id":"0190…","type":"product.registered","schema_version":1,
//!  "aggregate_id":"09506000134352","occurred_at":"2024-05-01T12:30:00.123456Z",
//!  "producer":"registry","parties":["acme"],"payload":{…}}
//! ```

mod event_type;
mod id;
mod occurred_at;
mod typed;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub use event_type::{EventType, EventTypeError};
pub use tracechain_core::canonical::CanonicalError;
use tracechain_core::merkle::Hash;
pub use typed::{DomainEvent, EventError};

use crate::tenancy::TenantId;

/// Bytes of an envelope's canonical form besides its free-form values (member
/// names, id, timestamp, punctuation), plus room for a small payload: the
/// initial capacity of [`Envelope::canonical_bytes`].
const CANONICAL_FIXED_BYTES: usize = 384;

/// An event with its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Unique event id. Invariant: a UUIDv7.
    #[serde(deserialize_with = "id::deserialize")]
    id: Uuid,
    /// What happened, e.g. `product.registered`.
    #[serde(rename = "type")]
    event_type: EventType,
    /// Version of the payload's schema for this `type`; starts at 1.
    schema_version: u32,
    /// The aggregate the event is about (the Kafka key), e.g. a GTIN or a
    /// shipment id. Free-form.
    aggregate_id: String,
    /// When it happened. Invariant: UTC, whole microseconds, year 0000–9999.
    #[serde(with = "occurred_at")]
    occurred_at: OffsetDateTime,
    /// The service that produced it, e.g. `registry`. Free-form.
    producer: String,
    /// The tenants entitled to read it; sorted and unique by construction.
    parties: BTreeSet<TenantId>,
    /// The event body; its schema is given by `type` and `schema_version`.
    payload: serde_json::Value,
}

/// Why an envelope cannot be built with the given values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The id is a UUID, but not version 7.
    #[error("envelope id {id} is a version {version} uuid, expected version 7 (time-ordered)")]
    IdVersion {
        /// The id given.
        id: Uuid,
        /// Its version number.
        version: usize,
    },
    /// The id does not carry the RFC 9562 variant bits, so it has no version.
    #[error("envelope id {id} is not an rfc 9562 uuid (wrong variant bits), expected version 7")]
    IdVariant {
        /// The id given.
        id: Uuid,
    },
    /// The timestamp cannot be written in RFC 3339 once converted to UTC.
    #[error("occurred_at {occurred_at} is outside years 0000 to 9999 in utc")]
    OccurredAtOutOfRange {
        /// The timestamp given.
        occurred_at: OffsetDateTime,
    },
}

impl Envelope {
    /// A new envelope with a fresh UUIDv7, `occurred_at` now (UTC, truncated
    /// to the microsecond) and `schema_version` 1.
    pub fn new(
        event_type: EventType,
        aggregate_id: impl Into<String>,
        producer: impl Into<String>,
        parties: BTreeSet<TenantId>,
        payload: serde_json::Value,
    ) -> Envelope {
        Envelope {
            id: Uuid::now_v7(),
            event_type,
            schema_version: 1,
            aggregate_id: aggregate_id.into(),
            // The current time is always within years 0000–9999.
            occurred_at: OffsetDateTime::now_utc().truncate_to_microsecond(),
            producer: producer.into(),
            parties,
            payload,
        }
    }

    /// Replaces the id (e.g. one derived for idempotency); it must be a UUIDv7.
    pub fn with_id(mut self, id: Uuid) -> Result<Envelope, EnvelopeError> {
        self.id = id::check_v7(id)?;
        Ok(self)
    }

    /// Replaces `occurred_at` (e.g. with a scan's device time), normalised to
    /// UTC and truncated to the microsecond.
    pub fn with_occurred_at(
        mut self,
        occurred_at: OffsetDateTime,
    ) -> Result<Envelope, EnvelopeError> {
        self.occurred_at = occurred_at::normalize(occurred_at)?;
        Ok(self)
    }

    /// Replaces the schema version.
    pub fn with_schema_version(mut self, schema_version: u32) -> Envelope {
        self.schema_version = schema_version;
        self
    }

    /// The event id, a UUIDv7.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// What happened.
    pub fn event_type(&self) -> &EventType {
        &self.event_type
    }

    /// Version of the payload's schema.
    pub fn schema_version(&self) -> u32 {
        self.schema_version
    }

    /// The aggregate the event is about (the Kafka key).
    pub fn aggregate_id(&self) -> &str {
        &self.aggregate_id
    }

    /// When it happened: UTC, whole microseconds.
    pub fn occurred_at(&self) -> OffsetDateTime {
        self.occurred_at
    }

    /// `occurred_at` as serialized: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    pub fn occurred_at_rfc3339(&self) -> String {
        // Cannot fail: the invariant keeps the year within 0000–9999.
        occurred_at::format(self.occurred_at).unwrap_or_default()
    }

    /// The service that produced it.
    pub fn producer(&self) -> &str {
        &self.producer
    }

    /// The tenants entitled to read it.
    pub fn parties(&self) -> &BTreeSet<TenantId> {
        &self.parties
    }

    /// The event body.
    pub fn payload(&self) -> &serde_json::Value {
        &self.payload
    }

    /// Takes the event body.
    pub fn into_payload(self) -> serde_json::Value {
        self.payload
    }

    /// The bytes the ledger hashes: RFC 8785 canonical JSON of the serialized
    /// envelope (keys sorted, no whitespace). Deterministic: equal envelopes,
    /// and an envelope before and after a serde round trip, give equal bytes.
    ///
    /// Fails only on a payload JSON cannot carry exactly: an integer beyond
    /// ±(2^53 − 1) (carry those as strings) or nesting deeper than core's limit.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        let mut out = Vec::with_capacity(
            CANONICAL_FIXED_BYTES + self.aggregate_id.len() + self.producer.len(),
        );
        self.write_canonical_bytes(&mut out)?;
        Ok(out)
    }

    /// Appends [`canonical_bytes`](Self::canonical_bytes) to `out` (for
    /// callers that encode many envelopes into one buffer). On error, `out`
    /// is left as it was.
    pub fn write_canonical_bytes(&self, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
        let start = out.len();
        let written = self.write_canonical_unchecked(out);
        if written.is_err() {
            out.truncate(start);
        }
        written
    }

    /// The body of [`write_canonical_bytes`](Self::write_canonical_bytes),
    /// which may leave a partial write on error.
    fn write_canonical_unchecked(&self, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
        use tracechain_core::canonical::{write_nested, write_str};

        // Written directly rather than through `to_canonical_vec(self)`
        // (which builds a `serde_json::Value` of the whole envelope, then
        // sorts and writes it): the members are known, so they are written
        // in RFC 8785 order (all names are ASCII, so UTF-16 order is byte
        // order) with the values `Serialize` gives them, and only the
        // free-form payload goes through the canonicalizer, one level deep.
        // `canonical_bytes_match_the_generic_canonicalizer` (tests) holds the
        // two to the same bytes.
        let occurred_at = occurred_at::normalize(self.occurred_at).map_err(|error| {
            CanonicalError::Serialize(serde::ser::Error::custom(error.to_string()))
        })?;
        out.extend_from_slice(b"{\"aggregate_id\":");
        write_str(&self.aggregate_id, out);
        out.extend_from_slice(b",\"id\":\"");
        let mut id = [0_u8; uuid::fmt::Hyphenated::LENGTH];
        out.extend_from_slice(self.id.hyphenated().encode_lower(&mut id).as_bytes());
        out.extend_from_slice(b"\",\"occurred_at\":\"");
        occurred_at::write(occurred_at, out);
        out.extend_from_slice(b"\",\"parties\":[");
        for (i, party) in self.parties.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(party.as_str(), out);
        }
        out.extend_from_slice(b"],\"payload\":");
        write_nested(&self.payload, 1, out)?;
        out.extend_from_slice(b",\"producer\":");
        write_str(&self.producer, out);
        out.extend_from_slice(b",\"schema_version\":");
        write_nested(&serde_json::Value::from(self.schema_version), 1, out)?;
        out.extend_from_slice(b",\"type\":");
        write_str(self.event_type.as_str(), out);
        out.push(b'}');
        Ok(())
    }

    /// The envelope's Merkle leaf hash (RFC 6962: SHA-256 of `0x00` followed
    /// by [`canonical_bytes`](Self::canonical_bytes)).
    pub fn leaf_hash(&self) -> Result<Hash, CanonicalError> {
        Ok(tracechain_core::merkle::leaf_hash(&self.canonical_bytes()?))
    }

    /// Whether `tenant` is one of the parties entitled to read this event.
    /// Role-based exceptions (auditors, admins) are the services' policy, not
    /// decided here.
    pub fn is_visible_to(&self, tenant: &TenantId) -> bool {
        self.parties.contains(tenant)
    }
}

#[cfg(test)]
mod tests;
