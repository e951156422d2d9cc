//! Offline batches: applied in `scanned_at` order, each accepted or refused
//! on its own, old scans accepted within the offline age.

use serde_json::json;
use tracechain_testkit::assert_problem;

use crate::helpers::{seconds_from_now, spawn_app};

#[tokio::test]
async fn queued_scans_are_applied_in_scan_order_each_with_its_own_outcome() {
    let app = spawn_app().await;
    let (shipment, label) = app.shipment().await;
    let id = shipment["id"].as_str().unwrap();
    let fast = app.phone("fastfreight", &app.keys.fastfreight).await;
    let last = app.phone("lastmile", &app.keys.lastmile).await;
    let at = |mut body: serde_json::Value, secs: i64| {
        body["scanned_at"] = json!(seconds_from_now(secs));
        body
    };
    // Scanned two days ago (too old live, fine offline), sent out of order,
    // with one refusal in the middle (another carrier) and one malformed.
    let pickup = fast.sign(at(fast.body(&label, "pickup"), -2 * 86_400));
    let checkpoint = fast.sign(at(fast.body(&label, "checkpoint"), -2 * 86_400 + 60));
    let intruder = last.sign(at(last.body(&label, "checkpoint"), -2 * 86_400 + 90));
    let delivery = fast.sign(at(fast.body(&label, "delivery"), -2 * 86_400 + 120));
    let (status, alone) = app.post_scan(&pickup).await;
    assert_eq!(status, 422, "too old when sent live: {alone}");
    assert_eq!(alone["check"], "skew");

    let before = app.published().await;
    let body =
        json!({"scans": [delivery, intruder, json!({"nonsense": true}), checkpoint, pickup]});
    let response = app.post("/v1/scans/batch", None, &body).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i, "results in request order");
    }
    assert_eq!(results[0]["accepted"], true, "{answer}");
    assert_eq!(results[0]["state"], "delivered");
    assert_eq!(results[1]["accepted"], false);
    assert_eq!(results[1]["problem"]["check"], "custody");
    assert_eq!(results[1]["status"], 403);
    assert_eq!(results[2]["problem"]["check"], "format");
    assert_eq!(results[3]["state"], "in_transit");
    assert_eq!(results[4]["state"], "picked_up");
    assert_eq!(
        (answer["accepted"].as_u64(), answer["refused"].as_u64()),
        (Some(3), Some(2))
    );
    // Applied oldest first: the chain reads pickup, checkpoint, delivery.
    let read = app.shipment_state(id).await;
    let chain: Vec<&str> = read["custody"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(chain, ["pickup", "checkpoint", "delivery"]);
    // Exactly the accepted ones were published (3 scans + shipment.delivered).
    assert_eq!(app.published().await, before + 4);

    // Sending the same batch again: every scan is a replay or refused, nothing published.
    let response = app.post("/v1/scans/batch", None, &body).await;
    let again: serde_json::Value = response.json().await.unwrap();
    assert_eq!(again["accepted"], 0);
    assert_eq!(app.published().await, before + 4);
}

#[tokio::test]
async fn a_batch_must_hold_scans_within_the_limit() {
    let app = spawn_app().await;
    let problem = assert_problem(
        app.post("/v1/scans/batch", None, &json!({"scans": []}))
            .await,
        422,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "scans");
    let too_many = json!({"scans": vec![json!({}); app.settings.scans.max_batch + 1]});
    assert_problem(app.post("/v1/scans/batch", None, &too_many).await, 422).await;
    assert_problem(
        app.post("/v1/scans/batch", None, &json!({"scan": []}))
            .await,
        422,
    )
    .await;
    // A scan dated beyond the skew in the future is refused offline too.
    let (_, label) = app.shipment().await;
    let fast = app.phone("fastfreight", &app.keys.fastfreight).await;
    let mut body = fast.body(&label, "pickup");
    body["scanned_at"] = json!(seconds_from_now(3600));
    let answer: serde_json::Value = app
        .post(
            "/v1/scans/batch",
            None,
            &json!({"scans": [fast.sign(body)]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["results"][0]["problem"]["check"], "skew");
}
