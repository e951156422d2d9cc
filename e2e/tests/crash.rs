//! Scenario 3: the ledger and then shipments are SIGKILLed while phones
//! send 5,000 scans (1,000 shipments: pickup, two checkpoints, a hand-over
//! to the next carrier, delivery), and each is started again. Phones
//! re-send unanswered scans byte for byte, as their offline queue does.
//!
//! Afterwards: every scan acknowledged with a 202 is anchored, each event
//! in exactly one block, no scan is recorded twice, every shipment is
//! delivered, and `tracechain verify url` checks the chain from genesis.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracechain_e2e::client::{self, Api, Phone};
use tracechain_e2e::load::{self, Progress, Step};
use tracechain_e2e::{Deployment, Options};

const SHIPMENTS: usize = 1_000;
const KILL_LEDGER_AT: usize = 1_500;
const KILL_SHIPMENTS_AT: usize = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_ledger_then_shipments_under_load_loses_and_doubles_nothing() {
    let system = Deployment::start(Options::shared());
    let api = Api::new();
    let urls = system.urls.clone();
    let keys = system.keys.clone();
    let items = client::seed_items(&api, &urls.registry, &keys.acme, SHIPMENTS).await;
    let shipments =
        client::ship_each(&api, &urls.shipments, &keys.acme, "fastfreight", &items).await;
    let first = Phone::register(&api, &urls.shipments, "fastfreight", &keys.fastfreight).await;
    let last = Phone::register(&api, &urls.shipments, "lastmile", &keys.lastmile).await;
    let steps = [
        Step {
            phone: &first,
            kind: "pickup",
        },
        Step {
            phone: &first,
            kind: "checkpoint",
        },
        Step {
            phone: &first,
            kind: "checkpoint",
        },
        Step {
            phone: &first,
            kind: "handover",
        },
        Step {
            phone: &last,
            kind: "delivery",
        },
    ];

    // The faults, timed by the load's own progress, from a thread of their
    // own (killing and waiting for readiness block).
    let progress = Arc::new(Progress::default());
    let system = Arc::new(std::sync::Mutex::new(system));
    let faults = {
        let (progress, system) = (Arc::clone(&progress), Arc::clone(&system));
        tokio::task::spawn_blocking(move || {
            let mut log = Vec::new();
            for (at, service) in [(KILL_LEDGER_AT, "ledger"), (KILL_SHIPMENTS_AT, "shipments")] {
                let deadline = Instant::now() + Duration::from_secs(300);
                while progress.acknowledged() < at {
                    assert!(
                        Instant::now() < deadline,
                        "the load stalled before {at} acknowledgements"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                let mut system = system.lock().unwrap();
                let process = match service {
                    "ledger" => &mut system.ledger,
                    _ => &mut system.shipments,
                };
                process.kill();
                let killed_at = progress.acknowledged();
                let started = Instant::now();
                process.restart();
                log.push(format!(
                    "{service} SIGKILLed at {killed_at} acknowledgements, ready again after {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
            }
            log
        })
    };
    let started = Instant::now();
    let outcomes = load::scan_all(
        &api,
        &urls.shipments,
        &shipments,
        &steps,
        64,
        Duration::from_secs(180),
        Arc::clone(&progress),
    )
    .await;
    let load_time = started.elapsed();
    let fault_log = faults.await.expect("the faults ran");
    assert_eq!(outcomes.len(), SHIPMENTS * steps.len());
    let acknowledged = outcomes.iter().filter(|o| o.acknowledged_first).count();
    let lost_answers = outcomes.iter().filter(|o| o.attempts > 1).count();
    eprintln!(
        "{} scans in {:.1} s: {acknowledged} acknowledged on the first attempt, {lost_answers} needed more; {}",
        outcomes.len(),
        load_time.as_secs_f64(),
        fault_log.join("; ")
    );
    assert!(
        lost_answers > 0,
        "the shipments kill interrupted scans in flight"
    );

    // Everything reaches the ledger: wait until the delivery of every
    // shipment is anchored, then check every scan.
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

    let mut system = Arc::try_unwrap(system)
        .expect("the faults are done")
        .into_inner()
        .unwrap();
    let report =
        tracechain_e2e::cli::verify_url(&urls.ledger, &keys.auditor, &system.ledger_public_key());
    assert!(report.contains("verified:"), "{report}");
    system.stop();
}
