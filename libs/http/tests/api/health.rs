//! `/healthz`, `/readyz` and `/metrics`.

use std::sync::atomic::Ordering;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn healthz_is_200() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "status": "ok" }));
}

#[tokio::test]
async fn readyz_follows_its_checks() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"].as_array().unwrap().len(), 2);

    app.ready.store(false, Ordering::SeqCst);
    let body = assert_problem(app.get("/readyz").await, 503).await;
    assert_eq!(body["type"], "https://tracechain.dev/problems/not-ready");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("broker") && !detail.contains("store"),
        "{detail}"
    );
    assert!(
        !body.to_string().contains("9092"),
        "error text is logged, not sent"
    );

    app.ready.store(true, Ordering::SeqCst);
    assert_eq!(app.get("/readyz").await.status().as_u16(), 200);

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"http_readiness_check_failures_total{check="broker"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern() {
    let app = spawn_app().await;
    for id in [1, 2, 3] {
        assert_eq!(
            app.get(&format!("/items/{id}")).await.status().as_u16(),
            200
        );
    }
    let _ = app.get("/nowhere/at/all").await;
    let response = app.get("/metrics").await;
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains("# TYPE http_server_requests_total counter"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"http_server_requests_total{method="GET",route="/items/{id}",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"http_server_requests_total{method="GET",route="unmatched",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(!text.contains("/items/1\""), "raw paths are never labels");
    assert!(text.contains("# TYPE http_server_request_duration_seconds histogram"));
    assert!(text.contains("http_server_request_duration_seconds_count{"));
}

#[tokio::test]
async fn metrics_speak_openmetrics_when_asked() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(response.text().await.unwrap().ends_with("# EOF\n"));
}
