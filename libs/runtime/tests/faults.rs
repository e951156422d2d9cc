//! Infrastructure faults as a service sees them (issue: "Faults and bad
//! input"), on a minimal service wired exactly like the real ones:
//!
//! - broker down at start: the service starts, `/readyz` is 503 naming the
//!   bus, writes answer 503 problem+json, and it recovers by itself when the
//!   broker appears (no restart, no crash loop);
//! - broker lost mid-flight: writes answer 503 and nothing is acknowledged
//!   that the broker did not take; after the broker returns, writes succeed;
//! - Redis down: `/readyz` is 503 naming the store and reads answer 503.
//!
//! The broker here is a private tansu process the test starts and kills;
//! Redis is the shared real one (or a dead port for the Redis-down case).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use tokio_util::sync::CancellationToken;
use tracechain_bus::{EventBus, TopicSpec};
use tracechain_domain::{Envelope, EventType, TenantId};
use tracechain_http::{HttpDefaults, HttpSettings, Limits, Metrics, Problem, Server};
use tracechain_runtime::{
    BusSettings, Infrastructure, StoreSettings, bus_problem, ensure_topics_in_background,
    store_problem,
};
use tracechain_store::Namespace;
use tracechain_testkit::{PrivateBroker, free_port, redis_url, unique_name};

struct TestService {
    infra: Infrastructure,
    topic: String,
}

async fn publish(service: web::Data<TestService>) -> Result<HttpResponse, Problem> {
    let envelope = Envelope::new(
        EventType::parse("test.happened").unwrap(),
        "aggregate-1",
        "faults-test",
        BTreeSet::from([TenantId::parse("acme").unwrap()]),
        serde_json::json!({ "n": 1 }),
    );
    let position = service
        .infra
        .bus
        .publish(&service.topic, b"aggregate-1", &envelope)
        .await
        .map_err(|e| bus_problem(&e))?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "offset": position.offset })))
}

async fn read(service: web::Data<TestService>) -> Result<HttpResponse, Problem> {
    let value = service
        .infra
        .store
        .get("k")
        .await
        .map_err(|e| store_problem(&e))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "found": value.is_some() })))
}

struct Running {
    base: String,
    shutdown: CancellationToken,
    infra: Infrastructure,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(bus: BusSettings, store: StoreSettings, topic: &str) -> Running {
    let namespace = Namespace::service("faults-test").unwrap();
    let infra = Infrastructure::connect(&bus, &store, namespace)
        .await
        .expect("connecting never needs the broker or redis to be up");
    let shutdown = CancellationToken::new();
    ensure_topics_in_background(
        Arc::clone(&infra.bus),
        vec![TopicSpec::new(topic, 3)],
        infra.topics.clone(),
        shutdown.clone(),
    );
    let defaults = HttpDefaults {
        limits: Limits::default(),
        metrics: Metrics::new(),
        readiness: infra.readiness(),
        gate: Default::default(),
    };
    let service = web::Data::new(TestService {
        infra: infra.clone(),
        topic: topic.to_owned(),
    });
    let settings = HttpSettings {
        host: "127.0.0.1".into(),
        port: 0,
        ..HttpSettings::default()
    };
    let listener = tracechain_http::bind(&settings).unwrap();
    let stop = shutdown.clone();
    let server = Server::start(
        listener,
        &settings,
        move || {
            tracechain_http::app(&defaults)
                .app_data(service.clone())
                .route("/events", web::post().to(publish))
                .route("/state", web::get().to(read))
        },
        async move { stop.cancelled().await },
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{}", server.port());
    tokio::spawn(server.run_until_stopped());
    Running {
        base,
        shutdown,
        infra,
    }
}

fn bus_on(port: u16) -> BusSettings {
    BusSettings {
        brokers: format!("127.0.0.1:{port}"),
        session_timeout_ms: 6000,
        delivery_timeout_ms: 3000,
        ..BusSettings::default()
    }
}

fn real_store() -> StoreSettings {
    StoreSettings {
        url: redis_url(),
        namespace_suffix: Some(unique_name("t")),
        ..StoreSettings::default()
    }
}

async fn get(url: &str) -> (u16, String, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

async fn post_event(base: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/events"))
        .send()
        .await
        .unwrap()
}

async fn assert_unavailable(response: reqwest::Response, slug: &str) {
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(response.headers()["retry-after"], "2");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["type"],
        format!("https://tracechain.dev/problems/{slug}")
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was changed"),
        "{body}"
    );
}

async fn wait_ready(base: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (status, _, body) = get(&format!("{base}/readyz")).await;
        if status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not ready within {within:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every record on `topic`, read back from offset 0.
async fn events_on(bus: &Arc<dyn EventBus>, topic: &str) -> usize {
    let ends = bus.end_offsets(topic).await.unwrap();
    ends.values().map(|end| *end as usize).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_at_start_then_up_then_lost_then_back() {
    // Logs show on failure (nextest captures them): the bus errors matter here.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let port = free_port();
    let topic = unique_name("faults");
    let service = start(bus_on(port), real_store(), &topic).await;

    // Down at start: the process runs, says why it is not ready, refuses writes.
    let (status, content_type, body) = get(&format!("{}/readyz", service.base)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert!(body.contains("bus") && body.contains("topics"), "{body}");
    let started = Instant::now();
    assert_unavailable(post_event(&service.base).await, "event-bus-unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "a write waited {:?}",
        started.elapsed()
    );

    // The broker appears: the service becomes ready by itself and takes writes.
    let dir = tempfile::tempdir().unwrap();
    let mut broker = PrivateBroker::start_persistent(port, dir.path());
    wait_ready(&service.base, Duration::from_secs(40)).await;
    let response = post_event(&service.base).await;
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(
        events_on(&service.infra.bus, &topic).await,
        1,
        "the refused write left nothing behind"
    );

    // Lost mid-flight: writes are refused, not falsely acknowledged.
    broker.kill();
    assert_unavailable(post_event(&service.base).await, "event-bus-unavailable").await;

    // Back (same data): writes succeed again without restarting the service.
    broker.restart();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let response = post_event(&service.base).await;
        if response.status().as_u16() == 202 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no successful write after the broker returned"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let acknowledged = events_on(&service.infra.bus, &topic).await;
    assert_eq!(
        acknowledged, 2,
        "exactly the two acknowledged writes are on the topic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_means_not_ready_and_503() {
    let dead_redis = StoreSettings {
        url: format!("redis://127.0.0.1:{}", free_port()),
        ..StoreSettings::default()
    };
    let broker = PrivateBroker::start();
    let service = start(bus_on(broker.port()), dead_redis, &unique_name("faults")).await;
    let (status, _, body) = get(&format!("{}/readyz", service.base)).await;
    assert_eq!(status, 503);
    assert!(body.contains("store"), "{body}");
    let response = reqwest::get(format!("{}/state", service.base))
        .await
        .unwrap();
    assert_unavailable(response, "state-store-unavailable").await;
}

#[tokio::test]
async fn embedded_infrastructure_needs_no_broker_or_redis() {
    let dir = tempfile::tempdir().unwrap();
    let bus = BusSettings {
        kind: tracechain_runtime::BusKind::Embedded,
        data_dir: dir.path().join("bus"),
        ..BusSettings::default()
    };
    let store = StoreSettings {
        kind: tracechain_runtime::StoreKind::Embedded,
        data_dir: dir.path().join("store"),
        ..StoreSettings::default()
    };
    let topic = "embedded.events";
    let service = start(bus, store, topic).await;
    wait_ready(&service.base, Duration::from_secs(10)).await;
    assert_eq!(post_event(&service.base).await.status().as_u16(), 202);
    let ends: BTreeMap<i32, i64> = service.infra.bus.end_offsets(topic).await.unwrap();
    assert_eq!(ends.values().sum::<i64>(), 1);
}
