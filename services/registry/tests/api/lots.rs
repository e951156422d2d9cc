//! Lots: create, read, list, recall.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{BASE, assert_problem, lot_url, spawn_app};

#[tokio::test]
async fn create_read_list_and_recall_lots() {
    let app = spawn_app().await;
    let product = app.register(&app.keys.acme, "Tomato sauce").await;
    let id = product["id"].as_str().unwrap();
    let gtin = product["gtin"].as_str().unwrap();

    // A lot number with a '/', which travels percent-encoded.
    let response = app
        .post(
            &format!("/v1/products/{id}/lots"),
            Some(&app.keys.acme),
            &json!({"lot": "B-2024/05", "produced_at": "2024-05-01", "expires_at": "2026-05-01"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, lot_url(id, "B-2024/05", ""));
    let lot: Value = response.json().await.unwrap();
    assert_eq!(lot["lot"], "B-2024/05");
    assert_eq!(lot["produced_at"], "2024-05-01");
    assert_eq!(lot["expires_at"], "2026-05-01");
    assert_eq!(lot["status"], "active");
    assert_eq!(lot["item_count"], 0);
    assert_eq!(
        lot["digital_link"],
        format!("{BASE}/01/{gtin}/10/B-2024%2F05")
    );
    assert_eq!(app.get_json(&location, &app.keys.acme).await, lot);

    // Creating it again is a conflict, and publishes nothing.
    let before = app.published().await;
    let again = app
        .post(
            &format!("/v1/products/{id}/lots"),
            Some(&app.keys.acme),
            &json!({"lot": "B-2024/05", "produced_at": "2024-05-02"}),
        )
        .await;
    let problem = assert_problem(again, 409).await;
    assert_eq!(
        problem["detail"],
        format!("lot B-2024/05 of product {id} already exists")
    );
    assert_eq!(app.published().await, before);

    // A second lot without expiry; listing is by lot number.
    app.create_lot(&app.keys.acme, id, "A1").await;
    let page = app
        .get_json(&format!("/v1/products/{id}/lots"), &app.keys.auditor)
        .await;
    let lots: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["lot"].as_str().unwrap())
        .collect();
    assert_eq!(lots, ["A1", "B-2024/05"]);

    // Recall: the lot shows recalled, with the reason.
    let response = app
        .post(
            &lot_url(id, "B-2024/05", "/recall"),
            Some(&app.keys.acme),
            &json!({"reason": "Glass fragments found in batch"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let recalled: Value = response.json().await.unwrap();
    assert_eq!(recalled["status"], "recalled");
    assert_eq!(
        recalled["recall"]["reason"],
        "Glass fragments found in batch"
    );
    assert_eq!(app.get_json(&location, &app.keys.acme).await, recalled);

    // Recalling twice is a conflict.
    let twice = app
        .post(
            &lot_url(id, "B-2024/05", "/recall"),
            Some(&app.keys.acme),
            &json!({"reason": "again"}),
        )
        .await;
    let problem = assert_problem(twice, 409).await;
    assert_eq!(
        problem["detail"],
        format!("lot B-2024/05 of product {id} is already recalled")
    );
    // Items cannot be added to a recalled lot.
    let items = app
        .post(
            &lot_url(id, "B-2024/05", "/items"),
            Some(&app.keys.acme),
            &json!({"count": 1}),
        )
        .await;
    assert_problem(items, 409).await;

    assert_eq!(
        app.event_types()
            .await
            .iter()
            .filter(|t| *t == "lot.recalled")
            .count(),
        1
    );
    assert_eq!(app.published().await, 4, "product, two lots, one recall");
}

#[tokio::test]
async fn unknown_lots_and_products_are_404_naming_them() {
    let app = spawn_app().await;
    let product = app.register(&app.keys.acme, "Soap").await;
    let id = product["id"].as_str().unwrap();
    let problem = assert_problem(
        app.get(&lot_url(id, "NOPE", ""), Some(&app.keys.acme))
            .await,
        404,
    )
    .await;
    assert_eq!(
        problem["detail"],
        format!("lot NOPE of product {id} not found")
    );
    let missing = uuid::Uuid::now_v7();
    let problem = assert_problem(
        app.get(&format!("/v1/products/{missing}"), Some(&app.keys.acme))
            .await,
        404,
    )
    .await;
    assert_eq!(problem["detail"], format!("product {missing} not found"));
    let recall = app
        .post(
            &lot_url(id, "NOPE", "/recall"),
            Some(&app.keys.acme),
            &json!({"reason": "x"}),
        )
        .await;
    assert_problem(recall, 404).await;
}
