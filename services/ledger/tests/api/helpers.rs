//! `Ledger::spawn`: a real ledger on port 0 over the real broker, isolated
//! per test (unique topics and group), with API keys and a publisher of
//! input events.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracechain_bus::{EventBus, KafkaBus, KafkaConfig, TopicSpec};
use tracechain_domain::{Envelope, EventType, Role, TenantId};
use tracechain_http::{ApiKeyTable, HttpSettings, generate_api_key};
use tracechain_ledger::settings::{BlockSettings, ChainSettings, TopicSettings};
use tracechain_ledger::{Application, LedgerSettings};
use tracechain_runtime::BusSettings;
use tracechain_telemetry::{LogFormat, TelemetryConfig, TelemetryGuard};
use uuid::Uuid;

fn telemetry() {
    static GUARD: OnceLock<Option<TelemetryGuard>> = OnceLock::new();
    GUARD.get_or_init(|| {
        let mut config = TelemetryConfig::new("ledger-tests");
        config.log_format = LogFormat::Pretty;
        config.filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
        config.test_writer = true;
        tracechain_telemetry::init(&config).ok()
    });
}

/// API keys: `acme` manufacturer, `fastfreight` carrier, an auditor, finance.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub(crate) acme: String,
    pub(crate) carrier: String,
    pub(crate) auditor: String,
    pub(crate) finance: String,
}

fn write_keys(dir: &Path) -> (Keys, PathBuf) {
    let mut entries = Vec::new();
    let mut key = |role, t: &str| {
        let (secret, entry) = generate_api_key(role, TenantId::parse(t).unwrap(), t).unwrap();
        entries.push(entry);
        secret
    };
    let keys = Keys {
        acme: key(Role::Manufacturer, "acme"),
        carrier: key(Role::Carrier, "fastfreight"),
        auditor: key(Role::Auditor, "audit-co"),
        finance: key(Role::Finance, "acme-finance"),
    };
    let path = dir.join("api-keys.json");
    std::fs::write(
        &path,
        ApiKeyTable::from_entries(entries).unwrap().to_json_pretty(),
    )
    .unwrap();
    (keys, path)
}

/// The topics and group of one test's chain.
#[derive(Debug, Clone)]
pub(crate) struct ChainNames {
    pub(crate) inputs: Vec<String>,
    pub(crate) blocks: String,
    pub(crate) election: String,
    pub(crate) group: String,
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
        }
    }
}

/// Files shared by the instances of one chain (keys, API keys).
pub(crate) struct Shared {
    pub(crate) dir: TempDir,
    pub(crate) keys: Keys,
    pub(crate) api_keys: PathBuf,
    pub(crate) names: ChainNames,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        telemetry();
        let dir = TempDir::new().unwrap();
        let (keys, api_keys) = write_keys(dir.path());
        Shared {
            dir,
            keys,
            api_keys,
            names: ChainNames::unique(),
        }
    }

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

pub(crate) fn kafka_bus() -> Arc<dyn EventBus> {
    let mut config = KafkaConfig::new(tracechain_testkit::kafka_brokers());
    config.session_timeout = Duration::from_secs(6);
    Arc::new(KafkaBus::connect(config).unwrap())
}

/// A ledger running in this process.
pub(crate) struct Ledger {
    pub(crate) url: String,
    pub(crate) stop: CancellationToken,
    pub(crate) task: JoinHandle<()>,
    pub(crate) app_store: Arc<tracechain_ledger::store::BlockStore>,
}

impl Ledger {
    pub(crate) async fn spawn(settings: LedgerSettings) -> Ledger {
        let app = Application::build(settings, kafka_bus())
            .await
            .expect("the ledger starts");
        let url = format!("http://127.0.0.1:{}", app.port());
        let stop = app.shutdown_token();
        let app_store = app.store();
        let task = tokio::spawn(async move {
            app.run_until_stopped().await.unwrap();
        });
        Ledger {
            url,
            stop,
            task,
            app_store,
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

    pub(crate) async fn get_json(&self, key: &str, path: &str) -> Value {
        let response = self.get(Some(key), path).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "GET {path}: {status} {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until the stored log holds `size` leaves.
    pub(crate) async fn wait_for_size(&self, size: u64, within: Duration) {
        let until = Instant::now() + within;
        loop {
            let have = self.app_store.tree_size();
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

/// An input event for `tenant`.
pub(crate) fn event(event_type: &str, tenant: &str, n: usize) -> Envelope {
    Envelope::new(
        EventType::parse(event_type).unwrap(),
        format!("aggregate-{n}"),
        "ledger-tests",
        BTreeSet::from([TenantId::parse(tenant).unwrap()]),
        json!({ "n": n, "pad": "x".repeat(200) }),
    )
}

/// Creates the test's input topics and publishes `events` round-robin over them.
pub(crate) async fn publish(bus: &dyn EventBus, names: &ChainNames, events: &[Envelope]) {
    let specs: Vec<TopicSpec> = names.inputs.iter().map(|t| TopicSpec::new(t, 3)).collect();
    bus.ensure_topics(&specs).await.unwrap();
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

pub(crate) fn fast_blocks() -> BlockSettings {
    BlockSettings {
        max_events: 100,
        max_wait_ms: 50,
        ..BlockSettings::default()
    }
}
