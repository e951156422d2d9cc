//! Accepted scans: the whole custody story, what is published for each
//! scan (and when), and what a verifier can check from the event alone.

use serde_json::Value;
use tracechain_core::{Signature, VerifyingKey};
use tracechain_domain::DomainEvent;
use tracechain_shipments::domain::events::ShipmentEvent;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_shipment_goes_from_pickup_through_handover_to_delivery() {
    let app = spawn_app().await;
    let (shipment, label) = app.shipment().await;
    let id = shipment["id"].as_str().unwrap();
    assert_eq!(shipment["state"], "created");
    let fast = app.phone("fastfreight", &app.keys.fastfreight).await;
    let last = app.phone("lastmile", &app.keys.lastmile).await;

    let pickup = app.accept(&fast.scan(&label, "pickup")).await;
    assert_eq!(pickup["state"], "picked_up");
    assert_eq!(pickup["custodian"], "fastfreight");
    // The published event is there when the 202 arrives.
    assert_eq!(
        app.published().await,
        4,
        "shipment.created, two device.registered, scan.recorded"
    );

    let checkpoint = app.accept(&fast.scan(&label, "checkpoint")).await;
    assert_eq!(checkpoint["state"], "in_transit");
    // The receiving party scans the hand-over itself.
    let handover = app.accept(&last.handover(&label, "lastmile")).await;
    assert_eq!(handover["state"], "handed_over");
    assert_eq!(handover["custodian"], "lastmile");
    // The item's own code finds the shipment too.
    let item = shipment["items"][0].as_str().unwrap();
    let exception = app.accept(&last.scan(item, "exception")).await;
    assert_eq!(exception["state"], "exception");
    let delivery = app.accept(&last.scan(&label, "delivery")).await;
    assert_eq!(delivery["state"], "delivered");

    let read = app.shipment_state(id).await;
    assert_eq!(read["state"], "delivered");
    assert_eq!(read["custodian"], "lastmile");
    let chain: Vec<&str> = read["custody"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        chain,
        ["pickup", "checkpoint", "handover", "exception", "delivery"]
    );
    assert_eq!(read["custody"][2]["scanned_by"], "lastmile");
    assert_eq!(read["custody"][4]["event_id"], delivery["event_id"]);

    let types = app.event_types().await;
    let count = |t: &str| types.iter().filter(|x| *x == t).count();
    assert_eq!(count("shipment.created"), 1);
    assert_eq!(count("scan.recorded"), 5);
    assert_eq!(count("shipment.delivered"), 1);
    assert_eq!(count("shipment.exception"), 1);
    assert_eq!(count("device.registered"), 2);
}

#[tokio::test]
async fn a_recorded_scan_carries_what_a_verifier_needs() {
    let app = spawn_app().await;
    let (shipment, label) = app.shipment().await;
    let fast = app.phone("fastfreight", &app.keys.fastfreight).await;
    let sent = fast.scan(&label, "pickup");
    let accepted = app.accept(&sent).await;
    let events = app.events().await;
    let envelope = events
        .iter()
        .find(|e| e.id().to_string() == accepted["event_id"].as_str().unwrap())
        .expect("the scan's event is on the topic under the answered id");
    assert_eq!(envelope.aggregate_id(), shipment["id"].as_str().unwrap());
    let parties: Vec<String> = envelope.parties().iter().map(|p| p.to_string()).collect();
    assert!(parties.contains(&"acme".to_owned()) && parties.contains(&"fastfreight".to_owned()));
    let Some(ShipmentEvent::ScanRecorded(scan)) = ShipmentEvent::read(envelope).unwrap() else {
        panic!("a scan.recorded event");
    };
    // The phone's exact members, and its signature, verify again from the
    // event alone (RFC 8785 bytes of `signed`).
    let mut unsigned = sent.clone();
    unsigned.as_object_mut().unwrap().remove("signature");
    assert_eq!(scan.signed, unsigned);
    let key = VerifyingKey::from_base64(&fast.key.verifying_key().to_base64()).unwrap();
    let bytes = tracechain_core::to_canonical_vec(&scan.signed).unwrap();
    key.verify_strict(&bytes, &Signature::from_base64(&scan.signature).unwrap())
        .unwrap();
    // EPCIS 2.0 ObjectEvent.
    let epcis: &Value = &scan.epcis;
    assert_eq!(epcis["type"], "ObjectEvent");
    assert_eq!(epcis["action"], "OBSERVE");
    assert_eq!(epcis["bizStep"], "departing");
    assert_eq!(epcis["disposition"], "in_transit");
    assert_eq!(
        epcis["eventID"],
        format!("urn:uuid:{}", accepted["event_id"].as_str().unwrap())
    );
    let epcs: Vec<&str> = epcis["epcList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(epcs[0], label);
    assert_eq!(epcs[1], shipment["items"][0].as_str().unwrap());
    assert!(
        epcis["readPoint"]["id"]
            .as_str()
            .unwrap()
            .starts_with("geo:52.3702,4.8952")
    );
}

#[tokio::test]
async fn a_delivery_publishes_what_settlement_charges_for() {
    let app = spawn_app().await;
    let (shipment, label) = app.shipment().await;
    let fast = app.phone("fastfreight", &app.keys.fastfreight).await;
    app.accept(&fast.scan(&label, "pickup")).await;
    let delivery = app.accept(&fast.scan(&label, "delivery")).await;
    let events = app.events().await;
    let delivered = events
        .iter()
        .find_map(|e| match ShipmentEvent::read(e).unwrap() {
            Some(ShipmentEvent::Delivered(d)) => Some(d),
            _ => None,
        })
        .expect("shipment.delivered is published");
    assert_eq!(
        delivered.shipment_id.to_string(),
        shipment["id"].as_str().unwrap()
    );
    assert_eq!(delivered.carrier.as_str(), "fastfreight");
    assert_eq!(delivered.agreement_ref.as_deref(), Some("rate-2026-eu"));
    assert_eq!(
        delivered.scan_event_id.to_string(),
        delivery["event_id"].as_str().unwrap()
    );
    assert_eq!(delivered.due_by, "2026-12-31T12:00:00Z");
}

#[tokio::test]
async fn stopping_lets_acknowledged_scans_finish_and_keeps_every_one() {
    let mut app = spawn_app().await;
    let fast = app.phone("fastfreight", &app.keys.fastfreight).await;
    let mut scans = Vec::new();
    for _ in 0..10 {
        let (_, label) = app.shipment().await;
        scans.push(fast.scan(&label, "pickup"));
    }
    let sent = futures::future::join_all(scans.iter().map(|scan| app.post_scan(scan)));
    let (answers, ()) = tokio::join!(sent, async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        app.shutdown_token().cancel();
    });
    let acknowledged: Vec<String> = answers
        .iter()
        .filter(|(status, _)| *status == 202)
        .map(|(_, body)| body["event_id"].as_str().unwrap().to_owned())
        .collect();
    app.stop().await;
    let published: std::collections::BTreeSet<String> = app
        .events()
        .await
        .iter()
        .map(|e| e.id().to_string())
        .collect();
    for id in &acknowledged {
        assert!(
            published.contains(id),
            "acknowledged scan {id} is on the topic"
        );
    }
}
