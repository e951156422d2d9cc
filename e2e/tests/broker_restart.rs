//! Scenario 4: the broker restarts while phones are scanning. tansu runs on
//! `sqlite://` storage in a directory of this test's own, so its data
//! survives; it is SIGKILLed mid-load and started again a few seconds
//! later on the same port. The three service processes are left alone:
//! they reconnect by themselves. Phones re-send what got no answer or a
//! 503, byte for byte.
//!
//! Afterwards: nothing acknowledged is lost (every 202's event is
//! anchored), no scan is recorded or anchored twice, every shipment is
//! delivered, and the chain verifies from genesis.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracechain_e2e::client::{self, Api, Phone};
use tracechain_e2e::load::{self, Progress};
use tracechain_e2e::{Deployment, Options};
use tracechain_testkit::PrivateBroker;

const SHIPMENTS: usize = 200;
const RESTART_AT: usize = 200;
const DOWN_FOR: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_load_loses_nothing_and_the_services_reconnect() {
    let broker_dir = tempfile::tempdir().unwrap();
    let broker =
        PrivateBroker::start_persistent(tracechain_testkit::free_port(), broker_dir.path());
    let mut options = Options::shared();
    options.brokers = broker.bootstrap();
    let mut system = Deployment::start(options);
    let api = Api::new();
    let (urls, keys) = (system.urls.clone(), system.keys.clone());

    let items = client::seed_items(&api, &urls.registry, &keys.acme, SHIPMENTS).await;
    let shipments =
        client::ship_each(&api, &urls.shipments, &keys.acme, "fastfreight", &items).await;
    let phone = Phone::register(&api, &urls.shipments, "fastfreight", &keys.fastfreight).await;
    let steps = load::steps(&phone, &["pickup", "checkpoint", "delivery"]);

    let progress = Arc::new(Progress::default());
    let restart = {
        let progress = Arc::clone(&progress);
        let mut broker = broker;
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while progress.acknowledged() < RESTART_AT {
                assert!(
                    Instant::now() < deadline,
                    "the load stalled before the restart"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            broker.kill();
            let killed_at = progress.acknowledged();
            std::thread::sleep(DOWN_FOR);
            broker.restart();
            (broker, killed_at)
        })
    };
    let started = Instant::now();
    let outcomes = load::scan_all(
        &api,
        &urls.shipments,
        &shipments,
        &steps,
        32,
        Duration::from_secs(180),
        Arc::clone(&progress),
    )
    .await;
    let (_broker, killed_at) = restart.await.expect("the restart ran");
    let retried = outcomes.iter().filter(|o| o.attempts > 1).count();
    eprintln!(
        "{} scans in {:.1} s; broker SIGKILLed at {killed_at} acknowledgements, down {DOWN_FOR:?}; {retried} scans needed more than one attempt",
        outcomes.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(retried > 0, "the restart interrupted the load");
    assert!(killed_at < outcomes.len(), "the broker went down mid-load");

    load::assert_all_anchored_once(
        &api,
        &urls.ledger,
        &keys.auditor,
        &outcomes,
        Duration::from_secs(180),
    )
    .await;
    assert_eq!(
        client::delivered_count(&api, &urls.shipments, &keys.acme).await,
        SHIPMENTS,
        "every shipment is delivered"
    );

    let report =
        tracechain_e2e::cli::verify_url(&urls.ledger, &keys.auditor, &system.ledger_public_key());
    assert!(report.contains("verified:"), "{report}");
    system.stop();
}
