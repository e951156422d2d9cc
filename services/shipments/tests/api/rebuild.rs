//! Everything in Redis is a projection of the topics: after a `FLUSHALL`
//! of the service's keys it is rebuilt, and every answer is as before —
//! including refusing a replayed nonce and knowing devices and items.

use std::time::{Duration, Instant};

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_flushed_store_is_rebuilt_from_the_topics() {
    let app = spawn_app().await;
    let (shipment, label) = app.shipment().await;
    let id = shipment["id"].as_str().unwrap();
    let fast = app.phone("fastfreight", &app.keys.fastfreight).await;
    let pickup = fast.scan(&label, "pickup");
    app.accept(&pickup).await;
    app.accept(&fast.handover(&label, "lastmile")).await;
    let before = app.shipment_state(id).await;
    let devices = app
        .get_json("/v1/carriers/fastfreight/devices", &app.keys.fastfreight)
        .await;
    app.wait_caught_up().await;

    let removed = tracechain_testkit::flush_namespace(app.store.namespace().as_str()).unwrap();
    assert!(removed > 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = app
            .get(&format!("/v1/shipments/{id}"), Some(&app.keys.acme))
            .await;
        if response.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "not rebuilt within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.wait_ready().await;
    app.wait_caught_up().await;
    let after = app.shipment_state(id).await;
    assert_eq!(after, before);
    assert_eq!(
        app.get_json("/v1/carriers/fastfreight/devices", &app.keys.fastfreight)
            .await,
        devices
    );
    // The replay is still a replay; the device still scans (as the new
    // custodian's party it no longer holds the shipment: custody).
    let (status, problem) = app.post_scan(&pickup).await;
    assert_eq!(
        (status, problem["check"].as_str()),
        (409, Some("nonce")),
        "{problem}"
    );
    let last = app.phone("lastmile", &app.keys.lastmile).await;
    app.accept(&last.scan(&label, "delivery")).await;
    // Items and SSCCs survive too: the delivered items ship again, under a new SSCC.
    let again = app
        .ship(
            &shipment["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
        )
        .await;
    assert_ne!(again["sscc"], shipment["sscc"]);
}
