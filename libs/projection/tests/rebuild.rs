//! A projection filled through events equals the one rebuilt from the topic
//! after the store lost everything — against the real broker and Redis, and
//! against the embedded bus and store. Never skipped: without the broker or
//! Redis the Kafka/Redis leg fails and says to run `scripts/infra.sh up`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracechain_bus::{ConsumerOptions, EmbeddedBus, EventBus, KafkaBus, KafkaConfig, TopicSpec};
use tracechain_domain::{Envelope, EventType, TenantId};
use tracechain_projection::{ProjectionError, ProjectionRunner, Projector, RunnerOptions};
use tracechain_store::{EmbeddedStore, Namespace, RedisConfig, RedisStore, StateStore};

/// A per-aggregate projection: the latest name, the set of event ids seen
/// (idempotent by construction), and an index of aggregates.
struct Catalog {
    topic: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Item {
    name: String,
    events: BTreeSet<String>,
}

#[async_trait]
impl Projector for Catalog {
    fn name(&self) -> &str {
        "catalog"
    }

    fn topics(&self) -> Vec<String> {
        vec![self.topic.clone()]
    }

    async fn apply(
        &self,
        store: &dyn StateStore,
        envelope: &Envelope,
    ) -> Result<(), ProjectionError> {
        if envelope.event_type().as_str() != "item.named" {
            return Ok(());
        }
        let name = envelope.payload()["name"]
            .as_str()
            .ok_or_else(|| ProjectionError::Invalid("item.named without a name".into()))?;
        let key = format!("item:{}", envelope.aggregate_id());
        let mut item = match store.get(&key).await? {
            Some(v) => serde_json::from_slice::<Item>(&v.value)
                .map_err(|e| ProjectionError::Invalid(e.to_string()))?,
            None => Item {
                name: String::new(),
                events: BTreeSet::new(),
            },
        };
        item.name = name.to_owned();
        item.events.insert(envelope.id().to_string());
        store.put(&key, &serde_json::to_vec(&item).unwrap()).await?;
        store.index_add("items", envelope.aggregate_id(), 0).await?;
        Ok(())
    }
}

fn named(aggregate: &str, name: &str) -> Envelope {
    Envelope::new(
        EventType::parse("item.named").unwrap(),
        aggregate,
        "projection-test",
        BTreeSet::from([TenantId::parse("acme").unwrap()]),
        serde_json::json!({ "name": name }),
    )
}

/// Everything the projection holds, read through the store's API only.
async fn state(store: &dyn StateStore, aggregates: usize) -> BTreeMap<String, Item> {
    let keys: Vec<String> = (0..aggregates).map(|a| format!("item:agg-{a}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let values = store.get_many(&refs).await.unwrap();
    let mut out = BTreeMap::new();
    for (key, value) in keys.into_iter().zip(values) {
        if let Some(v) = value {
            out.insert(key, serde_json::from_slice(&v.value).unwrap());
        }
    }
    let page = store.index_range("items", None, 1000).await.unwrap();
    let indexed: BTreeSet<String> = page.entries.iter().map(|e| e.member.clone()).collect();
    let with_items: BTreeSet<String> = out
        .keys()
        .map(|k| k.trim_start_matches("item:").to_owned())
        .collect();
    assert_eq!(
        indexed, with_items,
        "the index lists exactly the projected items"
    );
    out
}

async fn wait_for(
    store: &dyn StateStore,
    aggregates: usize,
    want: &BTreeMap<String, Item>,
    what: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = state(store, aggregates).await;
        if &got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: projection did not converge; have {} of {} items",
            got.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The scenario, written once for both legs.
async fn filled_then_lost_then_rebuilt(
    bus: Arc<dyn EventBus>,
    store: Arc<dyn StateStore>,
    topic: String,
) {
    const AGGREGATES: usize = 30;
    const EVENTS: usize = 300;
    bus.ensure_topics(&[TopicSpec::new(&topic, 3), TopicSpec::new(&topic, 3).dlq()])
        .await
        .unwrap();

    // Publish the history; compute what the projection must become.
    let mut expected: BTreeMap<String, Item> = BTreeMap::new();
    let mut batch = Vec::new();
    for n in 0..EVENTS {
        let aggregate = format!("agg-{}", n % AGGREGATES);
        let envelope = named(&aggregate, &format!("name-{n}"));
        let item = expected.entry(format!("item:{aggregate}")).or_insert(Item {
            name: String::new(),
            events: BTreeSet::new(),
        });
        item.name = format!("name-{n}");
        item.events.insert(envelope.id().to_string());
        batch.push((aggregate.into_bytes(), envelope));
    }
    bus.publish_batch(&topic, &batch).await.unwrap();

    let projector = Arc::new(Catalog {
        topic: topic.clone(),
    });
    let options = RunnerOptions {
        consumer: ConsumerOptions {
            session_timeout: Some(Duration::from_secs(6)),
            ..ConsumerOptions::default()
        },
        marker_check_interval: Duration::from_millis(100),
        ..RunnerOptions::default()
    };
    let runner = ProjectionRunner::new(
        Arc::clone(&bus),
        Arc::clone(&store),
        projector.clone(),
        options.clone(),
    );
    let complete = runner.completeness();
    let runner_rebuilding = runner.rebuilding();
    assert!(
        !runner.is_complete(),
        "nothing is known before the first check"
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));

    wait_for(
        store.as_ref(),
        AGGREGATES,
        &expected,
        "filled through events",
    )
    .await;
    let filled = state(store.as_ref(), AGGREGATES).await;
    assert!(
        complete.load(std::sync::atomic::Ordering::Acquire),
        "complete once loaded"
    );
    assert!(
        !runner_rebuilding.load(std::sync::atomic::Ordering::Acquire),
        "not partial once loaded"
    );

    // The store loses everything (what FLUSHALL does to this namespace); the
    // running projection notices and rebuilds from offset 0 by itself.
    store.clear_namespace().await.unwrap();
    assert!(
        state(store.as_ref(), AGGREGATES).await.is_empty(),
        "the store was emptied"
    );
    wait_for(
        store.as_ref(),
        AGGREGATES,
        &filled,
        "rebuilt after the store was emptied",
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !complete.load(std::sync::atomic::Ordering::Acquire) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "complete again after the rebuild"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Live events after the rebuild are applied exactly once.
    let late = named("agg-0", "late");
    bus.publish(&topic, b"agg-0", &late).await.unwrap();
    let mut want = filled.clone();
    let item = want.get_mut("item:agg-0").unwrap();
    item.name = "late".into();
    item.events.insert(late.id().to_string());
    wait_for(
        store.as_ref(),
        AGGREGATES,
        &want,
        "live event after the rebuild",
    )
    .await;

    shutdown.cancel();
    task.await.unwrap().unwrap();

    // An explicit full rebuild by a fresh runner gives the same state again.
    let fresh = ProjectionRunner::new(Arc::clone(&bus), Arc::clone(&store), projector, options);
    assert!(!fresh.is_complete());
    assert!(
        !fresh.is_rebuilding(),
        "unchecked is not known to be partial"
    );
    let report = fresh.rebuild(true).await.unwrap();
    assert!(fresh.is_complete(), "complete after a rebuild");
    assert!(!fresh.is_rebuilding(), "and no longer partial");
    assert_eq!(report.applied, (EVENTS + 1) as u64);
    assert_eq!(report.invalid + report.undecodable, 0);
    assert_eq!(state(store.as_ref(), AGGREGATES).await, want);
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_and_redis_projection_is_rebuilt_from_the_topic() {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let mut config = KafkaConfig::new(&brokers);
    config.session_timeout = Duration::from_secs(6);
    let bus = KafkaBus::connect(config).unwrap();
    bus.ping(Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("no broker at {brokers} ({e}): run `scripts/infra.sh up`"));
    let url =
        std::env::var("TRACECHAIN_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let namespace = Namespace::service("projection-test")
        .unwrap()
        .child(&unique("t"))
        .unwrap();
    let store = RedisStore::connect(RedisConfig::new(&url, namespace))
        .await
        .unwrap_or_else(|e| panic!("no redis at {url} ({e}): run `scripts/infra.sh up`"));
    let store: Arc<dyn StateStore> = Arc::new(store);
    filled_then_lost_then_rebuilt(Arc::new(bus), Arc::clone(&store), unique("catalog")).await;
    store.clear_namespace().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_projection_is_rebuilt_from_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EmbeddedBus::open(dir.path().join("bus")).unwrap();
    let store = EmbeddedStore::open(
        dir.path().join("store"),
        Namespace::service("catalog").unwrap(),
    )
    .await
    .unwrap();
    filled_then_lost_then_rebuilt(Arc::new(bus), Arc::new(store), "catalog.events".into()).await;
}
