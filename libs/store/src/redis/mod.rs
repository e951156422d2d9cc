//! [`StateStore`] over Redis, for the distributed mode.
//!
//! One [`ConnectionManager`] (a multiplexed connection that reconnects by
//! itself) serves every call; clones of the store share it. Multi-step
//! operations are Lua scripts (see `scripts.rs`), batches are pipelined, and
//! every call is bounded by `connect_timeout + response_timeout` so that a
//! lost Redis turns into [`StoreError::Unavailable`] quickly instead of a hung
//! request. The key layout is described in `keys.rs`; no command here scans
//! the keyspace except [`StateStore::clear_namespace`], which uses `SCAN`
//! (never `KEYS`) and `UNLINK`.
//!
//! Versions of projections live with their value in one hash `{v, d}`, so a
//! reader always sees a version and the bytes written at that version.

mod config;
mod error;
mod scripts;

use std::future::Future;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, RedisResult, Value};
use async_trait::async_trait;

pub use self::config::RedisConfig;
use crate::error::StoreError;
use crate::idempotency::IdempotencyState;
use crate::index::{self, IndexCursor, IndexPage};
use crate::keys;
use crate::namespace::Namespace;
use crate::rate_limit::RateDecision;
use crate::state_store::StateStore;
use crate::validate;
use crate::versioned::{CasOutcome, Versioned};

/// Keys per pipeline in [`StateStore::get_many`]: bounds one reply's size.
const PIPELINE_CHUNK: usize = 512;
/// Keys asked per `SCAN` step in [`StateStore::clear_namespace`].
const SCAN_COUNT: usize = 1000;

/// The Redis-backed store. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct RedisStore {
    /// The shared, self-reconnecting connection.
    con: ConnectionManager,
    /// The prefix of every key.
    namespace: Namespace,
    /// The deadline of one call, a reconnect included.
    call_timeout: Duration,
    /// The URL with credentials redacted, for logs and `Debug`.
    url: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url)
            .field("namespace", &self.namespace)
            .field("call_timeout", &self.call_timeout)
            .finish()
    }
}

impl RedisStore {
    /// Connects, failing with [`StoreError::Unavailable`] if Redis does not
    /// answer within the connect timeout.
    pub async fn connect(config: RedisConfig) -> Result<Self, StoreError> {
        let store = Self::connect_lazy(config)?;
        store.ping().await?;
        tracing::info!(url = %store.url, namespace = %store.namespace, "Connected to redis");
        Ok(store)
    }

    /// Builds the store without touching the network: the first call
    /// connects. For services that must start (and report not-ready) while
    /// Redis is down.
    pub fn connect_lazy(config: RedisConfig) -> Result<Self, StoreError> {
        let url = config.redacted_url();
        let client = Client::open(config.url.as_str())
            .map_err(|err| StoreError::invalid("redis url", &url, err.to_string()))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_number_of_retries(config.reconnect_attempts)
            .set_max_delay(config.reconnect_max_delay);
        let con =
            ConnectionManager::new_lazy_with_config(client, manager_config).map_err(|err| {
                StoreError::Backend {
                    op: "connect",
                    key: url.clone(),
                    source: Box::new(err),
                }
            })?;
        Ok(RedisStore {
            con,
            call_timeout: config.call_timeout(),
            namespace: config.namespace,
            url,
        })
    }

    /// Runs one call against Redis within the call deadline, classifying
    /// its error. `call` gets its own handle on the shared connection.
    async fn call<T, F, Fut>(&self, op: &'static str, key: &str, call: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        match tokio::time::timeout(self.call_timeout, call(self.con.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(error::classify(op, key, err)),
            Err(_) => Err(error::timed_out(op, key, self.call_timeout)),
        }
    }
}

/// Turns an `HMGET v d` reply into a versioned value.
fn versioned(
    op: &'static str,
    key: &str,
    (version, data): (Option<Vec<u8>>, Option<Vec<u8>>),
) -> Result<Option<Versioned>, StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        op,
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    match (version, data) {
        (None, None) => Ok(None),
        (Some(version), Some(value)) => {
            let version = std::str::from_utf8(&version)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|v| *v >= 1)
                .ok_or_else(|| corrupt("version is not a positive integer"))?;
            Ok(Some(Versioned { version, value }))
        }
        (Some(_), None) => Err(corrupt("version without data")),
        (None, Some(_)) => Err(corrupt("data without version")),
    }
}

/// A version as returned by a script: positive, else corrupt.
fn version_from(op: &'static str, key: &str, raw: i64) -> Result<u64, StoreError> {
    u64::try_from(raw)
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| StoreError::Corrupt {
            op,
            key: key.to_owned(),
            reason: format!("version {raw} is not positive"),
        })
}

#[async_trait]
impl StateStore for RedisStore {
    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        validate::key("key", key)?;
        let full = keys::projection(&self.namespace, key);
        let reply = self
            .call("get", &full, |mut con| {
                let cmd = ::redis::cmd("HMGET").arg(&full).arg("v").arg("d").clone();
                async move { cmd.query_async(&mut con).await }
            })
            .await?;
        versioned("get", &full, reply)
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Versioned>>, StoreError> {
        for key in keys {
            validate::key("key", key)?;
        }
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(PIPELINE_CHUNK) {
            let fulls: Vec<String> = chunk
                .iter()
                .map(|key| keys::projection(&self.namespace, key))
                .collect();
            let mut pipe = ::redis::pipe();
            for full in &fulls {
                pipe.cmd("HMGET").arg(full).arg("v").arg("d");
            }
            let shown = fulls.first().cloned().unwrap_or_default();
            let replies: Vec<(Option<Vec<u8>>, Option<Vec<u8>>)> = self
                .call("get_many", &shown, |mut con| async move {
                    pipe.query_async(&mut con).await
                })
                .await?;
            if replies.len() != fulls.len() {
                return Err(StoreError::Corrupt {
                    op: "get_many",
                    key: shown,
                    reason: format!("{} replies for {} keys", replies.len(), fulls.len()),
                });
            }
            for (full, reply) in fulls.iter().zip(replies) {
                out.push(versioned("get_many", full, reply)?);
            }
        }
        Ok(out)
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<u64, StoreError> {
        validate::key("key", key)?;
        let full = keys::projection(&self.namespace, key);
        let raw: i64 = self
            .call("put", &full, |mut con| {
                let mut invocation = scripts::PUT.prepare_invoke();
                invocation.key(&full).arg(value);
                async move { invocation.invoke_async(&mut con).await }
            })
            .await?;
        version_from("put", &full, raw)
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<u64>,
        value: &[u8],
    ) -> Result<CasOutcome, StoreError> {
        validate::key("key", key)?;
        let full = keys::projection(&self.namespace, key);
        let expected_arg = expected.map(|v| v.to_string()).unwrap_or_default();
        let (applied, version): (i64, i64) = self
            .call("compare_and_set", &full, |mut con| {
                let mut invocation = scripts::COMPARE_AND_SET.prepare_invoke();
                invocation.key(&full).arg(&expected_arg).arg(value);
                async move { invocation.invoke_async(&mut con).await }
            })
            .await?;
        if applied == 1 {
            Ok(CasOutcome::Applied(version_from(
                "compare_and_set",
                &full,
                version,
            )?))
        } else if version < 0 {
            Ok(CasOutcome::Conflict { current: None })
        } else {
            Ok(CasOutcome::Conflict {
                current: Some(version_from("compare_and_set", &full, version)?),
            })
        }
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        validate::key("key", key)?;
        let full = keys::projection(&self.namespace, key);
        let removed: u64 = self
            .call("delete", &full, |mut con| {
                let cmd = ::redis::cmd("UNLINK").arg(&full).clone();
                async move { cmd.query_async(&mut con).await }
            })
            .await?;
        Ok(removed > 0)
    }

    async fn index_add(&self, index: &str, member: &str, score: u64) -> Result<bool, StoreError> {
        validate::key("index", index)?;
        validate::key("member", member)?;
        let entries = keys::index_entries(&self.namespace, index);
        let scores = keys::index_scores(&self.namespace, index);
        let score = index::encode_score(score);
        let changed: i64 = self
            .call("index_add", &entries, |mut con| {
                let mut invocation = scripts::INDEX_ADD.prepare_invoke();
                invocation
                    .key(&entries)
                    .key(&scores)
                    .arg(member)
                    .arg(&score);
                async move { invocation.invoke_async(&mut con).await }
            })
            .await?;
        Ok(changed == 1)
    }

    async fn index_remove(&self, index: &str, member: &str) -> Result<bool, StoreError> {
        validate::key("index", index)?;
        validate::key("member", member)?;
        let entries = keys::index_entries(&self.namespace, index);
        let scores = keys::index_scores(&self.namespace, index);
        let removed: i64 = self
            .call("index_remove", &entries, |mut con| {
                let mut invocation = scripts::INDEX_REMOVE.prepare_invoke();
                invocation.key(&entries).key(&scores).arg(member);
                async move { invocation.invoke_async(&mut con).await }
            })
            .await?;
        Ok(removed == 1)
    }

    async fn index_range(
        &self,
        index: &str,
        after: Option<&IndexCursor>,
        limit: usize,
    ) -> Result<IndexPage, StoreError> {
        validate::key("index", index)?;
        index::check_limit(limit)?;
        let entries = keys::index_entries(&self.namespace, index);
        let start = match after {
            Some(cursor) => format!("({}", cursor.as_str()),
            None => "-".to_owned(),
        };
        // One more than asked, to know whether a next page exists.
        let raw: Vec<String> = self
            .call("index_range", &entries, |mut con| {
                let cmd = ::redis::cmd("ZRANGEBYLEX")
                    .arg(&entries)
                    .arg(&start)
                    .arg("+")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit + 1)
                    .clone();
                async move { cmd.query_async(&mut con).await }
            })
            .await?;
        let mut page = Vec::with_capacity(raw.len().min(limit));
        for encoded in raw.iter().take(limit) {
            let entry = index::decode_entry(encoded).ok_or_else(|| StoreError::Corrupt {
                op: "index_range",
                key: entries.clone(),
                reason: format!("entry {encoded:?} is not `{{score:016x}}:{{member}}`"),
            })?;
            page.push(entry);
        }
        let next = if raw.len() > limit {
            page.last().map(IndexCursor::after)
        } else {
            None
        };
        Ok(IndexPage {
            entries: page,
            next,
        })
    }

    async fn idempotency_begin(
        &self,
        key: &str,
        lease: Duration,
    ) -> Result<IdempotencyState, StoreError> {
        validate::key("idempotency key", key)?;
        let lease = validate::ttl_millis("lease", lease)?;
        let full = keys::idempotency(&self.namespace, key);
        let current: Option<Vec<u8>> = self
            .call("idempotency_begin", &full, |mut con| {
                let mut invocation = scripts::IDEMPOTENCY_BEGIN.prepare_invoke();
                invocation.key(&full).arg(lease);
                async move { invocation.invoke_async(&mut con).await }
            })
            .await?;
        match current.as_deref() {
            None => Ok(IdempotencyState::New),
            Some(b"p") => Ok(IdempotencyState::InFlight),
            Some([b'c', response @ ..]) => Ok(IdempotencyState::Completed(response.to_vec())),
            Some(_) => Err(StoreError::Corrupt {
                op: "idempotency_begin",
                key: full,
                reason: "neither `p` nor `c…`".to_owned(),
            }),
        }
    }

    async fn idempotency_complete(
        &self,
        key: &str,
        response: &[u8],
        retention: Duration,
    ) -> Result<bool, StoreError> {
        validate::key("idempotency key", key)?;
        let retention = validate::ttl_millis("retention", retention)?;
        let full = keys::idempotency(&self.namespace, key);
        let stored: i64 = self
            .call("idempotency_complete", &full, |mut con| {
                let mut invocation = scripts::IDEMPOTENCY_COMPLETE.prepare_invoke();
                invocation.key(&full).arg(response).arg(retention);
                async move { invocation.invoke_async(&mut con).await }
            })
            .await?;
        Ok(stored == 1)
    }

    async fn idempotency_abandon(&self, key: &str) -> Result<bool, StoreError> {
        validate::key("idempotency key", key)?;
        let full = keys::idempotency(&self.namespace, key);
        let released: i64 = self
            .call("idempotency_abandon", &full, |mut con| {
                let mut invocation = scripts::IDEMPOTENCY_ABANDON.prepare_invoke();
                invocation.key(&full);
                async move { invocation.invoke_async(&mut con).await }
            })
            .await?;
        Ok(released == 1)
    }

    async fn nonce_first_seen(
        &self,
        scope: &str,
        nonce: &str,
        window: Duration,
    ) -> Result<bool, StoreError> {
        validate::key("nonce scope", scope)?;
        validate::key("nonce", nonce)?;
        let window = validate::ttl_millis("window", window)?;
        let full = keys::nonce(&self.namespace, scope, nonce);
        let reply: Value = self
            .call("nonce_first_seen", &full, |mut con| {
                let cmd = ::redis::cmd("SET")
                    .arg(&full)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(window)
                    .clone();
                async move { cmd.query_async(&mut con).await }
            })
            .await?;
        Ok(!matches!(reply, Value::Nil))
    }

    async fn rate_limit(
        &self,
        principal: &str,
        limit: u32,
        window: Duration,
    ) -> Result<RateDecision, StoreError> {
        validate::key("principal", principal)?;
        if limit == 0 {
            return Err(StoreError::invalid("limit", "0", "must be at least 1"));
        }
        let window = validate::ttl_millis("window", window)?;
        let full = keys::rate_limit(&self.namespace, principal);
        let (count, ttl): (i64, i64) = self
            .call("rate_limit", &full, |mut con| {
                let mut invocation = scripts::RATE_LIMIT.prepare_invoke();
                invocation.key(&full).arg(window);
                async move { invocation.invoke_async(&mut con).await }
            })
            .await?;
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        let reset_after = Duration::from_millis(u64::try_from(ttl).unwrap_or(window));
        Ok(RateDecision::from_count(count, limit, reset_after))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self
            .call("ping", self.namespace.as_str(), |mut con| async move {
                ::redis::cmd("PING").query_async(&mut con).await
            })
            .await?;
        Ok(())
    }

    async fn clear_namespace(&self) -> Result<u64, StoreError> {
        let pattern = keys::all(&self.namespace);
        let mut cursor: u64 = 0;
        let mut removed: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = self
                .call("clear_namespace", &pattern, |mut con| {
                    let cmd = ::redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(SCAN_COUNT)
                        .clone();
                    async move { cmd.query_async(&mut con).await }
                })
                .await?;
            if !batch.is_empty() {
                let unlinked: u64 = self
                    .call("clear_namespace", &pattern, |mut con| {
                        let cmd = ::redis::cmd("UNLINK").arg(&batch).clone();
                        async move { cmd.query_async(&mut con).await }
                    })
                    .await?;
                removed += unlinked;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        tracing::info!(namespace = %self.namespace, removed, "Cleared store namespace");
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// The test Redis (`scripts/infra.sh up` starts it).
    fn url() -> String {
        std::env::var("TRACECHAIN_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
    }

    #[tokio::test]
    async fn reconnects_by_itself_after_its_connection_is_killed() {
        let namespace = Namespace::service("conformance")
            .and_then(|ns| ns.child("reconnect"))
            .unwrap();
        let store = RedisStore::connect(RedisConfig::new(url(), namespace))
            .await
            .unwrap_or_else(|err| panic!("{err}: run `scripts/infra.sh up`"));
        let mut con = store.con.clone();
        let id: i64 = ::redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut con)
            .await
            .unwrap();
        let mut killer = Client::open(url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let killed: i64 = ::redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut killer)
            .await
            .unwrap();
        assert_eq!(killed, 1);

        // Calls may fail as unavailable while it reconnects, never otherwise.
        let started = Instant::now();
        let mut unavailable = 0;
        loop {
            match store.put("k", b"v").await {
                Ok(_) => break,
                Err(err) if err.is_unavailable() => unavailable += 1,
                Err(err) => panic!("unexpected {err:?}"),
            }
            assert!(started.elapsed() < Duration::from_secs(5), "no reconnect");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let new_id: i64 = ::redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut store.con.clone())
            .await
            .unwrap();
        assert_ne!(new_id, id, "a new connection");
        eprintln!(
            "reconnected after {:?}, {unavailable} call(s) refused meanwhile",
            started.elapsed()
        );
        store.clear_namespace().await.unwrap();
    }
}
