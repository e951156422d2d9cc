//! Invalid input is refused with a problem+json 4xx naming what is wrong,
//! and nothing is published.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, check_digit, lot_url, random_gtin, spawn_app};

/// Sends `body` to `path`; asserts `status`, the problem's first field
/// error and that nothing was published. Returns the problem.
async fn refused(app: &TestApp, path: &str, body: &Value, status: u16, field: &str) -> Value {
    let before = app.published().await;
    let problem = assert_problem(app.post(path, Some(&app.keys.acme), body).await, status).await;
    assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    assert_eq!(
        app.published().await,
        before,
        "nothing published for {body}"
    );
    problem
}

#[tokio::test]
async fn bodies_are_validated_field_by_field() {
    let app = spawn_app().await;
    let (product, _) = app.product_with_items(&["S1"]).await;
    let id = product["id"].as_str().unwrap();
    let items = lot_url(id, "L1", "/items");

    // A GTIN with a wrong check digit.
    let body12 = random_gtin()[..12].to_owned();
    let wrong = (check_digit(&body12) + 1) % 10;
    let problem = refused(
        &app,
        "/v1/products",
        &json!({"gtin": format!("{body12}{wrong}"), "name": "x"}),
        422,
        "gtin",
    )
    .await;
    assert_eq!(
        problem["errors"][0]["message"],
        format!(
            "gtin check digit is {wrong}, expected {}",
            check_digit(&body12)
        )
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("gtin: gtin check digit")
    );
    refused(
        &app,
        "/v1/products",
        &json!({"gtin": "12345", "name": "x"}),
        422,
        "gtin",
    )
    .await;
    refused(
        &app,
        "/v1/products",
        &json!({"gtin": random_gtin(), "name": " "}),
        422,
        "name",
    )
    .await;

    // Serials: bad characters, too long; the index in the list is named.
    let problem = refused(
        &app,
        &items,
        &json!({"serials": ["OK-1", "BAD SERIAL"]}),
        422,
        "serials[1]",
    )
    .await;
    assert_eq!(
        problem["errors"][0]["message"],
        "serial contains ' ' at position 4, which is not in GS1 character set 82"
    );
    refused(&app, &items, &json!({"serials": ["é"]}), 422, "serials[0]").await;
    let problem = refused(
        &app,
        &items,
        &json!({"serials": ["X".repeat(21)]}),
        422,
        "serials[0]",
    )
    .await;
    assert_eq!(
        problem["errors"][0]["message"],
        "serial is 21 characters, at most 20 allowed"
    );

    // Batch size, and serials XOR count.
    let too_many: Vec<String> = (0..10_001).map(|n| format!("S{n}")).collect();
    let problem = refused(
        &app,
        &items,
        &json!({ "serials": too_many }),
        422,
        "serials",
    )
    .await;
    assert_eq!(
        problem["errors"][0]["message"],
        "has 10001 entries, at most 10000 allowed"
    );
    refused(&app, &items, &json!({"count": 10_001}), 422, "count").await;
    refused(&app, &items, &json!({"count": 0}), 422, "count").await;
    refused(&app, &items, &json!({"serials": []}), 422, "serials").await;
    let problem = refused(
        &app,
        &items,
        &json!({"serials": ["A"], "count": 1}),
        422,
        "body",
    )
    .await;
    assert_eq!(
        problem["errors"][0]["message"],
        "give either `serials` or `count`, not both"
    );
    refused(&app, &items, &json!({}), 422, "body").await;

    // Lots and recalls.
    let lots = format!("/v1/products/{id}/lots");
    refused(
        &app,
        &lots,
        &json!({"lot": "A B", "produced_at": "2024-01-01"}),
        422,
        "lot",
    )
    .await;
    refused(
        &app,
        &lots,
        &json!({"lot": "L5", "produced_at": "2024-02-30"}),
        422,
        "produced_at",
    )
    .await;
    refused(
        &app,
        &lots,
        &json!({"lot": "L5", "produced_at": "2024-02-01", "expires_at": "2024-01-01"}),
        422,
        "expires_at",
    )
    .await;
    refused(
        &app,
        &lot_url(id, "L1", "/recall"),
        &json!({"reason": ""}),
        422,
        "reason",
    )
    .await;
    refused(
        &app,
        &lot_url(id, "L1", "/recall"),
        &json!({"reason": "x".repeat(501)}),
        422,
        "reason",
    )
    .await;

    // Unknown fields and wrong types are refused by shape (422).
    refused(
        &app,
        "/v1/products",
        &json!({"gtin": random_gtin(), "name": "x", "colour": "red"}),
        422,
        "body",
    )
    .await;
    refused(&app, &items, &json!({"count": "ten"}), 422, "body").await;
    assert_eq!(app.published().await, 3);
}

#[tokio::test]
async fn malformed_json_wrong_content_type_and_bad_parameters() {
    let app = spawn_app().await;
    let before = app.published().await;
    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = app
            .client
            .post(app.url("/v1/products"))
            .bearer_auth(&app.keys.acme)
            .body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send()
    };
    let problem = assert_problem(
        send("{\"gtin\": ", Some("application/json")).await.unwrap(),
        400,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{problem}"
    );
    assert_problem(send("{}", Some("text/plain")).await.unwrap(), 415).await;
    assert_problem(send("{}", None).await.unwrap(), 415).await;
    assert_eq!(app.published().await, before);

    // Parameters: a malformed product id, lot, limit or cursor is 400 naming it.
    for (path, parameter) in [
        ("/v1/products/not-a-uuid", "id"),
        ("/v1/products?limit=0", "limit"),
        ("/v1/products?limit=101", "limit"),
        ("/v1/products?cursor=garbage!", "cursor"),
        ("/v1/products?gtin=123", "gtin"),
    ] {
        let problem = assert_problem(app.get(path, Some(&app.keys.acme)).await, 400).await;
        assert_eq!(
            problem["errors"][0]["field"], parameter,
            "{path}: {problem}"
        );
    }
    let product = app.register(&app.keys.acme, "x").await;
    let id = product["id"].as_str().unwrap();
    let problem = assert_problem(
        app.get(
            &format!("/v1/products/{id}/lots/A%20B"),
            Some(&app.keys.acme),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "lot");
    // Unknown paths and methods are problems too.
    assert_problem(app.get("/v2/nothing", Some(&app.keys.acme)).await, 404).await;
    let response = app
        .client
        .delete(app.url(&format!("/v1/products/{id}")))
        .bearer_auth(&app.keys.acme)
        .send()
        .await
        .unwrap();
    assert_problem(response, 405).await;
}
