//! Telemetry shared by every tracechain process: structured logs, OpenTelemetry
//! tracing with optional OTLP export, and W3C Trace Context propagation over
//! HTTP headers and Kafka record headers.
//!
//! Call [`init`] once at start-up (keep the [`TelemetryGuard`] until exit);
//! use [`set_parent_from`] / [`inject_current_span`] (or the carrier-based
//! [`extract_from`] / [`inject_into`]) at every process boundary.

mod config;
mod init;
mod propagation;
mod traceparent;

pub use config::{ConfigError, LOG_FORMAT_ENV, LogFormat, OtlpProtocol, TelemetryConfig};
pub use init::{TelemetryError, TelemetryGuard, init};
pub use propagation::{
    KafkaHeaders, KafkaHeadersRef, PropagationError, TRACEPARENT_HEADER, TRACESTATE_HEADER,
    extract_from, inject_current_span, inject_into, inject_span, inject_span_into, set_parent_from,
    set_parent_from_carrier, span_trace_parent,
};
pub use traceparent::{FLAG_SAMPLED, TraceParent, TraceParentError};

/// The OpenTelemetry context type returned by [`extract_from`].
pub use opentelemetry::Context;
/// Carrier traits, re-exported so users need no direct `opentelemetry` dependency.
pub use opentelemetry::propagation::{Extractor, Injector};
