//! The ledger process: settings from defaults, an optional TOML file
//! (`--config <file>`) and `TRACECHAIN_*` environment variables; telemetry;
//! the bus they name; the application until SIGTERM or Ctrl-C.

use std::path::PathBuf;

use anyhow::Context as _;
use tracechain_ledger::{Application, LedgerSettings, SERVICE_NAME};
use tracechain_runtime::{connect_bus, load_settings};
use tracechain_telemetry::TelemetryConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = tracechain_telemetry::init(&TelemetryConfig::from_env(SERVICE_NAME)?)?;
    let config = config_file_argument()?;
    let settings: LedgerSettings =
        load_settings(config.as_deref()).context("loading the ledger settings")?;
    let bus = connect_bus(&settings.bus).context("setting up the bus")?;
    let app = Application::build(settings, bus)
        .await
        .context("starting the ledger")?;
    let stop = app.shutdown_token();
    tokio::spawn(async move {
        tracechain_http::shutdown_signal().await;
        stop.cancel();
    });
    app.run_until_stopped().await?;
    Ok(())
}

/// `--config <file>`, the only argument.
fn config_file_argument() -> anyhow::Result<Option<PathBuf>> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => Ok(None),
        (Some("--config"), Some(file), None) => Ok(Some(PathBuf::from(file))),
        _ => anyhow::bail!("usage: tracechain-ledger [--config <settings.toml>]"),
    }
}
