//! The conformance suite against the real Redis (never skipped: if Redis is
//! down these tests fail and say how to start it), plus what only Redis has:
//! connection failures and timeouts.

mod conformance;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tracechain_store::{Namespace, RedisConfig, RedisStore, StateStore, StoreError};

use crate::conformance::Harness;

/// `TRACECHAIN_REDIS_URL`, or the local Redis that `scripts/infra.sh up` starts.
fn redis_url() -> String {
    std::env::var("TRACECHAIN_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Opens [`RedisStore`]s on the test Redis.
struct RedisHarness {
    url: String,
}

async fn redis_harness() -> RedisHarness {
    RedisHarness { url: redis_url() }
}

#[async_trait]
impl Harness for RedisHarness {
    async fn open(&self, namespace: Namespace) -> Arc<dyn StateStore> {
        match RedisStore::connect(RedisConfig::new(&self.url, namespace)).await {
            Ok(store) => Arc::new(store),
            Err(err) => panic!(
                "Redis at {} is not reachable ({err}). These tests need the real server: \
                 run `scripts/infra.sh up` (or set TRACECHAIN_REDIS_URL).",
                self.url
            ),
        }
    }
}

conformance::conformance_tests!(redis_harness());

/// A port nothing listens on.
const DEAD_URL: &str = "redis://127.0.0.1:1";

fn namespace() -> Namespace {
    Namespace::service("conformance")
        .and_then(|ns| ns.child("redis-down"))
        .unwrap()
}

#[tokio::test]
async fn connect_to_a_dead_redis_fails_fast_as_unavailable() {
    let started = Instant::now();
    let mut config = RedisConfig::new(DEAD_URL, namespace());
    config.connect_timeout = Duration::from_millis(300);
    config.response_timeout = Duration::from_millis(300);
    let err = RedisStore::connect(config).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.to_string().starts_with("store unavailable during ping"),
        "{err}"
    );
}

#[tokio::test]
async fn a_lazy_store_starts_without_redis_and_reports_unavailable() {
    let mut config = RedisConfig::new(DEAD_URL, namespace());
    config.connect_timeout = Duration::from_millis(300);
    config.response_timeout = Duration::from_millis(300);
    let store = RedisStore::connect_lazy(config).unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.ping().await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        let err = store.put("k", b"v").await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        eprintln!("two refused calls took {:?}: {err}", started.elapsed());
    }
}

#[tokio::test]
async fn a_malformed_url_is_invalid_input() {
    let err = RedisStore::connect_lazy(RedisConfig::new("nope://x", namespace())).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                what: "redis url",
                ..
            }
        ),
        "{err:?}"
    );
}
