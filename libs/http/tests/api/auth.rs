//! API keys over HTTP: 401 with a challenge, 403 naming roles, 200 with the principal.

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn missing_key_is_401_with_challenge() {
    let app = spawn_app().await;
    let response = app.get("/whoami").await;
    assert_eq!(
        response.headers().get("www-authenticate").unwrap(),
        "Bearer realm=\"tracechain\""
    );
    let body = assert_problem(response, 401).await;
    assert!(body["detail"].as_str().unwrap().contains("missing"));
}

#[tokio::test]
async fn malformed_header_is_401_with_challenge() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/whoami"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("www-authenticate"));
    assert_problem(response, 401).await;
}

#[tokio::test]
async fn unknown_key_is_401_with_invalid_token() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/whoami"))
        .bearer_auth("tc_not-a-real-key")
        .send()
        .await
        .unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer") && challenge.contains("invalid_token"));
    assert_problem(response, 401).await;
}

#[tokio::test]
async fn good_key_is_200_with_the_principal() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/whoami"))
        .bearer_auth(&app.carrier_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "tenant": "acme", "role": "carrier", "label": "acme-carrier" })
    );
}

#[tokio::test]
async fn wrong_role_is_403_naming_the_required_roles() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/products"))
        .bearer_auth(&app.carrier_key)
        .send()
        .await
        .unwrap();
    let body = assert_problem(response, 403).await;
    assert_eq!(
        body["required_roles"],
        serde_json::json!(["manufacturer", "admin"])
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("manufacturer or admin")
    );

    let response = app
        .client
        .post(app.url("/products"))
        .bearer_auth(&app.manufacturer_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}
