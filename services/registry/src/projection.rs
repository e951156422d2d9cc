//! The registry's state in the store, and the [`RegistryProjector`] that
//! derives it from the registry topic.
//!
//! Everything here is a projection of `registry.events`: clear the
//! namespace and the [`ProjectionRunner`](tracechain_projection::ProjectionRunner)
//! replays the topic from offset 0 into the same state. The API handlers
//! also call [`RegistryProjector::apply`] right after the broker acknowledged
//! their event, so a client reads its own write at once.
//!
//! # Keys (under the service's namespace)
//!
//! | key | value |
//! |---|---|
//! | `product:{id}` | [`ProductRecord`] (immutable once written) |
//! | `gtin:{gtin14}` | the product id owning the GTIN (also the claim taken before publishing) |
//! | `lot:{gtin14}:{lot}` | [`LotRecord`] |
//! | `item:{gtin14}:{serial}` | [`ItemRecord`] |
//! | `batch:{event id}` | items in an applied `items.serialized` event (its applied marker) |
//! | index `products` | every product id |
//! | index `products-of:{tenant}` | a manufacturer's product ids |
//! | index `lots:{product id}` | a product's lot numbers |
//! | index `items:{gtin14}:{lot}` | a lot's serials |
//! | index `batches:{gtin14}:{lot}` | a lot's applied batches (event ids), scored by their item counts |
//!
//! GTINs are 14 digits, so `lot:` and `item:` keys split unambiguously
//! whatever the lot or serial holds. Index scores are 0 (members sort by
//! their bytes; product ids are UUIDv7, so by creation time), except in
//! `batches:`, where the score is the batch's item count: a lot's item
//! count is the sum of its batch scores, so no record grows with its lot.
//!
//! # Idempotency of `apply`
//!
//! Records are created with compare-and-set-if-absent (a replay leaves the
//! first write), recalls are set once, and an `items.serialized` event
//! writes its items, then its entry in `batches:`, then its `batch:` marker
//! last: a replay of a completed batch finds the marker and skips the whole
//! batch (so the consumer re-applying what the API applied costs one read);
//! a batch cut short by a crash is simply written again (index entries and
//! puts are set operations).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt, stream};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use tracechain_domain::{Envelope, Gtin, Lot, Serial, TenantId};
use tracechain_projection::{ProjectionError, Projector};
use tracechain_store::{CasOutcome, StateStore, StoreError};
use uuid::Uuid;

use crate::cache::ResolverCache;
use crate::domain::events::{
    ItemsSerialized, LotCreated, LotRecalled, ProductRegistered, RegistryEvent,
};

/// Store operations kept in flight at once when writing a batch of items.
const ITEM_WRITE_CONCURRENCY: usize = 64;

/// Compare-and-set rounds before a read-modify-write gives up.
const UPDATE_ATTEMPTS: u32 = 64;

/// The store keys and index names; see the [module docs](self).
pub mod keys {
    use tracechain_domain::{Gtin, Lot, Serial, TenantId};
    use uuid::Uuid;

    /// The index of every product.
    pub const ALL_PRODUCTS: &str = "products";

    /// `product:{id}`.
    pub fn product(id: &Uuid) -> String {
        format!("product:{id}")
    }

    /// `gtin:{gtin14}`.
    pub fn gtin(gtin: &Gtin) -> String {
        format!("gtin:{gtin}")
    }

    /// `lot:{gtin14}:{lot}`.
    pub fn lot(gtin: &Gtin, lot: &Lot) -> String {
        format!("lot:{gtin}:{lot}")
    }

    /// `item:{gtin14}:{serial}`.
    pub fn item(gtin: &Gtin, serial: &Serial) -> String {
        format!("item:{gtin}:{serial}")
    }

    /// Index `products-of:{tenant}`.
    pub fn products_of(tenant: &TenantId) -> String {
        format!("products-of:{tenant}")
    }

    /// Index `lots:{product id}`.
    pub fn lots_of(product: &Uuid) -> String {
        format!("lots:{product}")
    }

    /// Index `items:{gtin14}:{lot}`.
    pub fn items_of(gtin: &Gtin, lot: &Lot) -> String {
        format!("items:{gtin}:{lot}")
    }

    /// Index `batches:{gtin14}:{lot}`.
    pub fn batches_of(gtin: &Gtin, lot: &Lot) -> String {
        format!("batches:{gtin}:{lot}")
    }

    /// `batch:{event id}`: the applied marker of an `items.serialized` event.
    pub fn batch(event: &Uuid) -> String {
        format!("batch:{event}")
    }

    /// The lease-based lock serialising writes to one product.
    pub fn product_lock(product: &Uuid) -> String {
        format!("lock:product:{product}")
    }
}

/// The value of `gtin:{gtin}`: `{product id}` once the registration is in
/// the projection, `{product id} {unix ms}` while the API holds it pending
/// (claimed, not yet acknowledged by the broker). A pending claim older
/// than the product lock lease whose product never appeared was left by a
/// crashed request and may be taken over.
pub mod claim {
    use uuid::Uuid;

    /// A pending claim by `product`, made at `now_ms`.
    pub fn pending(product: &Uuid, now_ms: u64) -> String {
        format!("{product} {now_ms}")
    }

    /// A registered claim.
    pub fn registered(product: &Uuid) -> String {
        product.to_string()
    }

    /// The product and, for a pending claim, when it was made.
    pub fn parse(bytes: &[u8]) -> Option<(Uuid, Option<u64>)> {
        let text = std::str::from_utf8(bytes).ok()?;
        match text.split_once(' ') {
            Some((id, at)) => Some((Uuid::parse_str(id).ok()?, Some(at.parse().ok()?))),
            None => Some((Uuid::parse_str(text).ok()?, None)),
        }
    }
}

/// A registered product. Immutable once written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRecord {
    /// The product id.
    pub id: Uuid,
    /// Its GTIN-14.
    pub gtin: Gtin,
    /// Its name.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// Its brand.
    #[serde(default)]
    pub brand: Option<String>,
    /// Its attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The owning tenant.
    pub manufacturer: TenantId,
    /// When it was registered (the event's time).
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
}

/// A lot of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotRecord {
    /// The product.
    pub product_id: Uuid,
    /// The product's GTIN.
    pub gtin: Gtin,
    /// The lot number.
    pub lot: Lot,
    /// Production date.
    #[serde(with = "crate::domain::dates::serde_date")]
    pub produced_at: Date,
    /// Expiry date.
    #[serde(default, with = "crate::domain::dates::serde_date_opt")]
    pub expires_at: Option<Date>,
    /// When the lot was created (the event's time).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The recall, once recalled.
    #[serde(default)]
    pub recall: Option<RecallRecord>,
}

/// A lot's recall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecallRecord {
    /// Why.
    pub reason: String,
    /// When (the event's time).
    #[serde(with = "time::serde::rfc3339")]
    pub recalled_at: OffsetDateTime,
}

/// A serialised item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// The product.
    pub product_id: Uuid,
    /// The product's GTIN.
    pub gtin: Gtin,
    /// The item's lot.
    pub lot: Lot,
    /// The item's serial.
    pub serial: Serial,
    /// When it was serialised (the event's time).
    #[serde(with = "time::serde::rfc3339")]
    pub serialized_at: OffsetDateTime,
}

/// Reads and decodes a JSON record; `None` when absent.
pub async fn get_json<T: DeserializeOwned>(
    store: &dyn StateStore,
    key: &str,
) -> Result<Option<(u64, T)>, StoreError> {
    match store.get(key).await? {
        Some(raw) => Ok(Some((raw.version, decode(key, &raw.value)?))),
        None => Ok(None),
    }
}

/// Decodes a JSON record read from `key`.
pub fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Codec {
        op: "decode",
        key: key.to_owned(),
        source,
    })
}

fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|source| StoreError::Codec {
        op: "encode",
        key: key.to_owned(),
        source,
    })
}

/// Writes `value` at `key` unless the key exists; true if written.
async fn create_if_absent<T: Serialize>(
    store: &dyn StateStore,
    key: &str,
    value: &T,
) -> Result<bool, StoreError> {
    let bytes = encode(key, value)?;
    Ok(store.compare_and_set(key, None, &bytes).await?.is_applied())
}

/// Read-modify-write of an existing JSON record: `change` returns the new
/// value, or `None` to leave it. Returns false when the record is absent.
async fn update_json<T, F>(
    store: &dyn StateStore,
    key: &str,
    mut change: F,
) -> Result<bool, StoreError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(T) -> Option<T>,
{
    for _ in 0..UPDATE_ATTEMPTS {
        let Some((version, current)) = get_json::<T>(store, key).await? else {
            return Ok(false);
        };
        let Some(next) = change(current) else {
            return Ok(true);
        };
        let bytes = encode(key, &next)?;
        match store.compare_and_set(key, Some(version), &bytes).await? {
            CasOutcome::Applied(_) => return Ok(true),
            CasOutcome::Conflict { .. } => tokio::task::yield_now().await,
        }
    }
    Err(StoreError::Contended {
        op: "update",
        key: key.to_owned(),
        attempts: UPDATE_ATTEMPTS,
    })
}

/// The projection of the registry topic into the store.
#[derive(Debug, Clone)]
pub struct RegistryProjector {
    /// The projection (and consumer group) name.
    name: String,
    /// The topic it reads.
    topic: String,
    /// The resolver's cache, told when a lot changes.
    cache: Arc<ResolverCache>,
}

impl RegistryProjector {
    /// The projector named `name` over `topic`, without a resolver cache.
    pub fn new(name: impl Into<String>, topic: impl Into<String>) -> Self {
        RegistryProjector {
            name: name.into(),
            topic: topic.into(),
            cache: Arc::new(ResolverCache::disabled()),
        }
    }

    /// The same, keeping `cache` fresh: a lot is forgotten there whenever
    /// an event about it is applied.
    pub fn with_cache(mut self, cache: Arc<ResolverCache>) -> Self {
        self.cache = cache;
        self
    }

    async fn product_registered(
        &self,
        store: &dyn StateStore,
        envelope: &Envelope,
        e: &ProductRegistered,
    ) -> Result<(), ProjectionError> {
        let record = ProductRecord {
            id: e.product_id,
            gtin: e.gtin.clone(),
            name: e.name.clone(),
            description: e.description.clone(),
            brand: e.brand.clone(),
            attributes: e.attributes.clone(),
            manufacturer: e.manufacturer.clone(),
            registered_at: envelope.occurred_at(),
        };
        create_if_absent(store, &keys::product(&e.product_id), &record).await?;
        self.confirm_gtin(store, envelope, e).await?;
        let id = e.product_id.to_string();
        store.index_add(keys::ALL_PRODUCTS, &id, 0).await?;
        store
            .index_add(&keys::products_of(&e.manufacturer), &id, 0)
            .await?;
        Ok(())
    }

    /// Makes `gtin:{gtin}` say the product owns it (turning the API's
    /// pending claim into a registered one, or creating it in a rebuild).
    async fn confirm_gtin(
        &self,
        store: &dyn StateStore,
        envelope: &Envelope,
        e: &ProductRegistered,
    ) -> Result<(), ProjectionError> {
        let key = keys::gtin(&e.gtin);
        let registered = claim::registered(&e.product_id);
        for _ in 0..UPDATE_ATTEMPTS {
            let expected = match store.get(&key).await? {
                None => None,
                Some(current) => match claim::parse(&current.value) {
                    Some((owner, None)) if owner == e.product_id => return Ok(()),
                    Some((owner, Some(_))) if owner == e.product_id => Some(current.version),
                    _ => {
                        // The API claims a GTIN before publishing, so this means
                        // two registrations of one GTIN reached the log (a
                        // publish reported failed that the broker stored after
                        // all). The first one applied keeps the GTIN; the other
                        // product stays reachable by its id.
                        tracing::warn!(gtin = %e.gtin, product_id = %e.product_id, event_id = %envelope.id(),
                            "GTIN already owned by another product; the later registration does not take it");
                        return Ok(());
                    }
                },
            };
            if store
                .compare_and_set(&key, expected, registered.as_bytes())
                .await?
                .is_applied()
            {
                return Ok(());
            }
        }
        Err(StoreError::Contended {
            op: "confirm gtin",
            key,
            attempts: UPDATE_ATTEMPTS,
        }
        .into())
    }

    async fn lot_created(
        &self,
        store: &dyn StateStore,
        envelope: &Envelope,
        e: &LotCreated,
    ) -> Result<(), ProjectionError> {
        let record = LotRecord {
            product_id: e.product_id,
            gtin: e.gtin.clone(),
            lot: e.lot.clone(),
            produced_at: e.produced_at,
            expires_at: e.expires_at,
            created_at: envelope.occurred_at(),
            recall: None,
        };
        let key = keys::lot(&e.gtin, &e.lot);
        create_if_absent(store, &key, &record).await?;
        self.cache.forget_lot(&key);
        store
            .index_add(&keys::lots_of(&e.product_id), e.lot.as_str(), 0)
            .await?;
        Ok(())
    }

    async fn items_serialized(
        &self,
        store: &dyn StateStore,
        envelope: &Envelope,
        e: &ItemsSerialized,
    ) -> Result<(), ProjectionError> {
        let marker = keys::batch(&envelope.id());
        if store.get(&marker).await?.is_some() {
            return Ok(());
        }
        if store.get(&keys::lot(&e.gtin, &e.lot)).await?.is_none() {
            return Err(ProjectionError::Invalid(format!(
                "items.serialized event {} names lot {} of gtin {}, which was never created",
                envelope.id(),
                e.lot,
                e.gtin
            )));
        }
        let index = keys::items_of(&e.gtin, &e.lot);
        let serialized_at = envelope.occurred_at();
        let writes = e
            .serials
            .iter()
            .map(|serial| {
                let record = ItemRecord {
                    product_id: e.product_id,
                    gtin: e.gtin.clone(),
                    lot: e.lot.clone(),
                    serial: serial.clone(),
                    serialized_at,
                };
                let key = keys::item(&e.gtin, serial);
                let bytes = encode(&key, &record)?;
                Ok((key, bytes, serial.to_string()))
            })
            .collect::<Result<Vec<(String, Vec<u8>, String)>, StoreError>>()?;
        let index = index.as_str();
        stream::iter(writes)
            .map(|(key, bytes, member)| async move {
                store.put(&key, &bytes).await?;
                store.index_add(index, &member, 0).await?;
                Ok::<(), StoreError>(())
            })
            .buffer_unordered(ITEM_WRITE_CONCURRENCY)
            .try_collect::<()>()
            .await?;
        let count = e.serials.len().to_string();
        store
            .index_add(
                &keys::batches_of(&e.gtin, &e.lot),
                &envelope.id().to_string(),
                e.serials.len() as u64,
            )
            .await?;
        store.put(&marker, count.as_bytes()).await?;
        Ok(())
    }

    async fn lot_recalled(
        &self,
        store: &dyn StateStore,
        envelope: &Envelope,
        e: &LotRecalled,
    ) -> Result<(), ProjectionError> {
        let recall = RecallRecord {
            reason: e.reason.clone(),
            recalled_at: envelope.occurred_at(),
        };
        let key = keys::lot(&e.gtin, &e.lot);
        let found = update_json::<LotRecord, _>(store, &key, |mut lot| {
            if lot.recall.is_some() {
                return None;
            }
            lot.recall = Some(recall.clone());
            Some(lot)
        })
        .await?;
        self.cache.forget_lot(&key);
        if !found {
            return Err(ProjectionError::Invalid(format!(
                "lot.recalled event {} names lot {} of gtin {}, which was never created",
                envelope.id(),
                e.lot,
                e.gtin
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Projector for RegistryProjector {
    fn name(&self) -> &str {
        &self.name
    }

    fn topics(&self) -> Vec<String> {
        vec![self.topic.clone()]
    }

    async fn apply(
        &self,
        store: &dyn StateStore,
        envelope: &Envelope,
    ) -> Result<(), ProjectionError> {
        let event = RegistryEvent::from_envelope(envelope)
            .map_err(|e| ProjectionError::Invalid(e.to_string()))?;
        match event {
            None => Ok(()),
            Some(RegistryEvent::ProductRegistered(e)) => {
                self.product_registered(store, envelope, &e).await
            }
            Some(RegistryEvent::LotCreated(e)) => self.lot_created(store, envelope, &e).await,
            Some(RegistryEvent::ItemsSerialized(e)) => {
                self.items_serialized(store, envelope, &e).await
            }
            Some(RegistryEvent::LotRecalled(e)) => self.lot_recalled(store, envelope, &e).await,
        }
    }
}

/// How many items lot `lot` of `gtin` holds: the sum of its batch scores.
pub async fn item_count(store: &dyn StateStore, gtin: &Gtin, lot: &Lot) -> Result<u64, StoreError> {
    let index = keys::batches_of(gtin, lot);
    let mut total = 0u64;
    let mut after = None;
    loop {
        let page = store
            .index_range(&index, after.as_ref(), tracechain_store::MAX_PAGE_LIMIT)
            .await?;
        total += page.entries.iter().map(|e| e.score).sum::<u64>();
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(total),
        }
    }
}
