//! With the broker down, a write answers 503 problem+json with
//! Retry-After, `/readyz` names `bus`, and nothing is written.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Infra, assert_problem, random_gtin, spawn};

#[tokio::test]
async fn a_dead_broker_means_503_and_nothing_written() {
    let app = spawn(Infra::DeadBroker).await;

    let ready = app.get("/readyz", None).await;
    let problem = assert_problem(ready, 503).await;
    let checks = problem["checks"].as_array().unwrap();
    let failing: Vec<&str> = checks
        .iter()
        .filter(|c| c["status"] != "ok")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(failing.contains(&"bus"), "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("bus"),
        "{problem}"
    );
    assert!(!failing.contains(&"store"), "Redis is up: {problem}");

    let gtin = random_gtin();
    let started = Instant::now();
    let response = app
        .post(
            "/v1/products",
            Some(&app.keys.acme),
            &json!({"gtin": gtin, "name": "Never recorded"}),
        )
        .await;
    assert_eq!(response.headers()["retry-after"], "2");
    let body = assert_problem(response, 503).await;
    assert_eq!(
        body["type"], "https://tracechain.dev/problems/event-bus-unavailable",
        "a dependency outage keeps its type and tells the client what happened: {body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("nothing was changed"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "bounded by the delivery timeout"
    );

    // Nothing half-written: no product, no GTIN claim, no index entry.
    let gtin14 = format!("0{gtin}");
    assert!(
        app.store
            .get(&format!("gtin:{gtin14}"))
            .await
            .unwrap()
            .is_none(),
        "claim released"
    );
    let page = app.store.index_range("products", None, 10).await.unwrap();
    assert!(page.entries.is_empty());
    let listing = app.get_json("/v1/products", &app.keys.admin).await;
    assert_eq!(listing["items"], json!([]));
    // Reads still work from the store.
    let response = app.get(&format!("/01/{gtin14}"), None).await;
    assert_problem(response, 404).await;
}
