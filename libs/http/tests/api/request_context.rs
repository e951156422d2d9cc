//! Request ids and W3C trace context on the wire.

use tracechain_telemetry::TraceParent;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn incoming_request_id_is_echoed() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/nowhere"))
        .header("x-request-id", "req-123.abc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers().get("x-request-id").unwrap(),
        "req-123.abc"
    );
    let body = assert_problem(response, 404).await;
    assert_eq!(body["request_id"], "req-123.abc");
}

#[tokio::test]
async fn missing_or_unsafe_request_id_is_replaced_by_a_uuid_v7() {
    let app = spawn_app().await;
    for incoming in [None, Some("has spaces and <html>")] {
        let mut request = app.client.get(app.url("/healthz"));
        if let Some(value) = incoming {
            request = request.header("x-request-id", value);
        }
        let response = request.send().await.unwrap();
        let id = response
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap();
        let uuid = uuid::Uuid::parse_str(id).expect("generated id is a UUID");
        assert_eq!(uuid.get_version_num(), 7);
    }
}

#[tokio::test]
async fn traceparent_is_propagated() {
    let app = spawn_app().await;
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("traceparent", incoming)
        .send()
        .await
        .unwrap();
    let outgoing = response
        .headers()
        .get("traceparent")
        .unwrap()
        .to_str()
        .unwrap();
    let outgoing = TraceParent::parse(outgoing).unwrap();
    assert_eq!(outgoing.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(outgoing.parent_id_hex(), "00f067aa0ba902b7");
}

#[tokio::test]
async fn a_fresh_trace_is_started_without_or_with_an_invalid_traceparent() {
    let app = spawn_app().await;
    for incoming in [
        None,
        Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
    ] {
        let mut request = app.client.get(app.url("/healthz"));
        if let Some(value) = incoming {
            request = request.header("traceparent", value);
        }
        let response = request.send().await.unwrap();
        let outgoing = response
            .headers()
            .get("traceparent")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(TraceParent::parse(outgoing).is_ok());
    }
}
