//! What [`crate::init`] installs: service name, log format, log filter and
//! the optional OTLP trace endpoint, built in code or read from the environment.
//!
//! Environment variables read by [`TelemetryConfig::from_env`]:
//! `RUST_LOG` (filter, default `info`), `TRACECHAIN_LOG_FORMAT` (`json` or
//! `pretty`; default `json` in release builds, `pretty` in debug builds),
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (unset or empty: no export) and
//! `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, the default, or `http/protobuf`).

use std::str::FromStr;

/// Environment variable selecting the log format.
pub const LOG_FORMAT_ENV: &str = "TRACECHAIN_LOG_FORMAT";

/// How log lines are written to standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, with the current span's fields: for production.
    Json,
    /// Human-readable single lines: for development.
    Pretty,
}

impl LogFormat {
    /// `Json` in release builds, `Pretty` in debug builds.
    pub fn default_for_build() -> Self {
        if cfg!(debug_assertions) {
            Self::Pretty
        } else {
            Self::Json
        }
    }
}

impl FromStr for LogFormat {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "pretty" | "text" => Ok(Self::Pretty),
            _ => Err(ConfigError::LogFormat(s.to_owned())),
        }
    }
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (collector port 4317); needs a Tokio runtime at `init`.
    Grpc,
    /// OTLP over HTTP with protobuf bodies (collector port 4318, path `/v1/traces`).
    HttpProtobuf,
}

impl FromStr for OtlpProtocol {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" => Ok(Self::HttpProtobuf),
            _ => Err(ConfigError::OtlpProtocol(s.to_owned())),
        }
    }
}

/// A configuration value read from the environment is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The log format is neither `json` nor `pretty`.
    #[error("log format `{0}` is invalid, expected `json` or `pretty`")]
    LogFormat(String),
    /// The OTLP protocol is neither `grpc` nor `http/protobuf`.
    #[error("otlp protocol `{0}` is invalid, expected `grpc` or `http/protobuf`")]
    OtlpProtocol(String),
}

/// Everything [`crate::init`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// The OpenTelemetry `service.name` (e.g. `registry`).
    pub service_name: String,
    /// How logs are written.
    pub log_format: LogFormat,
    /// An `EnvFilter` directive string, `RUST_LOG` style (e.g. `info,tracechain=debug`).
    pub filter: String,
    /// Where spans are exported; `None` exports nothing (spans still get ids).
    pub otlp_endpoint: Option<String>,
    /// The OTLP transport used when `otlp_endpoint` is set.
    pub otlp_protocol: OtlpProtocol,
    /// Write logs through the test harness's output capture instead of
    /// standard output (for `spawn_app`-style tests).
    pub test_writer: bool,
}

impl TelemetryConfig {
    /// Defaults: the build's log format, filter `info`, no export.
    pub fn new(service_name: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            log_format: LogFormat::default_for_build(),
            filter: "info".to_owned(),
            otlp_endpoint: None,
            otlp_protocol: OtlpProtocol::Grpc,
            test_writer: false,
        }
    }

    /// Defaults overridden by the environment variables listed in the module docs.
    pub fn from_env(service_name: impl Into<String>) -> Result<Self, ConfigError> {
        Self::from_lookup(service_name, |name| std::env::var(name).ok())
    }

    /// Like [`Self::from_env`], reading variables through `lookup` (for tests).
    pub fn from_lookup(
        service_name: impl Into<String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::new(service_name);
        let non_empty = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        if let Some(filter) = non_empty("RUST_LOG") {
            config.filter = filter;
        }
        if let Some(format) = non_empty(LOG_FORMAT_ENV) {
            config.log_format = format.parse()?;
        }
        config.otlp_endpoint = non_empty("OTEL_EXPORTER_OTLP_ENDPOINT");
        if let Some(protocol) = non_empty("OTEL_EXPORTER_OTLP_PROTOCOL") {
            config.otlp_protocol = protocol.parse()?;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_without_environment() {
        let config = TelemetryConfig::from_lookup("registry", lookup(&[])).unwrap();
        assert_eq!(config.service_name, "registry");
        assert_eq!(config.filter, "info");
        assert_eq!(config.otlp_endpoint, None);
        assert_eq!(config.log_format, LogFormat::default_for_build());
    }

    #[test]
    fn reads_the_environment() {
        let config = TelemetryConfig::from_lookup(
            "ledger",
            lookup(&[
                ("RUST_LOG", "debug,h2=warn"),
                ("TRACECHAIN_LOG_FORMAT", "JSON"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ]),
        )
        .unwrap();
        assert_eq!(config.filter, "debug,h2=warn");
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(
            config.otlp_endpoint.as_deref(),
            Some("http://collector:4318")
        );
        assert_eq!(config.otlp_protocol, OtlpProtocol::HttpProtobuf);
    }

    #[test]
    fn empty_endpoint_means_no_export() {
        let config =
            TelemetryConfig::from_lookup("x", lookup(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]))
                .unwrap();
        assert_eq!(config.otlp_endpoint, None);
    }

    #[test]
    fn refuses_unknown_values() {
        assert_eq!(
            TelemetryConfig::from_lookup("x", lookup(&[("TRACECHAIN_LOG_FORMAT", "xml")])),
            Err(ConfigError::LogFormat("xml".to_owned()))
        );
        assert!(matches!(
            TelemetryConfig::from_lookup("x", lookup(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "udp")])),
            Err(ConfigError::OtlpProtocol(_))
        ));
    }
}
