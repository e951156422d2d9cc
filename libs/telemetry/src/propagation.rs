//! W3C Trace Context propagation between `tracing` spans and carriers
//! (HTTP headers, Kafka headers), over OpenTelemetry's `TraceContextPropagator`.
//!
//! A span's OpenTelemetry context exists only when the `tracing-opentelemetry`
//! layer is installed (by [`crate::init`], with or without an exporter). Without
//! that layer: [`inject_current_span`] returns `None`, [`inject_into`] writes
//! nothing, and [`set_parent_from`] reports [`PropagationError::LayerNotInstalled`];
//! nothing panics. A parent must be set before the span is first entered or
//! its context read: after that the span has started and its parent is fixed.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::{OpenTelemetrySpanExt, SetParentError};

use crate::traceparent::{TraceParent, TraceParentError};

/// The header (HTTP) or record header (Kafka) name carrying the traceparent.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// The header carrying vendor-specific trace state alongside the traceparent.
pub const TRACESTATE_HEADER: &str = "tracestate";

/// Why a span's parent could not be set.
#[derive(Debug, thiserror::Error)]
pub enum PropagationError {
    /// The incoming traceparent is malformed.
    #[error("invalid traceparent: {0}")]
    InvalidTraceParent(#[from] TraceParentError),
    /// No `tracing-opentelemetry` layer is installed in the current subscriber.
    #[error("no opentelemetry layer is installed; the span has no trace context")]
    LayerNotInstalled,
    /// The span was already entered or its context read; its parent is fixed.
    #[error("the span has already started; its parent can no longer be set")]
    AlreadyStarted,
    /// The span is disabled (filtered out), so it has no context.
    #[error("the span is disabled")]
    SpanDisabled,
}

impl From<SetParentError> for PropagationError {
    fn from(error: SetParentError) -> Self {
        match error {
            SetParentError::LayerNotFound => Self::LayerNotInstalled,
            SetParentError::AlreadyStarted => Self::AlreadyStarted,
            // Any future variant: the span cannot take a parent.
            _ => Self::SpanDisabled,
        }
    }
}

/// The traceparent of the current `tracing` span, if it has an OpenTelemetry context.
pub fn inject_current_span() -> Option<String> {
    inject_span(&tracing::Span::current())
}

/// The traceparent of `span`, if it has an OpenTelemetry context.
pub fn inject_span(span: &tracing::Span) -> Option<String> {
    let mut carrier = SingleHeader::default();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.traceparent
}

/// The traceparent of `span`, parsed; `None` without an OpenTelemetry context.
pub fn span_trace_parent(span: &tracing::Span) -> Option<TraceParent> {
    let cx = span.context();
    let span_ref = cx.span();
    let sc = span_ref.span_context();
    if !sc.is_valid() {
        return None;
    }
    TraceParent::new(
        sc.trace_id().to_bytes(),
        sc.span_id().to_bytes(),
        sc.trace_flags().to_u8(),
    )
}

/// Makes the trace described by `traceparent` the parent of `span`.
///
/// `None` leaves the span as a root and succeeds. Call before the span is entered.
pub fn set_parent_from(
    span: &tracing::Span,
    traceparent: Option<&str>,
) -> Result<(), PropagationError> {
    let Some(value) = traceparent else {
        return Ok(());
    };
    TraceParent::parse(value)?;
    let carrier = SingleHeader {
        traceparent: Some(value.trim_matches([' ', '\t']).to_owned()),
    };
    let cx = TraceContextPropagator::new().extract(&carrier);
    span.set_parent(cx)?;
    Ok(())
}

/// Writes the current span's `traceparent` (and `tracestate`) into `carrier`.
pub fn inject_into<I: Injector + ?Sized>(carrier: &mut I) {
    inject_span_into(&tracing::Span::current(), carrier);
}

/// Writes `span`'s `traceparent` (and `tracestate`) into `carrier`.
pub fn inject_span_into<I: Injector + ?Sized>(span: &tracing::Span, carrier: &mut I) {
    let mut adapter = InjectorRef(carrier);
    TraceContextPropagator::new().inject_context(&span.context(), &mut adapter);
}

/// Reads a remote trace context from `carrier`; an empty context when it has
/// no valid `traceparent`.
pub fn extract_from<E: Extractor + ?Sized>(carrier: &E) -> Context {
    TraceContextPropagator::new().extract(&ExtractorRef(carrier))
}

/// Makes the remote trace found in `carrier` the parent of `span`.
///
/// A carrier without a valid traceparent leaves the span as a root and succeeds.
pub fn set_parent_from_carrier<E: Extractor + ?Sized>(
    span: &tracing::Span,
    carrier: &E,
) -> Result<(), PropagationError> {
    let cx = extract_from(carrier);
    if !cx.span().span_context().is_valid() {
        return Ok(());
    }
    span.set_parent(cx)?;
    Ok(())
}

/// Kafka-style record headers, `(name, value)` pairs in order, seen as a carrier.
///
/// Setting a header replaces every existing header of that name (compared
/// ASCII case-insensitively); reading one takes the first whose value is UTF-8.
#[derive(Debug)]
pub struct KafkaHeaders<'a>(pub &'a mut Vec<(String, Vec<u8>)>);

/// Read-only Kafka-style record headers seen as a carrier.
#[derive(Debug, Clone, Copy)]
pub struct KafkaHeadersRef<'a>(pub &'a [(String, Vec<u8>)]);

impl Injector for KafkaHeaders<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.retain(|(name, _)| !name.eq_ignore_ascii_case(key));
        self.0.push((key.to_owned(), value.into_bytes()));
    }
}

impl Extractor for KafkaHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        KafkaHeadersRef(self.0.as_slice()).get_first(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_str()).collect()
    }
}

impl<'a> KafkaHeadersRef<'a> {
    fn get_first(&self, key: &str) -> Option<&'a str> {
        self.0
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(key))
            .find_map(|(_, value)| std::str::from_utf8(value).ok())
    }
}

impl Extractor for KafkaHeadersRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.get_first(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_str()).collect()
    }
}

/// Captures the `traceparent` written by (or feeds it to) the propagator.
#[derive(Default)]
struct SingleHeader {
    traceparent: Option<String>,
}

impl Injector for SingleHeader {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT_HEADER {
            self.traceparent = Some(value);
        }
    }
}

impl Extractor for SingleHeader {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT_HEADER)
            .then_some(self.traceparent.as_deref())
            .flatten()
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT_HEADER]
    }
}

/// Lets a possibly unsized carrier be used as `&mut dyn Injector`.
struct InjectorRef<'a, I: ?Sized>(&'a mut I);

impl<I: Injector + ?Sized> Injector for InjectorRef<'_, I> {
    fn set(&mut self, key: &str, value: String) {
        self.0.set(key, value);
    }
}

/// Lets a possibly unsized carrier be used as `&dyn Extractor`.
struct ExtractorRef<'a, E: ?Sized>(&'a E);

impl<E: Extractor + ?Sized> Extractor for ExtractorRef<'_, E> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_headers_replace_and_read() {
        let mut headers = vec![
            ("TraceParent".to_owned(), b"old".to_vec()),
            ("other".to_owned(), b"x".to_vec()),
        ];
        KafkaHeaders(&mut headers).set("traceparent", "new".to_owned());
        assert_eq!(headers.len(), 2);
        assert_eq!(KafkaHeadersRef(&headers).get("traceparent"), Some("new"));
        assert_eq!(KafkaHeadersRef(&headers).get("missing"), None);
    }

    #[test]
    fn kafka_headers_skip_non_utf8_values() {
        let headers = vec![
            ("traceparent".to_owned(), vec![0xff, 0xfe]),
            ("traceparent".to_owned(), b"second".to_vec()),
        ];
        assert_eq!(KafkaHeadersRef(&headers).get("traceparent"), Some("second"));
    }

    #[test]
    fn without_the_layer_nothing_is_injected_and_nothing_panics() {
        let span = tracing::info_span!("no layer");
        assert_eq!(inject_span(&span), None);
        let mut headers = Vec::new();
        inject_span_into(&span, &mut KafkaHeaders(&mut headers));
        assert!(headers.is_empty());
        assert!(matches!(
            set_parent_from(&span, Some("not a traceparent")),
            Err(PropagationError::InvalidTraceParent(_))
        ));
        assert!(set_parent_from(&span, None).is_ok());
    }
}
