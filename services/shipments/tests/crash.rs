//! Nothing acknowledged is lost when the service is killed: the built
//! `tracechain-shipments` binary takes scans under load and is SIGKILLed
//! mid-way; every scan it answered 202 is on the topic and in the
//! projection, and the scans whose answers were lost, sent again with the
//! same signed bodies, end up recorded exactly once — accepted if the dead
//! process never published them, refused as replays if it did.
//!
//! A second instance runs in-process on the same topics and store (two
//! replicas of one service): it seeds the data, takes over the dead
//! process's partitions and serves the reads.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tracechain_domain::DomainEvent;
use tracechain_shipments::ShipmentsSettings;
use tracechain_shipments::domain::events::ShipmentEvent;
use tracechain_testkit::ChildProcess;

use crate::helpers::{TestApp, spawn_with};

const SHIPMENTS: usize = 300;
const KILL_AFTER_ACKS: usize = 100;

/// The settings every instance shares, with short leases so the test's
/// retries need not wait a minute.
fn short_leases(settings: &mut ShipmentsSettings) {
    settings.bus.delivery_timeout_ms = 3000;
    settings.scans.nonce_lease_ms = 10_000;
    settings.limits.shipment_lock_lease_ms = 10_000;
}

/// Starts the binary with `app`'s settings on `port`.
fn start(app: &TestApp, port: u16, log: &std::path::Path) -> ChildProcess {
    let s = &app.settings;
    let mut command = Command::new(env!("CARGO_BIN_EXE_tracechain-shipments"));
    command
        .env("TRACECHAIN_HTTP__PORT", port.to_string())
        .env("TRACECHAIN_HTTP__HOST", "127.0.0.1")
        .env("TRACECHAIN_BUS__BROKERS", &s.bus.brokers)
        .env(
            "TRACECHAIN_BUS__SESSION_TIMEOUT_MS",
            s.bus.session_timeout_ms.to_string(),
        )
        .env(
            "TRACECHAIN_BUS__DELIVERY_TIMEOUT_MS",
            s.bus.delivery_timeout_ms.to_string(),
        )
        .env("TRACECHAIN_STORE__URL", &s.store.url)
        .env(
            "TRACECHAIN_STORE__NAMESPACE_SUFFIX",
            s.store.namespace_suffix.as_deref().unwrap(),
        )
        .env(
            "TRACECHAIN_API_KEYS_FILE",
            s.api_keys_file.as_ref().unwrap(),
        )
        .env("TRACECHAIN_PUBLIC_BASE_URL", &s.public_base_url)
        .env("TRACECHAIN_TOPICS__SHIPMENTS", &s.topics.shipments)
        .env(
            "TRACECHAIN_TOPICS__PARTITIONS",
            s.topics.partitions.to_string(),
        )
        .env("TRACECHAIN_TOPICS__REGISTRY", &s.topics.registry)
        .env("TRACECHAIN_PROJECTION__NAME", &s.projection.name)
        .env(
            "TRACECHAIN_SCANS__NONCE_LEASE_MS",
            s.scans.nonce_lease_ms.to_string(),
        )
        .env(
            "TRACECHAIN_LIMITS__SHIPMENT_LOCK_LEASE_MS",
            s.limits.shipment_lock_lease_ms.to_string(),
        )
        .env("RUST_LOG", "warn")
        .env("TRACECHAIN_LOG_FORMAT", "pretty");
    ChildProcess::spawn_logged(&mut command, log)
}

async fn wait_ready(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(format!("{url}/readyz")).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A scan's shipment, its signed body, and the answer (`None`: none came).
type Outcome = (String, Value, Option<(u16, Value)>);

/// Posts `scan`; `None` when no answer came (the process died).
async fn post(client: &reqwest::Client, url: &str, scan: &Value) -> Option<(u16, Value)> {
    let response = client
        .post(format!("{url}/v1/scans"))
        .json(scan)
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    let body = response.json().await.ok()?;
    Some((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_service_loses_no_acknowledged_scan_and_records_none_twice() {
    let app = spawn_with(short_leases).await;
    let phone = app.phone("fastfreight", &app.keys.fastfreight).await;
    let serials: Vec<String> = (0..SHIPMENTS).map(|i| format!("K{i}")).collect();
    let refs: Vec<&str> = serials.iter().map(String::as_str).collect();
    let items = app.seed_items("acme", "L1", &refs).await;
    let mut scans = Vec::new();
    for item in &items {
        let shipment = app.ship(std::slice::from_ref(item)).await;
        let label = shipment["label_uri"].as_str().unwrap().to_owned();
        scans.push((
            shipment["id"].as_str().unwrap().to_owned(),
            phone.scan(&label, "pickup"),
        ));
    }

    let dir = tempfile::tempdir().unwrap();
    let port = tracechain_testkit::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut process = start(&app, port, &dir.path().join("first.log"));
    wait_ready(&client, &url).await;

    // The load: 16 scans in flight; kill the process after 100 answers.
    let acked = Arc::new(std::sync::Mutex::new(0usize));
    let killer = {
        let acked = Arc::clone(&acked);
        let pid = process.id();
        tokio::spawn(async move {
            while *acked.lock().unwrap() < KILL_AFTER_ACKS {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        })
    };
    let outcomes: Vec<Outcome> = futures::stream::iter(scans.iter().cloned())
        .map(|(id, scan)| {
            let (client, url, acked) = (client.clone(), url.clone(), Arc::clone(&acked));
            async move {
                let answer = post(&client, &url, &scan).await;
                if matches!(answer, Some((202, _))) {
                    *acked.lock().unwrap() += 1;
                }
                (id, scan, answer)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    killer.await.unwrap();
    process.kill();
    let acknowledged: BTreeMap<String, String> = outcomes
        .iter()
        .filter_map(|(id, _, answer)| match answer {
            Some((202, body)) => Some((id.clone(), body["event_id"].as_str()?.to_owned())),
            _ => None,
        })
        .collect();
    let unanswered: Vec<&Outcome> = outcomes.iter().filter(|(_, _, a)| a.is_none()).collect();
    assert!(
        acknowledged.len() >= KILL_AFTER_ACKS,
        "{} acknowledged",
        acknowledged.len()
    );
    assert!(!unanswered.is_empty(), "the kill interrupted the load");
    for (_, _, answer) in &outcomes {
        if let Some((status, body)) = answer {
            assert_eq!(*status, 202, "only the kill may fail a scan: {body}");
        }
    }

    // Every acknowledged scan is on the topic under the answered id.
    let on_topic = |events: &[tracechain_domain::Envelope]| -> BTreeMap<String, Vec<String>> {
        let mut by_shipment: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in events {
            if let Ok(Some(ShipmentEvent::ScanRecorded(_))) = ShipmentEvent::read(e) {
                by_shipment
                    .entry(e.aggregate_id().to_owned())
                    .or_default()
                    .push(e.id().to_string());
            }
        }
        by_shipment
    };
    let recorded = on_topic(&app.events().await);
    for (shipment, event) in &acknowledged {
        assert_eq!(
            recorded.get(shipment),
            Some(&vec![event.clone()]),
            "shipment {shipment}"
        );
    }

    // Restart; once the projection caught up and the dead process's leases
    // expired, send the unanswered scans again, byte for byte.
    let mut process = start(&app, port, &dir.path().join("second.log"));
    wait_ready(&client, &url).await;
    app.wait_caught_up().await;
    tokio::time::sleep(Duration::from_millis(
        app.settings.scans.nonce_lease_ms + 500,
    ))
    .await;
    let (mut accepted, mut replays) = (0, 0);
    for (shipment, scan, _) in &unanswered {
        let (status, body) = post(&client, &url, scan)
            .await
            .expect("the restarted process answers");
        match status {
            202 => accepted += 1,
            409 => {
                replays += 1;
                assert_eq!(
                    body["check"], "nonce",
                    "a replay of what the dead process published: {body}"
                );
            }
            other => panic!("shipment {shipment}: unexpected {other} {body}"),
        }
    }
    eprintln!(
        "{} acknowledged before the kill; of {} unanswered, {accepted} accepted on retry, {replays} already published",
        acknowledged.len(),
        unanswered.len()
    );
    process.signal("TERM");
    assert!(
        process.wait_for_exit(Duration::from_secs(30)).is_some(),
        "the process stops on SIGTERM"
    );

    // Exactly one scan.recorded per shipment, and the projection agrees.
    let recorded = on_topic(&app.events().await);
    let ids: BTreeSet<&String> = scans.iter().map(|(id, _)| id).collect();
    for id in &ids {
        assert_eq!(
            recorded.get(*id).map(Vec::len),
            Some(1),
            "shipment {id} recorded once"
        );
    }
    app.wait_caught_up().await;
    for id in ids.iter().take(50) {
        assert_eq!(app.shipment_state(id).await["state"], "picked_up");
    }
}
