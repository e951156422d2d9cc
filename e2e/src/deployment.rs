//! The platform as an operator runs it: `tracechain serve registry`,
//! `… shipments` and `… ledger` as three separate processes over one
//! Kafka-protocol broker and one Redis, sharing an API key table, with
//! topics, consumer groups and Redis namespaces of this test's own so
//! tests can run side by side on the shared infrastructure.
//!
//! Settings come as an operator gives them: environment variables, and
//! the port as a `--set http.port=…` flag.
//!
//! Leases and timeouts are short (a 3 s delivery timeout, a 6 s session,
//! 10 s scan leases) so a test that kills a process waits seconds, not
//! minutes, for its leases to lapse; the services' own start-up check that
//! leases exceed delivery plus session timeout still holds.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tempfile::TempDir;
use tracechain_core::SigningKey;
use tracechain_domain::Role;
use tracechain_testkit::ApiKeyFile;

use crate::process::ServiceProcess;

/// The API keys every deployment has: one per role and tenant the
/// whole-system tests act as.
#[derive(Debug, Clone)]
pub struct Keys {
    /// Manufacturer `acme`.
    pub acme: String,
    /// Manufacturer `globex`: another tenant of the same role.
    pub globex: String,
    /// Carrier `fastfreight`.
    pub fastfreight: String,
    /// Carrier `lastmile`.
    pub lastmile: String,
    /// Auditor `audit-co`.
    pub auditor: String,
    /// Admin `ops`.
    pub admin: String,
    /// Finance team of `acme`.
    pub finance: String,
}

impl Keys {
    /// Writes a fresh key table to `table` and the `tracechain demo` key
    /// list (`{role, tenant, key}`) to `listed`; returns the secrets.
    pub fn write(table: &Path, listed: &Path) -> Keys {
        let mut file = ApiKeyFile::new();
        let mut list = Vec::new();
        let mut add = |role: Role, tenant: &str| {
            let label = format!("{}-{tenant}", role.as_str());
            let key = file.add(role, tenant, &label);
            list.push(json!({"role": role.as_str(), "tenant": tenant, "key": key}));
            key
        };
        // The demo takes the first manufacturer, the first two carriers and the first auditor.
        let keys = Keys {
            acme: add(Role::Manufacturer, "acme"),
            fastfreight: add(Role::Carrier, "fastfreight"),
            lastmile: add(Role::Carrier, "lastmile"),
            auditor: add(Role::Auditor, "audit-co"),
            globex: add(Role::Manufacturer, "globex"),
            admin: add(Role::Admin, "ops"),
            finance: add(Role::Finance, "acme"),
        };
        file.write(table);
        std::fs::write(
            listed,
            serde_json::to_vec_pretty(&Value::Array(list)).unwrap(),
        )
        .unwrap_or_else(|error| panic!("cannot write {}: {error}", listed.display()));
        keys
    }
}

/// Where a deployment's infrastructure is and what its processes get
/// besides the defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Redis URL.
    pub redis: String,
    /// Extra environment for every service (e.g. OTLP export).
    pub envs: Vec<(String, String)>,
    /// `RUST_LOG` for the services.
    pub log_filter: String,
}

impl Options {
    /// The shared broker and Redis that `scripts/infra.sh up` started.
    pub fn shared() -> Options {
        Options {
            brokers: tracechain_testkit::require_broker(),
            redis: tracechain_testkit::require_redis(),
            envs: Vec::new(),
            log_filter: "warn".to_owned(),
        }
    }
}

/// Three service processes and everything they share.
#[derive(Debug)]
pub struct Deployment {
    /// Logs, the key table, the ledger's data and key; removed on drop.
    pub dir: TempDir,
    /// This deployment's suffix for topics, groups and namespaces.
    pub unique: String,
    /// The API keys.
    pub keys: Keys,
    /// The key list `tracechain demo --keys` reads.
    pub demo_keys_file: PathBuf,
    /// The ledger's signing key (PKCS#8 PEM), created on its first start.
    pub ledger_key_file: PathBuf,
    /// `tracechain serve registry`.
    pub registry: ServiceProcess,
    /// `tracechain serve shipments`.
    pub shipments: ServiceProcess,
    /// `tracechain serve ledger`.
    pub ledger: ServiceProcess,
    /// Base URLs, fixed across restarts.
    pub urls: Urls,
    /// The topics the services use.
    pub topics: Topics,
    /// Where it runs.
    pub options: Options,
}

/// The three services' base URLs.
#[derive(Debug, Clone)]
pub struct Urls {
    /// The registry.
    pub registry: String,
    /// The shipments service.
    pub shipments: String,
    /// The ledger.
    pub ledger: String,
}

/// The topics of one deployment.
#[derive(Debug, Clone)]
pub struct Topics {
    /// `registry.events`.
    pub registry: String,
    /// `shipment.events`.
    pub shipments: String,
    /// `ledger.blocks`.
    pub blocks: String,
}

impl Deployment {
    /// Starts the ledger, the registry and shipments and waits until all
    /// three are ready.
    pub fn start(options: Options) -> Deployment {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let unique = tracechain_testkit::unique_name("e2e");
        let keys_file = dir.path().join("api-keys.json");
        let demo_keys_file = dir.path().join("demo-keys.json");
        let keys = Keys::write(&keys_file, &demo_keys_file);
        let ledger_key_file = dir.path().join("ledger.pem");
        let topics = Topics {
            registry: format!("{unique}-registry"),
            shipments: format!("{unique}-shipments"),
            blocks: format!("{unique}-blocks"),
        };
        let ports = [0; 3].map(|_| tracechain_testkit::free_port());
        let urls = Urls {
            registry: format!("http://127.0.0.1:{}", ports[0]),
            shipments: format!("http://127.0.0.1:{}", ports[1]),
            ledger: format!("http://127.0.0.1:{}", ports[2]),
        };
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let common = |extra: Vec<(&str, String)>| -> Vec<(String, String)> {
            let mut envs: Vec<(String, String)> = [
                ("RUST_LOG", options.log_filter.clone()),
                ("TRACECHAIN_LOG_FORMAT", "pretty".to_owned()),
                ("TRACECHAIN_HTTP__HOST", "127.0.0.1".to_owned()),
                ("TRACECHAIN_BUS__BROKERS", options.brokers.clone()),
                ("TRACECHAIN_BUS__SESSION_TIMEOUT_MS", "6000".to_owned()),
                ("TRACECHAIN_BUS__DELIVERY_TIMEOUT_MS", "3000".to_owned()),
                ("TRACECHAIN_API_KEYS_FILE", path(&keys_file)),
            ]
            .into_iter()
            .chain(extra)
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            envs.extend(options.envs.iter().cloned());
            envs
        };
        let store = |service: &str| {
            vec![
                ("TRACECHAIN_STORE__URL", options.redis.clone()),
                ("TRACECHAIN_STORE__NAMESPACE_SUFFIX", unique.clone()),
                // Each projection its own consumer group, as the defaults have it.
                ("TRACECHAIN_PROJECTION__NAME", format!("{unique}-{service}")),
            ]
        };
        let ledger_envs = vec![
            (
                "TRACECHAIN_TOPICS__INPUTS",
                json!([topics.registry, topics.shipments]).to_string(),
            ),
            ("TRACECHAIN_TOPICS__BLOCKS", topics.blocks.clone()),
            ("TRACECHAIN_TOPICS__ELECTION", format!("{unique}-election")),
            (
                "TRACECHAIN_TOPICS__WRITER_GROUP",
                format!("{unique}-writer"),
            ),
            (
                "TRACECHAIN_CHAIN__DATA_DIR",
                path(&dir.path().join("ledger")),
            ),
            ("TRACECHAIN_CHAIN__SIGNING_KEY_FILE", path(&ledger_key_file)),
            ("TRACECHAIN_CHAIN__CREATE_SIGNING_KEY", "true".to_owned()),
        ];
        let mut registry_envs = store("registry");
        registry_envs.push(("TRACECHAIN_TOPIC__NAME", topics.registry.clone()));
        let mut shipments_envs = store("shipments");
        shipments_envs.extend([
            ("TRACECHAIN_TOPICS__SHIPMENTS", topics.shipments.clone()),
            ("TRACECHAIN_TOPICS__REGISTRY", topics.registry.clone()),
            ("TRACECHAIN_SCANS__NONCE_LEASE_MS", "10000".to_owned()),
            (
                "TRACECHAIN_LIMITS__SHIPMENT_LOCK_LEASE_MS",
                "10000".to_owned(),
            ),
        ]);
        let mut ledger = ServiceProcess::new(
            "ledger",
            &[
                "serve",
                "ledger",
                "--set",
                &format!("http.port={}", ports[2]),
            ],
            common(ledger_envs),
            dir.path(),
            vec![urls.ledger.clone()],
        );
        let mut registry = ServiceProcess::new(
            "registry",
            &[
                "serve",
                "registry",
                "--set",
                &format!("http.port={}", ports[0]),
            ],
            common(registry_envs),
            dir.path(),
            vec![urls.registry.clone()],
        );
        let mut shipments = ServiceProcess::new(
            "shipments",
            &[
                "serve",
                "shipments",
                "--set",
                &format!("http.port={}", ports[1]),
            ],
            common(shipments_envs),
            dir.path(),
            vec![urls.shipments.clone()],
        );
        // All three start together; each waits for the broker on its own.
        for service in [&mut ledger, &mut registry, &mut shipments] {
            service.spawn();
        }
        for service in [&mut ledger, &mut registry, &mut shipments] {
            service.wait_ready(std::time::Duration::from_secs(120));
        }
        Deployment {
            dir,
            unique,
            keys,
            demo_keys_file,
            ledger_key_file,
            registry,
            shipments,
            ledger,
            urls,
            topics,
            options,
        }
    }

    /// The ledger's public key, base64 of its 32 bytes: what an operator pins.
    pub fn ledger_public_key(&self) -> String {
        let pem = std::fs::read_to_string(&self.ledger_key_file)
            .unwrap_or_else(|error| panic!("the ledger's key: {error}"));
        SigningKey::from_pkcs8_pem(&pem)
            .expect("the ledger wrote a valid PKCS#8 key")
            .verifying_key()
            .to_base64()
    }

    /// The Redis key prefixes of the services' projections.
    pub fn store_namespaces(&self) -> [String; 2] {
        [
            format!("tc:registry:{}", self.unique),
            format!("tc:shipments:{}", self.unique),
        ]
    }

    /// Stops all three with SIGTERM; panics unless each exits cleanly.
    pub fn stop(&mut self) {
        for service in [&mut self.shipments, &mut self.registry, &mut self.ledger] {
            let status = service.stop();
            assert!(
                status.success(),
                "{} stopped with {status}; log:\n{}",
                service.log_path().display(),
                service.log_text()
            );
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        // A failed test keeps the services' logs and data to look at.
        if std::thread::panicking() {
            let kept = std::mem::replace(
                &mut self.dir,
                tempfile::tempdir().expect("a temporary directory"),
            )
            .keep();
            eprintln!(
                "the deployment's logs and data are kept in {}",
                kept.display()
            );
        }
        // The shared Redis outlives the test: leave nothing of ours in it.
        if self.options.redis == tracechain_testkit::redis_url() {
            for namespace in self.store_namespaces() {
                let _ = tracechain_testkit::flush_namespace(&namespace);
            }
        }
    }
}
