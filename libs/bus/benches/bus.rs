//! Bus throughput, printed beside its limit measured in the same run: events
//! per second through [`KafkaBus`] next to a bare rdkafka producer and
//! consumer loop against the same broker, and the same operations through
//! [`EmbeddedBus`] in a temporary directory.
//!
//! `cargo bench -p tracechain-bus --bench bus` (a broker must run:
//! `scripts/infra.sh up`; `KAFKA_BROKERS` overrides the address,
//! `BUS_BENCH_EVENTS` the event count, default 100 000, `BUS_BENCH_ROUNDS`
//! the rounds, default 3).
//!
//! Fair by construction:
//! - the bare producer has the librdkafka settings the bus gives its own
//!   (`kafka/config.rs`), sends the same canonical bytes under the same keys
//!   with as many headers, and keeps as many records in flight as the bus is
//!   given: [`CHUNK`] against `publish_batch` calls of [`CHUNK`] events,
//!   [`CONCURRENCY`] against that many concurrent `publish` calls;
//! - the bare consumer has the bus consumer's fetch settings and reads the
//!   very topic the bus consumers read; it neither copies nor decodes;
//! - consuming is timed from the first records received (a group join or a
//!   first fetch is printed apart, not counted);
//! - rounds are interleaved, each on fresh topics, and every figure, bare or
//!   ours, is the best of all rounds.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use tokio::task::JoinSet;
use tracechain_bus::headers as h;
use tracechain_bus::{
    ConsumerOptions, EmbeddedBus, EventBus, KafkaBus, KafkaConfig, Record, TopicSpec,
};
use tracechain_domain::{Envelope, EventType, TenantId};

/// Partitions of every topic, like a domain topic.
const PARTITIONS: i32 = 6;
/// Events per `publish_batch` call; records in flight in the bare loop it is compared with.
const CHUNK: usize = 1000;
/// Concurrent `publish` calls; records in flight in the bare loop it is compared with.
const CONCURRENCY: usize = 64;
/// Records per `poll_batch` (the consumer loop's default batch size).
const POLL_MAX: usize = 500;
/// Canonical envelope size aimed at, in bytes.
const EVENT_BYTES: usize = 300;
/// Distinct keys (aggregates).
const KEYS: usize = 1000;
/// The bus must reach this share of the bare rate.
const TARGET: f64 = 0.8;
/// Longest wait for one consumer to read everything.
const CONSUME_BOUND: Duration = Duration::from_secs(60);

/// The events of the run, in every form a publisher needs.
struct Events {
    /// `(key, envelope)` as services hand them to the bus.
    pairs: Vec<(Vec<u8>, Envelope)>,
    /// Each envelope's canonical bytes: what the bare producer sends.
    payloads: Vec<Vec<u8>>,
    /// Each envelope's id, as the `tc-event-id` header carries it.
    ids: Vec<String>,
}

impl Events {
    fn new(n: usize) -> Events {
        let parties: BTreeSet<TenantId> = [TenantId::parse("acme").expect("a valid tenant id")]
            .into_iter()
            .collect();
        let event_type = EventType::parse("shipment.scanned").expect("a valid event type");
        let make = |i: usize, pad: usize| {
            let key = format!("aggregate-{}", i % KEYS);
            let envelope = Envelope::new(
                event_type.clone(),
                key.clone(),
                "bus-bench",
                parties.clone(),
                json!({"seq": i, "pad": "x".repeat(pad)}),
            );
            (key.into_bytes(), envelope)
        };
        let bare = make(n / 2, 0).1.canonical_bytes().expect("canonical").len();
        let pad = EVENT_BYTES.saturating_sub(bare);
        let pairs: Vec<_> = (0..n).map(|i| make(i, pad)).collect();
        let payloads: Vec<Vec<u8>> = pairs
            .iter()
            .map(|(_, e)| e.canonical_bytes().expect("canonical"))
            .collect();
        let ids = pairs.iter().map(|(_, e)| e.id().to_string()).collect();
        Events {
            pairs,
            payloads,
            ids,
        }
    }

    fn len(&self) -> usize {
        self.pairs.len()
    }

    fn mean_size(&self) -> f64 {
        self.payloads.iter().map(Vec::len).sum::<usize>() as f64 / self.len().max(1) as f64
    }

    /// The headers the bus writes for event `i` (without a `traceparent`: no span is traced here).
    fn headers(&self, i: usize) -> OwnedHeaders {
        let envelope = &self.pairs[i].1;
        let version = envelope.schema_version().to_string();
        OwnedHeaders::new_with_capacity(4)
            .insert(Header {
                key: h::EVENT_ID,
                value: Some(&self.ids[i]),
            })
            .insert(Header {
                key: h::EVENT_TYPE,
                value: Some(envelope.event_type().as_str()),
            })
            .insert(Header {
                key: h::SCHEMA_VERSION,
                value: Some(&version),
            })
            .insert(Header {
                key: h::CONTENT_TYPE,
                value: Some(h::CONTENT_TYPE_JSON),
            })
    }
}

/// Best rate per figure over the rounds, in the order first measured.
#[derive(Default)]
struct Figures(Vec<(String, f64)>);

impl Figures {
    /// Prints one measurement and keeps the best rate of `name`.
    fn record(&mut self, name: &str, events: usize, elapsed: Duration) {
        let rate = events as f64 / elapsed.as_secs_f64().max(1e-9);
        println!("  {name:<44} {events:>8} events in {elapsed:>10.3?}  {rate:>10.0} events/s");
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, best)) => *best = best.max(rate),
            None => self.0.push((name.to_owned(), rate)),
        }
    }

    fn best(&self, name: &str) -> f64 {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0.0, |(_, r)| *r)
    }
}

// --- Bare rdkafka -------------------------------------------------------------

/// The properties `KafkaBus` sets on its producer, with `KafkaConfig::new`'s values.
fn bare_producer(brokers: &str) -> FutureProducer {
    let defaults = KafkaConfig::new(brokers);
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("client.id", "bus-bench-bare-producer")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", defaults.linger.as_millis().to_string())
        .set("batch.num.messages", defaults.max_batch_records.to_string())
        .set(
            "message.timeout.ms",
            defaults.delivery_timeout.as_millis().to_string(),
        )
        .set(
            "request.timeout.ms",
            defaults.request_timeout.as_millis().to_string(),
        )
        .create()
        .expect("bare producer")
}

async fn acked(future: DeliveryFuture) {
    match future.await {
        Ok(Ok(_)) => {}
        Ok(Err((error, _))) => panic!("bare delivery failed: {error}"),
        Err(_) => panic!("bare producer dropped a delivery report"),
    }
}

/// Sends every event with at most `window` unacknowledged; returns once all are acknowledged.
async fn bare_publish(
    producer: &FutureProducer,
    topic: &str,
    events: &Events,
    window: usize,
) -> Duration {
    let started = Instant::now();
    let mut in_flight: VecDeque<DeliveryFuture> = VecDeque::with_capacity(window);
    for (i, payload) in events.payloads.iter().enumerate() {
        if in_flight.len() >= window
            && let Some(oldest) = in_flight.pop_front()
        {
            acked(oldest).await;
        }
        let mut record = FutureRecord::to(topic)
            .key(events.pairs[i].0.as_slice())
            .payload(payload.as_slice())
            .headers(events.headers(i));
        loop {
            match producer.send_result(record) {
                Ok(future) => {
                    in_flight.push_back(future);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    // The queue cannot be full of nothing: some are in flight.
                    acked(in_flight.pop_front().expect("records in flight")).await;
                }
                Err((error, _)) => panic!("bare send failed: {error}"),
            }
        }
    }
    for future in in_flight {
        acked(future).await;
    }
    started.elapsed()
}

/// The fetch settings of the bus's consumers, on a consumer assigned every
/// partition of `topic` from offset 0. Polls until `n` records came, touching
/// each payload; returns the time from the first poll that returned a record
/// and the records after it.
fn bare_consume(brokers: &str, topic: &str, n: usize) -> (usize, Duration) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("client.id", "bus-bench-bare-consumer")
        .set("group.id", unique("bench-bare"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("bare consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(topic, p, Offset::Offset(0))
            .expect("partition offset");
    }
    consumer.assign(&list).expect("assign");
    let deadline = Instant::now() + CONSUME_BOUND;
    let mut count = 0;
    let mut first: Option<Instant> = None;
    while count < n {
        assert!(
            Instant::now() < deadline,
            "bare consumer: {count} of {n} in {CONSUME_BOUND:?}"
        );
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => {
                black_box(message.payload().map(<[u8]>::len));
                count += 1;
                first.get_or_insert_with(Instant::now);
            }
            Some(Err(error)) => eprintln!("bare consumer: {error}"),
            None => {}
        }
    }
    let first = first.unwrap_or_else(Instant::now);
    (n.saturating_sub(1), first.elapsed())
}

// --- Through the bus ------------------------------------------------------------

async fn bus_publish_batch(bus: &dyn EventBus, topic: &str, events: &Events) -> Duration {
    let started = Instant::now();
    for chunk in events.pairs.chunks(CHUNK) {
        let positions = bus
            .publish_batch(topic, chunk)
            .await
            .expect("publish_batch");
        assert_eq!(positions.len(), chunk.len());
    }
    started.elapsed()
}

async fn bus_publish_concurrent(
    bus: &Arc<dyn EventBus>,
    topic: &str,
    events: &Arc<Events>,
) -> Duration {
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for worker in 0..CONCURRENCY {
        let (bus, events, topic) = (Arc::clone(bus), Arc::clone(events), topic.to_owned());
        tasks.spawn(async move {
            let mut i = worker;
            while i < events.len() {
                let (key, envelope) = &events.pairs[i];
                bus.publish(&topic, key, envelope).await.expect("publish");
                i += CONCURRENCY;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a publishing task panicked");
    }
    started.elapsed()
}

/// Timing of a consumer: time to the first records, then the records after
/// them and the time they took.
struct Consumed {
    startup: Duration,
    counted: usize,
    elapsed: Duration,
}

/// Counts records until `n` came, from when it was created.
struct Tally {
    n: usize,
    called: Instant,
    count: usize,
    /// When the first records came, and how many.
    first: Option<(Instant, usize)>,
}

impl Tally {
    fn new(n: usize) -> Tally {
        Tally {
            n,
            called: Instant::now(),
            count: 0,
            first: None,
        }
    }

    /// Whether all came; panics past [`CONSUME_BOUND`].
    fn done(&self) -> bool {
        assert!(
            self.called.elapsed() < CONSUME_BOUND,
            "{} of {} consumed in {CONSUME_BOUND:?}",
            self.count,
            self.n
        );
        self.count >= self.n
    }

    fn add(&mut self, got: usize) {
        self.count += got;
        if got > 0 && self.first.is_none() {
            self.first = Some((Instant::now(), got));
        }
    }

    fn finish(self) -> Consumed {
        let (first, first_batch) = self.first.unwrap_or((self.called, 0));
        Consumed {
            startup: first - self.called,
            counted: self.count - first_batch,
            elapsed: first.elapsed(),
        }
    }
}

/// A group member that decodes each record's envelope and commits each batch.
async fn bus_group_consume(bus: &dyn EventBus, topic: &str, n: usize) -> Consumed {
    bus_group_consume_x(bus, topic, n, true, true).await
}
async fn bus_group_consume_x(bus: &dyn EventBus, topic: &str, n: usize, decode: bool, commit: bool) -> Consumed {
    let options = ConsumerOptions {
        session_timeout: Some(Duration::from_secs(6)),
        ..ConsumerOptions::default()
    };
    let mut consumer = bus
        .subscribe(&unique("bench-group"), &[topic], options)
        .await
        .expect("subscribe");
    let mut tally = Tally::new(n);
    while !tally.done() {
        let batch = consumer
            .poll_batch(POLL_MAX, Duration::from_secs(1))
            .await
            .expect("poll_batch");
        let t = Instant::now();
        if decode { for record in &batch {
            black_box(record.envelope().expect("an envelope"));
        } }
        DEC.fetch_add(t.elapsed().as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
        let t = Instant::now();
        if commit {
        let handled: Vec<_> = batch.iter().map(Record::position).collect();
        consumer.commit(&handled).await.expect("commit"); }
        COM.fetch_add(t.elapsed().as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
        tally.add(batch.len());
    }
    let consumed = tally.finish();
    consumer.close().await.expect("close");
    consumed
}

/// A reader of every partition from offset 0; records are not decoded.
async fn bus_read(bus: &dyn EventBus, topic: &str, n: usize) -> Consumed {
    let start: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    let mut tally = Tally::new(n);
    let mut reader = bus.reader(topic, &start).await.expect("reader");
    while !tally.done() {
        let batch = reader
            .poll_batch(POLL_MAX, Duration::from_secs(1))
            .await
            .expect("reader poll_batch");
        tally.add(black_box(batch).len());
    }
    tally.finish()
}

static DEC: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static COM: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

async fn fresh_topics(bus: &dyn EventBus, prefix: &str, count: usize) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|_| unique(prefix)).collect();
    let specs: Vec<TopicSpec> = names
        .iter()
        .map(|n| TopicSpec::new(n, PARTITIONS))
        .collect();
    bus.ensure_topics(&specs).await.expect("ensure_topics");
    names
}

// --- The figures ------------------------------------------------------------------

const BARE_BATCH: &str = "bare producer, 1000 in flight";
const BUS_BATCH: &str = "KafkaBus publish_batch (1000/call)";
const BARE_SINGLE: &str = "bare producer, 64 in flight";
const BUS_SINGLE: &str = "KafkaBus publish, 64 concurrent";
const BARE_CONSUME: &str = "bare consumer (assign, no decode)";
const BUS_GROUP: &str = "KafkaBus subscribe+decode+commit";
const BUS_READER: &str = "KafkaBus reader (no decode)";

/// One round against the broker: both publishers on fresh topics, then every
/// consumer of the topic `publish_batch` wrote.
async fn kafka_round(
    brokers: &str,
    bus: &Arc<dyn EventBus>,
    producer: &FutureProducer,
    events: &Arc<Events>,
    figures: &mut Figures,
) -> Vec<String> {
    let n = events.len();
    let topics = fresh_topics(bus.as_ref(), "bench-bus", 4).await;
    let [bare_batch, bus_batch, bare_single, bus_single] = &topics[..] else {
        unreachable!("four topics were created")
    };

    figures.record(
        BARE_BATCH,
        n,
        bare_publish(producer, bare_batch, events, CHUNK).await,
    );
    figures.record(
        BUS_BATCH,
        n,
        bus_publish_batch(bus.as_ref(), bus_batch, events).await,
    );
    figures.record(
        BARE_SINGLE,
        n,
        bare_publish(producer, bare_single, events, CONCURRENCY).await,
    );
    figures.record(
        BUS_SINGLE,
        n,
        bus_publish_concurrent(bus, bus_single, events).await,
    );

    let (brokers_owned, topic) = (brokers.to_owned(), bus_batch.clone());
    let (counted, elapsed) =
        tokio::task::spawn_blocking(move || bare_consume(&brokers_owned, &topic, n))
            .await
            .expect("bare consumer thread");
    figures.record(BARE_CONSUME, counted, elapsed);
    for (d, c) in [(false, false), (true, false), (false, true), (true, true)] {
        DEC.store(0, std::sync::atomic::Ordering::Relaxed); COM.store(0, std::sync::atomic::Ordering::Relaxed);
        let g = bus_group_consume_x(bus.as_ref(), bus_batch, n, d, c).await;
        println!("  X decode={d} commit={c}: {} in {:?} = {:.0}/s; decode {} ms commit {} ms", g.counted, g.elapsed, g.counted as f64 / g.elapsed.as_secs_f64(), DEC.load(std::sync::atomic::Ordering::Relaxed)/1000, COM.load(std::sync::atomic::Ordering::Relaxed)/1000);
    }
    let group = bus_group_consume(bus.as_ref(), bus_batch, n).await;
    println!("  (group join: {:.2?})", group.startup);
    figures.record(BUS_GROUP, group.counted, group.elapsed);
    let read = bus_read(bus.as_ref(), bus_batch, n).await;
    figures.record(BUS_READER, read.counted, read.elapsed);
    topics
}

async fn embedded_round(bus: &Arc<dyn EventBus>, events: &Arc<Events>, figures: &mut Figures) {
    let n = events.len();
    let topics = fresh_topics(bus.as_ref(), "bench-embedded", 2).await;
    let (batch, single) = (&topics[0], &topics[1]);
    figures.record(
        "EmbeddedBus publish_batch (1000/call)",
        n,
        bus_publish_batch(bus.as_ref(), batch, events).await,
    );
    figures.record(
        "EmbeddedBus publish, 64 concurrent",
        n,
        bus_publish_concurrent(bus, single, events).await,
    );
    let group = bus_group_consume(bus.as_ref(), batch, n).await;
    figures.record(
        "EmbeddedBus subscribe+decode+commit",
        group.counted,
        group.elapsed,
    );
    let read = bus_read(bus.as_ref(), batch, n).await;
    figures.record("EmbeddedBus reader (no decode)", read.counted, read.elapsed);
}

/// Deletes the run's topics from the broker (best effort: the broker keeps them in memory).
async fn delete_topics(brokers: &str, topics: &[String]) {
    let admin: AdminClient<DefaultClientContext> = match ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
    {
        Ok(admin) => admin,
        Err(error) => return eprintln!("topics left on the broker: {error}"),
    };
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    if let Err(error) = admin.delete_topics(&names, &options).await {
        eprintln!("topics left on the broker: {error}");
    }
}

fn verdict(bare: &str, ours: &str, figures: &Figures) {
    let (b, o) = (figures.best(bare), figures.best(ours));
    let ratio = o / b.max(1e-9);
    let mark = if ratio >= TARGET { "PASS" } else { "MISS" };
    println!(
        "{ours:<36} {o:>9.0}/s   {bare:<34} {b:>9.0}/s   {:>5.1}%  {mark}",
        ratio * 100.0
    );
}

fn main() {
    let n: usize = std::env::var("BUS_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rounds: usize = std::env::var("BUS_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let events = Arc::new(Events::new(n));
        println!(
            "bus throughput, {n} events of {:.0} B canonical envelopes (+4 headers), {PARTITIONS} partitions, best of {rounds} rounds",
            events.mean_size()
        );

        let mut config = KafkaConfig::new(&brokers);
        config.client_id = "bus-bench".to_owned();
        config.session_timeout = Duration::from_secs(6);
        let kafka = KafkaBus::connect(config).expect("kafka bus");
        if let Err(error) = kafka.ping(Duration::from_secs(5)).await {
            panic!("no Kafka broker answers at {brokers} ({error}): run `scripts/infra.sh up`");
        }
        let kafka: Arc<dyn EventBus> = Arc::new(kafka);
        let producer = bare_producer(&brokers);
        let mut figures = Figures::default();
        let mut topics = Vec::new();
        for round in 1..=rounds {
            println!("kafka round {round}");
            topics.extend(kafka_round(&brokers, &kafka, &producer, &events, &mut figures).await);
        }
        delete_topics(&brokers, &topics).await;

        let dir = tempfile::tempdir().expect("temp dir");
        let embedded: Arc<dyn EventBus> =
            Arc::new(EmbeddedBus::open(dir.path()).expect("embedded bus"));
        for round in 1..=rounds {
            println!("embedded round {round}");
            embedded_round(&embedded, &events, &mut figures).await;
        }

        println!();
        println!(
            "best of {rounds}: ours beside the bare limit (target: >= {:.0}%)",
            TARGET * 100.0
        );
        verdict(BARE_BATCH, BUS_BATCH, &figures);
        verdict(BARE_SINGLE, BUS_SINGLE, &figures);
        verdict(BARE_CONSUME, BUS_GROUP, &figures);
        verdict(BARE_CONSUME, BUS_READER, &figures);
        for (name, rate) in figures.0.iter().filter(|(n, _)| n.starts_with("Embedded")) {
            println!("{name:<36} {rate:>9.0}/s   (no bare baseline)");
        }
    });
}
