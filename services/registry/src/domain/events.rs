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
use tracechain_domain::{DomainEvent, Envelope, Gtin, Lot, Serial, TenantId};
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

pub use tracechain_domain::EventError;

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
        self.envelope(BTreeSet::from([manufacturer.clone()]))
    }

    /// Reads a registry event from an envelope; `Ok(None)` for a type this
    /// code does not know (ignored, so newer producers do not break it).
    pub fn from_envelope(envelope: &Envelope) -> Result<Option<RegistryEvent>, EventError> {
        RegistryEvent::read(envelope)
    }
}

impl DomainEvent for RegistryEvent {
    const PRODUCER: &'static str = PRODUCER;
    const SCHEMA_VERSION: u32 = SCHEMA_VERSION;
    const EVENT_TYPES: &'static [&'static str] = &[
        PRODUCT_REGISTERED,
        LOT_CREATED,
        ITEMS_SERIALIZED,
        LOT_RECALLED,
    ];

    fn event_type(&self) -> &'static str {
        RegistryEvent::event_type(self)
    }

    fn aggregate_id(&self) -> String {
        self.product_id().to_string()
    }

    fn to_payload(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            RegistryEvent::ProductRegistered(e) => serde_json::to_value(e),
            RegistryEvent::LotCreated(e) => serde_json::to_value(e),
            RegistryEvent::ItemsSerialized(e) => serde_json::to_value(e),
            RegistryEvent::LotRecalled(e) => serde_json::to_value(e),
        }
    }

    fn from_payload(
        event_type: &str,
        payload: serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        Ok(match event_type {
            PRODUCT_REGISTERED => {
                RegistryEvent::ProductRegistered(serde_json::from_value(payload)?)
            }
            LOT_CREATED => RegistryEvent::LotCreated(serde_json::from_value(payload)?),
            ITEMS_SERIALIZED => RegistryEvent::ItemsSerialized(serde_json::from_value(payload)?),
            _ => RegistryEvent::LotRecalled(serde_json::from_value(payload)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use tracechain_domain::EventType;

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
