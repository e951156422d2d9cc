//! Ledger processes: each instance its own data directory and port, the
//! chain (topics, group, signing key) shared; killed with SIGKILL, paused
//! with SIGSTOP.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use tracechain_bus::{EventBus, KafkaBus, KafkaConfig, TopicSpec};
use tracechain_chain::{ChainVerifier, KeyRing};
use tracechain_core::SigningKey;
use tracechain_domain::{Envelope, EventType, Role, TenantId};
use tracechain_http::{ApiKeyTable, generate_api_key};
use tracechain_ledger::store::{BlockStore, StoreOptions};
use uuid::Uuid;

/// One chain: its names, signing key and API key, shared by its instances.
pub(crate) struct Chain {
    pub(crate) dir: TempDir,
    pub(crate) id: String,
    pub(crate) inputs: Vec<String>,
    pub(crate) key: SigningKey,
    pub(crate) api_key: String,
}

impl Chain {
    pub(crate) fn new() -> Chain {
        let dir = TempDir::new().unwrap();
        let id = tracechain_testkit::unique_name("lp");
        let key = SigningKey::generate();
        std::fs::write(
            dir.path().join("signing-key.pem"),
            key.to_pkcs8_pem().unwrap().as_bytes(),
        )
        .unwrap();
        let (api_key, entry) = generate_api_key(
            Role::Auditor,
            TenantId::parse("audit-co").unwrap(),
            "auditor",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("api-keys.json"),
            ApiKeyTable::from_entries(vec![entry])
                .unwrap()
                .to_json_pretty(),
        )
        .unwrap();
        Chain {
            inputs: vec![format!("{id}.registry"), format!("{id}.shipment")],
            dir,
            id,
            key,
            api_key,
        }
    }

    pub(crate) fn origin(&self) -> String {
        format!("ledger.test/{}", self.id)
    }

    fn instance_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self, name: &str, port: u16) -> PathBuf {
        let dir = self.instance_dir(name);
        std::fs::create_dir_all(&dir).unwrap();
        let inputs: Vec<String> = self.inputs.iter().map(|t| format!("{t:?}")).collect();
        let toml = format!(
            r#"api_keys_file = {api:?}

[http]
host = "127.0.0.1"
port = {port}

[bus]
brokers = {brokers:?}
session_timeout_ms = 6000

[chain]
origin = {origin:?}
data_dir = {data:?}
signing_key_file = {key:?}

[topics]
inputs = [{inputs}]
input_partitions = 3
blocks = "{id}.blocks"
election = "{id}.writer"
writer_group = "{id}-writer"

[blocks]
max_events = 200
max_wait_ms = 50
"#,
            api = self.dir.path().join("api-keys.json"),
            brokers = tracechain_testkit::kafka_brokers(),
            origin = self.origin(),
            data = dir.join("data"),
            key = self.dir.path().join("signing-key.pem"),
            inputs = inputs.join(", "),
            id = self.id,
        );
        let path = dir.join("ledger.toml");
        std::fs::write(&path, toml).unwrap();
        path
    }

    /// Starts instance `name` on `port` (the same port after a restart).
    pub(crate) fn start(&self, name: &str, port: u16) -> Process {
        let config = self.config(name, port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.instance_dir(name).join("ledger.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tracechain-ledger"))
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .env("TRACECHAIN_LOG_FORMAT", "pretty")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the ledger binary starts");
        Process {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log: self.instance_dir(name).join("ledger.log"),
        }
    }

    /// Opens instance `name`'s store (the process must be stopped).
    pub(crate) fn open_store(&self, name: &str) -> BlockStore {
        let options = StoreOptions::new(self.origin(), KeyRing::new([self.key.verifying_key()]));
        BlockStore::open(&self.instance_dir(name).join("data"), &options).expect("the store opens")
    }

    /// Verifies the whole stored chain of `name` from genesis; returns
    /// every anchored event id in leaf order.
    pub(crate) fn verify(&self, name: &str) -> Vec<Uuid> {
        let store = self.open_store(name);
        let mut verifier =
            ChainVerifier::from_genesis(self.origin(), KeyRing::new([self.key.verifying_key()]));
        let mut ids = Vec::new();
        let height = store.head().map_or(0, |h| h.header.height + 1);
        for h in 0..height {
            let block = store.block(h).unwrap().unwrap();
            verifier
                .apply(&block)
                .unwrap_or_else(|e| panic!("stored chain of {name}: {e}"));
            for event in block.events() {
                let envelope: Envelope = serde_json::from_slice(event).unwrap();
                ids.push(envelope.id());
            }
        }
        ids
    }
}

/// A running ledger process.
pub(crate) struct Process {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) log: PathBuf,
}

impl Process {
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    /// Stops it gracefully (SIGTERM) and waits.
    pub(crate) fn terminate(&mut self) {
        self.signal("TERM");
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the ledger did not stop on SIGTERM; log: {}",
            self.log.display()
        );
    }

    pub(crate) async fn status(&self, api_key: &str) -> Option<Value> {
        let response = reqwest::Client::new()
            .get(format!("{}/v1/status", self.url))
            .bearer_auth(api_key)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Waits until the instance's store holds `size` leaves.
    pub(crate) async fn wait_for_size(&self, api_key: &str, size: u64, within: Duration) {
        let until = Instant::now() + within;
        loop {
            let have = match self.status(api_key).await {
                Some(s) => s["tree_size"].as_u64().unwrap_or(0),
                None => 0,
            };
            if have >= size {
                return;
            }
            assert!(
                Instant::now() < until,
                "{have} of {size} anchored after {within:?}; log: {}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until its role is `role`.
    pub(crate) async fn wait_for_role(&self, api_key: &str, role: &str, within: Duration) {
        let until = Instant::now() + within;
        loop {
            if let Some(status) = self.status(api_key).await
                && status["role"] == role
            {
                return;
            }
            assert!(
                Instant::now() < until,
                "not {role} after {within:?}; log: {}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn bus() -> Arc<dyn EventBus> {
    let mut config = KafkaConfig::new(tracechain_testkit::kafka_brokers());
    config.session_timeout = Duration::from_secs(6);
    Arc::new(KafkaBus::connect(config).unwrap())
}

/// Creates the chain's input topics.
pub(crate) async fn create_inputs(bus: &dyn EventBus, chain: &Chain) {
    let specs: Vec<TopicSpec> = chain.inputs.iter().map(|t| TopicSpec::new(t, 3)).collect();
    bus.ensure_topics(&specs).await.unwrap();
}

/// `n` events, numbered from `from`.
pub(crate) fn events(from: usize, n: usize) -> Vec<Envelope> {
    (from..from + n)
        .map(|i| {
            Envelope::new(
                EventType::parse("scan.recorded").unwrap(),
                format!("shipment-{}", i % 97),
                "ledger-tests",
                BTreeSet::from([TenantId::parse("acme").unwrap()]),
                json!({ "n": i, "pad": "y".repeat(150) }),
            )
        })
        .collect()
}

/// Publishes `events` alternately to the chain's input topics.
pub(crate) async fn publish(bus: &dyn EventBus, chain: &Chain, events: &[Envelope]) {
    Topics(&chain.inputs).publish(bus, events).await;
}

/// A chain's input topics.
pub(crate) struct Topics<'a>(pub(crate) &'a [String]);

impl Topics<'_> {
    /// Publishes `events` alternately to the topics.
    pub(crate) async fn publish(&self, bus: &dyn EventBus, events: &[Envelope]) {
        for (i, topic) in self.0.iter().enumerate() {
            let batch: Vec<(Vec<u8>, Envelope)> = events
                .iter()
                .skip(i)
                .step_by(self.0.len())
                .map(|e| (e.aggregate_id().as_bytes().to_vec(), e.clone()))
                .collect();
            if !batch.is_empty() {
                bus.publish_batch(topic, &batch).await.unwrap();
            }
        }
    }
}

/// Asserts `anchored` holds each of `published` exactly once.
pub(crate) fn assert_exactly_once(anchored: &[Uuid], published: &[Envelope]) {
    let set: HashSet<Uuid> = anchored.iter().copied().collect();
    assert_eq!(set.len(), anchored.len(), "an event was anchored twice");
    let want: HashSet<Uuid> = published.iter().map(Envelope::id).collect();
    let missing = want.difference(&set).count();
    let extra = set.difference(&want).count();
    assert!(
        missing == 0 && extra == 0,
        "{missing} published events not anchored, {extra} unknown ones anchored"
    );
}

pub(crate) fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
