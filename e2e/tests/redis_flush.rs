//! Scenario 5: Redis loses everything — a real `FLUSHALL`, on a Redis of
//! this test's own — while phones are scanning. The registry's and
//! shipments' projections are rebuilt from Kafka; meanwhile their data
//! routes answer 503 (never "not found" for what exists, never a replay
//! accepted); afterwards every API answers exactly as before, every scan
//! is recorded once, and replays are still refused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tracechain_e2e::client::{self, Api, Phone};
use tracechain_e2e::load::{self, Progress};
use tracechain_e2e::{Deployment, Options};
use tracechain_testkit::ChildProcess;

const SHIPMENTS: usize = 300;

/// A Redis server of the test's own (it keeps nothing on disk).
fn private_redis(dir: &std::path::Path) -> (ChildProcess, String) {
    let port = tracechain_testkit::free_port();
    let process = ChildProcess::spawn_logged(
        std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir),
        &dir.join("redis.log"),
    );
    let url = format!("redis://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tracechain_testkit::is_reachable(&url) {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (process, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_mid_run_rebuilds_every_answer_and_loses_no_scan() {
    let redis_dir = tempfile::tempdir().unwrap();
    let (_redis, redis_url) = private_redis(redis_dir.path());
    let mut options = Options::shared();
    options.redis = redis_url.clone();
    let mut system = Deployment::start(options);
    let api = Api::new();
    let (urls, keys) = (system.urls.clone(), system.keys.clone());

    let items = client::seed_items(&api, &urls.registry, &keys.acme, SHIPMENTS).await;
    let shipments =
        client::ship_each(&api, &urls.shipments, &keys.acme, "fastfreight", &items).await;
    let phone = Phone::register(&api, &urls.shipments, "fastfreight", &keys.fastfreight).await;
    let steps = load::steps(&phone, &["pickup", "checkpoint", "delivery"]);
    let (before, during) = shipments.split_at(SHIPMENTS / 2);

    // Half the shipments travel and are delivered before the flush.
    let first = load::scan_all(
        &api,
        &urls.shipments,
        before,
        &steps,
        32,
        Duration::from_secs(60),
        Arc::default(),
    )
    .await;

    // What every API answers about them now.
    let product = items[0].clone();
    let mut reads: Vec<(String, String)> = vec![
        (format!("{}/v1/products", urls.registry), keys.acme.clone()),
        (
            format!("{}/v1/carriers/fastfreight/devices", urls.shipments),
            keys.fastfreight.clone(),
        ),
        (
            format!("{}/v1/shipments?state=delivered&limit=100", urls.shipments),
            keys.acme.clone(),
        ),
    ];
    let listed = api
        .get_ok(&format!("{}/v1/products", urls.registry), &keys.acme)
        .await;
    let product_id = listed["items"][0]["id"].as_str().unwrap().to_owned();
    reads.push((
        format!("{}/v1/products/{product_id}", urls.registry),
        keys.acme.clone(),
    ));
    reads.push((
        format!("{}/v1/products/{product_id}/lots/L1", urls.registry),
        keys.acme.clone(),
    ));
    reads.push((
        format!(
            "{}/v1/products/{product_id}/lots/L1/items?limit=100",
            urls.registry
        ),
        keys.acme.clone(),
    ));
    for (id, _) in before.iter().step_by(25) {
        reads.push((
            format!("{}/v1/shipments/{id}", urls.shipments),
            keys.acme.clone(),
        ));
        reads.push((
            format!("{}/v1/shipments/{id}", urls.shipments),
            keys.auditor.clone(),
        ));
    }
    let snapshot: Vec<Value> =
        futures::future::join_all(reads.iter().map(|(url, key)| api.get_ok(url, key))).await;
    // The item's public Digital Link, asked of the registry for JSON.
    let path = product
        .split_once("/01/")
        .map(|(_, p)| format!("/01/{p}"))
        .expect("a Digital Link");
    let resolve = || async {
        api.send(
            api.client
                .get(format!("{}{path}", urls.registry))
                .header("accept", "application/json"),
        )
        .await
        .expect("the resolver answers")
    };
    let public = resolve().await;
    assert_eq!(public.0, 200, "{public:?}");

    // The other half travels while Redis loses everything.
    let progress = Arc::new(Progress::default());
    let flush = {
        let (progress, redis_url) = (Arc::clone(&progress), redis_url.clone());
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            while progress.acknowledged() < SHIPMENTS / 2 {
                assert!(
                    Instant::now() < deadline,
                    "the load stalled before the flush"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let client = redis::Client::open(redis_url).unwrap();
            let mut connection = client.get_multiplexed_async_connection().await.unwrap();
            let flushed: String = redis::cmd("FLUSHALL")
                .query_async(&mut connection)
                .await
                .unwrap();
            let keys: usize = redis::cmd("DBSIZE")
                .query_async(&mut connection)
                .await
                .unwrap();
            (flushed, progress.acknowledged(), keys)
        })
    };
    let second = load::scan_all(
        &api,
        &urls.shipments,
        during,
        &steps,
        32,
        Duration::from_secs(120),
        Arc::clone(&progress),
    )
    .await;
    let (flushed, at, left) = flush.await.unwrap();
    assert_eq!(flushed, "OK");
    eprintln!(
        "FLUSHALL at {at} acknowledged scans of the second half ({left} keys right after); {} of its scans were retried",
        second.iter().filter(|o| o.attempts > 1).count()
    );

    // Every answer about the first half is as before, once rebuilt.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let api = &api;
        let now: Vec<Option<Value>> =
            futures::future::join_all(reads.iter().map(|(url, key)| async move {
                match api.get(url, key).await {
                    (200, body) => Some(body),
                    _ => None,
                }
            }))
            .await;
        let differing: Vec<&String> = reads
            .iter()
            .zip(now.iter().zip(&snapshot))
            .filter(|(_, (now, before))| now.as_ref() != Some(before))
            .map(|((url, _), _)| url)
            .collect();
        if differing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not rebuilt within 60 s: {differing:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        resolve().await,
        public,
        "the public resolver answers as before"
    );

    // A replay of a scan recorded before the flush is still refused,
    // naming the event it was recorded as.
    for outcome in first.iter().step_by(50) {
        let (status, body) = api
            .post(&format!("{}/v1/scans", urls.shipments), None, &outcome.body)
            .await;
        assert_eq!(
            (status, body["event_id"].as_str()),
            (409, Some(outcome.event_id.as_str())),
            "{body}"
        );
    }

    // Every scan is recorded once, and all of them anchored once.
    let all: Vec<_> = first.into_iter().chain(second).collect();
    load::assert_all_anchored_once(
        &api,
        &urls.ledger,
        &keys.auditor,
        &all,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(
        client::delivered_count(&api, &urls.shipments, &keys.acme).await,
        SHIPMENTS,
        "every shipment is delivered"
    );
    system.stop();
}
