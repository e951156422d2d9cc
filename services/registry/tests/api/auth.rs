//! Authorisation: no key → 401; carriers and finance → 403; auditors read
//! only; a manufacturer cannot read or change another's products → 404.

use serde_json::json;

use crate::helpers::{assert_problem, lot_url, random_gtin, spawn_app};

#[tokio::test]
async fn keys_roles_and_tenants_are_enforced() {
    let app = spawn_app().await;
    let (product, _) = app.product_with_items(&["S1"]).await;
    let id = product["id"].as_str().unwrap();
    let before = app.published().await;

    let reads = [
        "/v1/products".to_owned(),
        format!("/v1/products/{id}"),
        format!("/v1/products/{id}/lots"),
        lot_url(id, "L1", ""),
        lot_url(id, "L1", "/items"),
        lot_url(id, "L1", "/items/S1"),
        lot_url(id, "L1", "/items/S1/qr.png"),
        lot_url(id, "L1", "/items/S1/qr.svg"),
        lot_url(id, "L1", "/labels.svg"),
        lot_url(id, "L1", "/labels.pdf"),
    ];
    let writes = [
        (
            "/v1/products".to_owned(),
            json!({"gtin": random_gtin(), "name": "x"}),
        ),
        (
            format!("/v1/products/{id}/lots"),
            json!({"lot": "L9", "produced_at": "2024-01-01"}),
        ),
        (lot_url(id, "L1", "/items"), json!({"count": 1})),
        (lot_url(id, "L1", "/recall"), json!({"reason": "x"})),
    ];

    // No key, or an unknown one: 401 with a challenge.
    for path in &reads {
        let response = app.get(path, None).await;
        assert!(
            response.headers().contains_key("www-authenticate"),
            "{path}"
        );
        assert_problem(response, 401).await;
        assert_problem(app.get(path, Some("tc_not-a-key")).await, 401).await;
    }
    for (path, body) in &writes {
        assert_problem(app.post(path, None, body).await, 401).await;
    }

    // Carriers and finance may not use the registry at all.
    for key in [&app.keys.carrier, &app.keys.finance] {
        for path in &reads {
            let problem = assert_problem(app.get(path, Some(key)).await, 403).await;
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("requires role"),
                "{problem}"
            );
        }
        for (path, body) in &writes {
            assert_problem(app.post(path, Some(key), body).await, 403).await;
        }
    }

    // Auditors read everything but write nothing.
    for path in &reads[1..] {
        let response = app.get(path, Some(&app.keys.auditor)).await;
        assert_eq!(response.status(), 200, "auditor GET {path}");
    }
    for (path, body) in &writes {
        assert_problem(app.post(path, Some(&app.keys.auditor), body).await, 403).await;
    }

    // Another manufacturer: the product does not exist, for reads and writes.
    for path in &reads[1..] {
        let problem = assert_problem(app.get(path, Some(&app.keys.globex)).await, 404).await;
        assert_eq!(
            problem["detail"],
            format!("product {id} not found"),
            "{path}"
        );
    }
    for (path, body) in &writes[1..] {
        let problem = assert_problem(app.post(path, Some(&app.keys.globex), body).await, 404).await;
        assert_eq!(
            problem["detail"],
            format!("product {id} not found"),
            "{path}"
        );
    }

    // The admin may act on any tenant's products.
    let response = app
        .post(
            &format!("/v1/products/{id}/lots"),
            Some(&app.keys.admin),
            &json!({"lot": "ADMIN-1", "produced_at": "2024-01-01"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        app.published().await,
        before + 1,
        "only the admin's lot was published"
    );
    let events = app.events().await;
    let last = events.last().unwrap();
    assert!(
        last.is_visible_to(&"acme".parse().unwrap()),
        "the owner stays the party of its product's events"
    );

    // The resolver is public.
    let gtin = product["gtin"].as_str().unwrap();
    let response = app.get(&format!("/01/{gtin}/10/L1/21/S1"), None).await;
    assert_eq!(response.status(), 200);
}
