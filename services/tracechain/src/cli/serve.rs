//! `tracechain serve <service>`: one service as its own process, against
//! Kafka and Redis (or whatever its settings name), configured by
//! `--config <file>`, `TRACECHAIN_*` environment variables and `--set
//! <section>.<key>=<value>` flags, in that order of precedence — the same
//! setting names as the service's own binary and the Helm values.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use tracechain_runtime::SettingOverride;
use tracechain_telemetry::TelemetryConfig;

/// The services `serve` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Service {
    /// Products, lots, items, QR codes and the GS1 resolver.
    Registry,
    /// Shipments, carriers' devices and signed scans.
    Shipments,
    /// The signed, hash-chained log of every event.
    Ledger,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Which service.
    service: Service,
    /// A TOML settings file (then `TRACECHAIN_<SECTION>__<KEY>` overrides).
    #[arg(long)]
    config: Option<PathBuf>,
    /// A setting by its name, over the file and the environment: `--set
    /// http.port=8081 --set bus.brokers=kafka:9092` (repeatable; the value
    /// is TOML, or text).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    overrides: Vec<SettingOverride>,
}

impl ServeArgs {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let name = match self.service {
            Service::Registry => tracechain_registry::SERVICE_NAME,
            Service::Shipments => tracechain_shipments::SERVICE_NAME,
            Service::Ledger => tracechain_ledger::SERVICE_NAME,
        };
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(async {
            let _telemetry = tracechain_telemetry::init(&TelemetryConfig::from_env(name)?)?;
            let config = self.config.as_deref();
            match self.service {
                Service::Registry => {
                    tracechain_registry::startup::serve(config, &self.overrides).await
                }
                Service::Shipments => {
                    tracechain_shipments::startup::serve(config, &self.overrides).await
                }
                Service::Ledger => tracechain_ledger::startup::serve(config, &self.overrides).await,
            }
        })
    }
}
