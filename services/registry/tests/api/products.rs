//! `/v1/products`: register, read, list, uniqueness.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{BASE, assert_problem, random_gtin, spawn_app};

#[tokio::test]
async fn register_read_and_list_products() {
    let app = spawn_app().await;
    let gtin13 = random_gtin();
    let response = app
        .post(
            "/v1/products",
            Some(&app.keys.acme),
            &json!({
                "gtin": gtin13,
                "name": "Olive oil 500 ml",
                "description": "Cold pressed.\nKeep dry.",
                "brand": "Acme",
                "attributes": {"volume": "500 ml", "origin": "ES"}
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let product: Value = response.json().await.unwrap();
    let id = product["id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/products/{id}"));
    let gtin14 = format!("0{gtin13}");
    assert_eq!(product["gtin"], gtin14, "stored as GTIN-14");
    assert_eq!(product["manufacturer"], "acme");
    assert_eq!(product["attributes"]["origin"], "ES");
    assert_eq!(product["digital_link"], format!("{BASE}/01/{gtin14}"));

    // The event was published before the answer, keyed by the product id.
    let events = app.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type().as_str(), "product.registered");
    assert_eq!(events[0].aggregate_id(), id);
    assert_eq!(events[0].producer(), "registry");
    assert_eq!(events[0].payload()["gtin"], gtin14);
    assert!(events[0].is_visible_to(&"acme".parse().unwrap()));

    // Read it back, as owner, auditor and admin.
    for key in [&app.keys.acme, &app.keys.auditor, &app.keys.admin] {
        assert_eq!(app.get_json(&location, key).await, product);
    }

    // Filter by GTIN, in any of its spellings.
    for spelling in [gtin13.clone(), gtin14.clone()] {
        let page = app
            .get_json(&format!("/v1/products?gtin={spelling}"), &app.keys.acme)
            .await;
        assert_eq!(page["items"], json!([product]));
        assert!(page["next_cursor"].is_null());
    }
    // Another manufacturer does not see it, even by GTIN.
    let page = app
        .get_json(&format!("/v1/products?gtin={gtin14}"), &app.keys.globex)
        .await;
    assert_eq!(page["items"], json!([]));
}

#[tokio::test]
async fn listing_pages_with_a_cursor_and_shows_each_manufacturer_its_own() {
    let app = spawn_app().await;
    let mut acme = Vec::new();
    for n in 0..5 {
        acme.push(app.register(&app.keys.acme, &format!("acme {n}")).await);
    }
    let globex = app.register(&app.keys.globex, "globex 0").await;

    // Acme pages through its 5 products, 2 at a time, in registration order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/products?limit=2&cursor={c}"),
            None => "/v1/products?limit=2".to_owned(),
        };
        let page = app.get_json(&path, &app.keys.acme).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, acme);

    // Auditors and admins see everyone's.
    for key in [&app.keys.auditor, &app.keys.admin] {
        let page = app.get_json("/v1/products?limit=100", key).await;
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 6);
        assert!(items.contains(&globex));
    }
    // Globex sees only its own.
    let page = app.get_json("/v1/products", &app.keys.globex).await;
    assert_eq!(page["items"], json!([globex]));
}

#[tokio::test]
async fn a_gtin_is_unique_across_tenants_and_a_duplicate_publishes_nothing() {
    let app = spawn_app().await;
    let gtin = random_gtin();
    let first = app
        .post(
            "/v1/products",
            Some(&app.keys.acme),
            &json!({"gtin": gtin, "name": "First"}),
        )
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    // The same GTIN, by another tenant and in its GTIN-14 spelling.
    let duplicate = app
        .post(
            "/v1/products",
            Some(&app.keys.globex),
            &json!({"gtin": format!("0{gtin}"), "name": "Second"}),
        )
        .await;
    let problem = assert_problem(duplicate, 409).await;
    assert_eq!(
        problem["detail"],
        format!("gtin 0{gtin} is already registered")
    );
    assert_eq!(
        problem["type"],
        "https://tracechain.dev/problems/duplicate-gtin"
    );
    assert_eq!(app.event_types().await, ["product.registered"]);
}

#[tokio::test]
async fn an_admin_registers_for_a_manufacturer_who_then_owns_it() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/v1/products",
            Some(&app.keys.admin),
            &json!({"gtin": random_gtin(), "name": "On behalf", "manufacturer": "globex"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let product: Value = response.json().await.unwrap();
    assert_eq!(product["manufacturer"], "globex");
    let path = format!("/v1/products/{}", product["id"].as_str().unwrap());
    assert_eq!(app.get_json(&path, &app.keys.globex).await, product);
    assert_problem(app.get(&path, Some(&app.keys.acme)).await, 404).await;

    // A manufacturer cannot register for someone else.
    let response = app
        .post(
            "/v1/products",
            Some(&app.keys.acme),
            &json!({"gtin": random_gtin(), "name": "Not mine", "manufacturer": "globex"}),
        )
        .await;
    assert_problem(response, 403).await;
    assert_eq!(app.published().await, 1);
}
