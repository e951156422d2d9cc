//! [`init_telemetry`]: readable logs captured by the test harness, installed
//! once per test binary.

use std::sync::OnceLock;

use tracechain_telemetry::{LogFormat, TelemetryConfig, TelemetryGuard};

/// Installs telemetry for the tests of this process: readable lines, the
/// filter from `RUST_LOG` (default `warn`), written through the test
/// harness so only a failing test's logs are shown. The first call wins;
/// later ones (from any test of the binary) do nothing. If a subscriber was
/// already installed by something else, that one stays.
pub fn init_telemetry(service_name: &str) {
    // Kept for the whole run: dropping the guard would stop the exporter.
    static GUARD: OnceLock<Option<TelemetryGuard>> = OnceLock::new();
    GUARD.get_or_init(|| {
        let mut config = TelemetryConfig::new(service_name);
        config.log_format = LogFormat::Pretty;
        config.filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
        config.test_writer = true;
        tracechain_telemetry::init(&config).ok()
    });
}
