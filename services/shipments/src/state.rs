//! [`AppState`]: what every handler shares — the store's typed families,
//! the bus, the projector — and the operations built on them: recording
//! events (publish, wait for the broker's ack, apply), serialising the
//! scans of one shipment, and reading with the caller's visibility.
//!
//! Visibility: a manufacturer sees the shipments it sent, a carrier those
//! it was assigned or held; auditors and admins see all. A shipment the
//! caller may not see is reported as not found.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tracechain_bus::EventBus;
use tracechain_domain::{DomainEvent, Envelope, Role, TenantId};
use tracechain_http::Principal;
use tracechain_projection::Projector;
use tracechain_runtime::idempotency::Reply;
use tracechain_store::{LeaseError, LeaseLock};
use uuid::Uuid;

use crate::domain::events::ShipmentEvent;
use crate::domain::sscc::SsccIssuer;
use crate::error::ShipmentsError;
use crate::metrics::ShipmentsMetrics;
use crate::projection::{Families, SequenceRecord, ShipmentRecord, ShipmentsProjector};
use crate::settings::{ScanSettings, ShipmentsSettings};

/// Roles that may read shipments.
pub const READ_ROLES: [Role; 4] = [
    Role::Manufacturer,
    Role::Carrier,
    Role::Auditor,
    Role::Admin,
];
/// Roles that may create shipments.
pub const CREATE_ROLES: [Role; 2] = [Role::Manufacturer, Role::Admin];
/// Roles that may manage a carrier's devices.
pub const DEVICE_ROLES: [Role; 2] = [Role::Carrier, Role::Admin];

/// What the handlers share (one per process, behind `web::Data`).
pub struct AppState {
    /// The store's typed families.
    pub families: Families,
    /// The event bus.
    pub bus: Arc<dyn EventBus>,
    /// The projector, applied right after each acknowledged publish.
    pub projector: Arc<ShipmentsProjector>,
    /// The topic events are published to.
    pub topic: String,
    /// The label URI base, without a trailing `/`.
    pub base_url: String,
    /// Issues SSCCs.
    pub issuer: SsccIssuer,
    /// Scan acceptance settings.
    pub scans: ScanSettings,
    /// Most items per shipment.
    pub max_items: usize,
    /// How long a scan waits for its shipment's lock.
    pub lock_wait: Duration,
    /// How long a lock may be held.
    pub lock_lease: Duration,
    /// How long first responses to an `Idempotency-Key` are kept.
    pub idempotency_retention: Duration,
    /// Counters.
    pub metrics: ShipmentsMetrics,
    /// This process's reserved SSCC serial references: `next..end`.
    sscc_block: tokio::sync::Mutex<(u64, u64)>,
}

/// SSCC serial references a process reserves at once: one compare-and-set
/// per this many shipments instead of one per shipment, so concurrent
/// creations do not fight over the sequence. References left unused when
/// a process stops are skipped (an SSCC must be unique, not contiguous).
pub const SSCC_BLOCK: u64 = 64;

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("topic", &self.topic)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state for `settings` (already validated).
    pub fn new(
        families: Families,
        bus: Arc<dyn EventBus>,
        projector: Arc<ShipmentsProjector>,
        settings: &ShipmentsSettings,
        issuer: SsccIssuer,
        metrics: ShipmentsMetrics,
    ) -> Self {
        AppState {
            families,
            bus,
            projector,
            topic: settings.topics.shipments.clone(),
            base_url: settings.base_url().to_owned(),
            issuer,
            scans: settings.scans.clone(),
            max_items: settings.limits.max_items_per_shipment,
            lock_wait: settings.lock_wait(),
            lock_lease: settings.lock_lease(),
            idempotency_retention: Duration::from_secs(settings.limits.idempotency_retention_secs),
            metrics,
            sscc_block: tokio::sync::Mutex::new((0, 0)),
        }
    }

    /// Publishes `events` (all about one aggregate, so one partition, in
    /// order) readable by `parties`, waits until the broker acknowledged
    /// every one, then applies them to the projection. `at` is each
    /// event's time; `ids` the first events' ids where the caller fixes them
    /// (a scan's events are named by the scan, so a re-sent scan publishes
    /// the same ids), fresh UUIDv7s for the rest. Returns the
    /// envelopes and whether every one was applied here (if not, the
    /// projection consumer applies it).
    pub async fn record(
        &self,
        events: &[ShipmentEvent],
        parties: &BTreeSet<TenantId>,
        ids: &[Uuid],
        at: OffsetDateTime,
    ) -> Result<(Vec<Envelope>, bool), ShipmentsError> {
        let envelopes = self.publish(events, parties, ids, at).await?;
        let applied = self.apply(&envelopes).await;
        Ok((envelopes, applied))
    }

    /// The publishing half of [`Self::record`]: the envelopes, once the
    /// broker acknowledged every one.
    pub async fn publish(
        &self,
        events: &[ShipmentEvent],
        parties: &BTreeSet<TenantId>,
        ids: &[Uuid],
        at: OffsetDateTime,
    ) -> Result<Vec<Envelope>, ShipmentsError> {
        let mut batch = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            let mut envelope = event
                .envelope(parties.clone())
                .map_err(|e| ShipmentsError::Internal(e.into()))?
                .with_occurred_at(at)
                .map_err(|e| ShipmentsError::Internal(e.into()))?;
            if let Some(id) = ids.get(i).copied() {
                envelope = envelope
                    .with_id(id)
                    .map_err(|e| ShipmentsError::Internal(e.into()))?;
            }
            batch.push((envelope.aggregate_id().as_bytes().to_vec(), envelope));
        }
        let positions = self.bus.publish_batch(&self.topic, &batch).await?;
        for ((_, envelope), position) in batch.iter().zip(&positions) {
            self.metrics.published(envelope.event_type().as_str());
            tracing::info!(
                event_type = envelope.event_type().as_str(),
                event_id = %envelope.id(),
                aggregate_id = envelope.aggregate_id(),
                partition = position.partition,
                offset = position.offset,
                "Event published"
            );
        }
        Ok(batch.into_iter().map(|(_, envelope)| envelope).collect())
    }

    /// The applying half of [`Self::record`]: applies each published
    /// envelope to the projection; false if one failed (the projection
    /// consumer applies it).
    pub async fn apply(&self, envelopes: &[Envelope]) -> bool {
        let store = Arc::clone(&self.families.store);
        let mut applied = true;
        for envelope in envelopes {
            if let Err(error) = self.projector.apply(store.as_ref(), envelope).await {
                applied = false;
                tracing::warn!(%error, event_id = %envelope.id(),
                    "Applying a published event failed; the projection consumer will apply it");
            }
        }
        applied
    }

    /// Runs `work` once per `Idempotency-Key` of `principal`
    /// ([`tracechain_runtime::idempotency`]).
    pub async fn idempotent<T, F, Fut>(
        &self,
        principal: &Principal,
        req: &actix_web::HttpRequest,
        request: &T,
        work: F,
    ) -> Result<actix_web::HttpResponse, ShipmentsError>
    where
        T: serde::Serialize,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Reply, ShipmentsError>>,
    {
        tracechain_runtime::idempotency::idempotent(
            self.families.store.as_ref(),
            self.idempotency_retention,
            principal,
            req,
            request,
            work,
        )
        .await
    }

    /// The next SSCC serial reference of this process's block, reserving a
    /// new block from the shared sequence when it is used up.
    pub async fn next_sscc_sequence(&self) -> Result<u64, ShipmentsError> {
        let mut block = self.sscc_block.lock().await;
        if block.0 >= block.1 {
            let end = self
                .families
                .sequences
                .update(&self.projector.sequence_key(), |current| {
                    Some(SequenceRecord {
                        next: current.map_or(0, |c| c.next) + SSCC_BLOCK,
                    })
                })
                .await?
                .map_or(SSCC_BLOCK, |v| v.value.next);
            *block = (end - SSCC_BLOCK, end);
        }
        let sequence = block.0;
        block.0 += 1;
        Ok(sequence)
    }

    /// Takes the lock serialising changes to shipment `id` (409
    /// `shipment-busy` after the configured wait).
    pub async fn lock_shipment(&self, id: Uuid) -> Result<LeaseLock, ShipmentsError> {
        LeaseLock::acquire(
            Arc::clone(&self.families.store),
            format!("lock:shipment:{id}"),
            self.lock_lease,
            self.lock_wait,
        )
        .await
        .map_err(|error| match error {
            LeaseError::Busy { .. } => ShipmentsError::ShipmentBusy(id),
            LeaseError::Store(error) => ShipmentsError::Store(error),
            other => ShipmentsError::Internal(other.into()),
        })
    }

    /// The shipment `id` if the caller may see it; 404 otherwise.
    pub async fn visible_shipment(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<ShipmentRecord, ShipmentsError> {
        let not_found = || ShipmentsError::ShipmentNotFound(id.chars().take(64).collect());
        let uuid = Uuid::parse_str(id).map_err(|_| not_found())?;
        let record = self
            .families
            .shipments
            .get(&uuid.to_string())
            .await?
            .ok_or_else(not_found)?
            .value;
        if may_see(principal, &record) {
            Ok(record)
        } else {
            Err(not_found())
        }
    }
}

/// Whether `principal` may see `shipment`.
pub fn may_see(principal: &Principal, shipment: &ShipmentRecord) -> bool {
    match principal.role {
        Role::Auditor | Role::Admin => true,
        Role::Manufacturer | Role::Carrier => shipment.involves(&principal.tenant),
        Role::Finance => false,
    }
}
