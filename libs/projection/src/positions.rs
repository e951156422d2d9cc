//! Per-partition applied positions, kept in the store beside the state they
//! describe (so a store snapshot holds both, and a flushed store loses both),
//! plus the marker that says "this store holds a complete projection".

use std::collections::BTreeMap;

use tracechain_store::{StateStore, StoreError};

/// The applied positions of one projection, cached in memory and persisted
/// in the store. Invariant: the cache never claims more than the store holds
/// after [`persist`](Self::persist); [`reset`](Self::reset) forgets it all.
#[derive(Debug)]
pub struct AppliedPositions {
    /// Projection name, part of every key.
    name: String,
    /// (topic, partition) → highest applied offset, as far as known.
    cache: BTreeMap<(String, i32), i64>,
    /// Positions applied but not yet persisted.
    dirty: BTreeMap<(String, i32), i64>,
    /// Whether positions found in the store may be believed. False during a
    /// rebuild: a store that lost its state may meanwhile have received
    /// positions from a consumer still draining its backlog, and trusting
    /// them would leave holes.
    trust_store: bool,
}

impl AppliedPositions {
    /// Positions of projection `name`, nothing loaded yet.
    pub fn new(name: &str) -> Self {
        AppliedPositions {
            name: name.to_owned(),
            cache: BTreeMap::new(),
            dirty: BTreeMap::new(),
            trust_store: true,
        }
    }

    fn key(&self, topic: &str, partition: i32) -> String {
        format!("_projection:{}:applied:{topic}:{partition}", self.name)
    }

    /// The key of the marker written when the projection is complete.
    pub fn marker_key(name: &str) -> String {
        format!("_projection:{name}:complete")
    }

    /// The highest applied offset of `topic`/`partition`, `None` if nothing
    /// was applied there.
    pub async fn applied(
        &mut self,
        store: &dyn StateStore,
        topic: &str,
        partition: i32,
    ) -> Result<Option<i64>, StoreError> {
        let id = (topic.to_owned(), partition);
        if let Some(offset) = self.cache.get(&id) {
            return Ok(Some(*offset));
        }
        if !self.trust_store {
            return Ok(None);
        }
        let stored = store.get(&self.key(topic, partition)).await?;
        let offset = stored.and_then(|v| {
            std::str::from_utf8(&v.value)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
        });
        if let Some(offset) = offset {
            self.cache.insert(id, offset);
        }
        Ok(offset)
    }

    /// Records that `offset` of `topic`/`partition` was applied (in memory
    /// until [`persist`](Self::persist)).
    pub fn mark(&mut self, topic: &str, partition: i32, offset: i64) {
        let id = (topic.to_owned(), partition);
        self.cache.insert(id.clone(), offset);
        self.dirty.insert(id, offset);
    }

    /// Writes every position marked since the last persist.
    pub async fn persist(&mut self, store: &dyn StateStore) -> Result<(), StoreError> {
        let dirty = std::mem::take(&mut self.dirty);
        for ((topic, partition), offset) in &dirty {
            if let Err(error) = store
                .put(&self.key(topic, *partition), offset.to_string().as_bytes())
                .await
            {
                // Keep them dirty so the next persist writes them.
                self.dirty.extend(dirty.clone());
                return Err(error);
            }
        }
        Ok(())
    }

    /// Forgets every cached position (after the store lost its state).
    pub fn reset(&mut self) {
        self.cache.clear();
        self.dirty.clear();
        self.trust_store = true;
    }

    /// Believes positions in the store again (a rebuild finished).
    pub fn trust_store_again(&mut self) {
        self.trust_store = true;
    }

    /// Forgets every cached position and ignores the store's until the next
    /// [`reset`](Self::reset): what a rebuild starts with.
    pub fn reset_for_rebuild(&mut self) {
        self.reset();
        self.trust_store = false;
    }
}
