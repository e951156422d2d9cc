//! Serialising items: given serials, server-issued serials, duplicates,
//! listing, one event per batch of 10,000.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{BASE, assert_problem, encode, lot_url, spawn_app};

#[tokio::test]
async fn given_serials_get_their_digital_links_and_can_be_listed_and_read() {
    let app = spawn_app().await;
    let serials = ["SN-0003", "SN-0001", "A/B+1", "SN-0002"];
    let (product, created) = app.product_with_items(&serials).await;
    let id = product["id"].as_str().unwrap();
    let gtin = product["gtin"].as_str().unwrap();
    assert_eq!(created["count"], 4);
    assert_eq!(created["gtin"], gtin);
    assert_eq!(created["lot"], "L1");
    let items = created["items"].as_array().unwrap();
    for (item, serial) in items.iter().zip(serials) {
        assert_eq!(item["serial"], serial, "request order is kept");
        assert_eq!(
            item["digital_link"],
            format!("{BASE}/01/{gtin}/10/L1/21/{}", encode(serial))
        );
    }

    // One items.serialized event carries the batch.
    let events = app.events().await;
    let batch: Vec<_> = events
        .iter()
        .filter(|e| e.event_type().as_str() == "items.serialized")
        .collect();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].payload()["serials"], json!(serials));
    assert_eq!(batch[0].aggregate_id(), id);

    // Listed by serial, paged.
    let page = app
        .get_json(&lot_url(id, "L1", "/items?limit=3"), &app.keys.acme)
        .await;
    let listed: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["serial"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["A/B+1", "SN-0001", "SN-0002"]);
    let next = page["next_cursor"].as_str().unwrap();
    let page = app
        .get_json(
            &lot_url(id, "L1", &format!("/items?limit=3&cursor={next}")),
            &app.keys.acme,
        )
        .await;
    assert_eq!(page["items"][0]["serial"], "SN-0003");
    assert!(page["next_cursor"].is_null());

    // One item, with a '/' in its serial.
    let item = app
        .get_json(
            &lot_url(id, "L1", &format!("/items/{}", encode("A/B+1"))),
            &app.keys.auditor,
        )
        .await;
    assert_eq!(item["serial"], "A/B+1");
    assert_eq!(item["status"], "active");
    assert_eq!(
        item["digital_link"],
        format!("{BASE}/01/{gtin}/10/L1/21/A%2FB%2B1")
    );
    // The lot counts its items.
    let lot = app.get_json(&lot_url(id, "L1", ""), &app.keys.acme).await;
    assert_eq!(lot["item_count"], 4);
    // An unknown serial is 404.
    assert_problem(
        app.get(&lot_url(id, "L1", "/items/NOPE"), Some(&app.keys.acme))
            .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn duplicates_are_409_naming_the_first_and_publish_nothing() {
    let app = spawn_app().await;
    let (product, _) = app.product_with_items(&["S1", "S2"]).await;
    let id = product["id"].as_str().unwrap();
    let gtin = product["gtin"].as_str().unwrap();
    let before = app.published().await;

    let within = app
        .post(
            &lot_url(id, "L1", "/items"),
            Some(&app.keys.acme),
            &json!({"serials": ["X1", "X2", "X3", "X2", "X1"]}),
        )
        .await;
    let problem = assert_problem(within, 409).await;
    assert_eq!(
        problem["detail"],
        "serial X2 appears more than once in the request"
    );
    assert_eq!(problem["serial"], "X2");

    // Already registered for this GTIN, even in another lot.
    app.create_lot(&app.keys.acme, id, "L2").await;
    let before = before + 1;
    let existing = app
        .post(
            &lot_url(id, "L2", "/items"),
            Some(&app.keys.acme),
            &json!({"serials": ["NEW-1", "S2", "S1"]}),
        )
        .await;
    let problem = assert_problem(existing, 409).await;
    assert_eq!(
        problem["detail"],
        format!("serial S2 is already registered for gtin {gtin}")
    );
    assert_eq!(app.published().await, before, "nothing published");
    // NEW-1 was not registered by the refused request.
    assert_problem(
        app.get(&lot_url(id, "L2", "/items/NEW-1"), Some(&app.keys.acme))
            .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn a_batch_of_10000_issued_serials_is_one_event() {
    let app = spawn_app().await;
    let product = app.register(&app.keys.acme, "Pills").await;
    let id = product["id"].as_str().unwrap();
    app.create_lot(&app.keys.acme, id, "BIG").await;
    let created = app
        .serialize(&app.keys.acme, id, "BIG", json!({"count": 10_000}))
        .await;
    assert_eq!(created["count"], 10_000);
    let serials: BTreeSet<String> = created["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["serial"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(serials.len(), 10_000, "all distinct");
    for serial in &serials {
        assert_eq!(serial.len(), 12);
        assert!(
            serial
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
            "{serial} is base32"
        );
    }
    let events = app.events().await;
    let batches: Vec<&Value> = events
        .iter()
        .filter(|e| e.event_type().as_str() == "items.serialized")
        .map(|e| e.payload())
        .collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0]["serials"].as_array().unwrap().len(), 10_000);

    let lot = app.get_json(&lot_url(id, "BIG", ""), &app.keys.acme).await;
    assert_eq!(lot["item_count"], 10_000);
    // Count issued serials again: none collides with the first batch.
    let more = app
        .serialize(&app.keys.acme, id, "BIG", json!({"count": 50}))
        .await;
    for item in more["items"].as_array().unwrap() {
        assert!(!serials.contains(item["serial"].as_str().unwrap()));
    }
    // Every item resolves.
    let any = serials.iter().next().unwrap();
    let response = app
        .client
        .get(app.url(&format!(
            "/01/{}/21/{any}",
            product["gtin"].as_str().unwrap()
        )))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
