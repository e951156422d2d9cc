//! `Idempotency-Key`: a retry gets the first response byte for byte and the
//! work is done (and published) once.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, lot_url, random_gtin, spawn_app};

#[tokio::test]
async fn a_retry_replays_the_first_response_and_publishes_once() {
    let app = spawn_app().await;
    let body = json!({"gtin": random_gtin(), "name": "Idempotent oil"});
    let first = app
        .post_with_key("/v1/products", &app.keys.acme, "order-42", &body)
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_location = first.headers()["location"].clone();
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = first.bytes().await.unwrap();

    let retry = app
        .post_with_key("/v1/products", &app.keys.acme, "order-42", &body)
        .await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["location"], first_location);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.bytes().await.unwrap(), first_body, "byte for byte");
    assert_eq!(app.event_types().await, ["product.registered"]);

    // The same key with another body is refused.
    let other = json!({"gtin": random_gtin(), "name": "Something else"});
    let problem = assert_problem(
        app.post_with_key("/v1/products", &app.keys.acme, "order-42", &other)
            .await,
        422,
    )
    .await;
    assert_eq!(
        problem["detail"],
        "this Idempotency-Key was already used with a different request body"
    );
    // Keys are scoped by tenant: globex's "order-42" is its own.
    let globex = app
        .post_with_key("/v1/products", &app.keys.globex, "order-42", &other)
        .await;
    assert_eq!(globex.status(), StatusCode::CREATED);
    assert_eq!(app.published().await, 2);

    // Serialising with server-issued serials: the retry returns the same serials.
    let product: serde_json::Value = serde_json::from_slice(&first_body).unwrap();
    let id = product["id"].as_str().unwrap();
    app.create_lot(&app.keys.acme, id, "L1").await;
    let path = lot_url(id, "L1", "/items");
    let one = app
        .post_with_key(&path, &app.keys.acme, "batch-1", &json!({"count": 25}))
        .await
        .bytes()
        .await
        .unwrap();
    let two = app
        .post_with_key(&path, &app.keys.acme, "batch-1", &json!({"count": 25}))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(one, two);
    let lot = app.get_json(&lot_url(id, "L1", ""), &app.keys.acme).await;
    assert_eq!(lot["item_count"], 25, "serialised once");
    assert_eq!(app.published().await, 4);
}

#[tokio::test]
async fn a_failed_request_does_not_keep_its_key_and_bad_keys_are_refused() {
    let app = spawn_app().await;
    let gtin = random_gtin();
    app.post(
        "/v1/products",
        Some(&app.keys.globex),
        &json!({"gtin": gtin, "name": "taken"}),
    )
    .await;
    // Fails with 409 (the GTIN is taken) and so keeps nothing: a retry with
    // the same key runs again (and fails again, the same way).
    let body = json!({"gtin": gtin, "name": "mine?"});
    for _ in 0..2 {
        assert_problem(
            app.post_with_key("/v1/products", &app.keys.acme, "retry-me", &body)
                .await,
            409,
        )
        .await;
    }
    for bad in ["", "with space", &"k".repeat(256)] {
        let response = app
            .client
            .post(app.url("/v1/products"))
            .bearer_auth(&app.keys.acme)
            .header("Idempotency-Key", bad)
            .json(&json!({"gtin": random_gtin(), "name": "x"}))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 400).await;
        assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    }
    assert_eq!(app.published().await, 1);
}

#[tokio::test]
async fn a_concurrent_retry_is_told_the_first_is_in_progress_or_replayed() {
    let app = spawn_app().await;
    let product = app.register(&app.keys.acme, "Race").await;
    let id = product["id"].as_str().unwrap();
    app.create_lot(&app.keys.acme, id, "L1").await;
    let path = lot_url(id, "L1", "/items");
    let body = json!({"count": 10_000});
    let (one, two) = tokio::join!(
        app.post_with_key(&path, &app.keys.acme, "race-1", &body),
        app.post_with_key(&path, &app.keys.acme, "race-1", &body),
    );
    let mut created = 0;
    for response in [one, two] {
        match response.status().as_u16() {
            201 => created += 1,
            409 => {
                let problem = assert_problem(response, 409).await;
                assert_eq!(
                    problem["detail"],
                    "a request with this Idempotency-Key is still in progress"
                );
                assert_eq!(
                    problem["type"],
                    "https://tracechain.dev/problems/idempotency-key-in-flight"
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(created >= 1);
    let batches = app
        .event_types()
        .await
        .into_iter()
        .filter(|t| t == "items.serialized")
        .count();
    assert_eq!(batches, 1, "the work was done once");
}
