//! Carriers' devices: register, list, read, revoke; who may; bad keys.

use serde_json::{Value, json};
use tracechain_core::SigningKey;
use tracechain_testkit::assert_problem;

use crate::helpers::spawn_app;

fn key() -> String {
    SigningKey::generate().verifying_key().to_base64()
}

#[tokio::test]
async fn a_carrier_registers_lists_and_revokes_its_phones() {
    let app = spawn_app().await;
    let public_key = key();
    let response = app
        .post(
            "/v1/carriers/fastfreight/devices",
            Some(&app.keys.fastfreight),
            &json!({"public_key": public_key, "label": "driver 7"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let device: Value = response.json().await.unwrap();
    assert_eq!(device["carrier_id"], "fastfreight");
    assert_eq!(device["status"], "active");
    assert_eq!(device["public_key"], public_key);
    assert_eq!(
        location,
        format!(
            "/v1/carriers/fastfreight/devices/{}",
            device["id"].as_str().unwrap()
        )
    );
    assert_eq!(app.get_json(&location, &app.keys.fastfreight).await, device);

    // The same key again: 409 naming the device.
    let response = app
        .post(
            "/v1/carriers/fastfreight/devices",
            Some(&app.keys.fastfreight),
            &json!({"public_key": public_key, "label": "again"}),
        )
        .await;
    let problem = assert_problem(response, 409).await;
    assert_eq!(problem["device_id"], device["id"]);

    app.phone("fastfreight", &app.keys.fastfreight).await;
    let list = app
        .get_json("/v1/carriers/fastfreight/devices", &app.keys.fastfreight)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let page = app
        .get_json(
            "/v1/carriers/fastfreight/devices?limit=1",
            &app.keys.fastfreight,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = app
        .get_json(
            &format!("/v1/carriers/fastfreight/devices?limit=1&cursor={cursor}"),
            &app.keys.fastfreight,
        )
        .await;
    assert_ne!(rest["items"][0]["id"], page["items"][0]["id"]);

    let revoke = format!("{location}/revoke");
    let revoked: Value = app
        .post(&revoke, Some(&app.keys.fastfreight), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string());
    let again = app
        .post(&revoke, Some(&app.keys.fastfreight), &json!({}))
        .await;
    assert_problem(again, 409).await;
    // Still readable, as revoked: its key verifies the scans it made.
    assert_eq!(
        app.get_json(&location, &app.keys.fastfreight).await["status"],
        "revoked"
    );
    // A revoked device's key may be registered again, as a new device.
    let response = app
        .post(
            "/v1/carriers/fastfreight/devices",
            Some(&app.keys.fastfreight),
            &json!({"public_key": public_key, "label": "re-enrolled"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let events = app.event_types().await;
    assert_eq!(
        events.iter().filter(|t| *t == "device.registered").count(),
        3
    );
    assert_eq!(events.iter().filter(|t| *t == "device.revoked").count(), 1);
}

#[tokio::test]
async fn only_the_carrier_itself_or_an_admin_manages_devices() {
    let app = spawn_app().await;
    let body = json!({"public_key": key(), "label": "x"});
    let before = app.published().await;
    for (who, status) in [
        (None, 401),
        (Some(&app.keys.lastmile), 403),
        (Some(&app.keys.acme), 403),
        (Some(&app.keys.auditor), 403),
        (Some(&app.keys.finance), 403),
    ] {
        let response = app
            .post(
                "/v1/carriers/fastfreight/devices",
                who.map(String::as_str),
                &body,
            )
            .await;
        assert_problem(response, status).await;
        let response = app
            .get("/v1/carriers/fastfreight/devices", who.map(String::as_str))
            .await;
        assert_problem(response, status).await;
    }
    assert_eq!(app.published().await, before);
    let response = app
        .post(
            "/v1/carriers/fastfreight/devices",
            Some(&app.keys.admin),
            &body,
        )
        .await;
    assert_eq!(response.status(), 201);
    // Another carrier's device reads as absent.
    let device: Value = response.json().await.unwrap();
    let id = device["id"].as_str().unwrap();
    let response = app
        .get(
            &format!("/v1/carriers/lastmile/devices/{id}"),
            Some(&app.keys.lastmile),
        )
        .await;
    assert_problem(response, 404).await;
}

#[tokio::test]
async fn bad_keys_and_labels_are_422_naming_the_field() {
    let app = spawn_app().await;
    let before = app.published().await;
    for (body, field) in [
        (
            json!({"public_key": "not base64!", "label": "x"}),
            "public_key",
        ),
        (json!({"public_key": "AAAA", "label": "x"}), "public_key"),
        (json!({"public_key": key(), "label": ""}), "label"),
        (
            json!({"public_key": key(), "label": "x".repeat(101)}),
            "label",
        ),
    ] {
        let response = app
            .post(
                "/v1/carriers/fastfreight/devices",
                Some(&app.keys.fastfreight),
                &body,
            )
            .await;
        let problem = assert_problem(response, 422).await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let response = app
        .post(
            "/v1/carriers/fastfreight/devices",
            Some(&app.keys.fastfreight),
            &json!({"label": "x"}),
        )
        .await;
    assert_problem(response, 422).await;
    let response = app
        .post(
            "/v1/carriers/Not A Tenant/devices",
            Some(&app.keys.admin),
            &json!({"public_key": key(), "label": "x"}),
        )
        .await;
    assert!(response.status().is_client_error());
    assert_eq!(app.published().await, before);
}
