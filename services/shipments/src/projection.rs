//! The shipments service's state in the store, and the
//! [`ShipmentsProjector`] that derives all of it from two topics:
//! `registry.events` (which serialised items exist, and whose) and
//! `shipment.events` (devices, shipments, scans).
//!
//! Clear the namespace and the projection runner replays both topics from
//! offset 0 into the same state, nonces of accepted scans included — so a
//! replay is refused after a Redis `FLUSHALL` as before it. Handlers apply
//! their own events right after the broker acknowledged them (read your
//! writes); the consumer applies them again, harmlessly.
//!
//! # Families (under the service's namespace)
//!
//! | key | value |
//! |---|---|
//! | `product:{gtin14}` | the manufacturer owning the GTIN (registry) |
//! | `item:{gtin14}:{serial}` | [`ItemRecord`]: its lot (registry) |
//! | `device:{id}` | [`DeviceRecord`] |
//! | `device-key:{public key}` | [`Claim`]: the device holding a public key |
//! | `shipment:{id}` | [`ShipmentRecord`] with its custody chain |
//! | `sscc:{sscc}` | [`Claim`]: the shipment holding an SSCC |
//! | `open-item:{gtin14}:{serial}` | [`Claim`]: the open shipment holding an item |
//! | `sscc-next:{prefix}` | [`SequenceRecord`]: the next SSCC serial reference to try |
//! | index `devices-of:{carrier}` | a carrier's device ids |
//! | index `shipments` | every shipment id, scored by creation time (ms) |
//! | index `shipments-of:{tenant}` | shipments a manufacturer sent or a carrier held |
//! | idempotency `scan:{device}:{nonce}` | completed with the scan's event id |
//!
//! # Idempotency of `apply`
//!
//! Records are created if absent (a replay keeps the first write); a scan
//! is appended only if its event id is not in the custody chain yet, and
//! the state after it is taken from the event, not recomputed, so replays
//! and rebuilds land on the same state; claims are set to their final form
//! (a put) and released only by the shipment holding them.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracechain_domain::{DomainEvent, Envelope, Gtin, Serial, Sscc, TenantId};
use tracechain_projection::{ProjectionError, Projector};
use tracechain_registry::domain::events::RegistryEvent;
use tracechain_store::{Projection, StateStore, StoreError};
use uuid::Uuid;

use crate::domain::events::{
    DeviceRegistered, Place, ScanRecorded, ShipmentCreated, ShipmentEvent,
};
use crate::domain::scan::{GeoLocation, Scan};
use crate::domain::sscc::SsccIssuer;
use crate::domain::state::{Custody, ScanKind, ShipmentState};

/// Index names.
pub mod index {
    use tracechain_domain::TenantId;

    /// Every shipment.
    pub const ALL_SHIPMENTS: &str = "shipments";

    /// A carrier's devices.
    pub fn devices_of(carrier: &TenantId) -> String {
        format!("devices-of:{carrier}")
    }

    /// Shipments a tenant sent or held.
    pub fn shipments_of(tenant: &TenantId) -> String {
        format!("shipments-of:{tenant}")
    }
}

/// The idempotency key recording a device's nonce.
pub fn nonce_key(device: &Uuid, nonce: &str) -> String {
    format!("scan:{device}:{nonce}")
}

/// A serialised item as the registry announced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// Its lot.
    pub lot: String,
}

/// Who owns a unique thing (an SSCC, an item in transit, a device key):
/// final once its event is in the projection, pending (with the time it
/// was taken) while a request holds it before publishing. A pending claim
/// older than the lock lease was left by a crashed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The owning shipment or device.
    pub owner: Uuid,
    /// Unix ms the claim was taken, while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_since_ms: Option<u64>,
}

impl Claim {
    /// A released claim: pending since the epoch, owned by nobody, so it
    /// resolves to nothing and the next claimant takes it over at once.
    pub fn released() -> Claim {
        Claim {
            owner: Uuid::nil(),
            pending_since_ms: Some(0),
        }
    }
}

/// Where an SSCC sequence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceRecord {
    /// The next serial reference to try.
    pub next: u64,
}

/// Whether a device may scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    /// Its scans are accepted.
    Active,
    /// Revoked: its scans are refused.
    Revoked,
}

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The device id.
    pub id: Uuid,
    /// Its carrier.
    pub carrier: TenantId,
    /// Its public key (standard base64 of 32 bytes).
    pub public_key: String,
    /// Its label.
    pub label: String,
    /// Active or revoked.
    pub status: DeviceStatus,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
    /// When it was revoked.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// One accepted scan in a shipment's custody chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustodyEntry {
    /// The `scan.recorded` event id.
    pub event_id: Uuid,
    /// What was scanned.
    pub kind: ScanKind,
    /// The scanning party.
    pub scanned_by: TenantId,
    /// The device.
    pub device_id: Uuid,
    /// When the phone scanned (RFC 3339).
    pub scanned_at: String,
    /// When the service accepted it.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    /// Coordinates of the scan, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoLocation>,
    /// GLN of the place, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gln: Option<String>,
    /// The receiving party of a hand-over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_party: Option<String>,
    /// The phone's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The state after the scan.
    pub state: ShipmentState,
    /// The custodian after the scan.
    pub custodian: TenantId,
}

/// A shipment and its custody chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentRecord {
    /// The shipment id.
    pub id: Uuid,
    /// Its SSCC.
    pub sscc: Sscc,
    /// The sending manufacturer.
    pub manufacturer: TenantId,
    /// The assigned carrier.
    pub carrier: TenantId,
    /// The items' Digital Link URIs.
    pub items: Vec<String>,
    /// Where it leaves from.
    pub origin: Place,
    /// Where it goes.
    pub destination: Place,
    /// When it is due (RFC 3339).
    pub due_by: String,
    /// The rate agreement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement_ref: Option<String>,
    /// When it was created (the event's time).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// State, custodian and where an exception left it.
    pub custody: Custody,
    /// Every party that held it (the assigned carrier first).
    pub holders: Vec<TenantId>,
    /// Accepted scans, in order.
    pub scans: Vec<CustodyEntry>,
}

impl ShipmentRecord {
    /// Whether `tenant` sent or held it.
    pub fn involves(&self, tenant: &TenantId) -> bool {
        self.manufacturer == *tenant || self.holders.contains(tenant)
    }

    /// Every tenant entitled to read its events.
    pub fn parties(&self) -> std::collections::BTreeSet<TenantId> {
        let mut parties: std::collections::BTreeSet<TenantId> =
            self.holders.iter().cloned().collect();
        parties.insert(self.manufacturer.clone());
        parties
    }

    /// The items' GTIN and serial (items are stored as URIs this service
    /// wrote, so they always parse).
    pub fn item_keys(&self) -> Vec<(Gtin, Serial)> {
        self.items.iter().filter_map(|uri| item_key(uri)).collect()
    }
}

/// The GTIN and serial of an item URI.
pub fn item_key(uri: &str) -> Option<(Gtin, Serial)> {
    match tracechain_domain::DigitalLink::parse(uri).ok()?.1 {
        tracechain_domain::DigitalLink::Item {
            gtin,
            serial: Some(serial),
            ..
        } => Some((gtin, serial)),
        _ => None,
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// The typed families of the store.
#[derive(Clone)]
pub struct Families {
    /// The raw store.
    pub store: Arc<dyn StateStore>,
    /// `product:{gtin}` → manufacturer.
    pub products: Projection<TenantId>,
    /// `item:{gtin}:{serial}`.
    pub items: Projection<ItemRecord>,
    /// `device:{id}`.
    pub devices: Projection<DeviceRecord>,
    /// `device-key:{key}`.
    pub device_keys: Projection<Claim>,
    /// `shipment:{id}`.
    pub shipments: Projection<ShipmentRecord>,
    /// `sscc:{sscc}`.
    pub ssccs: Projection<Claim>,
    /// `open-item:{gtin}:{serial}`.
    pub open_items: Projection<Claim>,
    /// `sscc-next:{extension}{prefix}`.
    pub sequences: Projection<SequenceRecord>,
}

impl std::fmt::Debug for Families {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Families")
            .field("namespace", self.store.namespace())
            .finish()
    }
}

impl Families {
    /// The families in `store`.
    pub fn new(store: Arc<dyn StateStore>) -> Result<Families, StoreError> {
        Ok(Families {
            products: Projection::new(Arc::clone(&store), "product")?,
            items: Projection::new(Arc::clone(&store), "item")?,
            devices: Projection::new(Arc::clone(&store), "device")?,
            device_keys: Projection::new(Arc::clone(&store), "device-key")?,
            shipments: Projection::new(Arc::clone(&store), "shipment")?,
            ssccs: Projection::new(Arc::clone(&store), "sscc")?,
            open_items: Projection::new(Arc::clone(&store), "open-item")?,
            sequences: Projection::new(Arc::clone(&store), "sscc-next")?,
            store,
        })
    }

    /// Sets a claim to its final form for `owner`.
    async fn settle_claim(
        family: &Projection<Claim>,
        id: &str,
        owner: Uuid,
    ) -> Result<(), StoreError> {
        family
            .update(id, |current| match current {
                Some(claim) if claim.owner == owner && claim.pending_since_ms.is_none() => None,
                _ => Some(Claim {
                    owner,
                    pending_since_ms: None,
                }),
            })
            .await?;
        Ok(())
    }

    /// Releases a claim if `owner` holds it, by replacing it with
    /// [`Claim::released`] under compare-and-set: a claim taken over
    /// meanwhile stays (a delete could not be conditional, and would race
    /// with the next claimant's compare-and-set).
    pub async fn release_claim(
        family: &Projection<Claim>,
        id: &str,
        owner: Uuid,
    ) -> Result<(), StoreError> {
        if let Some(current) = family.get(id).await?
            && current.value.owner == owner
        {
            family
                .compare_and_set(id, Some(current.version), &Claim::released())
                .await?;
        }
        Ok(())
    }
}

/// The projection of `registry.events` and `shipment.events`.
///
/// It writes through its own typed [`Families`] of the service's store;
/// `apply` refuses a store with another namespace rather than write to the
/// wrong one.
#[derive(Debug, Clone)]
pub struct ShipmentsProjector {
    families: Families,
    name: String,
    topics: Vec<String>,
    issuer: SsccIssuer,
    base_url: String,
    nonce_retention: std::time::Duration,
}

impl ShipmentsProjector {
    /// A projector named `name` writing to `families`, reading
    /// `shipments_topic` and `registry_topic`.
    pub fn new(
        families: Families,
        name: String,
        shipments_topic: String,
        registry_topic: String,
        issuer: SsccIssuer,
        base_url: String,
        nonce_retention: std::time::Duration,
    ) -> Self {
        ShipmentsProjector {
            families,
            name,
            topics: vec![registry_topic, shipments_topic],
            issuer,
            base_url,
            nonce_retention,
        }
    }

    async fn apply_registry(
        &self,
        families: &Families,
        event: RegistryEvent,
    ) -> Result<(), StoreError> {
        match event {
            RegistryEvent::ProductRegistered(product) => {
                let gtin = product.gtin.to_string();
                if families.products.get(&gtin).await?.is_none() {
                    families.products.put(&gtin, &product.manufacturer).await?;
                }
            }
            RegistryEvent::ItemsSerialized(batch) => {
                let record = ItemRecord {
                    lot: batch.lot.to_string(),
                };
                for serial in &batch.serials {
                    let id = format!("{}:{serial}", batch.gtin);
                    families.items.compare_and_set(&id, None, &record).await?;
                }
            }
            RegistryEvent::LotCreated(_) | RegistryEvent::LotRecalled(_) => {}
        }
        Ok(())
    }

    async fn apply_created(
        &self,
        families: &Families,
        created: &ShipmentCreated,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let id = created.shipment_id.to_string();
        let record = ShipmentRecord {
            id: created.shipment_id,
            sscc: created.sscc.clone(),
            manufacturer: created.manufacturer.clone(),
            carrier: created.carrier.clone(),
            items: created.items.clone(),
            origin: created.origin.clone(),
            destination: created.destination.clone(),
            due_by: created.due_by.clone(),
            agreement_ref: created.agreement_ref.clone(),
            created_at: at,
            custody: Custody::new(created.carrier.clone()),
            holders: vec![created.carrier.clone()],
            scans: Vec::new(),
        };
        let fresh = families
            .shipments
            .compare_and_set(&id, None, &record)
            .await?
            .is_applied();
        let score = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let store = families.store.as_ref();
        store.index_add(index::ALL_SHIPMENTS, &id, score).await?;
        store
            .index_add(&index::shipments_of(&created.manufacturer), &id, score)
            .await?;
        store
            .index_add(&index::shipments_of(&created.carrier), &id, score)
            .await?;
        Families::settle_claim(&families.ssccs, created.sscc.as_str(), created.shipment_id).await?;
        // An item's claim is settled only while the shipment is open: a
        // replay of a delivered shipment's creation must not re-take items
        // a later shipment holds.
        let open = match families.shipments.get(&id).await? {
            Some(current) => current.value.custody.state.is_open(),
            None => fresh,
        };
        if open {
            for uri in &created.items {
                if let Some((gtin, serial)) = item_key(uri) {
                    let key = format!("{gtin}:{serial}");
                    let taken_by_other = families.open_items.get(&key).await?.is_some_and(|c| {
                        c.value.owner != created.shipment_id && !c.value.owner.is_nil()
                    });
                    if !taken_by_other {
                        Families::settle_claim(&families.open_items, &key, created.shipment_id)
                            .await?;
                    }
                }
            }
        }
        if let Some(sequence) = self.issuer.sequence_of(&created.sscc) {
            let prefix = self.sequence_key();
            families
                .sequences
                .update(&prefix, |current| match current {
                    Some(seq) if seq.next > sequence => None,
                    _ => Some(SequenceRecord { next: sequence + 1 }),
                })
                .await?;
        }
        Ok(())
    }

    /// The `sscc-next` id of this issuer.
    pub fn sequence_key(&self) -> String {
        self.issuer.key()
    }

    /// The custody entry a `scan.recorded` adds, and the nonce it used.
    fn scan_entry(
        scan: &ScanRecorded,
        event_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<(CustodyEntry, String), ProjectionError> {
        let signed: Scan = serde_json::from_value(scan.signed.clone()).map_err(|e| {
            ProjectionError::Invalid(format!("scan.recorded {event_id}: signed scan: {e}"))
        })?;
        let entry = CustodyEntry {
            event_id,
            kind: scan.kind,
            scanned_by: scan.scanned_by.clone(),
            device_id: scan.device_id,
            scanned_at: signed.scanned_at,
            recorded_at: at,
            location: signed.location,
            gln: signed.gln,
            to_party: signed.to_party,
            note: signed.note,
            state: scan.state,
            custodian: scan.custodian.clone(),
        };
        Ok((entry, signed.nonce))
    }

    /// `current` with the scan applied; `None` when it already holds it.
    /// The state after the scan is the event's, not recomputed, so replays
    /// and rebuilds land on the same state.
    fn with_scan(
        current: &ShipmentRecord,
        scan: &ScanRecorded,
        entry: &CustodyEntry,
    ) -> Option<ShipmentRecord> {
        if current.scans.iter().any(|s| s.event_id == entry.event_id) {
            return None;
        }
        let mut next = current.clone();
        let before = &current.custody;
        next.custody = Custody {
            state: scan.state,
            custodian: scan.custodian.clone(),
            resume: (scan.state == ShipmentState::Exception).then(|| match before.state {
                ShipmentState::Exception => before.resume.unwrap_or(ShipmentState::Created),
                other => other,
            }),
        };
        if !next.holders.contains(&scan.custodian) {
            next.holders.push(scan.custodian.clone());
        }
        next.scans.push(entry.clone());
        Some(next)
    }

    async fn apply_scan(
        &self,
        families: &Families,
        scan: &ScanRecorded,
        event_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<(), ProjectionError> {
        let (entry, nonce) = Self::scan_entry(scan, event_id, at)?;
        let id = scan.shipment_id.to_string();
        let updated = families
            .shipments
            .update(&id, |current| Self::with_scan(current?, scan, &entry))
            .await?;
        let Some(record) = updated else {
            return Err(ProjectionError::Invalid(format!(
                "scan.recorded {event_id} is for shipment {id}, which has no shipment.created before it"
            )));
        };
        self.after_scan(families, &record.value, scan, &nonce, event_id)
            .await
    }

    /// Applies a `scan.recorded` its publisher built from `record`, read
    /// at `version` under the shipment's lock: one compare-and-set instead
    /// of a read and one. False when the record moved since (then apply
    /// the envelope with [`Projector::apply`]).
    pub async fn apply_scan_over(
        &self,
        envelope: &Envelope,
        version: u64,
        record: &ShipmentRecord,
    ) -> Result<bool, ProjectionError> {
        let Ok(Some(ShipmentEvent::ScanRecorded(scan))) = ShipmentEvent::read(envelope) else {
            return Ok(false);
        };
        let (entry, nonce) = Self::scan_entry(&scan, envelope.id(), envelope.occurred_at())?;
        let Some(next) = Self::with_scan(record, &scan, &entry) else {
            return Ok(false);
        };
        let families = &self.families;
        let applied = families
            .shipments
            .compare_and_set(&record.id.to_string(), Some(version), &next)
            .await?
            .is_applied();
        if applied {
            self.after_scan(families, &next, &scan, &nonce, envelope.id())
                .await?;
        }
        Ok(applied)
    }

    /// What follows a scan's write: the holder's index, the nonce, and on
    /// delivery the items' release. Each is idempotent.
    async fn after_scan(
        &self,
        families: &Families,
        record: &ShipmentRecord,
        scan: &ScanRecorded,
        nonce: &str,
        event_id: Uuid,
    ) -> Result<(), ProjectionError> {
        let id = record.id.to_string();
        let store = families.store.as_ref();
        let score =
            u64::try_from(record.created_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        // The assigned carrier was indexed at creation; a party it was
        // handed to is indexed by every scan it holds (a set add, so a
        // replay after a crash between these writes repairs the index).
        if scan.custodian != record.carrier {
            store
                .index_add(&index::shipments_of(&scan.custodian), &id, score)
                .await?;
        }
        store
            .idempotency_complete(
                &nonce_key(&scan.device_id, nonce),
                event_id.to_string().as_bytes(),
                self.nonce_retention,
            )
            .await?;
        if !record.custody.state.is_open() {
            for (gtin, serial) in record.item_keys() {
                Families::release_claim(
                    &families.open_items,
                    &format!("{gtin}:{serial}"),
                    record.id,
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn apply_device(
        &self,
        families: &Families,
        device: &DeviceRegistered,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let record = DeviceRecord {
            id: device.device_id,
            carrier: device.carrier.clone(),
            public_key: device.public_key.clone(),
            label: device.label.clone(),
            status: DeviceStatus::Active,
            registered_at: at,
            revoked_at: None,
        };
        let id = device.device_id.to_string();
        families.devices.compare_and_set(&id, None, &record).await?;
        families
            .store
            .index_add(&index::devices_of(&device.carrier), &id, 0)
            .await?;
        Families::settle_claim(&families.device_keys, &device.public_key, device.device_id).await
    }
}

#[async_trait]
impl Projector for ShipmentsProjector {
    fn name(&self) -> &str {
        &self.name
    }

    fn topics(&self) -> Vec<String> {
        self.topics.clone()
    }

    async fn apply(
        &self,
        store: &dyn StateStore,
        envelope: &Envelope,
    ) -> Result<(), ProjectionError> {
        let families = &self.families;
        if store.namespace() != families.store.namespace() {
            return Err(ProjectionError::Invalid(format!(
                "the shipments projection writes to namespace {}, not {}",
                families.store.namespace(),
                store.namespace()
            )));
        }
        let at = envelope.occurred_at();
        match envelope.producer() {
            tracechain_registry::domain::events::PRODUCER => {
                match RegistryEvent::read(envelope) {
                    Ok(Some(event)) => self.apply_registry(families, event).await?,
                    Ok(None) => {}
                    Err(error) => return Err(ProjectionError::Invalid(error.to_string())),
                }
                return Ok(());
            }
            crate::domain::events::PRODUCER => {}
            _ => return Ok(()),
        }
        let event = match ShipmentEvent::read(envelope) {
            Ok(Some(event)) => event,
            Ok(None) => return Ok(()),
            Err(error) => return Err(ProjectionError::Invalid(error.to_string())),
        };
        match &event {
            ShipmentEvent::Created(created) => self.apply_created(families, created, at).await?,
            ShipmentEvent::ScanRecorded(scan) => {
                self.apply_scan(families, scan, envelope.id(), at).await?;
            }
            ShipmentEvent::DeviceRegistered(device) => {
                self.apply_device(families, device, at).await?;
            }
            ShipmentEvent::DeviceRevoked(revoked) => {
                families
                    .devices
                    .update(&revoked.device_id.to_string(), |current| {
                        let current = current?;
                        (current.status == DeviceStatus::Active).then(|| DeviceRecord {
                            status: DeviceStatus::Revoked,
                            revoked_at: Some(at),
                            ..current.clone()
                        })
                    })
                    .await?;
            }
            // The scan.recorded before them already changed the state.
            ShipmentEvent::Delivered(_) | ShipmentEvent::Exception(_) => {}
        }
        Ok(())
    }
}

/// The place of a scan, for listings.
pub fn place_of(entry: &CustodyEntry) -> Place {
    Place {
        gln: entry.gln.clone(),
        address: None,
        lat: entry.location.as_ref().map(|l| l.lat),
        lon: entry.location.as_ref().map(|l| l.lon),
    }
}

impl ShipmentsProjector {
    /// The Digital Link base the items were normalised to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}
