//! A real ledger in the test's process, on port 0 over the real broker
//! (`scripts/infra.sh up`), isolated per test (unique topics, writer group
//! and data directory), with API keys, input events and a publisher.
//!
//! One module for every test target that runs a ledger: included by
//! `tests/api/main.rs`, `tests/explorer.rs` and `tests/processes/main.rs`
//! here, and by `services/tracechain/tests/verify.rs` (`#[path]`). Generic
//! test support (telemetry, key tables, processes) is in `tracechain-testkit`.

// Each including test crate uses a part of this module.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracechain_bus::{EventBus, KafkaBus, KafkaConfig, TopicSpec};
use tracechain_domain::{Envelope, EventType, Role, TenantId};
use tracechain_http::HttpSettings;
use tracechain_ledger::settings::{BlockSettings, ChainSettings, TopicSettings};
use tracechain_ledger::store::BlockStore;
use tracechain_ledger::{Application, LedgerSettings};
use tracechain_runtime::BusSettings;
use tracechain_testkit::ApiKeyFile;
use uuid::Uuid;

/// The `source` of every test event.
const SOURCE: &str = "ledger-tests";

/// API keys: `acme` manufacturer, `fastfreight` carrier, an auditor, finance.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// Reads `acme`'s events only.
    pub(crate) acme: String,
    /// Reads `fastfreight`'s events only.
    pub(crate) carrier: String,
    /// Reads every event.
    pub(crate) auditor: String,
    /// Reads settlement events.
    pub(crate) finance: String,
}

impl Keys {
    /// New keys, their table written to `path`.
    fn write(path: &std::path::Path) -> Keys {
        let mut file = ApiKeyFile::new();
        let keys = Keys {
            acme: file.add(Role::Manufacturer, "acme", "acme"),
            carrier: file.add(Role::Carrier, "fastfreight", "fastfreight"),
            auditor: file.add(Role::Auditor, "audit-co", "audit-co"),
            finance: file.add(Role::Finance, "acme-finance", "acme-finance"),
        };
        file.write(path);
        keys
    }
}

/// The topics and group of one test's chain.
#[derive(Debug, Clone)]
pub(crate) struct ChainNames {
    /// The unique id the other names are made from.
    pub(crate) id: String,
    /// Input topics the ledger consumes (3 partitions each).
    pub(crate) inputs: Vec<String>,
    pub(crate) blocks: String,
    pub(crate) election: String,
    pub(crate) group: String,
    /// The chain's origin line.
    pub(crate) origin: String,
}

impl ChainNames {
    pub(crate) fn unique() -> ChainNames {
        let id = tracechain_testkit::unique_name("lt");
        ChainNames {
            inputs: vec![format!("{id}.registry"), format!("{id}.shipment")],
            blocks: format!("{id}.blocks"),
            election: format!("{id}.writer"),
            group: format!("{id}-writer"),
            origin: format!("ledger.test/{id}"),
            id,
        }
    }
}

/// Files shared by the instances of one chain (signing key, API keys) and
/// its names.
pub(crate) struct Shared {
    pub(crate) dir: TempDir,
    pub(crate) keys: Keys,
    pub(crate) api_keys: PathBuf,
    pub(crate) names: ChainNames,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        tracechain_testkit::init_telemetry(SOURCE);
        let dir = TempDir::new().unwrap();
        let api_keys = dir.path().join("api-keys.json");
        let keys = Keys::write(&api_keys);
        Shared {
            dir,
            keys,
            api_keys,
            names: ChainNames::unique(),
        }
    }

    /// Settings of instance `instance` (its data in `dir/instance`): port 0,
    /// the real broker, the chain's names, a signing key created on first
    /// start and shared by every instance.
    pub(crate) fn settings(&self, instance: &str, blocks: BlockSettings) -> LedgerSettings {
        LedgerSettings {
            http: HttpSettings {
                host: "127.0.0.1".to_owned(),
                port: 0,
                ..HttpSettings::default()
            },
            bus: BusSettings {
                brokers: tracechain_testkit::kafka_brokers(),
                session_timeout_ms: 6000,
                ..BusSettings::default()
            },
            api_keys_file: Some(self.api_keys.clone()),
            chain: ChainSettings {
                origin: self.names.origin.clone(),
                data_dir: self.dir.path().join(instance),
                signing_key_file: self.dir.path().join("signing-key.pem"),
                create_signing_key: true,
                ..ChainSettings::default()
            },
            topics: TopicSettings {
                inputs: self.names.inputs.clone(),
                input_partitions: 3,
                blocks: self.names.blocks.clone(),
                election: self.names.election.clone(),
                writer_group: self.names.group.clone(),
                ..TopicSettings::default()
            },
            blocks,
        }
    }
}

/// Blocks of at most 100 events, cut at most 50 ms after an event.
pub(crate) fn fast_blocks() -> BlockSettings {
    BlockSettings {
        max_events: 100,
        max_wait_ms: 50,
        ..BlockSettings::default()
    }
}

/// A client of the real broker with a short session timeout.
pub(crate) fn kafka_bus() -> Arc<dyn EventBus> {
    let mut config = KafkaConfig::new(tracechain_testkit::kafka_brokers());
    config.session_timeout = Duration::from_secs(6);
    Arc::new(KafkaBus::connect(config).expect(tracechain_testkit::INFRA_HINT))
}

/// A ledger running in this process.
pub(crate) struct Ledger {
    pub(crate) url: String,
    stop: CancellationToken,
    task: JoinHandle<()>,
    /// Its block store, read directly.
    pub(crate) store: Arc<BlockStore>,
}

impl Ledger {
    pub(crate) async fn spawn(settings: LedgerSettings) -> Ledger {
        let app = Application::build(settings, kafka_bus())
            .await
            .expect("the ledger starts");
        let url = format!("http://127.0.0.1:{}", app.port());
        let stop = app.shutdown_token();
        let store = app.store();
        let task = tokio::spawn(async move {
            app.run_until_stopped().await.unwrap();
        });
        Ledger {
            url,
            stop,
            task,
            store,
        }
    }

    pub(crate) async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the ledger stops in time")
            .unwrap();
    }

    pub(crate) async fn get(&self, key: Option<&str>, path: &str) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.unwrap()
    }

    /// The body of `GET path` with `key`, which must succeed.
    pub(crate) async fn get_text(&self, key: &str, path: &str) -> String {
        let response = self.get(Some(key), path).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    pub(crate) async fn get_json(&self, key: &str, path: &str) -> Value {
        serde_json::from_str(&self.get_text(key, path).await).unwrap()
    }

    /// `GET /v1/keys`, which needs no key.
    pub(crate) async fn public_keys(&self) -> Value {
        self.get(None, "/v1/keys").await.json().await.unwrap()
    }

    /// Waits until the stored log holds `size` leaves.
    pub(crate) async fn wait_for_size(&self, size: u64, within: Duration) {
        let until = Instant::now() + within;
        loop {
            let have = self.store.tree_size();
            if have >= size {
                return;
            }
            assert!(
                Instant::now() < until,
                "only {have} of {size} events anchored in {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// An input event for `tenant`, padded to about 300 bytes with `x`s.
pub(crate) fn event(event_type: &str, tenant: &str, n: usize) -> Envelope {
    event_with(
        event_type,
        tenant,
        n,
        json!({ "n": n, "pad": "x".repeat(200) }),
    )
}

/// An input event for `tenant` with `payload`.
pub(crate) fn event_with(event_type: &str, tenant: &str, n: usize, payload: Value) -> Envelope {
    Envelope::new(
        EventType::parse(event_type).unwrap(),
        format!("aggregate-{n}"),
        SOURCE,
        BTreeSet::from([TenantId::parse(tenant).unwrap()]),
        payload,
    )
}

/// Creates the chain's input topics.
pub(crate) async fn create_inputs(bus: &dyn EventBus, names: &ChainNames) {
    let specs: Vec<TopicSpec> = names.inputs.iter().map(|t| TopicSpec::new(t, 3)).collect();
    bus.ensure_topics(&specs).await.unwrap();
}

/// Creates the input topics and publishes `events` round-robin over them.
pub(crate) async fn publish(bus: &dyn EventBus, names: &ChainNames, events: &[Envelope]) {
    create_inputs(bus, names).await;
    publish_to_inputs(bus, names, events).await;
}

/// Publishes `events` round-robin over the (existing) input topics, keyed
/// by aggregate, in batches of at most 1000.
pub(crate) async fn publish_to_inputs(bus: &dyn EventBus, names: &ChainNames, events: &[Envelope]) {
    for (i, topic) in names.inputs.iter().enumerate() {
        let batch: Vec<(Vec<u8>, Envelope)> = events
            .iter()
            .skip(i)
            .step_by(names.inputs.len())
            .map(|e| (e.aggregate_id().as_bytes().to_vec(), e.clone()))
            .collect();
        for chunk in batch.chunks(1000) {
            bus.publish_batch(topic, chunk).await.unwrap();
        }
    }
}

/// Every anchored event id, in leaf order, read through the API.
pub(crate) async fn anchored_ids(ledger: &Ledger, key: &str) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let head = ledger.get_json(key, "/v1/head").await;
    let height = head["height"].as_u64().unwrap();
    for h in 0..=height {
        let block = ledger.get_json(key, &format!("/v1/blocks/{h}")).await;
        for e in block["events"].as_array().unwrap() {
            ids.push(e["event_id"].as_str().unwrap().parse().unwrap());
        }
    }
    ids
}
