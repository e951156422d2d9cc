//! What `tests/explorer.rs` needs from `tests/api/helpers.rs` (a real ledger
//! on port 0 over the real broker, isolated by unique topics and group; API
//! keys; a publisher), plus finding and running the browser.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
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
use tracechain_ledger::store::BlockStore;
use tracechain_ledger::{Application, LedgerSettings};
use tracechain_runtime::BusSettings;
use tracechain_telemetry::{LogFormat, TelemetryConfig, TelemetryGuard};

/// What to tell a reader when the browser tools are missing.
pub(crate) const BROWSER_HINT: &str = "run .ci/run, which installs Debian's chromium \
     (apt-get install chromium) and Python playwright (python3 -m pip install \
     playwright==1.65.2); never `playwright install`";

fn telemetry() {
    static GUARD: OnceLock<Option<TelemetryGuard>> = OnceLock::new();
    GUARD.get_or_init(|| {
        let mut config = TelemetryConfig::new("ledger-explorer-tests");
        config.log_format = LogFormat::Pretty;
        config.filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
        config.test_writer = true;
        tracechain_telemetry::init(&config).ok()
    });
}

/// API keys: the `acme` manufacturer and an auditor.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// Reads `acme`'s events only.
    pub(crate) acme: String,
    /// Reads every event.
    pub(crate) auditor: String,
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
        auditor: key(Role::Auditor, "audit-co"),
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
    /// Input topics the ledger consumes.
    pub(crate) inputs: Vec<String>,
    pub(crate) blocks: String,
    pub(crate) election: String,
    pub(crate) group: String,
    /// The chain's origin line.
    pub(crate) origin: String,
}

impl ChainNames {
    fn unique() -> ChainNames {
        let id = tracechain_testkit::unique_name("lx");
        ChainNames {
            inputs: vec![format!("{id}.registry"), format!("{id}.shipment")],
            blocks: format!("{id}.blocks"),
            election: format!("{id}.writer"),
            group: format!("{id}-writer"),
            origin: format!("ledger.test/{id}"),
        }
    }
}

/// A test's data directory, API keys and names.
pub(crate) struct Shared {
    pub(crate) dir: TempDir,
    pub(crate) keys: Keys,
    api_keys: PathBuf,
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

    /// Settings of a ledger that cuts a block at most 50 ms after an event.
    pub(crate) fn settings(&self) -> LedgerSettings {
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
                data_dir: self.dir.path().join("ledger"),
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
            blocks: BlockSettings {
                max_events: 100,
                max_wait_ms: 50,
                ..BlockSettings::default()
            },
        }
    }
}

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
    store: Arc<BlockStore>,
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

/// An input event for `tenant`.
pub(crate) fn event(event_type: &str, tenant: &str, n: usize) -> Envelope {
    Envelope::new(
        EventType::parse(event_type).unwrap(),
        format!("aggregate-{n}"),
        "ledger-explorer-tests",
        BTreeSet::from([TenantId::parse(tenant).unwrap()]),
        json!({ "n": n, "note": format!("événement n°{n} <b>&amp;</b> \u{1F4E6}") }),
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
        if !batch.is_empty() {
            bus.publish_batch(topic, &batch).await.unwrap();
        }
    }
}

/// Publishes `events` in one batch to the first input topic under one key,
/// so they share a partition and arrive together: one block holds them all.
pub(crate) async fn publish_together(bus: &dyn EventBus, names: &ChainNames, events: &[Envelope]) {
    let topic = &names.inputs[0];
    bus.ensure_topics(&[TopicSpec::new(topic, 3)])
        .await
        .unwrap();
    let batch: Vec<(Vec<u8>, Envelope)> = events
        .iter()
        .map(|e| (b"together".to_vec(), e.clone()))
        .collect();
    bus.publish_batch(topic, &batch).await.unwrap();
}

/// Debian's chromium and Python playwright, found or the test fails.
pub(crate) struct Browser {
    /// The chromium binary.
    pub(crate) chromium: PathBuf,
    /// The python3 that imports playwright.
    pub(crate) python: String,
}

impl Browser {
    /// Finds the tools; panics with [`BROWSER_HINT`] when one is missing
    /// (a browser test is never skipped).
    pub(crate) fn find() -> Browser {
        let chromium = PathBuf::from(
            std::env::var("TRACECHAIN_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
        );
        assert!(
            chromium.exists(),
            "{} is missing: {BROWSER_HINT}",
            chromium.display()
        );
        let python = std::env::var("TRACECHAIN_PYTHON").unwrap_or_else(|_| "python3".into());
        let probe = Command::new(&python)
            .args(["-c", "import playwright.sync_api"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match probe {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "{python} cannot import playwright ({}): {BROWSER_HINT}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(error) => panic!("cannot run {python} ({error}): {BROWSER_HINT}"),
        }
        Browser { chromium, python }
    }

    /// Runs `script` with `args`, stdout and stderr to files in `dir`, killed
    /// after `within`. Returns the exit status and what it printed.
    pub(crate) async fn run(
        &self,
        script: &Path,
        args: &[String],
        dir: &Path,
        within: Duration,
    ) -> (ExitStatus, String, String) {
        let stdout_path = dir.join("browser.stdout");
        let stderr_path = dir.join("browser.stderr");
        let mut child = Command::new(&self.python)
            .arg(script)
            .args(args)
            .arg("--chromium")
            .arg(&self.chromium)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path).unwrap())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.python));
        let until = Instant::now() + within;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= until {
                // Our own child, by its handle: nothing else is touched.
                child.kill().ok();
                child.wait().ok();
                panic!(
                    "the browser script ran over {within:?}; stderr:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        (
            status,
            std::fs::read_to_string(&stdout_path).unwrap_or_default(),
            std::fs::read_to_string(&stderr_path).unwrap_or_default(),
        )
    }
}
