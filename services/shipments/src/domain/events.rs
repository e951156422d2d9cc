//! The shipments service's events on `shipment.events`, schema version 1,
//! each keyed by the shipment id (its aggregate id), so all events of one
//! shipment are in one partition, in order. Parties: the manufacturer, the
//! assigned carrier and every party that held the shipment.
//!
//! | type | payload |
//! |---|---|
//! | `shipment.created` | [`ShipmentCreated`] |
//! | `scan.recorded` | [`ScanRecorded`]: every accepted scan, with the exact bytes the phone signed and its signature, so anyone can check it again from the ledger |
//! | `shipment.delivered` | [`ShipmentDelivered`]: what settlement charges for, once anchored |
//! | `shipment.exception` | [`ShipmentException`] |
//! | `device.registered` | [`DeviceRegistered`]: a carrier's phone key (keyed by the device id) |
//! | `device.revoked` | [`DeviceRevoked`] (keyed by the device id) |
//!
//! Device events are on the same topic so that the ledger anchors every
//! key a scan was ever verified with, and a device's registration is
//! always before its revocation (one key, one partition).

use serde::{Deserialize, Serialize};
use tracechain_domain::{DomainEvent, Sscc, TenantId};
use uuid::Uuid;

use super::state::{ScanKind, ShipmentState};

/// The producer name on every shipments envelope.
pub const PRODUCER: &str = "shipments";
/// The payload schema version written and read.
pub const SCHEMA_VERSION: u32 = 1;
/// `shipment.created`.
pub const SHIPMENT_CREATED: &str = "shipment.created";
/// `scan.recorded`.
pub const SCAN_RECORDED: &str = "scan.recorded";
/// `shipment.delivered`.
pub const SHIPMENT_DELIVERED: &str = "shipment.delivered";
/// `shipment.exception`.
pub const SHIPMENT_EXCEPTION: &str = "shipment.exception";
/// `device.registered`.
pub const DEVICE_REGISTERED: &str = "device.registered";
/// `device.revoked`.
pub const DEVICE_REVOKED: &str = "device.revoked";

/// A place: a GLN, or an address with coordinates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    /// The GLN-13 of the place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gln: Option<String>,
    /// A postal address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Latitude of the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude of the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

/// A manufacturer created a shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentCreated {
    /// The shipment id (UUIDv7), the aggregate id.
    pub shipment_id: Uuid,
    /// Its label's SSCC-18.
    pub sscc: Sscc,
    /// The shipping manufacturer.
    pub manufacturer: TenantId,
    /// The assigned carrier.
    pub carrier: TenantId,
    /// The items' GS1 Digital Link URIs.
    pub items: Vec<String>,
    /// Where it leaves from.
    pub origin: Place,
    /// Where it goes.
    pub destination: Place,
    /// When it is due (RFC 3339, UTC).
    pub due_by: String,
    /// The rate agreement settlement charges under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement_ref: Option<String>,
}

/// A scan was accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRecorded {
    /// The shipment.
    pub shipment_id: Uuid,
    /// Its SSCC.
    pub sscc: Sscc,
    /// What the scan records.
    pub kind: ScanKind,
    /// The device that signed it.
    pub device_id: Uuid,
    /// The device's carrier: the scanning party.
    pub scanned_by: TenantId,
    /// The scan object the phone signed, exactly as sent (without `signature`).
    pub signed: serde_json::Value,
    /// The phone's ed25519 signature over its RFC 8785 bytes (base64).
    pub signature: String,
    /// The state after the scan.
    pub state: ShipmentState,
    /// The custodian after the scan.
    pub custodian: TenantId,
    /// The EPCIS 2.0 ObjectEvent of the scan.
    pub epcis: serde_json::Value,
}

/// A shipment was delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentDelivered {
    /// The shipment.
    pub shipment_id: Uuid,
    /// Its SSCC.
    pub sscc: Sscc,
    /// The assigned carrier (the one the freight fee is owed to).
    pub carrier: TenantId,
    /// The party that delivered it.
    pub delivered_by: TenantId,
    /// When the delivery was scanned (RFC 3339, UTC).
    pub delivered_at: String,
    /// When it was due.
    pub due_by: String,
    /// The rate agreement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement_ref: Option<String>,
    /// The id of the `scan.recorded` event of the delivery scan.
    pub scan_event_id: Uuid,
}

/// A problem was reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentException {
    /// The shipment.
    pub shipment_id: Uuid,
    /// Its SSCC.
    pub sscc: Sscc,
    /// Who reported it.
    pub reported_by: TenantId,
    /// When it was scanned (RFC 3339, UTC).
    pub reported_at: String,
    /// What the phone said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The id of the `scan.recorded` event of the exception scan.
    pub scan_event_id: Uuid,
}

/// A carrier registered a phone's ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRegistered {
    /// The device id (UUIDv7), the aggregate id.
    pub device_id: Uuid,
    /// The carrier the device scans for.
    pub carrier: TenantId,
    /// The raw 32-byte public key, standard base64.
    pub public_key: String,
    /// What the carrier calls the phone.
    pub label: String,
}

/// A carrier revoked a device: its later scans are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRevoked {
    /// The device id.
    pub device_id: Uuid,
    /// Its carrier.
    pub carrier: TenantId,
}

/// Every shipments event.
#[derive(Debug, Clone, PartialEq)]
pub enum ShipmentEvent {
    /// `shipment.created`.
    Created(ShipmentCreated),
    /// `scan.recorded`.
    ScanRecorded(Box<ScanRecorded>),
    /// `shipment.delivered`.
    Delivered(ShipmentDelivered),
    /// `shipment.exception`.
    Exception(ShipmentException),
    /// `device.registered`.
    DeviceRegistered(DeviceRegistered),
    /// `device.revoked`.
    DeviceRevoked(DeviceRevoked),
}

impl ShipmentEvent {
    /// The aggregate it is about: the shipment, or the device.
    pub fn aggregate(&self) -> Uuid {
        match self {
            ShipmentEvent::Created(e) => e.shipment_id,
            ShipmentEvent::ScanRecorded(e) => e.shipment_id,
            ShipmentEvent::Delivered(e) => e.shipment_id,
            ShipmentEvent::Exception(e) => e.shipment_id,
            ShipmentEvent::DeviceRegistered(e) => e.device_id,
            ShipmentEvent::DeviceRevoked(e) => e.device_id,
        }
    }
}

impl DomainEvent for ShipmentEvent {
    const PRODUCER: &'static str = PRODUCER;
    const SCHEMA_VERSION: u32 = SCHEMA_VERSION;
    const EVENT_TYPES: &'static [&'static str] = &[
        SHIPMENT_CREATED,
        SCAN_RECORDED,
        SHIPMENT_DELIVERED,
        SHIPMENT_EXCEPTION,
        DEVICE_REGISTERED,
        DEVICE_REVOKED,
    ];

    fn event_type(&self) -> &'static str {
        match self {
            ShipmentEvent::Created(_) => SHIPMENT_CREATED,
            ShipmentEvent::ScanRecorded(_) => SCAN_RECORDED,
            ShipmentEvent::Delivered(_) => SHIPMENT_DELIVERED,
            ShipmentEvent::Exception(_) => SHIPMENT_EXCEPTION,
            ShipmentEvent::DeviceRegistered(_) => DEVICE_REGISTERED,
            ShipmentEvent::DeviceRevoked(_) => DEVICE_REVOKED,
        }
    }

    fn aggregate_id(&self) -> String {
        self.aggregate().to_string()
    }

    fn to_payload(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            ShipmentEvent::Created(e) => serde_json::to_value(e),
            ShipmentEvent::ScanRecorded(e) => serde_json::to_value(e),
            ShipmentEvent::Delivered(e) => serde_json::to_value(e),
            ShipmentEvent::Exception(e) => serde_json::to_value(e),
            ShipmentEvent::DeviceRegistered(e) => serde_json::to_value(e),
            ShipmentEvent::DeviceRevoked(e) => serde_json::to_value(e),
        }
    }

    fn from_payload(
        event_type: &str,
        payload: serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        Ok(match event_type {
            SHIPMENT_CREATED => ShipmentEvent::Created(serde_json::from_value(payload)?),
            SCAN_RECORDED => {
                ShipmentEvent::ScanRecorded(Box::new(serde_json::from_value(payload)?))
            }
            SHIPMENT_DELIVERED => ShipmentEvent::Delivered(serde_json::from_value(payload)?),
            DEVICE_REGISTERED => ShipmentEvent::DeviceRegistered(serde_json::from_value(payload)?),
            DEVICE_REVOKED => ShipmentEvent::DeviceRevoked(serde_json::from_value(payload)?),
            _ => ShipmentEvent::Exception(serde_json::from_value(payload)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use tracechain_domain::EventType;

    use super::*;

    fn t(name: &str) -> TenantId {
        TenantId::parse(name).unwrap()
    }

    #[test]
    fn event_types_are_valid_names() {
        for name in ShipmentEvent::EVENT_TYPES {
            EventType::parse(name).unwrap();
        }
    }

    #[test]
    fn every_event_round_trips_through_its_envelope_and_canonical_bytes() {
        let shipment_id = Uuid::now_v7();
        let sscc = Sscc::parse("106141412345678908").unwrap();
        let created = ShipmentEvent::Created(ShipmentCreated {
            shipment_id,
            sscc: sscc.clone(),
            manufacturer: t("acme"),
            carrier: t("fastfreight"),
            items: vec!["https://id.example.com/01/09506000134352/10/L1/21/S1".to_owned()],
            origin: Place {
                gln: Some("9506000134352".to_owned()),
                address: None,
                lat: None,
                lon: None,
            },
            destination: Place {
                gln: None,
                address: Some("1 Dock Road, Rotterdam".to_owned()),
                lat: Some(51.9),
                lon: Some(4.5),
            },
            due_by: "2026-11-30T12:00:00Z".to_owned(),
            agreement_ref: Some("rate-2026-eu".to_owned()),
        });
        let delivered = ShipmentEvent::Delivered(ShipmentDelivered {
            shipment_id,
            sscc,
            carrier: t("fastfreight"),
            delivered_by: t("lastmile"),
            delivered_at: "2026-11-29T09:00:00Z".to_owned(),
            due_by: "2026-11-30T12:00:00Z".to_owned(),
            agreement_ref: None,
            scan_event_id: Uuid::now_v7(),
        });
        let device = ShipmentEvent::DeviceRegistered(DeviceRegistered {
            device_id: Uuid::now_v7(),
            carrier: t("fastfreight"),
            public_key: "A".repeat(43) + "=",
            label: "phone 1".to_owned(),
        });
        for event in [created, delivered, device] {
            let envelope = event
                .envelope(BTreeSet::from([t("acme"), t("fastfreight")]))
                .unwrap();
            assert_eq!(envelope.aggregate_id(), event.aggregate().to_string());
            assert_eq!(envelope.producer(), PRODUCER);
            envelope.canonical_bytes().unwrap();
            let bytes = serde_json::to_vec(&envelope).unwrap();
            let back: tracechain_domain::Envelope = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(ShipmentEvent::read(&back).unwrap(), Some(event));
        }
    }
}
