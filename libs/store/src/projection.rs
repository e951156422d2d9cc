//! Typed projections: one named family of JSON values in a [`StateStore`].
//!
//! `Projection::<Product>::new(store, "product")` keeps each product at the
//! store key `product:{id}` as JSON, with the store's versions, so a consumer
//! can read-modify-write it safely with [`Projection::update`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StoreError;
use crate::state_store::StateStore;
use crate::versioned::{CasOutcome, Versioned};

/// How many compare-and-set rounds [`Projection::update`] tries by default.
pub const DEFAULT_UPDATE_ATTEMPTS: u32 = 64;

/// A typed view of the projections `{name}:{id}` of a store, encoded as JSON.
pub struct Projection<T> {
    /// Where the values live.
    store: Arc<dyn StateStore>,
    /// The family name. Invariant: a valid key without `:`, so that
    /// `{name}:{id}` never collides with another family.
    name: String,
    /// Compare-and-set rounds [`Projection::update`] tries before giving up; at least 1.
    max_attempts: u32,
    /// `fn() -> T`: the projection neither owns nor borrows a `T`.
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for Projection<T> {
    fn clone(&self) -> Self {
        Projection {
            store: Arc::clone(&self.store),
            name: self.name.clone(),
            max_attempts: self.max_attempts,
            _value: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Projection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Projection")
            .field("namespace", self.store.namespace())
            .field("name", &self.name)
            .field("value", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T> Projection<T>
where
    T: Serialize + DeserializeOwned + Send + Sync,
{
    /// The projection family `name` (non-empty, no `:`) in `store`.
    pub fn new(store: Arc<dyn StateStore>, name: &str) -> Result<Self, StoreError> {
        crate::validate::key("projection name", name)?;
        if name.contains(':') {
            return Err(StoreError::invalid(
                "projection name",
                name,
                "must not contain ':'",
            ));
        }
        Ok(Projection {
            store,
            name: name.to_owned(),
            max_attempts: DEFAULT_UPDATE_ATTEMPTS,
            _value: PhantomData,
        })
    }

    /// Sets how many compare-and-set rounds [`Projection::update`] tries (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The family name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store key of `id`: `{name}:{id}`.
    pub fn key(&self, id: &str) -> String {
        format!("{}:{id}", self.name)
    }

    /// Reads `id` and the raw keys `others` in ONE atomic read, so what
    /// `id` holds and what they hold are as of the same moment (a
    /// completeness marker read beside a record says whether the record's
    /// absence means anything).
    pub async fn get_with(
        &self,
        id: &str,
        others: &[&str],
    ) -> Result<(Option<Versioned<T>>, Vec<Option<Versioned>>), StoreError> {
        let key = self.key(id);
        let mut keys = Vec::with_capacity(others.len() + 1);
        keys.push(key.as_str());
        keys.extend_from_slice(others);
        let mut found = self.store.get_many(&keys).await?.into_iter();
        let record = found
            .next()
            .flatten()
            .map(|raw| decode(&key, raw))
            .transpose()?;
        Ok((record, found.collect()))
    }

    /// Reads `id`.
    pub async fn get(&self, id: &str) -> Result<Option<Versioned<T>>, StoreError> {
        let key = self.key(id);
        match self.store.get(&key).await? {
            Some(raw) => Ok(Some(decode(&key, raw)?)),
            None => Ok(None),
        }
    }

    /// Reads many ids in one round trip, in the order given.
    pub async fn get_many(&self, ids: &[&str]) -> Result<Vec<Option<Versioned<T>>>, StoreError> {
        let keys: Vec<String> = ids.iter().map(|id| self.key(id)).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let raws = self.store.get_many(&refs).await?;
        keys.iter()
            .zip(raws)
            .map(|(key, raw)| raw.map(|raw| decode(key, raw)).transpose())
            .collect()
    }

    /// Writes `id` unconditionally; returns the new version.
    pub async fn put(&self, id: &str, value: &T) -> Result<u64, StoreError> {
        let key = self.key(id);
        let bytes = encode(&key, value)?;
        self.store.put(&key, &bytes).await
    }

    /// Writes `id` only if it is at version `expected` (`None`: absent).
    pub async fn compare_and_set(
        &self,
        id: &str,
        expected: Option<u64>,
        value: &T,
    ) -> Result<CasOutcome, StoreError> {
        let key = self.key(id);
        let bytes = encode(&key, value)?;
        self.store.compare_and_set(&key, expected, &bytes).await
    }

    /// Deletes `id`; true if it existed.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.store.delete(&self.key(id)).await
    }

    /// Read-modify-write: calls `change` with the current value (`None` if
    /// absent) and writes what it returns, retrying on a concurrent write.
    /// `change` returning `None` writes nothing. Returns the value now stored
    /// (`None` if absent). `change` may run several times: keep it pure.
    pub async fn update<F>(
        &self,
        id: &str,
        mut change: F,
    ) -> Result<Option<Versioned<T>>, StoreError>
    where
        F: FnMut(Option<&T>) -> Option<T> + Send,
    {
        let key = self.key(id);
        for _ in 0..self.max_attempts {
            let current = self.get(id).await?;
            let Some(next) = change(current.as_ref().map(|c| &c.value)) else {
                return Ok(current);
            };
            let bytes = encode(&key, &next)?;
            let expected = current.as_ref().map(|c| c.version);
            match self.store.compare_and_set(&key, expected, &bytes).await? {
                CasOutcome::Applied(version) => {
                    return Ok(Some(Versioned {
                        version,
                        value: next,
                    }));
                }
                CasOutcome::Conflict { .. } => tokio::task::yield_now().await,
            }
        }
        Err(StoreError::Contended {
            op: "update",
            key,
            attempts: self.max_attempts,
        })
    }
}

fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|source| StoreError::Codec {
        op: "encode",
        key: key.to_owned(),
        source,
    })
}

fn decode<T: DeserializeOwned>(key: &str, raw: Versioned) -> Result<Versioned<T>, StoreError> {
    let value = serde_json::from_slice(&raw.value).map_err(|source| StoreError::Codec {
        op: "decode",
        key: key.to_owned(),
        source,
    })?;
    Ok(Versioned {
        version: raw.version,
        value,
    })
}
