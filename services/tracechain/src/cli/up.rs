//! `tracechain up`: every service in ONE process on the embedded bus and
//! store — what a newcomer runs first; nothing but this binary is needed.
//!
//! Everything lives under `--data-dir` (default `./data`): the bus's log
//! (`bus/`), the stores' snapshots (`store/`), the ledger's blocks and
//! signing key (`ledger/`), the API key table (`api-keys.json`, hashes
//! only) and, for the demo, the keys themselves (`demo-keys.json`, 0600).
//! The first start creates the keys; every later start reuses all of it,
//! so a restart keeps every product, shipment and block.
//!
//! The services are the same code as in the distributed mode; only the
//! bus and store differ (one embedded bus shared by all, one embedded
//! store namespace per service). SIGTERM or Ctrl-C stops them in order and
//! writes the stores' snapshots.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracechain_bus::{EmbeddedBus, EventBus};
use tracechain_domain::{Role, TenantId};
use tracechain_http::HttpSettings;
use tracechain_http::auth::{ApiKeyTable, generate_api_key};
use tracechain_runtime::Infrastructure;
use tracechain_runtime::secrets::write_secret;
use tracechain_store::{EmbeddedStore, Namespace, StateStore};
use tracechain_telemetry::TelemetryConfig;

/// The demo tenants and roles the first start creates keys for.
const DEMO_KEYS: [(Role, &str); 5] = [
    (Role::Manufacturer, "acme"),
    (Role::Carrier, "fastfreight"),
    (Role::Carrier, "lastmile"),
    (Role::Auditor, "audit-co"),
    (Role::Admin, "operator"),
];

#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Where everything is kept.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// The address every API listens on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The registry's port.
    #[arg(long, default_value_t = 8080)]
    registry_port: u16,
    /// The shipments service's port.
    #[arg(long, default_value_t = 8082)]
    shipments_port: u16,
    /// The ledger's port.
    #[arg(long, default_value_t = 8083)]
    ledger_port: u16,
}

/// One demo key as `demo-keys.json` keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DemoKey {
    /// The role.
    pub(crate) role: String,
    /// The tenant.
    pub(crate) tenant: String,
    /// The API key itself.
    pub(crate) key: String,
}

impl UpArgs {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(async {
            let _telemetry = tracechain_telemetry::init(&TelemetryConfig::from_env("tracechain")?)?;
            self.up().await
        })
    }

    fn http(&self, port: u16) -> HttpSettings {
        HttpSettings {
            host: self.host.clone(),
            port,
            ..HttpSettings::default()
        }
    }

    /// `http://{host}:{port}`, with a wildcard host shown as `localhost`.
    fn url(&self, port: u16) -> String {
        let host = match self.host.as_str() {
            "0.0.0.0" | "::" | "[::]" => "localhost",
            host => host,
        };
        format!("http://{host}:{port}")
    }

    async fn up(self) -> anyhow::Result<()> {
        let data = &self.data_dir;
        std::fs::create_dir_all(data)
            .with_context(|| format!("creating the data directory {}", data.display()))?;
        let (keys_file, created) = ensure_keys(data)?;

        let bus: Arc<dyn EventBus> =
            Arc::new(EmbeddedBus::open(data.join("bus")).context("opening the embedded bus")?);
        let registry_store = open_store(data, tracechain_registry::SERVICE_NAME).await?;
        let shipments_store = open_store(data, tracechain_shipments::SERVICE_NAME).await?;

        let registry_settings = tracechain_registry::RegistrySettings {
            http: HttpSettings {
                json_limit_bytes: tracechain_registry::settings::DEFAULT_JSON_LIMIT_BYTES,
                ..self.http(self.registry_port)
            },
            api_keys_file: Some(keys_file.clone()),
            public_base_url: self.url(self.registry_port),
            ..tracechain_registry::RegistrySettings::default()
        };
        let shipments_settings = tracechain_shipments::ShipmentsSettings {
            http: HttpSettings {
                json_limit_bytes: tracechain_shipments::settings::DEFAULT_JSON_LIMIT_BYTES,
                ..self.http(self.shipments_port)
            },
            api_keys_file: Some(keys_file.clone()),
            public_base_url: self.url(self.shipments_port),
            ..tracechain_shipments::ShipmentsSettings::default()
        };
        let defaults = tracechain_ledger::LedgerSettings::default();
        let ledger_settings = tracechain_ledger::LedgerSettings {
            http: HttpSettings {
                host: self.host.clone(),
                port: self.ledger_port,
                ..defaults.http.clone()
            },
            api_keys_file: Some(keys_file.clone()),
            chain: tracechain_ledger::settings::ChainSettings {
                data_dir: data.join("ledger"),
                signing_key_file: data.join("ledger").join("signing-key.pem"),
                create_signing_key: true,
                ..defaults.chain.clone()
            },
            ..defaults
        };

        let registry = tracechain_registry::Application::build(
            registry_settings,
            Infrastructure::new(Arc::clone(&bus), Arc::clone(&registry_store)),
        )
        .await
        .context("starting the registry")?;
        let shipments = tracechain_shipments::Application::build(
            shipments_settings,
            Infrastructure::new(Arc::clone(&bus), Arc::clone(&shipments_store)),
        )
        .await
        .context("starting the shipments service")?;
        let ledger = tracechain_ledger::Application::build(ledger_settings, Arc::clone(&bus))
            .await
            .context("starting the ledger")?;

        let stop = CancellationToken::new();
        for token in [
            registry.shutdown_token(),
            shipments.shutdown_token(),
            ledger.shutdown_token(),
        ] {
            let stop = stop.clone();
            tokio::spawn(async move {
                stop.cancelled().await;
                token.cancel();
            });
        }
        tracechain_runtime::cancel_on_shutdown_signal(stop.clone());
        self.banner(data, &keys_file, created.as_deref());

        let (registry, shipments, ledger) = tokio::join!(
            registry.run_until_stopped(),
            shipments.run_until_stopped(),
            ledger.run_until_stopped()
        );
        // Whichever stopped first (or failed) stops the others.
        stop.cancel();
        for store in [registry_store, shipments_store] {
            if let Err(error) = store.close().await {
                tracing::warn!(%error, "Closing an embedded store failed");
            }
        }
        if let Err(error) = bus.flush(std::time::Duration::from_secs(5)).await {
            tracing::warn!(%error, "Flushing the embedded bus failed");
        }
        registry.context("the registry failed")?;
        shipments.context("the shipments service failed")?;
        ledger.context("the ledger failed")?;
        Ok(())
    }

    fn banner(&self, data: &Path, keys_file: &Path, created: Option<&[DemoKey]>) {
        let registry = self.url(self.registry_port);
        let shipments = self.url(self.shipments_port);
        let ledger = self.url(self.ledger_port);
        println!(
            "tracechain is up (embedded mode; data in {})",
            data.display()
        );
        println!("  registry   {registry:<26} docs {registry}/docs");
        println!(
            "  shipments  {shipments:<26} docs {shipments}/docs   phone page {shipments}/scan"
        );
        println!("  ledger     {ledger:<26} docs {ledger}/docs   explorer {ledger}/explorer");
        match created {
            Some(keys) => {
                println!(
                    "demo API keys, created now (kept in {}; the table {} holds their hashes):",
                    data.join("demo-keys.json").display(),
                    keys_file.display()
                );
                for key in keys {
                    println!("  {:<13} {:<12} {}", key.role, key.tenant, key.key);
                }
            }
            None => println!(
                "demo API keys: {} (the ledger's signing key: {})",
                data.join("demo-keys.json").display(),
                data.join("ledger").join("signing-key.pem").display()
            ),
        }
        println!("stop with Ctrl-C; `tracechain up` again keeps everything");
    }
}

/// The embedded store of `service` under `data/store`.
async fn open_store(data: &Path, service: &str) -> anyhow::Result<Arc<dyn StateStore>> {
    let store = EmbeddedStore::open(data.join("store"), Namespace::service(service)?)
        .await
        .with_context(|| format!("opening the {service} store"))?;
    Ok(Arc::new(store))
}

/// The key table, created with the demo keys on the first start; returns
/// its path and, when created now, the keys.
fn ensure_keys(data: &Path) -> anyhow::Result<(PathBuf, Option<Vec<DemoKey>>)> {
    let table = data.join("api-keys.json");
    if table.exists() {
        return Ok((table, None));
    }
    let mut entries = Vec::new();
    let mut keys = Vec::new();
    for (role, tenant) in DEMO_KEYS {
        let label = format!("demo-{tenant}-{}", role.as_str());
        let (secret, entry) = generate_api_key(role, TenantId::parse(tenant)?, label)?;
        entries.push(entry);
        keys.push(DemoKey {
            role: role.as_str().to_owned(),
            tenant: tenant.to_owned(),
            key: secret,
        });
    }
    let mut demo = serde_json::to_string_pretty(&keys)?;
    demo.push('\n');
    write_secret(&data.join("demo-keys.json"), demo.as_bytes(), true)?;
    let mut text = ApiKeyTable::from_entries(entries)?.to_json_pretty();
    text.push('\n');
    // The table last: its presence says the keys are complete.
    write_secret(&table, text.as_bytes(), true)?;
    Ok((table, Some(keys)))
}
