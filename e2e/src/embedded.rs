//! `tracechain up` as a newcomer runs it: one process, every service on
//! the embedded bus and store, data in a directory of the test's own.

use std::path::{Path, PathBuf};

use tracechain_core::SigningKey;

use crate::deployment::Urls;
use crate::process::ServiceProcess;

/// A running `tracechain up`.
#[derive(Debug)]
pub struct Up {
    /// The process.
    pub process: ServiceProcess,
    /// Its data directory.
    pub data: PathBuf,
    /// The services' base URLs.
    pub urls: Urls,
}

impl Up {
    /// Starts `tracechain up --data-dir <data>` on free ports, output to
    /// `<log_dir>/<name>.log`, and waits until every service is ready.
    pub fn start(data: &Path, log_dir: &Path, name: &str) -> Up {
        let ports = [0; 3].map(|_| tracechain_testkit::free_port());
        Self::start_on(data, log_dir, name, ports)
    }

    /// As [`Up::start`], on the given registry, shipments and ledger ports.
    pub fn start_on(data: &Path, log_dir: &Path, name: &str, ports: [u16; 3]) -> Up {
        let urls = Urls {
            registry: format!("http://127.0.0.1:{}", ports[0]),
            shipments: format!("http://127.0.0.1:{}", ports[1]),
            ledger: format!("http://127.0.0.1:{}", ports[2]),
        };
        let [registry, shipments, ledger] = ports.map(|p| p.to_string());
        let data_dir = data.to_string_lossy().into_owned();
        let mut process = ServiceProcess::new(
            name,
            &[
                "up",
                "--data-dir",
                &data_dir,
                "--registry-port",
                &registry,
                "--shipments-port",
                &shipments,
                "--ledger-port",
                &ledger,
            ],
            vec![("RUST_LOG".to_owned(), "warn".to_owned())],
            log_dir,
            vec![
                urls.registry.clone(),
                urls.shipments.clone(),
                urls.ledger.clone(),
            ],
        );
        process.start();
        Up {
            process,
            data: data.to_owned(),
            urls,
        }
    }

    /// The demo keys `up` wrote on its first start: `(role, tenant, key)`.
    pub fn demo_keys(&self) -> Vec<(String, String, String)> {
        let text = std::fs::read_to_string(self.data.join("demo-keys.json"))
            .expect("up wrote data/demo-keys.json");
        let listed: Vec<serde_json::Value> =
            serde_json::from_str(&text).expect("demo-keys.json is a JSON list");
        listed
            .iter()
            .map(|k| {
                let field = |name: &str| k[name].as_str().unwrap_or_default().to_owned();
                (field("role"), field("tenant"), field("key"))
            })
            .collect()
    }

    /// The API key of `tenant` from the demo keys.
    pub fn key_of(&self, tenant: &str) -> String {
        self.demo_keys()
            .into_iter()
            .find(|(_, t, _)| t == tenant)
            .map(|(_, _, key)| key)
            .unwrap_or_else(|| panic!("no demo key for {tenant}"))
    }

    /// The ledger's public key, base64 of its 32 bytes.
    pub fn ledger_public_key(&self) -> String {
        let pem = std::fs::read_to_string(self.data.join("ledger/signing-key.pem"))
            .expect("up created the ledger's signing key");
        SigningKey::from_pkcs8_pem(&pem)
            .expect("a valid PKCS#8 key")
            .verifying_key()
            .to_base64()
    }
}
