//! Every refused scan: its own precise problem+json 4xx naming the failed
//! check, and nothing published (the topic's end offsets do not move) and
//! nothing changed (the shipment reads the same, the nonce is still free).

use serde_json::{Value, json};
use tracechain_testkit::assert_problem;

use crate::helpers::{Phone, TestApp, seconds_from_now, spawn_app};

/// Posts `scan`, asserts the refusal (status, check, detail fragment) and
/// that nothing was published or changed; returns the problem.
async fn refused(
    app: &TestApp,
    shipment: &str,
    scan: &Value,
    status: u16,
    check: &str,
    detail: &str,
) -> Value {
    let before = app.published().await;
    let state_before = app.shipment_state(shipment).await;
    let response = app.post("/v1/scans", None, scan).await;
    let problem = assert_problem(response, status).await;
    assert_eq!(problem["check"], check, "{problem}");
    let text = problem["detail"].as_str().unwrap_or_default();
    assert!(
        text.contains(detail),
        "detail {text:?} should mention {detail:?}"
    );
    assert_eq!(
        app.published().await,
        before,
        "nothing is published for {check}"
    );
    let state_after = app.shipment_state(shipment).await;
    assert_eq!(state_after["state"], state_before["state"]);
    assert_eq!(state_after["custody"], state_before["custody"]);
    problem
}

#[tokio::test]
async fn each_failed_check_is_named_and_nothing_is_published() {
    let app = spawn_app().await;
    let (shipment, label) = app.shipment().await;
    let id = shipment["id"].as_str().unwrap();
    let fast = app.phone("fastfreight", &app.keys.fastfreight).await;
    let last = app.phone("lastmile", &app.keys.lastmile).await;

    // device: unknown
    let stranger = Phone::unregistered();
    refused(
        &app,
        id,
        &stranger.scan(&label, "pickup"),
        403,
        "device",
        "is not registered",
    )
    .await;

    // signature: signed by another key than the device's
    let forger = Phone {
        device_id: fast.device_id.clone(),
        key: stranger.key,
    };
    refused(
        &app,
        id,
        &forger.scan(&label, "pickup"),
        401,
        "signature",
        "does not verify",
    )
    .await;

    // signature: a member changed after signing
    let mut tampered = fast.scan(&label, "pickup");
    tampered["location"]["lat"] = json!(48.85);
    refused(&app, id, &tampered, 401, "signature", "does not verify").await;

    // skew: scanned an hour ago, sent live
    let mut old = fast.body(&label, "pickup");
    old["scanned_at"] = json!(seconds_from_now(-3600));
    refused(
        &app,
        id,
        &fast.sign(old),
        422,
        "skew",
        "from the server's clock",
    )
    .await;

    // code: not a shipment label or item, and an unknown SSCC
    refused(
        &app,
        id,
        &fast.scan("https://id.example.com/01/09506000134352", "pickup"),
        422,
        "code",
        "product or lot",
    )
    .await;
    refused(
        &app,
        id,
        &fast.scan("https://id.example.com/00/006141419999999994", "pickup"),
        422,
        "code",
        "which no shipment has",
    )
    .await;
    refused(
        &app,
        id,
        &fast.scan("not a uri", "pickup"),
        422,
        "code",
        "Digital Link",
    )
    .await;

    // custody: another carrier's shipment
    refused(
        &app,
        id,
        &last.scan(&label, "pickup"),
        403,
        "custody",
        "fastfreight holds it",
    )
    .await;

    // transition: delivery before pickup
    refused(
        &app,
        id,
        &fast.scan(&label, "delivery"),
        409,
        "transition",
        "not allowed in state created",
    )
    .await;

    // The shipment still moves: a valid pickup is accepted afterwards.
    let pickup = fast.scan(&label, "pickup");
    app.accept(&pickup).await;

    // nonce: the same signed scan again is a replay, naming the first event.
    let problem = refused(&app, id, &pickup, 409, "nonce", "already used").await;
    assert!(problem["event_id"].is_string(), "{problem}");
    // A new scan re-using the nonce (re-signed) is a replay too.
    let mut reused = fast.body(&label, "checkpoint");
    reused["nonce"] = pickup["nonce"].clone();
    refused(&app, id, &fast.sign(reused), 409, "nonce", "already used").await;

    // transition after delivery
    app.accept(&fast.scan(&label, "delivery")).await;
    refused(
        &app,
        id,
        &fast.scan(&label, "checkpoint"),
        409,
        "transition",
        "already delivered",
    )
    .await;
}

#[tokio::test]
async fn checks_run_in_the_documented_order() {
    let app = spawn_app().await;
    let (shipment, _) = app.shipment().await;
    let id = shipment["id"].as_str().unwrap();
    let fast = app.phone("fastfreight", &app.keys.fastfreight).await;
    // Bad signature AND unknown code AND illegal transition: signature first.
    let forger = Phone {
        device_id: fast.device_id.clone(),
        key: Phone::unregistered().key,
    };
    refused(
        &app,
        id,
        &forger.scan("https://x.example/00/006141419999999994", "delivery"),
        401,
        "signature",
        "",
    )
    .await;
    // Skew AND unknown code: skew first.
    let mut body = fast.body("https://x.example/00/006141419999999994", "pickup");
    body["scanned_at"] = json!(seconds_from_now(7200));
    refused(&app, id, &fast.sign(body), 422, "skew", "").await;
    // Unknown code AND illegal kind: code first.
    refused(
        &app,
        id,
        &fast.scan("https://x.example/00/006141419999999994", "delivery"),
        422,
        "code",
        "",
    )
    .await;
}

#[tokio::test]
async fn a_revoked_device_is_refused() {
    let app = spawn_app().await;
    let (shipment, label) = app.shipment().await;
    let id = shipment["id"].as_str().unwrap();
    let fast = app.phone("fastfreight", &app.keys.fastfreight).await;
    let response = app
        .post(
            &format!("/v1/carriers/fastfreight/devices/{}/revoke", fast.device_id),
            Some(&app.keys.fastfreight),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);
    refused(
        &app,
        id,
        &fast.scan(&label, "pickup"),
        403,
        "device",
        "was revoked",
    )
    .await;
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_refused_before_any_check() {
    let app = spawn_app().await;
    let (shipment, label) = app.shipment().await;
    let id = shipment["id"].as_str().unwrap();
    let fast = app.phone("fastfreight", &app.keys.fastfreight).await;
    let before = app.published().await;

    // Not JSON.
    let response = app
        .client
        .post(app.url("/v1/scans"))
        .header("content-type", "application/json")
        .body("{\"code\": ")
        .send()
        .await
        .unwrap();
    assert_problem(response, 400).await;

    // Larger than the JSON limit (1 MiB by default).
    let mut huge = fast.body(&label, "pickup");
    huge["note"] = json!("x".repeat(2 * 1024 * 1024));
    let response = app.post("/v1/scans", None, &fast.sign(huge)).await;
    assert_problem(response, 413).await;

    // Format errors name their field; each is `check: format`.
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut b = fast.scan(&label, "pickup");
                b.as_object_mut().unwrap().remove("signature");
                b
            },
            "signature",
        ),
        (
            {
                let mut b = fast.body(&label, "pickup");
                b.as_object_mut().unwrap().remove("nonce");
                fast.sign(b)
            },
            "nonce",
        ),
        (
            {
                let mut b = fast.body(&label, "pickup");
                b["nonce"] = json!("short");
                fast.sign(b)
            },
            "nonce",
        ),
        (fast.scan(&label, "teleport"), "kind"),
        (
            {
                let mut b = fast.body(&label, "pickup");
                b["location"]["lat"] = json!(91.0);
                fast.sign(b)
            },
            "location.lat",
        ),
        (
            {
                let mut b = fast.body(&label, "pickup");
                b["gln"] = json!("9506000134352");
                fast.sign(b)
            },
            "location",
        ),
        (fast.scan(&label, "handover"), "to_party"),
        (
            {
                let mut b = fast.body(&label, "pickup");
                b["scanned_at"] = json!("yesterday");
                fast.sign(b)
            },
            "scanned_at",
        ),
        (
            {
                let mut b = fast.body(&label, "pickup");
                b["extra"] = json!(1);
                fast.sign(b)
            },
            "extra",
        ),
        (json!([1, 2, 3]), "object"),
    ];
    for (body, mentions) in cases {
        let response = app.post("/v1/scans", None, &body).await;
        let problem = assert_problem(response, 422).await;
        assert_eq!(problem["check"], "format", "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(mentions),
            "{mentions}: {problem}"
        );
    }
    assert_eq!(app.published().await, before, "nothing published");
    assert_eq!(app.shipment_state(id).await["state"], "created");
    // And the service still takes a good scan.
    app.accept(&fast.scan(&label, "pickup")).await;
}

#[tokio::test]
async fn two_phones_racing_on_one_shipment_move_it_once() {
    let app = spawn_app().await;
    let (shipment, label) = app.shipment().await;
    let id = shipment["id"].as_str().unwrap();
    let a = app.phone("fastfreight", &app.keys.fastfreight).await;
    let b = app.phone("fastfreight", &app.keys.fastfreight).await;
    let (scan_a, scan_b) = (a.scan(&label, "pickup"), b.scan(&label, "pickup"));
    let (first, second) = tokio::join!(app.post_scan(&scan_a), app.post_scan(&scan_b));
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409], "{first:?} {second:?}");
    let refusal = if first.0 == 409 { &first.1 } else { &second.1 };
    assert_eq!(refusal["check"], "transition");
    let read = app.shipment_state(id).await;
    assert_eq!(read["custody"].as_array().unwrap().len(), 1);
    let scans = app
        .event_types()
        .await
        .iter()
        .filter(|t| *t == "scan.recorded")
        .count();
    assert_eq!(scans, 1);
}
