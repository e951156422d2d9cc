//! The registry's events on its topic (`registry.events`), schema version 1.
//!
//! Every event is keyed by the product id (its aggregate id), so all the
//! events of one product sit in one partition, in order: a lot is always
//! created after its product is registered, items after their lot. The
//! parties are the manufacturer's tenant; the producer is `registry`.
//!
//! | type | payload |
//! |---|---|
//! | `product.registered` | [`ProductRegistered`] |
//! | `lot.created` | [`LotCreated`] |
//! | `items.serialized` | [`ItemsSerialized`]: one event per request, up to 10,000 serials |
//! | `lot.recalled` | [`LotRecalled`] |
//!
//! Payloads ignore unknown fields (a later minor change may add some) but a
//! schema version other than 1 is refused as invalid.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::Date;
use tracechain_domain::{Envelope, EventType, Gtin, Lot, Serial, TenantId};
use uuid::Uuid;

/// The producer name on every registry envelope.
pub const PRODUCER: &str = "registry";
/// `product.registered`.
pub const PRODUCT_REGISTERED: &str = "product.registered";
/// `lot.created`.
pub const LOT_CREATED: &str = "lot.created";
/// `items.serialized`.
pub const ITEMS_SERIALIZED: &str = "items.serialized";
/// `lot.recalled`.
pub const LOT_RECALLED: &str = "lot.recalled";
/// The payload schema version this code writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// A manufacturer registered a product (a GTIN).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRegistered {
    /// The product's id (UUIDv7), also the envelope's aggregate id.
    pub product_id: Uuid,
    /// The GTIN, as 14 digits.
    pub gtin: Gtin,
    /// The product's name.
    pub name: String,
    /// A longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The brand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// Free-form string attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The tenant that owns the product.
    pub manufacturer: TenantId,
}

/// A lot (batch) of a product was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotCreated {
    /// The product.
    pub product_id: Uuid,
    /// The product's GTIN.
    pub gtin: Gtin,
    /// The lot number (AI 10).
    pub lot: Lot,
    /// Production date (AI 11).
    #[serde(with = "crate::domain::dates::serde_date")]
    pub produced_at: Date,
    /// Expiry date (AI 17), if the product expires.
    #[serde(
        default,
        with = "crate::domain::dates::serde_date_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<Date>,
}

/// Items of a lot were given serial numbers (AI 21).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemsSerialized {
    /// The product.
    pub product_id: Uuid,
    /// The product's GTIN.
    pub gtin: Gtin,
    /// The lot the items belong to.
    pub lot: Lot,
    /// The serials, unique within the GTIN, in the order issued.
    pub serials: Vec<Serial>,
}

/// A lot was recalled: every item of it shows as recalled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotRecalled {
    /// The product.
    pub product_id: Uuid,
    /// The product's GTIN.
    pub gtin: Gtin,
    /// The recalled lot.
    pub lot: Lot,
    /// Why, in the manufacturer's words (shown to whoever scans an item).
    pub reason: String,
}

/// One registry event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryEvent {
    /// `product.registered`.
    ProductRegistered(ProductRegistered),
    /// `lot.created`.
    LotCreated(LotCreated),
    /// `items.serialized`.
    ItemsSerialized(ItemsSerialized),
    /// `lot.recalled`.
    LotRecalled(LotRecalled),
}

/// Why an envelope of a registry type cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The schema version is not one this code reads.
    #[error(
        "{event_type} event {event_id} has schema version {version}, expected {SCHEMA_VERSION}"
    )]
    Version {
        /// The event type.
        event_type: String,
        /// The event id.
        event_id: Uuid,
        /// The version found.
        version: u32,
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
    /// The payload's product id is not the envelope's aggregate id.
    #[error(
        "{event_type} event {event_id} names product {product_id} but its aggregate id is {aggregate_id}"
    )]
    Aggregate {
        /// The event type.
        event_type: String,
        /// The event id.
        event_id: Uuid,
        /// The payload's product id.
        product_id: Uuid,
        /// The envelope's aggregate id.
        aggregate_id: String,
    },
    /// The payload could not be serialized (cannot happen for these types).
    #[error("cannot encode a {event_type} payload: {source}")]
    Encode {
        /// The event type.
        event_type: &'static str,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
}

impl RegistryEvent {
    /// The event type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            RegistryEvent::ProductRegistered(_) => PRODUCT_REGISTERED,
            RegistryEvent::LotCreated(_) => LOT_CREATED,
            RegistryEvent::ItemsSerialized(_) => ITEMS_SERIALIZED,
            RegistryEvent::LotRecalled(_) => LOT_RECALLED,
        }
    }

    /// The product the event is about (the aggregate id and Kafka key).
    pub fn product_id(&self) -> Uuid {
        match self {
            RegistryEvent::ProductRegistered(e) => e.product_id,
            RegistryEvent::LotCreated(e) => e.product_id,
            RegistryEvent::ItemsSerialized(e) => e.product_id,
            RegistryEvent::LotRecalled(e) => e.product_id,
        }
    }

    /// The envelope carrying this event, with `manufacturer` as its only party.
    pub fn to_envelope(&self, manufacturer: &TenantId) -> Result<Envelope, EventError> {
        let event_type = self.event_type();
        let encode = |source| EventError::Encode { event_type, source };
        let payload = match self {
            RegistryEvent::ProductRegistered(e) => serde_json::to_value(e),
            RegistryEvent::LotCreated(e) => serde_json::to_value(e),
            RegistryEvent::ItemsSerialized(e) => serde_json::to_value(e),
            RegistryEvent::LotRecalled(e) => serde_json::to_value(e),
        }
        .map_err(encode)?;
        // The four names are valid event types (checked by a unit test).
        let parsed = EventType::parse(event_type).map_err(|e| EventError::Encode {
            event_type,
            source: serde::ser::Error::custom(e),
        })?;
        Ok(Envelope::new(
            parsed,
            self.product_id().to_string(),
            PRODUCER,
            BTreeSet::from([manufacturer.clone()]),
            payload,
        ))
    }

    /// Reads a registry event from an envelope; `Ok(None)` for a type this
    /// code does not know (ignored, so newer producers do not break it).
    pub fn from_envelope(envelope: &Envelope) -> Result<Option<RegistryEvent>, EventError> {
        let event_type = envelope.event_type().as_str();
        if ![
            PRODUCT_REGISTERED,
            LOT_CREATED,
            ITEMS_SERIALIZED,
            LOT_RECALLED,
        ]
        .contains(&event_type)
        {
            return Ok(None);
        }
        if envelope.schema_version() != SCHEMA_VERSION {
            return Err(EventError::Version {
                event_type: event_type.to_owned(),
                event_id: envelope.id(),
                version: envelope.schema_version(),
            });
        }
        let payload = || -> Result<RegistryEvent, serde_json::Error> {
            let value = envelope.payload().clone();
            Ok(match event_type {
                PRODUCT_REGISTERED => {
                    RegistryEvent::ProductRegistered(serde_json::from_value(value)?)
                }
                LOT_CREATED => RegistryEvent::LotCreated(serde_json::from_value(value)?),
                ITEMS_SERIALIZED => RegistryEvent::ItemsSerialized(serde_json::from_value(value)?),
                _ => RegistryEvent::LotRecalled(serde_json::from_value(value)?),
            })
        };
        let event = payload().map_err(|source| EventError::Payload {
            event_type: event_type.to_owned(),
            event_id: envelope.id(),
            source,
        })?;
        if event.product_id().to_string() != envelope.aggregate_id() {
            return Err(EventError::Aggregate {
                event_type: event_type.to_owned(),
                event_id: envelope.id(),
                product_id: event.product_id(),
                aggregate_id: envelope.aggregate_id().to_owned(),
            });
        }
        Ok(Some(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    #[test]
    fn event_types_are_valid_names() {
        for name in [
            PRODUCT_REGISTERED,
            LOT_CREATED,
            ITEMS_SERIALIZED,
            LOT_RECALLED,
        ] {
            EventType::parse(name).unwrap();
        }
    }

    #[test]
    fn round_trips_through_an_envelope() {
        let product_id = Uuid::now_v7();
        let event = RegistryEvent::LotCreated(LotCreated {
            product_id,
            gtin: Gtin::parse("9506000134352").unwrap(),
            lot: Lot::parse("L-1/2").unwrap(),
            produced_at: crate::domain::dates::parse("2024-05-01").unwrap(),
            expires_at: None,
        });
        let envelope = event.to_envelope(&tenant()).unwrap();
        assert_eq!(envelope.aggregate_id(), product_id.to_string());
        assert_eq!(envelope.producer(), PRODUCER);
        assert!(envelope.is_visible_to(&tenant()));
        assert_eq!(envelope.payload()["gtin"], "09506000134352");
        assert_eq!(envelope.payload()["produced_at"], "2024-05-01");
        assert!(envelope.payload().get("expires_at").is_none());
        envelope.canonical_bytes().unwrap();
        assert_eq!(
            RegistryEvent::from_envelope(&envelope).unwrap(),
            Some(event)
        );
    }

    #[test]
    fn unknown_types_are_ignored_and_bad_payloads_refused() {
        let other = Envelope::new(
            EventType::parse("product.renamed").unwrap(),
            "x",
            "registry",
            BTreeSet::new(),
            serde_json::json!({}),
        );
        assert_eq!(RegistryEvent::from_envelope(&other).unwrap(), None);
        let bad = Envelope::new(
            EventType::parse(LOT_RECALLED).unwrap(),
            "x",
            "registry",
            BTreeSet::new(),
            serde_json::json!({"product_id": "nope"}),
        );
        assert!(matches!(
            RegistryEvent::from_envelope(&bad),
            Err(EventError::Payload { .. })
        ));
        let v2 = bad.with_schema_version(2);
        assert!(matches!(
            RegistryEvent::from_envelope(&v2),
            Err(EventError::Version { version: 2, .. })
        ));
    }
}
