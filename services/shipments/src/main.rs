//! The shipments process: settings from defaults, an optional TOML file
//! (`--config <file>`) and `TRACECHAIN_*` environment variables; telemetry;
//! the bus and store they name; the application until SIGTERM or Ctrl-C.

use anyhow::Context as _;
use tracechain_runtime::{
    Infrastructure, cancel_on_shutdown_signal, config_file_argument, load_settings,
};
use tracechain_shipments::{Application, SERVICE_NAME, ShipmentsSettings};
use tracechain_store::Namespace;
use tracechain_telemetry::TelemetryConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = tracechain_telemetry::init(&TelemetryConfig::from_env(SERVICE_NAME)?)?;
    let config = config_file_argument(env!("CARGO_BIN_NAME"))?;
    let settings: ShipmentsSettings =
        load_settings(config.as_deref()).context("loading the shipments settings")?;
    let infra = Infrastructure::connect(
        &settings.bus,
        &settings.store,
        Namespace::service(SERVICE_NAME)?,
    )
    .await
    .context("setting up the bus and the store")?;
    let app = Application::build(settings, infra.clone())
        .await
        .context("starting the shipments service")?;
    cancel_on_shutdown_signal(app.shutdown_token());
    app.run_until_stopped().await?;
    infra.store.close().await.context("closing the store")?;
    Ok(())
}
