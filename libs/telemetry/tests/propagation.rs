//! Propagation with the real subscriber installed by `init` (no exporter).

use std::collections::HashMap;
use std::sync::OnceLock;

use tracechain_telemetry::{
    KafkaHeaders, KafkaHeadersRef, LogFormat, TelemetryConfig, TelemetryError, TelemetryGuard,
    TraceParent, init, inject_current_span, inject_into, inject_span, set_parent_from,
    set_parent_from_carrier,
};

const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Installs telemetry once for this test binary.
fn telemetry() -> &'static TelemetryGuard {
    static GUARD: OnceLock<TelemetryGuard> = OnceLock::new();
    GUARD.get_or_init(|| {
        let mut config = TelemetryConfig::new("telemetry-tests");
        config.log_format = LogFormat::Json;
        config.filter = "debug".to_owned();
        config.test_writer = true;
        init(&config).expect("first init in this process succeeds")
    })
}

#[test]
fn second_init_is_an_error_not_a_panic() {
    telemetry();
    let again = init(&TelemetryConfig::new("again"));
    assert!(matches!(again, Err(TelemetryError::AlreadyInitialised)));
}

#[test]
fn span_under_extracted_parent_keeps_trace_id_with_new_parent_id() {
    telemetry();
    let incoming = TraceParent::parse(INCOMING).unwrap();
    let span = tracing::info_span!("handle");
    set_parent_from(&span, Some(INCOMING)).unwrap();
    let outgoing = span
        .in_scope(inject_current_span)
        .expect("span has a context");
    let outgoing = TraceParent::parse(&outgoing).unwrap();
    assert_eq!(outgoing.trace_id(), incoming.trace_id());
    assert_ne!(outgoing.parent_id(), incoming.parent_id());
    assert!(outgoing.sampled());
}

#[test]
fn root_span_gets_ids_without_an_exporter() {
    telemetry();
    let span = tracing::info_span!("root");
    let value = inject_span(&span).expect("ids are generated without an exporter");
    assert!(TraceParent::parse(&value).is_ok());
}

#[test]
fn parent_cannot_be_changed_after_start() {
    telemetry();
    let span = tracing::info_span!("started");
    let _ = inject_span(&span);
    assert!(set_parent_from(&span, Some(INCOMING)).is_err());
}

#[test]
fn kafka_headers_round_trip() {
    telemetry();
    let producer_span = tracing::info_span!("produce");
    let mut headers: Vec<(String, Vec<u8>)> = vec![("key".to_owned(), b"v".to_vec())];
    producer_span.in_scope(|| inject_into(&mut KafkaHeaders(&mut headers)));
    let sent = TraceParent::parse(
        std::str::from_utf8(
            &headers
                .iter()
                .find(|(name, _)| name == "traceparent")
                .expect("traceparent header written")
                .1,
        )
        .unwrap(),
    )
    .unwrap();

    let consumer_span = tracing::info_span!("consume");
    set_parent_from_carrier(&consumer_span, &KafkaHeadersRef(&headers)).unwrap();
    let received = TraceParent::parse(&inject_span(&consumer_span).unwrap()).unwrap();
    assert_eq!(received.trace_id(), sent.trace_id());
    assert_ne!(received.parent_id(), sent.parent_id());
}

#[test]
fn http_style_map_round_trip() {
    telemetry();
    let mut carrier: HashMap<String, String> = HashMap::new();
    carrier.insert("traceparent".to_owned(), INCOMING.to_owned());
    carrier.insert("tracestate".to_owned(), "vendor=value".to_owned());
    let span = tracing::info_span!("http");
    set_parent_from_carrier(&span, &carrier).unwrap();
    let mut out: HashMap<String, String> = HashMap::new();
    span.in_scope(|| inject_into(&mut out));
    let out_tp = TraceParent::parse(&out["traceparent"]).unwrap();
    assert_eq!(out_tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(
        out.get("tracestate").map(String::as_str),
        Some("vendor=value")
    );
}

#[test]
fn carrier_without_traceparent_leaves_a_root() {
    telemetry();
    let carrier: HashMap<String, String> = HashMap::new();
    let span = tracing::info_span!("root");
    set_parent_from_carrier(&span, &carrier).unwrap();
    let tp = TraceParent::parse(&inject_span(&span).unwrap()).unwrap();
    assert_ne!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
}
