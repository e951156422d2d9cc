//! Scenario 2: `tracechain up` as a newcomer runs it — the real binary, one
//! process, the embedded bus and store, nothing else. The story across
//! services works (a product's items shipped, a phone's signed pickup
//! accepted, all of it anchored), a restart keeps every record, the keys
//! and the chain, `tracechain demo` walks the whole story against it, and
//! `tracechain verify url` checks the chain from genesis.

use std::ffi::OsStr;
use std::process::Command;
use std::time::Duration;

use tracechain_e2e::client::{self, Api, Phone};
use tracechain_e2e::embedded::Up;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_runs_the_story_and_a_restart_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ports = [0; 3].map(|_| tracechain_testkit::free_port());
    let mut up = Up::start_on(&data, dir.path(), "first", ports);

    // The first start printed the URLs and the demo keys, and kept them.
    let banner = up.process.log_text();
    for url in [&up.urls.registry, &up.urls.shipments, &up.urls.ledger] {
        assert!(banner.contains(&format!("{url}/docs")), "{banner}");
    }
    assert!(banner.contains(&format!("{}/scan", up.urls.shipments)));
    assert!(banner.contains(&format!("{}/explorer", up.urls.ledger)));
    let (acme, carrier, auditor) = (
        up.key_of("acme"),
        up.key_of("fastfreight"),
        up.key_of("audit-co"),
    );
    let roles: Vec<String> = up.demo_keys().into_iter().map(|(r, _, _)| r).collect();
    for role in ["manufacturer", "carrier", "auditor", "admin"] {
        assert!(roles.iter().any(|r| r == role), "a demo {role} key");
    }
    assert!(
        banner.contains(&acme),
        "the keys are printed on first start"
    );
    let table = std::fs::read_to_string(data.join("api-keys.json")).unwrap();
    assert!(!table.contains(&acme), "the table holds hashes only");

    // The story: a product's items, shipped, picked up with a signed scan.
    let api = Api::new();
    let items = client::seed_items(&api, &up.urls.registry, &acme, 3).await;
    // Shipments learns the items from the registry's events on the shared bus.
    let shipment = client::ship(&api, &up.urls.shipments, &acme, "fastfreight", &items[..1]).await;
    let phone = Phone::register(&api, &up.urls.shipments, "fastfreight", &carrier).await;
    let scan = phone.scan(shipment["label_uri"].as_str().unwrap(), "pickup");
    let scans = format!("{}/v1/scans", up.urls.shipments);
    let (status, accepted) = api.post(&scans, None, &scan).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["state"], "picked_up");

    // product, lot, items, shipment, device, scan: all anchored.
    let head =
        client::wait_for_tree_size(&api, &up.urls.ledger, &auditor, 6, Duration::from_secs(60))
            .await;
    let event_id = accepted["event_id"].as_str().unwrap();
    let proof = api
        .get_ok(
            &format!("{}/v1/events/{event_id}/proof", up.urls.ledger),
            &auditor,
        )
        .await;
    assert!(proof["leaf_index"].is_u64(), "{proof}");
    assert!(up.process.stop().success(), "up stops cleanly on SIGTERM");

    // Again: same keys, same records, same chain (and nothing re-created).
    let mut up = Up::start_on(&data, dir.path(), "second", ports);
    let banner = std::fs::read_to_string(dir.path().join("second.log")).unwrap();
    assert!(!banner.contains(&acme), "keys are not printed again");
    assert!(banner.contains("demo-keys.json"));
    let shipment_id = shipment["id"].as_str().unwrap();
    let read = api
        .get_ok(
            &format!("{}/v1/shipments/{shipment_id}", up.urls.shipments),
            &acme,
        )
        .await;
    assert_eq!(read["state"], "picked_up");
    let again = client::wait_for_tree_size(
        &api,
        &up.urls.ledger,
        &auditor,
        head["tree_size"].as_u64().unwrap(),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(again["key_id"], head["key_id"], "the same signing key");
    let (status, replay) = api.post(&scans, None, &scan).await;
    assert_eq!(
        (status, replay["check"].as_str()),
        (409, Some("nonce")),
        "{replay}"
    );

    // `tracechain demo` walks the whole story against it (with up's own
    // keys and the ledger's key from the data directory) and verifies the
    // delivery's inclusion proof with the ledger's public key.
    let out = dir.path().join("demo-out");
    tracechain_e2e::cli::demo(
        &up.urls,
        &[OsStr::new("--data-dir"), data.as_os_str()],
        &out,
    );
    for file in ["item-S1.png", "item-S2.png", "item-S3.png", "label.png"] {
        assert!(
            !tracechain_testkit::zbar(&out.join(file)).is_empty(),
            "{file}"
        );
    }
    // The files it wrote verify on their own with the CLI.
    let public_key = up.ledger_public_key();
    let verify = Command::new(tracechain_e2e::tracechain())
        .args(["verify", "proof", "--event"])
        .arg(out.join("event.json"))
        .arg("--proof")
        .arg(out.join("proof.json"))
        .arg("--checkpoint")
        .arg(out.join("checkpoint.txt"))
        .args(["--key", &public_key])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // And the whole chain, from genesis, trusting only the pinned key.
    let report = tracechain_e2e::cli::verify_url(&up.urls.ledger, &auditor, &public_key);
    assert!(report.contains("verified:"), "{report}");
    assert!(up.process.stop().success(), "up stops cleanly on SIGTERM");
}
