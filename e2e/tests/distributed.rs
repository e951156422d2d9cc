//! Scenario 1: the story across the services as SEPARATE PROCESSES over the
//! real broker and Redis (`tracechain serve registry|shipments|ledger`),
//! walked by `tracechain demo` — products and their QR codes, a shipment
//! and its label, phone keys, signed pickup, hand-over and delivery, the
//! delivery's inclusion proof verified with the ledger's public key — and
//! ending with `tracechain verify url` checking the whole chain from
//! genesis. Each process serves its own API document and stops cleanly.

use std::ffi::OsStr;

use tracechain_e2e::client::Api;
use tracechain_e2e::{Deployment, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_across_separate_processes_ends_in_a_verified_chain() {
    let mut system = Deployment::start(Options::shared());
    let api = Api::new();
    for (url, service) in [
        (&system.urls.registry, "registry"),
        (&system.urls.shipments, "shipments"),
        (&system.urls.ledger, "ledger"),
    ] {
        let (status, doc) = api.get(&format!("{url}/openapi.json"), "").await;
        assert_eq!(status, 200);
        assert!(
            doc["info"]["title"].as_str().unwrap().ends_with(service),
            "{service}: {}",
            doc["info"]["title"]
        );
    }

    let public_key = system.ledger_public_key();
    let out = system.dir.path().join("demo-out");
    let printed = tracechain_e2e::cli::demo(
        &system.urls,
        &[
            OsStr::new("--keys"),
            system.demo_keys_file.as_os_str(),
            OsStr::new("--ledger-key"),
            OsStr::new(&public_key),
        ],
        &out,
    );
    for file in ["item-S1.png", "item-S2.png", "item-S3.png", "label.png"] {
        assert!(
            !tracechain_testkit::zbar(&out.join(file)).is_empty(),
            "{file} holds a QR code"
        );
    }

    // What the demo did is there to read: the delivered shipment, its
    // custody chain, and the delivery anchored with a proof.
    let shipment = tracechain_e2e::cli::demo_shipment(&printed);
    let read = api
        .get_ok(
            &format!("{}/v1/shipments/{shipment}", system.urls.shipments),
            &system.keys.acme,
        )
        .await;
    assert_eq!(read["state"], "delivered", "{read}");

    // The whole chain, from genesis, trusting only the pinned key.
    let report =
        tracechain_e2e::cli::verify_url(&system.urls.ledger, &system.keys.auditor, &public_key);
    assert!(report.contains("verified:"), "{report}");
    system.stop();
}
