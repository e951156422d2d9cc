//! Ledger processes: each instance its own data directory and port, the
//! chain (topics, group, signing key) shared; killed with SIGKILL, paused
//! with SIGSTOP.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use tracechain_chain::{ChainVerifier, KeyRing};
use tracechain_core::SigningKey;
use tracechain_domain::{Envelope, EventType, Role, TenantId};
use tracechain_ledger::store::{BlockStore, StoreOptions};
use tracechain_testkit::{ApiKeyFile, ChildProcess};
use uuid::Uuid;

use crate::common::ChainNames;

/// One chain: its names, signing key and API key, shared by its instances.
pub(crate) struct Chain {
    pub(crate) dir: TempDir,
    pub(crate) names: ChainNames,
    pub(crate) key: SigningKey,
    pub(crate) api_key: String,
}

impl Chain {
    pub(crate) fn new() -> Chain {
        let dir = TempDir::new().unwrap();
        let key = SigningKey::generate();
        std::fs::write(
            dir.path().join("signing-key.pem"),
            key.to_pkcs8_pem().unwrap().as_bytes(),
        )
        .unwrap();
        let mut api_keys = ApiKeyFile::new();
        let api_key = api_keys.add(Role::Auditor, "audit-co", "auditor");
        api_keys.write(&dir.path().join("api-keys.json"));
        Chain {
            dir,
            names: ChainNames::unique(),
            key,
            api_key,
        }
    }

    pub(crate) fn origin(&self) -> String {
        self.names.origin.clone()
    }

    fn instance_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self, name: &str, port: u16) -> PathBuf {
        let dir = self.instance_dir(name);
        std::fs::create_dir_all(&dir).unwrap();
        let inputs: Vec<String> = self.names.inputs.iter().map(|t| format!("{t:?}")).collect();
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
blocks = {blocks:?}
election = {election:?}
writer_group = {group:?}

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
            blocks = self.names.blocks,
            election = self.names.election,
            group = self.names.group,
        );
        let path = dir.join("ledger.toml");
        std::fs::write(&path, toml).unwrap();
        path
    }

    /// Starts instance `name` on `port` (the same port after a restart).
    pub(crate) fn start(&self, name: &str, port: u16) -> Process {
        let config = self.config(name, port);
        let log = self.instance_dir(name).join("ledger.log");
        let child = ChildProcess::spawn_logged(
            Command::new(env!("CARGO_BIN_EXE_tracechain-ledger"))
                .arg("--config")
                .arg(&config)
                .env("RUST_LOG", "info,tracechain_http=warn")
                .env("TRACECHAIN_LOG_FORMAT", "pretty"),
            &log,
        );
        Process {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
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

/// A running ledger process (killed when dropped).
pub(crate) struct Process {
    pub(crate) child: ChildProcess,
    pub(crate) url: String,
    pub(crate) log: PathBuf,
}

impl Process {
    pub(crate) fn kill(&mut self) {
        self.child.kill();
    }

    pub(crate) fn signal(&self, signal: &str) {
        self.child.signal(signal);
    }

    /// Stops it gracefully (SIGTERM) and waits.
    pub(crate) fn terminate(&mut self) {
        self.signal("TERM");
        if self.child.wait_for_exit(Duration::from_secs(30)).is_none() {
            panic!(
                "the ledger did not stop on SIGTERM; log: {}",
                self.log.display()
            );
        }
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
        self.wait_for_status(api_key, within, |status| {
            let have = status.map_or(0, |s| s["tree_size"].as_u64().unwrap_or(0));
            (have >= size)
                .then_some(())
                .ok_or_else(|| format!("{have} of {size} anchored (status: {status:?})"))
        })
        .await;
    }

    /// Waits until its role is `role`.
    pub(crate) async fn wait_for_role(&self, api_key: &str, role: &str, within: Duration) {
        self.wait_for_status(api_key, within, |status| {
            status
                .is_some_and(|s| s["role"] == role)
                .then_some(())
                .ok_or_else(|| format!("not {role}"))
        })
        .await;
    }

    /// Polls `/v1/status` (`None` while it does not answer) until `reached`
    /// accepts it; fails with what `reached` said was missing after `within`.
    async fn wait_for_status(
        &self,
        api_key: &str,
        within: Duration,
        reached: impl Fn(Option<&Value>) -> Result<(), String>,
    ) {
        let until = Instant::now() + within;
        loop {
            let Err(missing) = reached(self.status(api_key).await.as_ref()) else {
                return;
            };
            if Instant::now() >= until {
                // The log's directory goes with the test: show its tail.
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log
                    .lines()
                    .rev()
                    .filter(|l| !l.contains("http_request{"))
                    .take(60)
                    .collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "{missing} after {within:?}; the last lines of {}:\n{}",
                    self.log.display(),
                    tail.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
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
