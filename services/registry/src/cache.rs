//! The resolver's in-process cache: item records (immutable once
//! serialised, so kept until evicted) and lot records (which change when a
//! lot is recalled, so kept for a short TTL).
//!
//! Why: the resolver is the public hot path — every phone that scans a
//! label — and without the cache each scan costs a store round trip.
//!
//! Freshness: the projector forgets a lot here whenever it applies an event
//! about it (`lot.created`, `lot.recalled`), on this replica, so a recall
//! shows at once on the replica that records it (the API applies its own
//! events) and on any replica whose consumer applies it; a replica that
//! does not consume that partition serves the old lot for at most the TTL
//! (`limits.resolver_lot_ttl_ms`, 1 s by default; 0 disables lot caching).
//! Misses are never cached, so new items and lots resolve at once.
//!
//! Bounds: at most `capacity` entries per map; a full map is emptied (a
//! crude but bounded eviction that costs nothing on the hot path).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::projection::{ItemRecord, LotRecord};

/// A bounded map whose entries expire after `ttl` (never, when `None`).
#[derive(Debug)]
struct BoundedMap<K, V> {
    /// Entries and when they were inserted.
    map: RwLock<HashMap<K, (Instant, V)>>,
    /// How long an entry is served; `None`: until evicted.
    ttl: Option<Duration>,
    /// Most entries; 0 disables the map.
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> BoundedMap<K, V> {
    fn new(capacity: usize, ttl: Option<Duration>) -> Self {
        BoundedMap {
            map: RwLock::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if self.capacity == 0 {
            return None;
        }
        let map = self.map.read().ok()?;
        let (at, value) = map.get(key)?;
        match self.ttl {
            Some(ttl) if at.elapsed() >= ttl => None,
            _ => Some(value.clone()),
        }
    }

    fn insert(&self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        if let Ok(mut map) = self.map.write() {
            if map.len() >= self.capacity {
                map.clear();
            }
            map.insert(key, (Instant::now(), value));
        }
    }

    fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Ok(mut map) = self.map.write() {
            map.remove(key);
        }
    }
}

/// Item and lot records by store key, for the resolver.
#[derive(Debug)]
pub struct ResolverCache {
    /// `item:{gtin}:{serial}` → record; immutable, no TTL.
    items: BoundedMap<String, Arc<ItemRecord>>,
    /// `lot:{gtin}:{lot}` → record; TTL-bounded.
    lots: BoundedMap<String, Arc<LotRecord>>,
}

impl ResolverCache {
    /// Up to `item_capacity` items (0: none) and lots kept for `lot_ttl`
    /// (zero: none), at most `lot_capacity` of them.
    pub fn new(item_capacity: usize, lot_ttl: Duration, lot_capacity: usize) -> Self {
        ResolverCache {
            items: BoundedMap::new(item_capacity, None),
            lots: BoundedMap::new(
                if lot_ttl.is_zero() { 0 } else { lot_capacity },
                Some(lot_ttl),
            ),
        }
    }

    /// A cache that keeps nothing.
    pub fn disabled() -> Self {
        ResolverCache::new(0, Duration::ZERO, 0)
    }

    /// The item at store key `key`, if cached.
    pub fn item(&self, key: &str) -> Option<Arc<ItemRecord>> {
        self.items.get(key)
    }

    /// Caches an item read from the store.
    pub fn put_item(&self, key: &str, item: Arc<ItemRecord>) {
        self.items.insert(key.to_owned(), item);
    }

    /// The lot at store key `key`, if cached and fresh.
    pub fn lot(&self, key: &str) -> Option<Arc<LotRecord>> {
        self.lots.get(key)
    }

    /// Caches a lot read from the store.
    pub fn put_lot(&self, key: &str, lot: Arc<LotRecord>) {
        self.lots.insert(key.to_owned(), lot);
    }

    /// Forgets the lot at store key `key` (it changed).
    pub fn forget_lot(&self, key: &str) {
        self.lots.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_capacity_and_forgetting() {
        let map: BoundedMap<u32, u32> = BoundedMap::new(2, Some(Duration::from_millis(30)));
        map.insert(1, 10);
        assert_eq!(map.get(&1), Some(10));
        map.insert(2, 20);
        map.insert(3, 30);
        assert_eq!(map.get(&1), None, "a full map is emptied");
        assert_eq!(map.get(&3), Some(30));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(map.get(&3), None, "expired");
        map.insert(4, 40);
        map.remove(&4);
        assert_eq!(map.get(&4), None);
        let off: BoundedMap<u32, u32> = BoundedMap::new(0, None);
        off.insert(1, 1);
        assert_eq!(off.get(&1), None);
    }
}
