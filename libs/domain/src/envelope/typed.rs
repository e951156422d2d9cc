//! A service's typed events and the one envelope: [`DomainEvent`] gives
//! every event enum the same writing and the same checks on reading —
//! unknown types are ignored (`Ok(None)`, so a newer producer does not break
//! an older reader), a schema version other than the code's is refused, a
//! payload that does not match its type is refused, and the payload's
//! aggregate must be the envelope's aggregate id (the Kafka key).

use std::collections::BTreeSet;

use uuid::Uuid;

use super::{Envelope, EventType};
use crate::tenancy::TenantId;

/// Why a typed event cannot be written to, or read from, an envelope.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The schema version is not one this code reads.
    #[error("{event_type} event {event_id} has schema version {version}, expected {expected}")]
    Version {
        /// The event type.
        event_type: String,
        /// The event id.
        event_id: Uuid,
        /// The version found.
        version: u32,
        /// The version this code reads.
        expected: u32,
    },
    /// The payload does not match the type's schema.
    #[error("{event_type} event {event_id} has an invalid payload: {source}")]
    Payload {
        /// The event type.
        event_type: String,
        /// The event id.
        event_id: Uuid,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// The payload's aggregate is not the envelope's aggregate id.
    #[error(
        "{event_type} event {event_id} is about {payload_aggregate} but its aggregate id is {aggregate_id}"
    )]
    Aggregate {
        /// The event type.
        event_type: String,
        /// The event id.
        event_id: Uuid,
        /// The aggregate the payload names.
        payload_aggregate: String,
        /// The envelope's aggregate id.
        aggregate_id: String,
    },
    /// The payload could not be serialized, or its type name is invalid.
    #[error("cannot encode a {event_type} event: {reason}")]
    Encode {
        /// The event type.
        event_type: &'static str,
        /// Why.
        reason: String,
    },
}

/// One service's events: an enum of payloads, each with a type name.
pub trait DomainEvent: Sized {
    /// The producer name on every envelope of these events.
    const PRODUCER: &'static str;
    /// The payload schema version written and read.
    const SCHEMA_VERSION: u32;
    /// Every type name these events use.
    const EVENT_TYPES: &'static [&'static str];

    /// This event's type name (one of [`Self::EVENT_TYPES`]).
    fn event_type(&self) -> &'static str;

    /// The aggregate it is about: the envelope's aggregate id and Kafka key.
    fn aggregate_id(&self) -> String;

    /// The payload as JSON.
    fn to_payload(&self) -> Result<serde_json::Value, serde_json::Error>;

    /// The event of type `event_type` (one of [`Self::EVENT_TYPES`]) from its payload.
    fn from_payload(
        event_type: &str,
        payload: serde_json::Value,
    ) -> Result<Self, serde_json::Error>;

    /// The envelope carrying this event, readable by `parties`.
    fn envelope(&self, parties: BTreeSet<TenantId>) -> Result<Envelope, EventError> {
        let event_type = self.event_type();
        let encode = |reason: String| EventError::Encode { event_type, reason };
        let payload = self.to_payload().map_err(|e| encode(e.to_string()))?;
        let parsed = EventType::parse(event_type).map_err(|e| encode(e.to_string()))?;
        Ok(Envelope::new(
            parsed,
            self.aggregate_id(),
            Self::PRODUCER,
            parties,
            payload,
        )
        .with_schema_version(Self::SCHEMA_VERSION))
    }

    /// Reads the event an envelope carries; `Ok(None)` for a type these
    /// events do not include.
    fn read(envelope: &Envelope) -> Result<Option<Self>, EventError> {
        let event_type = envelope.event_type().as_str();
        if !Self::EVENT_TYPES.contains(&event_type) {
            return Ok(None);
        }
        if envelope.schema_version() != Self::SCHEMA_VERSION {
            return Err(EventError::Version {
                event_type: event_type.to_owned(),
                event_id: envelope.id(),
                version: envelope.schema_version(),
                expected: Self::SCHEMA_VERSION,
            });
        }
        let event =
            Self::from_payload(event_type, envelope.payload().clone()).map_err(|source| {
                EventError::Payload {
                    event_type: event_type.to_owned(),
                    event_id: envelope.id(),
                    source,
                }
            })?;
        let payload_aggregate = event.aggregate_id();
        if payload_aggregate != envelope.aggregate_id() {
            return Err(EventError::Aggregate {
                event_type: event_type.to_owned(),
                event_id: envelope.id(),
                payload_aggregate,
                aggregate_id: envelope.aggregate_id().to_owned(),
            });
        }
        Ok(Some(event))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Opened {
        door: String,
    }

    #[derive(Debug, PartialEq)]
    enum DoorEvent {
        Opened(Opened),
    }

    impl DomainEvent for DoorEvent {
        const PRODUCER: &'static str = "doors";
        const SCHEMA_VERSION: u32 = 2;
        const EVENT_TYPES: &'static [&'static str] = &["door.opened"];

        fn event_type(&self) -> &'static str {
            "door.opened"
        }

        fn aggregate_id(&self) -> String {
            let DoorEvent::Opened(e) = self;
            e.door.clone()
        }

        fn to_payload(&self) -> Result<serde_json::Value, serde_json::Error> {
            let DoorEvent::Opened(e) = self;
            serde_json::to_value(e)
        }

        fn from_payload(_: &str, payload: serde_json::Value) -> Result<Self, serde_json::Error> {
            Ok(DoorEvent::Opened(serde_json::from_value(payload)?))
        }
    }

    fn opened() -> DoorEvent {
        DoorEvent::Opened(Opened {
            door: "front".to_owned(),
        })
    }

    #[test]
    fn writes_and_reads_back_with_version_producer_and_aggregate() {
        let party = TenantId::parse("acme").unwrap();
        let envelope = opened().envelope(BTreeSet::from([party.clone()])).unwrap();
        assert_eq!(envelope.schema_version(), 2);
        assert_eq!(envelope.producer(), "doors");
        assert_eq!(envelope.aggregate_id(), "front");
        assert!(envelope.is_visible_to(&party));
        assert_eq!(DoorEvent::read(&envelope).unwrap(), Some(opened()));
    }

    #[test]
    fn refuses_other_versions_bad_payloads_and_foreign_aggregates() {
        let envelope = opened().envelope(BTreeSet::new()).unwrap();
        let err = DoorEvent::read(&envelope.clone().with_schema_version(1)).unwrap_err();
        assert!(
            matches!(
                err,
                EventError::Version {
                    version: 1,
                    expected: 2,
                    ..
                }
            ),
            "{err}"
        );
        let other_type = Envelope::new(
            EventType::parse("door.closed").unwrap(),
            "front",
            "doors",
            BTreeSet::new(),
            serde_json::json!({}),
        );
        assert!(DoorEvent::read(&other_type).unwrap().is_none());
        let bad = Envelope::new(
            EventType::parse("door.opened").unwrap(),
            "front",
            "doors",
            BTreeSet::new(),
            serde_json::json!({"door": 7}),
        )
        .with_schema_version(2);
        assert!(matches!(
            DoorEvent::read(&bad),
            Err(EventError::Payload { .. })
        ));
        let elsewhere = Envelope::new(
            EventType::parse("door.opened").unwrap(),
            "back",
            "doors",
            BTreeSet::new(),
            serde_json::json!({"door": "front"}),
        )
        .with_schema_version(2);
        let err = DoorEvent::read(&elsewhere).unwrap_err().to_string();
        assert!(
            err.contains("is about front but its aggregate id is back"),
            "{err}"
        );
    }
}
