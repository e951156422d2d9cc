//! The conformance suite against a real Kafka-protocol broker, plus what
//! only Kafka has: a broker that is unreachable or lost mid-flight.
//!
//! Never skipped: without a broker at `KAFKA_BROKERS` (default
//! `127.0.0.1:9092`) these tests FAIL — run `scripts/infra.sh up`.

mod conformance;

use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::{Leg, envelope, murmur_keys, unique};
use futures::StreamExt;
use tracechain_bus::{
    BusError, ConsumerOptions, EmbeddedBus, EventBus, KafkaBus, KafkaConfig, Record, StreamEvent,
    TopicSpec,
};
use tracechain_testkit::{PrivateBroker, free_port};

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// Test settings: a short session so group joins take ~1–3 s instead of ~23 s.
fn config(brokers: &str) -> KafkaConfig {
    let mut config = KafkaConfig::new(brokers);
    config.client_id = "bus-tests".to_owned();
    config.session_timeout = Duration::from_secs(6);
    config.max_poll_interval = Duration::from_secs(15);
    config.delivery_timeout = Duration::from_secs(30);
    config.request_timeout = Duration::from_secs(10);
    config
}

async fn kafka_bus() -> Arc<dyn EventBus> {
    let brokers = brokers();
    let bus = KafkaBus::connect(config(&brokers)).expect("kafka bus is created");
    if let Err(error) = bus.ping(Duration::from_secs(5)).await {
        panic!(
            "no Kafka broker answers at {brokers} ({error}): run `scripts/infra.sh up` (these tests are never skipped)"
        );
    }
    Arc::new(bus)
}

async fn leg() -> Leg {
    Leg {
        name: "kafka",
        bus: kafka_bus().await,
        _guard: None,
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                conformance::$name(&leg().await).await;
            }
        )*
    };
}

conformance!(
    ensure_topics_is_idempotent,
    publish_ack_position_is_readable,
    per_key_ordering,
    publish_stream_yields_positions_in_order_within_its_window,
    publish_stream_fails_records_alone,
    partitions_follow_java_murmur2,
    reader_from_explicit_positions,
    uncommitted_events_are_redelivered_after_a_crash,
    commits_for_revoked_partitions_are_skipped,
    commits_between_small_batches_do_not_stall,
    rebalance_loses_nothing_and_never_rehandles_committed_events,
    poison_records_go_to_the_dlq_and_consumption_goes_on,
    headers_and_traceparent_round_trip,
    batch_of_100k_events,
);

/// The same keys land on the same partition numbers on Kafka (librdkafka's
/// `murmur2_random`) and on the embedded bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn murmur2_partitions_are_identical_on_kafka_and_embedded() {
    let kafka = kafka_bus().await;
    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedBus::open(dir.path()).unwrap();
    let topic = unique("same-partitions");
    for bus in [kafka.as_ref(), &embedded as &dyn EventBus] {
        bus.ensure_topics(&[TopicSpec::new(&topic, 12)])
            .await
            .unwrap();
    }
    let events: Vec<_> = murmur_keys()
        .into_iter()
        .map(|k| (k.clone().into_bytes(), envelope(&k, 0, 0)))
        .collect();
    let on_kafka = kafka.publish_batch(&topic, &events).await.unwrap();
    let on_embedded = embedded.publish_batch(&topic, &events).await.unwrap();
    let partitions =
        |ps: &[tracechain_bus::Position]| ps.iter().map(|p| p.partition).collect::<Vec<_>>();
    assert_eq!(partitions(&on_kafka), partitions(&on_embedded));
    let used: std::collections::BTreeSet<_> = partitions(&on_kafka).into_iter().collect();
    assert_eq!(used.len(), 12, "the keys spread over every partition");
}

/// A bus pointed at a port where nothing listens fails within its timeouts
/// and is dropped without hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_fails_within_the_timeouts() {
    let dead = free_port();
    let mut config = config(&format!("127.0.0.1:{dead}"));
    config.delivery_timeout = Duration::from_secs(2);
    config.request_timeout = Duration::from_secs(2);
    let bus = KafkaBus::connect(config).unwrap();

    let started = Instant::now();
    let err = bus
        .publish("anything", b"k", &envelope("k", 0, 0))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, BusError::Publish { .. }), "{err}");
    assert!(
        took < Duration::from_secs(5),
        "publish failed only after {took:?}"
    );
    println!("publish to a dead broker failed after {took:?}: {err}");

    let started = Instant::now();
    assert!(bus.ping(Duration::from_secs(1)).await.is_err());
    assert!(bus.partition_count("anything").await.is_err());
    assert!(
        bus.subscribe("g", &["anything"], ConsumerOptions::default())
            .await
            .is_err()
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    drop(bus);
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "drop blocked"
    );
}

/// A private tansu process (killed on drop), once it answers the bus.
async fn start_private_broker() -> PrivateBroker {
    let broker = PrivateBroker::start();
    let port = broker.port();
    let bus = KafkaBus::connect(config(&format!("127.0.0.1:{port}"))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while bus.ping(Duration::from_millis(500)).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "private tansu broker did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    broker
}

/// The broker dies while a producer and a group member are in use: publishes
/// fail within the delivery timeout (nothing acknowledged that the broker did
/// not take), commits and close fail or finish within the request timeout,
/// and drops return at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_lost_mid_flight_fails_cleanly_and_nothing_hangs() {
    let broker = start_private_broker().await;
    let mut config = config(&format!("127.0.0.1:{}", broker.port()));
    config.delivery_timeout = Duration::from_secs(3);
    config.request_timeout = Duration::from_secs(3);
    let bus = KafkaBus::connect(config).unwrap();
    let topic = unique("lost");
    bus.ensure_topics(&[TopicSpec::new(&topic, 2)])
        .await
        .unwrap();
    let before = bus
        .publish(&topic, b"k", &envelope("k", 0, 0))
        .await
        .unwrap();
    let mut consumer = bus
        .subscribe(&unique("lost"), &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    let mut got: Vec<Record> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the consumer never got the record"
        );
        got = consumer
            .poll_batch(10, Duration::from_millis(500))
            .await
            .unwrap();
    }
    assert_eq!(got[0].position(), before);

    drop(broker); // the broker is gone

    let started = Instant::now();
    let err = bus
        .publish(&topic, b"k", &envelope("k", 1, 0))
        .await
        .unwrap_err();
    let publish_took = started.elapsed();
    assert!(
        publish_took < Duration::from_secs(6),
        "publish failed after {publish_took:?}"
    );
    // A publish stream fails each record the same way, and ends.
    let started = Instant::now();
    let events = (2..5).map(|seq| StreamEvent::owned(b"k".to_vec(), envelope("k", seq, 0)));
    let outcomes: Vec<_> = bus
        .publish_stream(&topic, futures::stream::iter(events).boxed(), 2)
        .collect()
        .await;
    let stream_took = started.elapsed();
    assert_eq!(outcomes.len(), 3);
    for outcome in &outcomes {
        assert!(
            matches!(outcome, Err(BusError::Publish { .. })),
            "{outcome:?}"
        );
    }
    assert!(
        stream_took < Duration::from_secs(12),
        "the stream's records failed after {stream_took:?}"
    );

    let started = Instant::now();
    let commit = consumer.commit(&[got[0].position()]).await;
    let polled = consumer.poll_batch(10, Duration::from_millis(500)).await;
    let closed = consumer.close().await;
    let consumer_took = started.elapsed();
    assert!(
        consumer_took < Duration::from_secs(15),
        "commit+poll+close took {consumer_took:?}"
    );

    let started = Instant::now();
    drop(consumer);
    drop(bus);
    let drop_took = started.elapsed();
    assert!(
        drop_took < Duration::from_millis(200),
        "drop blocked for {drop_took:?}"
    );
    println!(
        "broker lost: publish failed after {publish_took:?} ({err}); commit {commit:?}, poll {:?}, close {closed:?} in {consumer_took:?}; drops {drop_took:?}",
        polled.map(|r| r.len())
    );
}

/// One publish stream lives through the broker's loss and return (tansu
/// with SQLite storage, which keeps its data and the producer sequences it
/// saw): records sent while the broker is gone fail, each on its own; once
/// it is back, later records of the same stream are acknowledged (on a
/// fresh producer: the old one's sequence numbers moved past what the
/// broker stored), and exactly the acknowledged records are on the topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_stream_fails_records_while_the_broker_is_gone_and_goes_on_after() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut broker = PrivateBroker::start_persistent(port, dir.path());
    let mut config = config(&format!("127.0.0.1:{port}"));
    config.delivery_timeout = Duration::from_secs(3);
    config.request_timeout = Duration::from_secs(3);
    let bus = KafkaBus::connect(config).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while bus.ping(Duration::from_millis(500)).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "private tansu broker did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let topic = unique("stream-lost");
    bus.ensure_topics(&[TopicSpec::new(&topic, 2)])
        .await
        .unwrap();

    let (input, events) = futures::channel::mpsc::unbounded();
    let mut outcomes = bus.publish_stream(&topic, events.boxed(), 8);
    let mut seq = 0;
    let mut send = |key: &str| {
        seq += 1;
        input
            .unbounded_send(StreamEvent::owned(
                key.as_bytes().to_vec(),
                envelope(key, seq, 0),
            ))
            .unwrap();
    };
    let mut acknowledged = Vec::new();
    for _ in 0..5 {
        send("k");
    }
    for _ in 0..5 {
        acknowledged.push(
            outcomes
                .next()
                .await
                .unwrap()
                .expect("broker up: acknowledged"),
        );
    }

    broker.kill();
    let started = Instant::now();
    for _ in 0..3 {
        send("k");
    }
    for _ in 0..3 {
        let outcome = outcomes.next().await.unwrap();
        assert!(
            matches!(outcome, Err(BusError::Publish { .. })),
            "broker gone: {outcome:?}"
        );
    }
    let failed_after = started.elapsed();
    assert!(
        failed_after < Duration::from_secs(8),
        "the records failed after {failed_after:?}"
    );

    broker.restart();
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut failures_after_restart = 0;
    loop {
        send("k");
        match outcomes.next().await.unwrap() {
            Ok(position) => {
                acknowledged.push(position);
                break;
            }
            Err(error) => {
                failures_after_restart += 1;
                assert!(
                    Instant::now() < deadline,
                    "no record acknowledged after the broker returned: {error}"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
    // The stream goes on normally.
    for _ in 0..5 {
        send("k");
    }
    for _ in 0..5 {
        acknowledged.push(outcomes.next().await.unwrap().expect("acknowledged"));
    }
    drop(input);
    assert!(
        outcomes.next().await.is_none(),
        "the stream ends with its input"
    );

    let partition = acknowledged[0].partition;
    let mut last = -1;
    for position in &acknowledged {
        assert_eq!(position.partition, partition, "one key, one partition");
        assert!(position.offset > last, "positions in order");
        last = position.offset;
    }
    let ends = bus.end_offsets(&topic).await.unwrap();
    assert_eq!(
        ends.values().sum::<i64>(),
        acknowledged.len() as i64,
        "exactly the acknowledged records are on the topic"
    );
    println!(
        "broker lost: 3 records failed after {failed_after:?}; {failures_after_restart} failed while it restarted; {} acknowledged",
        acknowledged.len()
    );
}

/// How long a new group member takes to join and get its first record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_join_time_is_measured() {
    let bus = kafka_bus().await;
    let topic = conformance::fresh_topic(bus.as_ref(), "join", 2).await;
    bus.publish(&topic, b"k", &envelope("k", 0, 0))
        .await
        .unwrap();
    let started = Instant::now();
    let mut consumer = bus
        .subscribe(&unique("join"), &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no record after a minute"
        );
        got = consumer
            .poll_batch(10, Duration::from_millis(200))
            .await
            .unwrap();
    }
    let joined = started.elapsed();
    let assignment = consumer.assignment().await.unwrap();
    println!(
        "[kafka] group join to first record: {joined:?} (session.timeout.ms=6000); assignment {assignment:?}"
    );
    consumer.close().await.unwrap();
    assert!(
        joined < Duration::from_secs(15),
        "group join took {joined:?}"
    );
}
