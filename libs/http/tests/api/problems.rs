//! Every error path answers RFC 9457 problem+json.

use crate::helpers::{JSON_LIMIT, assert_problem, spawn_app};

#[tokio::test]
async fn malformed_json_is_400_naming_line_and_column() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/items"))
        .header("content-type", "application/json")
        .body("{\"name\": \"bolt\",\n \"quantity\": }")
        .send()
        .await
        .unwrap();
    let body = assert_problem(response, 400).await;
    assert_eq!(
        body["type"],
        "https://tracechain.dev/problems/malformed-json"
    );
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("line 2 column"), "{detail}");
    assert_eq!(body["line"], 2);
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_422() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/items"))
        .json(&serde_json::json!({ "name": "bolt" }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(response, 422).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("missing field `quantity`")
    );
}

#[tokio::test]
async fn good_json_is_accepted() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/items"))
        .json(&serde_json::json!({ "name": "bolt", "quantity": 3 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
}

#[tokio::test]
async fn wrong_or_missing_content_type_is_415() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/items"))
        .header("content-type", "text/plain")
        .body(r#"{"name":"bolt","quantity":3}"#)
        .send()
        .await
        .unwrap();
    assert_problem(response, 415).await;
    let response = app
        .client
        .post(app.url("/items"))
        .body(r#"{"name":"bolt","quantity":3}"#)
        .send()
        .await
        .unwrap();
    assert_problem(response, 415).await;
}

#[tokio::test]
async fn oversized_body_is_413() {
    let app = spawn_app().await;
    let big = format!(
        r#"{{"name":"{}","quantity":1}}"#,
        "x".repeat(JSON_LIMIT * 2)
    );
    let response = app
        .client
        .post(app.url("/items"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let body = assert_problem(response, 413).await;
    assert!(body["detail"].as_str().unwrap().contains("limit"));
}

#[tokio::test]
async fn unknown_path_is_404() {
    let app = spawn_app().await;
    let body = assert_problem(app.get("/nowhere").await, 404).await;
    assert_eq!(body["type"], "about:blank");
    assert!(body["detail"].as_str().unwrap().contains("/nowhere"));
}

#[tokio::test]
async fn wrong_method_is_405() {
    let app = spawn_app().await;
    // A plain resource: converted by the ProblemResponses middleware.
    let response = app.client.delete(app.url("/plain")).send().await.unwrap();
    assert_problem(response, 405).await;
    // A route registered through App::route: same.
    let response = app.client.delete(app.url("/items")).send().await.unwrap();
    assert_problem(response, 405).await;
    // A resource with method_not_allowed: also an Allow header.
    let response = app.client.post(app.url("/allow")).send().await.unwrap();
    assert_eq!(
        response.headers().get("allow").unwrap().to_str().unwrap(),
        "GET, PUT"
    );
    assert_problem(response, 405).await;
}

#[tokio::test]
async fn bad_path_parameter_is_400_naming_it() {
    let app = spawn_app().await;
    let body = assert_problem(app.get("/items/abc").await, 400).await;
    assert_eq!(
        body["type"],
        "https://tracechain.dev/problems/invalid-path-parameter"
    );
    assert!(body["detail"].as_str().unwrap().contains("`id`"), "{body}");
    assert_eq!(body["errors"][0]["field"], "id");
}

#[tokio::test]
async fn bad_query_parameter_is_400() {
    let app = spawn_app().await;
    let body = assert_problem(app.get("/search").await, 400).await;
    assert_eq!(body["errors"][0]["field"], "limit", "{body}");
    let body = assert_problem(app.get("/search?limit=lots").await, 400).await;
    assert_eq!(
        body["type"],
        "https://tracechain.dev/problems/invalid-query-parameter"
    );
    assert_eq!(app.get("/search?limit=5").await.status().as_u16(), 200);
}

#[tokio::test]
async fn typed_errors_map_through_api_error() {
    let app = spawn_app().await;
    let body = assert_problem(app.get("/items/404").await, 404).await;
    assert_eq!(
        body["type"],
        "https://tracechain.dev/problems/item-not-found"
    );
    assert_eq!(body["detail"], "item 404 not found");
}

#[tokio::test]
async fn internal_errors_do_not_leak_details() {
    let app = spawn_app().await;
    let response = app.get("/items/0").await;
    let body = assert_problem(response, 500).await;
    let text = body.to_string();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(body["detail"].as_str().unwrap().contains("request id"));
}
