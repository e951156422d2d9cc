//! The shipments process: [`tracechain_shipments::startup::serve`] with the
//! `--config <file>` argument, and telemetry.

use tracechain_shipments::SERVICE_NAME;
use tracechain_telemetry::TelemetryConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = tracechain_telemetry::init(&TelemetryConfig::from_env(SERVICE_NAME)?)?;
    let config = tracechain_runtime::config_file_argument(env!("CARGO_BIN_NAME"))?;
    tracechain_shipments::startup::serve(config.as_deref(), &[]).await
}
