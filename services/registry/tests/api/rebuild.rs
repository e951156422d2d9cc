//! Redis holds only a projection: after its namespace is emptied the
//! running registry rebuilds it from the topic, and the API answers exactly
//! as before.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, flush_namespace, lot_url, spawn_app};

async fn snapshot(app: &TestApp, id: &str, gtin: &str) -> Vec<(String, u16, Option<Value>)> {
    let paths = [
        format!("/v1/products/{id}"),
        "/v1/products?limit=100".to_owned(),
        format!("/v1/products?gtin={gtin}"),
        format!("/v1/products/{id}/lots"),
        lot_url(id, "L1", ""),
        lot_url(id, "L2", ""),
        lot_url(id, "L1", "/items?limit=100"),
        lot_url(id, "L2", "/items?limit=100"),
    ];
    let mut out = Vec::new();
    for path in paths {
        let response = app.get(&path, Some(&app.keys.admin)).await;
        let status = response.status().as_u16();
        let body = response
            .json::<Value>()
            .await
            .ok()
            .filter(|_| status == 200);
        out.push((path, status, body));
    }
    for path in [format!("/01/{gtin}/21/S1"), format!("/01/{gtin}/21/T1")] {
        let response = app
            .client
            .get(app.url(&path))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        out.push((path, status, response.json::<Value>().await.ok()));
    }
    out
}

#[tokio::test]
async fn the_projection_is_rebuilt_after_the_store_is_emptied() {
    let app = spawn_app().await;
    let (product, _) = app.product_with_items(&["S1", "S2", "S3"]).await;
    let id = product["id"].as_str().unwrap().to_owned();
    let gtin = product["gtin"].as_str().unwrap().to_owned();
    app.create_lot(&app.keys.acme, &id, "L2").await;
    app.serialize(&app.keys.acme, &id, "L2", json!({"serials": ["T1", "T2"]}))
        .await;
    app.serialize(&app.keys.acme, &id, "L2", json!({"count": 20}))
        .await;
    app.post(
        &lot_url(&id, "L2", "/recall"),
        Some(&app.keys.acme),
        &json!({"reason": "smell"}),
    )
    .await;
    app.register(&app.keys.globex, "Other").await;
    let before = snapshot(&app, &id, &gtin).await;
    assert!(
        before.iter().all(|(_, status, _)| *status == 200),
        "{before:?}"
    );

    // The store loses everything at once — what a FLUSHALL does to this
    // namespace: every key deleted in one command (the store's own
    // `clear_namespace` deletes in SCAN batches, so the rebuild it triggers
    // races its later batches). It happens after the consumer has caught
    // up: a loss while the consumer is still replaying its backlog can, with
    // today's tracechain-projection, leave positions written into the
    // emptied store that the rebuild then trusts (reported to its owner).
    app.wait_caught_up().await;
    let prefix = app.store.namespace().as_str().to_owned();
    let removed = tokio::task::spawn_blocking(move || flush_namespace(&prefix))
        .await
        .unwrap()
        .unwrap();
    assert!(
        removed > 30,
        "the store held the projection ({removed} keys)"
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = snapshot(&app, &id, &gtin).await;
        if now == before {
            break;
        }
        if Instant::now() >= deadline {
            let differing: Vec<_> = before
                .iter()
                .zip(&now)
                .filter(|(b, n)| b != n)
                .map(|(b, n)| {
                    format!(
                        "{}:\n  before {:?}\n  now    {:?}",
                        b.0,
                        (b.1, &b.2),
                        (n.1, &n.2)
                    )
                })
                .collect();
            panic!(
                "the API did not answer as before within 60 s:\n{}",
                differing.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The rebuilt store still enforces uniqueness.
    let duplicate = app
        .post(
            "/v1/products",
            Some(&app.keys.globex),
            &json!({"gtin": gtin, "name": "dup"}),
        )
        .await;
    assert_eq!(duplicate.status(), 409);
    let again = app
        .post(
            &lot_url(&id, "L1", "/items"),
            Some(&app.keys.acme),
            &json!({"serials": ["S2"]}),
        )
        .await;
    assert_eq!(again.status(), 409);
}
