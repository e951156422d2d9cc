//! The same application on the embedded bus and store (the all-in-one
//! mode): register, serialise, resolve, scan; then a graceful stop.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Infra, spawn, zbar};

#[tokio::test]
async fn the_registry_runs_on_the_embedded_bus_and_store() {
    let mut app = spawn(Infra::Embedded).await;
    let (product, created) = app.product_with_items(&["E1", "E2"]).await;
    let gtin = product["gtin"].as_str().unwrap();
    let link = created["items"][0]["digital_link"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.event_types().await.len(), 3);

    let response = app
        .client
        .get(app.url(&format!("/01/{gtin}/21/E1")))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let resolution: Value = response.json().await.unwrap();
    assert_eq!(resolution["digital_link"], link);

    let png = app
        .get(&format!("/01/{gtin}/21/E1/qr.png?size=300"), None)
        .await
        .bytes()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("e1.png"), &png).unwrap();
    assert_eq!(
        zbar(&dir.path().join("e1.png"))
            .into_iter()
            .collect::<Vec<_>>(),
        [link]
    );

    let lot = app
        .get_json(
            &format!("/v1/products/{}/lots/L1", product["id"].as_str().unwrap()),
            &app.keys.acme,
        )
        .await;
    assert_eq!(lot["item_count"], 2);
    let duplicate = app
        .post(
            "/v1/products",
            Some(&app.keys.globex),
            &json!({"gtin": gtin, "name": "x"}),
        )
        .await;
    assert_eq!(duplicate.status(), 409);

    // Counted where logged.
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("registry_events_published_total{event_type=\"product.registered\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("registry_items_serialized_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("registry_resolutions_total{level=\"item\",format=\"json\"} 1"),
        "{metrics}"
    );

    // Graceful stop: HTTP first, then the consumer, then the flushes.
    let took = app.stop().await;
    assert!(took < Duration::from_secs(20), "stopped in {took:?}");
    assert!(
        app.client.get(app.url("/healthz")).send().await.is_err(),
        "no longer serving"
    );
}
