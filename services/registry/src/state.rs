//! [`AppState`]: what every handler shares — the store, the bus, the
//! projector — and the operations built on them: reading records with the
//! caller's visibility rules, serialising writes to one product, and
//! recording an event (publish, wait for the broker's ack, apply).
//!
//! Visibility: a manufacturer sees its own products; auditors and admins
//! see all; a product the caller may not see is reported as not found.
//! Writes: a manufacturer changes its own products, an admin any.
//!
//! Products are immutable once registered, so their records are cached in
//! memory (bounded); lots and items, which change (recalls, new batches),
//! are always read from the store.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tracechain_bus::EventBus;
use tracechain_domain::{Envelope, Gtin, Lot, Role, Serial, TenantId};
use tracechain_http::{AuthError, Principal};
use tracechain_projection::Projector;
use tracechain_store::{LeaseError, LeaseLock, StateStore};
use uuid::Uuid;

use crate::cache::ResolverCache;
use crate::domain::events::RegistryEvent;
use crate::error::RegistryError;
use crate::metrics::RegistryMetrics;
use crate::projection::{
    ItemRecord, LotRecord, ProductRecord, RegistryProjector, claim, decode, get_json, keys,
};
use crate::settings::{RegistryLimits, RegistrySettings};

/// Most product records kept in memory; the cache is emptied when full.
const PRODUCT_CACHE_CAPACITY: usize = 10_000;

/// Roles that may read products.
pub const READ_ROLES: [Role; 3] = [Role::Manufacturer, Role::Auditor, Role::Admin];
/// Roles that may write products.
pub const WRITE_ROLES: [Role; 2] = [Role::Manufacturer, Role::Admin];

/// What the handlers share (one per process, behind `web::Data`).
pub struct AppState {
    /// The state store (projection, claims, locks, idempotency keys).
    pub store: Arc<dyn StateStore>,
    /// The event bus.
    pub bus: Arc<dyn EventBus>,
    /// The projector, applied right after each acknowledged publish.
    pub projector: Arc<RegistryProjector>,
    /// The topic events are published to.
    pub topic: String,
    /// The Digital Link base, without a trailing `/`.
    pub base_url: String,
    /// Request limits.
    pub limits: RegistryLimits,
    /// The registry's counters.
    pub metrics: RegistryMetrics,
    /// The resolver's cache (kept fresh by the projector).
    pub cache: Arc<ResolverCache>,
    /// Product records by id (immutable, so never stale).
    products: RwLock<HashMap<Uuid, Arc<ProductRecord>>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("topic", &self.topic)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The shared state for `settings` (topic, Digital Link base, limits).
    pub fn new(
        store: Arc<dyn StateStore>,
        bus: Arc<dyn EventBus>,
        projector: Arc<RegistryProjector>,
        settings: &RegistrySettings,
        metrics: RegistryMetrics,
        cache: Arc<ResolverCache>,
    ) -> Self {
        AppState {
            store,
            bus,
            projector,
            topic: settings.topic.name.clone(),
            base_url: settings.base_url().to_owned(),
            limits: settings.limits.clone(),
            metrics,
            cache,
            products: RwLock::new(HashMap::new()),
        }
    }

    /// A product record by id, from the cache or the store.
    pub async fn product(&self, id: Uuid) -> Result<Option<Arc<ProductRecord>>, RegistryError> {
        if let Some(product) = self
            .products
            .read()
            .ok()
            .and_then(|cache| cache.get(&id).cloned())
        {
            return Ok(Some(product));
        }
        let Some((_, record)) =
            get_json::<ProductRecord>(self.store.as_ref(), &keys::product(&id)).await?
        else {
            return Ok(None);
        };
        let record = Arc::new(record);
        if let Ok(mut cache) = self.products.write() {
            if cache.len() >= PRODUCT_CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(id, Arc::clone(&record));
        }
        Ok(Some(record))
    }

    /// The product `id` as `principal` may see it: 400 if `id` is not a
    /// product id, 404 if absent or another tenant's (for a manufacturer).
    pub async fn visible_product(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<Arc<ProductRecord>, RegistryError> {
        let uuid = parse_product_id(id)?;
        match self.product(uuid).await? {
            Some(product) if may_see(principal, &product.manufacturer) => Ok(product),
            _ => Err(RegistryError::ProductNotFound(id.to_owned())),
        }
    }

    /// The product `id` as `principal` may change it (role checked first).
    pub async fn writable_product(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<Arc<ProductRecord>, RegistryError> {
        principal.require_role(&WRITE_ROLES)?;
        self.visible_product(principal, id).await
    }

    /// A lot record.
    pub async fn lot(&self, gtin: &Gtin, lot: &Lot) -> Result<Option<LotRecord>, RegistryError> {
        Ok(
            get_json::<LotRecord>(self.store.as_ref(), &keys::lot(gtin, lot))
                .await?
                .map(|(_, record)| record),
        )
    }

    /// The lot `lot` of `product`, or 404 naming both.
    pub async fn existing_lot(
        &self,
        product: &ProductRecord,
        lot: &Lot,
    ) -> Result<LotRecord, RegistryError> {
        self.lot(&product.gtin, lot)
            .await?
            .ok_or_else(|| RegistryError::LotNotFound {
                product: product.id.to_string(),
                lot: lot.to_string(),
            })
    }

    /// Product records for many ids, in order (cache first, one store round
    /// trip for the rest).
    pub async fn products(
        &self,
        ids: &[Uuid],
    ) -> Result<Vec<Option<Arc<ProductRecord>>>, RegistryError> {
        let mut out: Vec<Option<Arc<ProductRecord>>> = {
            let cache = self.products.read().ok();
            ids.iter()
                .map(|id| cache.as_ref().and_then(|c| c.get(id).cloned()))
                .collect()
        };
        let missing: Vec<usize> = (0..ids.len()).filter(|i| out[*i].is_none()).collect();
        if missing.is_empty() {
            return Ok(out);
        }
        let keys: Vec<String> = missing.iter().map(|i| keys::product(&ids[*i])).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let found = self.store.get_many(&refs).await?;
        for ((i, key), raw) in missing.into_iter().zip(&keys).zip(found) {
            if let Some(raw) = raw {
                let record = Arc::new(decode::<ProductRecord>(key, &raw.value)?);
                if let Ok(mut cache) = self.products.write() {
                    if cache.len() >= PRODUCT_CACHE_CAPACITY {
                        cache.clear();
                    }
                    cache.insert(ids[i], Arc::clone(&record));
                }
                out[i] = Some(record);
            }
        }
        Ok(out)
    }

    /// The registered product owning `gtin` (a pending claim does not count).
    pub async fn product_by_gtin(
        &self,
        gtin: &Gtin,
    ) -> Result<Option<Arc<ProductRecord>>, RegistryError> {
        let Some(raw) = self.store.get(&keys::gtin(gtin)).await? else {
            return Ok(None);
        };
        match claim::parse(&raw.value) {
            Some((id, _)) => self.product(id).await,
            None => Ok(None),
        }
    }

    /// An item record.
    pub async fn item(
        &self,
        gtin: &Gtin,
        serial: &Serial,
    ) -> Result<Option<ItemRecord>, RegistryError> {
        Ok(
            get_json::<ItemRecord>(self.store.as_ref(), &keys::item(gtin, serial))
                .await?
                .map(|(_, record)| record),
        )
    }

    /// Claims `gtin` for the not-yet-registered `product` before its event
    /// is published: 409 when another product owns it or is registering it.
    /// A pending claim older than the product lock lease whose product never
    /// appeared (its request crashed) is taken over.
    pub async fn claim_gtin(&self, gtin: &Gtin, product: &Uuid) -> Result<(), RegistryError> {
        let key = keys::gtin(gtin);
        let mine = claim::pending(product, now_ms());
        let mut expected = None;
        for _ in 0..3 {
            if self
                .store
                .compare_and_set(&key, expected, mine.as_bytes())
                .await?
                .is_applied()
            {
                return Ok(());
            }
            let Some(current) = self.store.get(&key).await? else {
                expected = None;
                continue;
            };
            let stale = match claim::parse(&current.value) {
                Some((owner, Some(at))) => {
                    let lease = u64::try_from(self.limits.product_lock_lease().as_millis())
                        .unwrap_or(u64::MAX);
                    now_ms().saturating_sub(at) > lease && self.product(owner).await?.is_none()
                }
                Some((_, None)) => false,
                // Unreadable: not ours to judge; treat as taken.
                None => false,
            };
            if !stale {
                return Err(RegistryError::DuplicateGtin(gtin.to_string()));
            }
            tracing::warn!(%gtin, "Taking over a stale GTIN claim left by a failed registration");
            expected = Some(current.version);
        }
        Err(RegistryError::DuplicateGtin(gtin.to_string()))
    }

    /// Releases `product`'s claim on `gtin` after its event could not be
    /// published (leaves any other owner's claim alone).
    pub async fn release_gtin(&self, gtin: &Gtin, product: &Uuid) {
        let key = keys::gtin(gtin);
        let result = async {
            if let Some(current) = self.store.get(&key).await?
                && matches!(claim::parse(&current.value), Some((owner, Some(_))) if &owner == product)
            {
                self.store.delete(&key).await?;
            }
            Ok::<(), tracechain_store::StoreError>(())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(%error, %gtin, "Releasing a GTIN claim failed; it becomes reclaimable after the lock lease");
        }
    }

    /// Publishes `event` for `manufacturer`, waits for the broker's
    /// acknowledgement, then applies it to the projection so the caller
    /// reads its own write. A failed apply is logged, not reported: the
    /// event is recorded and the projection consumer applies it again.
    pub async fn record(
        &self,
        event: &RegistryEvent,
        manufacturer: &TenantId,
    ) -> Result<Envelope, RegistryError> {
        let envelope = event
            .to_envelope(manufacturer)
            .map_err(|e| RegistryError::Internal(e.into()))?;
        let key = envelope.aggregate_id().as_bytes().to_vec();
        let position = self.bus.publish(&self.topic, &key, &envelope).await?;
        self.metrics.published(event.event_type());
        if let RegistryEvent::ItemsSerialized(batch) = event {
            self.metrics
                .items_serialized
                .inc_by(batch.serials.len() as u64);
        }
        tracing::info!(
            event_type = event.event_type(),
            event_id = %envelope.id(),
            product_id = %event.product_id(),
            partition = position.partition,
            offset = position.offset,
            "Event published"
        );
        if let Err(error) = self.projector.apply(self.store.as_ref(), &envelope).await {
            tracing::warn!(%error, event_id = %envelope.id(),
                "Applying a published event failed; the projection consumer will apply it");
        }
        Ok(envelope)
    }

    /// Takes the lock that serialises writes to product `id`, waiting up to
    /// the configured time (409 `product-busy` after that). Release it with
    /// [`LeaseLock::release`]; dropped while held, it is released in the
    /// background, and if the process dies its lease expires.
    pub async fn lock_product(&self, id: Uuid) -> Result<ProductLock, RegistryError> {
        LeaseLock::acquire(
            Arc::clone(&self.store),
            keys::product_lock(&id),
            self.limits.product_lock_lease(),
            self.limits.product_lock_wait(),
        )
        .await
        .map_err(|error| match error {
            LeaseError::Busy { .. } => RegistryError::ProductBusy(id.to_string()),
            LeaseError::Store(error) => RegistryError::Store(error),
            // Lock keys are never completed; a completed one is corrupt state.
            corrupt @ LeaseError::Corrupt { .. } => RegistryError::Internal(corrupt.into()),
        })
    }
}

/// A held product lock (see [`AppState::lock_product`]).
pub type ProductLock = LeaseLock;

/// Whether `principal` may see products of `owner`.
pub fn may_see(principal: &Principal, owner: &TenantId) -> bool {
    match principal.role {
        Role::Auditor | Role::Admin => true,
        Role::Manufacturer => &principal.tenant == owner,
        Role::Carrier | Role::Finance => false,
    }
}

/// The tenant a new product belongs to: a manufacturer's own; for an admin,
/// the one named in the request, else its own.
pub fn owner_for(
    principal: &Principal,
    requested: Option<&TenantId>,
) -> Result<TenantId, RegistryError> {
    match (principal.role, requested) {
        (Role::Admin, Some(tenant)) => Ok(tenant.clone()),
        (Role::Manufacturer, Some(tenant)) if tenant != &principal.tenant => {
            Err(RegistryError::Auth(AuthError::Forbidden {
                required: vec![Role::Admin],
                actual: principal.role,
            }))
        }
        _ => Ok(principal.tenant.clone()),
    }
}

/// Parses a product id from a path: 400 naming `id` when it is not a UUID.
pub fn parse_product_id(id: &str) -> Result<Uuid, RegistryError> {
    Uuid::parse_str(id).map_err(|_| {
        let shown: String = id.chars().take(64).collect();
        RegistryError::parameter("id", format!("{shown:?} is not a product id (a UUID)"))
    })
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
