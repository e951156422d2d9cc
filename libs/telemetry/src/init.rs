//! Installs the process-wide `tracing` subscriber: an `EnvFilter`, the
//! `tracing-opentelemetry` layer and a JSON or readable log layer.
//!
//! The OpenTelemetry layer is always installed, so every span has a trace id
//! and a span id even when nothing is exported; with an OTLP endpoint a batch
//! span processor exports spans in the background. Installation happens at
//! most once per process: a second [`init`] returns
//! [`TelemetryError::AlreadyInitialised`] and changes nothing. Dropping the
//! [`TelemetryGuard`] flushes pending spans and shuts the exporter down.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, OtlpProtocol, TelemetryConfig};

/// Why telemetry could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter directive string does not parse.
    #[error("log filter `{filter}` is invalid: {source}")]
    InvalidFilter {
        /// The refused filter.
        filter: String,
        /// What the parser said.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// The OTLP exporter could not be built (e.g. a malformed endpoint).
    #[error("otlp exporter for `{endpoint}` could not be built: {source}")]
    Exporter {
        /// The configured endpoint.
        endpoint: String,
        /// What the exporter builder said.
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// gRPC export was asked for outside a Tokio runtime.
    #[error("otlp over grpc needs a tokio runtime; call init from within one")]
    NoTokioRuntime,
    /// A global subscriber (or `log` logger) is already installed in this process.
    #[error("telemetry is already initialised in this process")]
    AlreadyInitialised,
}

/// Keeps the tracer provider alive; dropping it flushes and shuts down export.
///
/// Dropping blocks until pending spans are exported (bounded by the exporter's
/// timeout). With gRPC export, drop it where the Tokio runtime can still make
/// progress: at the end of `main` on a multi-threaded runtime, not on a
/// current-thread runtime's only thread.
#[derive(Debug)]
#[must_use = "dropping the guard shuts down span export"]
pub struct TelemetryGuard {
    /// The provider behind the installed layer; `None` once shut down.
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Exports spans still buffered, without shutting down.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider
            && let Err(error) = provider.force_flush()
        {
            tracing::warn!(error = %error, "Flushing spans failed");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(error = %error, "Shutting down span export failed");
        }
    }
}

/// Installs logging and tracing for this process as described by `config`.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let filter =
        EnvFilter::try_new(&config.filter).map_err(|source| TelemetryError::InvalidFilter {
            filter: config.filter.clone(),
            source,
        })?;
    let provider = tracer_provider(config)?;
    let tracer = provider.tracer(config.service_name.clone());
    let otel_layer = tracing_opentelemetry::layer().with_tracer(tracer);
    let log_layer = match (config.log_format, config.test_writer) {
        (LogFormat::Json, false) => json_layer().boxed(),
        (LogFormat::Json, true) => json_layer().with_test_writer().boxed(),
        (LogFormat::Pretty, false) => tracing_subscriber::fmt::layer().boxed(),
        (LogFormat::Pretty, true) => tracing_subscriber::fmt::layer().with_test_writer().boxed(),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(otel_layer)
        .with(log_layer)
        .try_init();
    if installed.is_err() {
        // Nothing was installed; the provider is dropped unused.
        let _ = provider.shutdown();
        return Err(TelemetryError::AlreadyInitialised);
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(TelemetryGuard {
        provider: Some(provider),
    })
}

/// One JSON object per event, with the current span's fields flattened in.
fn json_layer<S>() -> tracing_subscriber::fmt::Layer<
    S,
    tracing_subscriber::fmt::format::JsonFields,
    tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Json>,
>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
}

/// A provider with the service's resource and, when configured, an OTLP batch exporter.
fn tracer_provider(config: &TelemetryConfig) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let Some(endpoint) = &config.otlp_endpoint else {
        return Ok(builder.build());
    };
    let exporter = match config.otlp_protocol {
        OtlpProtocol::Grpc => {
            if tokio::runtime::Handle::try_current().is_err() {
                return Err(TelemetryError::NoTokioRuntime);
            }
            SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .build()
        }
        OtlpProtocol::HttpProtobuf => SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(http_traces_url(endpoint))
            .build(),
    }
    .map_err(|source| TelemetryError::Exporter {
        endpoint: endpoint.clone(),
        source,
    })?;
    Ok(builder.with_batch_exporter(exporter).build())
}

/// The per-signal URL for OTLP/HTTP: the base endpoint plus `/v1/traces`,
/// as the OpenTelemetry specification prescribes for `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn http_traces_url(endpoint: &str) -> String {
    format!("{}/v1/traces", endpoint.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_url_appends_the_signal_path() {
        assert_eq!(
            http_traces_url("http://collector:4318/"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            http_traces_url("http://collector:4318"),
            "http://collector:4318/v1/traces"
        );
    }

    #[test]
    fn invalid_filter_is_a_typed_error() {
        let mut config = TelemetryConfig::new("test");
        config.filter = "info,[bad".to_owned();
        assert!(matches!(
            init(&config),
            Err(TelemetryError::InvalidFilter { .. })
        ));
    }

    #[test]
    fn grpc_without_runtime_is_a_typed_error() {
        let mut config = TelemetryConfig::new("test");
        config.otlp_endpoint = Some("http://127.0.0.1:4317".to_owned());
        assert!(matches!(
            tracer_provider(&config),
            Err(TelemetryError::NoTokioRuntime)
        ));
    }
}
