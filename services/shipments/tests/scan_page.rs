//! The phone's scan page (`/scan`) in a real browser: Debian's Chromium
//! driven by Python playwright (`tests/browser/scan.py`) against the real
//! shipments service on port 0 over the real broker and Redis
//! (`scripts/infra.sh up`), its fake camera playing a video of the
//! shipment's own label (`GET /v1/shipments/{id}/label.png`).
//!
//! The page registers the phone for the carrier, scans the pickup online,
//! two checkpoints offline (queued, then sent with `POST /v1/scans/batch`
//! when back online) and the delivery. The test checks what the page
//! showed against what the service published and projected: one
//! `scan.recorded` per accepted scan under the ids the page showed, signed
//! by the key the page registered, and one `shipment.delivered`.
//!
//! The test fails (it is never skipped) when chromium, playwright or ffmpeg
//! is missing: `.ci/run` installs them.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "scan_page/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::label_video;
use tracechain_core::{Signature, VerifyingKey};
use tracechain_domain::DomainEvent;
use tracechain_shipments::domain::events::ShipmentEvent;
use tracechain_testkit::Browser;

use helpers::spawn_app;

/// What the service published, as the test reads it back.
#[derive(Default)]
struct Published {
    /// `scan.recorded` events by id: (kind, state, device id, signed, signature).
    scans: BTreeMap<String, (String, String, String, Value, String)>,
    /// `shipment.delivered`: the scan event id each names.
    delivered: Vec<String>,
    /// `device.registered`: device id to public key.
    devices: BTreeMap<String, String>,
}

fn as_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

async fn published(app: &helpers::TestApp, shipment_id: &str) -> Published {
    let mut out = Published::default();
    for envelope in app.events().await {
        match ShipmentEvent::read(&envelope).unwrap() {
            Some(ShipmentEvent::ScanRecorded(scan)) => {
                assert_eq!(scan.shipment_id.to_string(), shipment_id);
                assert_eq!(scan.scanned_by.as_str(), "fastfreight");
                let previous = out.scans.insert(
                    envelope.id().to_string(),
                    (
                        as_text(&scan.kind),
                        as_text(&scan.state),
                        scan.device_id.to_string(),
                        scan.signed.clone(),
                        scan.signature.clone(),
                    ),
                );
                assert!(previous.is_none(), "event {} twice", envelope.id());
            }
            Some(ShipmentEvent::Delivered(delivered)) => {
                assert_eq!(delivered.shipment_id.to_string(), shipment_id);
                assert_eq!(delivered.carrier.as_str(), "fastfreight");
                out.delivered.push(delivered.scan_event_id.to_string());
            }
            Some(ShipmentEvent::DeviceRegistered(device)) => {
                assert_eq!(device.carrier.as_str(), "fastfreight");
                out.devices
                    .insert(device.device_id.to_string(), device.public_key.clone());
            }
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_phone_scans_a_label_online_and_offline_and_the_service_records_it() {
    let started = Instant::now();
    let browser = Browser::find();
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();

    // The page and its assets: bundled, same-origin only, locked down.
    for (path, content_type) in [
        ("/scan", "text/html"),
        ("/scan/scan.js", "text/javascript"),
        ("/scan/scan.css", "text/css"),
        ("/scan/jsqr.js", "text/javascript"),
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), 200, "GET {path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        assert!(header("content-type").starts_with(content_type), "{path}");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "require-trusted-types-for 'script'",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} in {csp}");
        }
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        let body = response.text().await.unwrap();
        // jsqr.js names its origin in a comment (`http://…`); it loads
        // nothing, and the CSP would refuse it anyway.
        if path != "/scan/jsqr.js" {
            assert!(
                !body.contains("http://") && !body.contains("https://"),
                "{path} must not load anything from elsewhere"
            );
        }
    }

    // A shipment of one acme item with fastfreight, and its label.
    let (shipment, label) = app.shipment().await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    assert_eq!(shipment["carrier_id"], "fastfreight");
    let response = app
        .get(
            &format!("/v1/shipments/{id}/label.png"),
            Some(&app.keys.acme),
        )
        .await;
    assert_eq!(response.status(), 200, "GET label.png");
    assert_eq!(response.headers()["content-type"], "image/png");
    let png = dir.path().join("label.png");
    std::fs::write(&png, response.bytes().await.unwrap()).unwrap();
    let video = dir.path().join("label.y4m");
    label_video(&png, &video, &label);

    // Drive the page.
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scan-page-screenshots");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/scan.py");
    let args: Vec<String> = vec![
        "--url".into(),
        app.address.clone(),
        "--video".into(),
        video.display().to_string(),
        "--carrier".into(),
        "fastfreight".into(),
        "--api-key".into(),
        app.keys.fastfreight.clone(),
        "--screenshot-dir".into(),
        screenshots.display().to_string(),
    ];
    let (status, stdout, stderr) = browser
        .run(&script, &args, dir.path(), Duration::from_secs(240))
        .await;
    let report: Value = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report ({status}); stdout:\n{stdout}\nstderr:\n{stderr}"));
    assert!(
        status.success() && report["ok"] == true,
        "the browser script failed ({status}): {}\nstderr:\n{stderr}\n(screenshots in {})",
        report["error"].as_str().unwrap_or(""),
        screenshots.display()
    );
    eprintln!(
        "scan_page: {} decoding with {} (screenshots in {})",
        report["browser_version"],
        report["decoder"],
        screenshots.display()
    );
    let console: Vec<&str> = report["console_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(console.is_empty(), "console errors: {console:#?}");

    // The phone's key stays in the phone; the API key was for registering only.
    let device_id = report["device_id"].as_str().unwrap().to_owned();
    assert_eq!(report["private_key_extractable"], false);
    assert_eq!(report["api_key_stored"], false);
    assert_eq!(report["innerhtml_with_string"], "TypeError");
    for viewport in ["overflow_px", "overflow_px_360"] {
        assert!(
            report[viewport].as_i64().unwrap() <= 0,
            "the page scrolls sideways on a phone ({viewport}): {report}"
        );
    }

    // What the page showed: pickup online, two checkpoints queued offline
    // and then accepted through the batch endpoint, delivery online.
    assert_eq!(
        report["queued_seen"],
        serde_json::json!(["queued", "queued"])
    );
    assert!(
        report["batch_requests"].as_u64().unwrap() >= 1,
        "the queue went out with POST /v1/scans/batch: {}",
        report["requests"]
    );
    let singles = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| *r == "POST /v1/scans")
        .count();
    assert_eq!(
        singles, 2,
        "only pickup and delivery went one by one: {}",
        report["requests"]
    );
    let results = report["results"].as_array().unwrap();
    let shown: Vec<(&str, &str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                r["state"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("pickup", "accepted", "picked_up"),
            ("checkpoint", "accepted", "in_transit"),
            ("checkpoint", "accepted", "in_transit"),
            ("delivery", "accepted", "delivered"),
        ],
        "{results:#?}"
    );
    let event_ids: Vec<String> = results
        .iter()
        .map(|r| r["event_id"].as_str().expect("an event id").to_owned())
        .collect();

    // What the service published: one scan.recorded per accepted scan,
    // under the ids the page showed, by the page's device, signed with the
    // key the page registered; and one shipment.delivered.
    let published = published(&app, &id).await;
    assert_eq!(
        published.devices.keys().collect::<Vec<_>>(),
        [&device_id],
        "one device.registered, for the page's device"
    );
    let key = VerifyingKey::from_base64(&published.devices[&device_id]).unwrap();
    assert_eq!(
        published.scans.keys().cloned().collect::<Vec<_>>(),
        {
            let mut ids = event_ids.clone();
            ids.sort();
            ids
        },
        "exactly one scan.recorded per accepted scan, under the shown ids"
    );
    for (result, event_id) in results.iter().zip(&event_ids) {
        let (kind, state, device, signed, signature) = &published.scans[event_id];
        assert_eq!(kind, result["kind"].as_str().unwrap(), "{event_id}");
        assert_eq!(state, result["state"].as_str().unwrap(), "{event_id}");
        assert_eq!(device, &device_id, "{event_id}");
        assert_eq!(signed["nonce"], result["nonce"], "{event_id}");
        assert_eq!(signed["code"], label.as_str(), "the camera read the label");
        let bytes = tracechain_core::to_canonical_vec(signed).unwrap();
        key.verify_strict(&bytes, &Signature::from_base64(signature).unwrap())
            .unwrap_or_else(|e| panic!("{event_id}: the page's signature: {e}"));
    }
    assert_eq!(
        published.delivered,
        [event_ids[3].clone()],
        "one shipment.delivered, for the delivery scan"
    );

    // And what it projected.
    app.wait_caught_up().await;
    let read = app.shipment_state(&id).await;
    assert_eq!(read["state"], "delivered");
    assert_eq!(read["custodian"], "fastfreight");
    let custody = read["custody"].as_array().unwrap();
    let chain: Vec<(&str, &str, &str)> = custody
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap(),
                c["event_id"].as_str().unwrap(),
                c["device_id"].as_str().unwrap(),
            )
        })
        .collect();
    let want: Vec<(&str, &str, &str)> = results
        .iter()
        .zip(&event_ids)
        .map(|(r, e)| (r["kind"].as_str().unwrap(), e.as_str(), device_id.as_str()))
        .collect();
    assert_eq!(chain, want, "{read:#}");

    eprintln!("scan_page: passed in {:?}", started.elapsed());
}
