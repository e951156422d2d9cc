//! The ledger process: settings from defaults, an optional TOML file
//! (`--config <file>`) and `TRACECHAIN_*` environment variables; telemetry;
//! the bus they name; the application until SIGTERM or Ctrl-C.

use anyhow::Context as _;
use tracechain_ledger::{Application, LedgerSettings, SERVICE_NAME};
use tracechain_runtime::{
    cancel_on_shutdown_signal, config_file_argument, connect_bus, load_settings,
};
use tracechain_telemetry::TelemetryConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = tracechain_telemetry::init(&TelemetryConfig::from_env(SERVICE_NAME)?)?;
    let config = config_file_argument(env!("CARGO_BIN_NAME"))?;
    let settings: LedgerSettings =
        load_settings(config.as_deref()).context("loading the ledger settings")?;
    let bus = connect_bus(&settings.bus).context("setting up the bus")?;
    let app = Application::build(settings, bus)
        .await
        .context("starting the ledger")?;
    cancel_on_shutdown_signal(app.shutdown_token());
    app.run_until_stopped().await?;
    Ok(())
}
