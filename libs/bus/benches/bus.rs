//! Bus throughput, printed beside its limit measured in the same run: events
//! per second through [`KafkaBus`] next to bare rdkafka producer and consumer
//! loops against the same broker, and the same operations through
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
//!   with the same four headers, and is given the concurrency the bus is
//!   given. Against `publish_batch` calls of [`CHUNK`] events it runs twice:
//!   in the same shape ([`CHUNK`] sent, all acknowledged, repeat) and as a
//!   sliding window of [`CHUNK`] in flight, which no sequence of calls that
//!   each wait for their acknowledgements can reach (the limit). A
//!   `publish_stream` with a window of [`CHUNK`] (or [`CHUNK`] ×
//!   [`BATCH_CALLERS`]) is compared with the sliding window of the same
//!   size. Against [`CONCURRENCY`] concurrent `publish` calls it keeps
//!   [`CONCURRENCY`] in flight;
//! - a publish stream is given the run's events borrowed, as
//!   `publish_batch` is (and as the bare producer's bytes are made before
//!   its clock starts);
//! - single publishes wait for linger and an acknowledgement each, so their
//!   rate is latency-bound: they are measured on a quarter of the events;
//! - the bare consumer has the bus consumers' fetch settings and reads the
//!   very topic they read; it neither copies nor decodes records;
//! - consuming is timed from the first records received (a group join or a
//!   first fetch is printed apart, not counted);
//! - rounds run on fresh topics (UUIDv7 names); a bus figure runs next to
//!   the bare figures it is compared with (the broker slows down as it
//!   fills up over a run), their order rotates from round to round, and
//!   every figure, bare or ours, is the best of all rounds.
//!
//! The run's topics are left on the broker: deleting them at the end made
//! this process crash in librdkafka's metadata cache
//! (`rd_kafka_metadata_cache_find`) about every other run against tansu
//! 0.6.0, which did not give the memory back anyway.

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::channel::oneshot::Canceled;
use futures::stream::FuturesUnordered;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;
use tokio::task::JoinSet;
use tracechain_bus::headers as h;
use tracechain_bus::{
    ConsumerOptions, EmbeddedBus, EventBus, KafkaBus, KafkaConfig, Record, StreamEvent, TopicSpec,
};
use tracechain_domain::{Envelope, EventType, TenantId};

/// Partitions of every topic, like a domain topic.
const PARTITIONS: i32 = 6;
/// Events per `publish_batch` call, and records in flight in the bare loops compared with it.
const CHUNK: usize = 1000;
/// Concurrent `publish` calls, and records in flight in the bare loop compared with them.
const CONCURRENCY: usize = 64;
/// Single publishes are measured on `1 / SINGLES_SHARE` of the events.
const SINGLES_SHARE: usize = 4;
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
        let unpadded = make(n / 2, 0).1.canonical_bytes().expect("canonical");
        let pad = EVENT_BYTES.saturating_sub(unpadded.len());
        let pairs: Vec<_> = (0..n).map(|i| make(i, pad)).collect();
        let payloads = pairs
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

    /// Event `i` as the bus puts it on the wire (without a `traceparent`:
    /// nothing is traced here, so the bus adds none either).
    fn record<'a>(&'a self, topic: &'a str, i: usize) -> FutureRecord<'a, [u8], [u8]> {
        let envelope = &self.pairs[i].1;
        let version = envelope.schema_version().to_string();
        let headers = OwnedHeaders::new_with_capacity(4)
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
            });
        FutureRecord::to(topic)
            .key(self.pairs[i].0.as_slice())
            .payload(self.payloads[i].as_slice())
            .headers(headers)
    }
}

/// Best rate per figure over the rounds, in the order first measured.
#[derive(Default)]
struct Figures(Vec<(&'static str, f64)>);

impl Figures {
    /// Prints one measurement and keeps the best rate of `name`.
    fn record(&mut self, name: &'static str, events: usize, elapsed: Duration) {
        let rate = events as f64 / elapsed.as_secs_f64().max(1e-9);
        println!("  {name:<44} {events:>7} events in {elapsed:>10.3?} {rate:>10.0} events/s");
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, best)) => *best = best.max(rate),
            None => self.0.push((name, rate)),
        }
    }

    fn best(&self, name: &str) -> f64 {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0.0, |(_, r)| *r)
    }
}

// --- Bare rdkafka -------------------------------------------------------------

/// The properties `KafkaBus` sets on its producer, with `KafkaConfig::new`'s values.
fn bare_producer(brokers: &str) -> FutureProducer {
    let defaults = KafkaConfig::new(brokers);
    let millis = |d: Duration| d.as_millis().to_string();
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("client.id", "bus-bench-bare-producer")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", millis(defaults.linger))
        .set("batch.num.messages", defaults.max_batch_records.to_string())
        .set("message.timeout.ms", millis(defaults.delivery_timeout))
        .set("request.timeout.ms", millis(defaults.request_timeout))
        .create()
        .expect("bare producer")
}

fn acked(report: Result<OwnedDeliveryResult, Canceled>) {
    match report {
        Ok(Ok(_)) => {}
        Ok(Err((error, _))) => panic!("bare delivery failed: {error}"),
        Err(_) => panic!("the bare producer dropped a delivery report"),
    }
}

/// Hands `record` to the producer, making room by waiting for an
/// acknowledgement when its queue is full.
async fn send(
    producer: &FutureProducer,
    mut record: FutureRecord<'_, [u8], [u8]>,
    in_flight: &mut FuturesUnordered<DeliveryFuture>,
) {
    loop {
        match producer.send_result(record) {
            Ok(future) => return in_flight.push(future),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                // A full queue holds records, so some are in flight.
                acked(in_flight.next().await.expect("records in flight"));
            }
            Err((error, _)) => panic!("bare send failed: {error}"),
        }
    }
}

/// Sends the first `n` events with at most `window` unacknowledged (the next
/// goes out as soon as any is acknowledged); returns once all are.
async fn bare_window(
    producer: &FutureProducer,
    topic: &str,
    events: &Events,
    n: usize,
    window: usize,
) -> Duration {
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for i in 0..n {
        if in_flight.len() >= window
            && let Some(report) = in_flight.next().await
        {
            acked(report);
        }
        send(producer, events.record(topic, i), &mut in_flight).await;
    }
    while let Some(report) = in_flight.next().await {
        acked(report);
    }
    started.elapsed()
}

/// Sends the events [`CHUNK`] at a time, each chunk acknowledged before the
/// next: the shape of sequential `publish_batch` calls.
async fn bare_chunks(producer: &FutureProducer, topic: &str, events: &Events) -> Duration {
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for start in (0..events.len()).step_by(CHUNK) {
        for i in start..(start + CHUNK).min(events.len()) {
            send(producer, events.record(topic, i), &mut in_flight).await;
        }
        while let Some(report) = in_flight.next().await {
            acked(report);
        }
    }
    started.elapsed()
}

/// A consumer with the fetch settings of the bus's consumers, assigned every
/// partition of `topic` from offset 0, polled until `n` records came; each
/// payload is touched, nothing is copied or decoded.
fn bare_consume(brokers: &str, topic: &str, n: usize) -> Consumed {
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
            .expect("a partition offset");
    }
    consumer.assign(&list).expect("assign");
    let mut tally = Tally::new(n);
    while !tally.done() {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => {
                black_box(message.payload().map(<[u8]>::len));
                tally.add(1);
            }
            Some(Err(error)) => eprintln!("bare consumer: {error}"),
            None => {}
        }
    }
    tally.finish()
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

/// Every event through one `publish_stream` keeping up to `window` records
/// in flight.
async fn bus_publish_stream(
    bus: &dyn EventBus,
    topic: &str,
    events: &Events,
    window: usize,
) -> Duration {
    let started = Instant::now();
    let input = futures::stream::iter(events.pairs.iter().map(StreamEvent::from));
    let mut outcomes = bus.publish_stream(topic, input.boxed(), window);
    let mut count = 0;
    while let Some(outcome) = outcomes.next().await {
        outcome.expect("publish_stream");
        count += 1;
    }
    let elapsed = started.elapsed();
    assert_eq!(count, events.len());
    elapsed
}

/// Callers of `publish_batch` at once in the concurrent case: a service
/// publishes from many requests at once, and their waits overlap.
const BATCH_CALLERS: usize = 4;

/// Every event through [`BATCH_CALLERS`] tasks, each taking the next chunk
/// of [`CHUNK`] events and calling `publish_batch` with it.
async fn bus_publish_batch_concurrent(
    bus: &Arc<dyn EventBus>,
    topic: &str,
    events: &Arc<Events>,
) -> Duration {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let chunks = events.pairs.len().div_ceil(CHUNK);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..BATCH_CALLERS {
        let (bus, events, next, topic) = (
            Arc::clone(bus),
            Arc::clone(events),
            Arc::clone(&next),
            topic.to_owned(),
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= chunks {
                    return;
                }
                let chunk = &events.pairs[i * CHUNK..((i + 1) * CHUNK).min(events.pairs.len())];
                let positions = bus
                    .publish_batch(&topic, chunk)
                    .await
                    .expect("publish_batch");
                assert_eq!(positions.len(), chunk.len());
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("a publishing task panicked");
    }
    started.elapsed()
}

/// The first `n` events through [`CONCURRENCY`] tasks calling `publish`.
async fn bus_publish_concurrent(
    bus: &Arc<dyn EventBus>,
    topic: &str,
    events: &Arc<Events>,
    n: usize,
) -> Duration {
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for worker in 0..CONCURRENCY {
        let (bus, events, topic) = (Arc::clone(bus), Arc::clone(events), topic.to_owned());
        tasks.spawn(async move {
            for (key, envelope) in events.pairs[..n].iter().skip(worker).step_by(CONCURRENCY) {
                bus.publish(&topic, key, envelope).await.expect("publish");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a publishing task panicked");
    }
    started.elapsed()
}

/// A consumer's timing: how long until its first records, then how many
/// came after them and in how long.
struct Consumed {
    startup: Duration,
    counted: usize,
    elapsed: Duration,
}

/// Counts records until `n` came, from when it was created.
struct Tally {
    n: usize,
    created: Instant,
    count: usize,
    /// When the first records came, and how many.
    first: Option<(Instant, usize)>,
}

impl Tally {
    fn new(n: usize) -> Tally {
        Tally {
            n,
            created: Instant::now(),
            count: 0,
            first: None,
        }
    }

    /// Whether all came; panics past [`CONSUME_BOUND`].
    fn done(&self) -> bool {
        assert!(
            self.created.elapsed() < CONSUME_BOUND,
            "{} of {} events consumed in {CONSUME_BOUND:?}",
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
        let (first, first_batch) = self.first.unwrap_or((self.created, 0));
        Consumed {
            startup: first - self.created,
            counted: self.count - first_batch,
            elapsed: first.elapsed(),
        }
    }
}

/// A group member that decodes every record's envelope and commits each batch.
async fn bus_group_consume(bus: &dyn EventBus, topic: &str, n: usize) -> Consumed {
    let options = ConsumerOptions {
        session_timeout: Some(Duration::from_secs(6)),
        ..ConsumerOptions::default()
    };
    let mut tally = Tally::new(n);
    let mut consumer = bus
        .subscribe(&unique("bench-group"), &[topic], options)
        .await
        .expect("subscribe");
    while !tally.done() {
        let batch = consumer
            .poll_batch(POLL_MAX, Duration::from_secs(1))
            .await
            .expect("poll_batch");
        for record in &batch {
            black_box(record.envelope().expect("an envelope"));
        }
        let handled: Vec<_> = batch.iter().map(Record::position).collect();
        consumer.commit(&handled).await.expect("commit");
        tally.add(batch.len());
    }
    consumer.close().await.expect("close");
    tally.finish()
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

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

async fn fresh_topic(bus: &dyn EventBus, prefix: &str) -> String {
    let name = unique(prefix);
    bus.ensure_topics(&[TopicSpec::new(&name, PARTITIONS)])
        .await
        .expect("ensure_topics");
    name
}

/// `items` rotated left by `round`: who goes first changes from round to round.
fn rotated<T: Copy>(items: &[T], round: usize) -> Vec<T> {
    let mut items = items.to_vec();
    if !items.is_empty() {
        let by = round % items.len();
        items.rotate_left(by);
    }
    items
}

// --- The rounds -------------------------------------------------------------------

const BARE_WINDOW: &str = "bare producer, 1000 in flight";
const BARE_WINDOW_WIDE: &str = "bare producer, 4000 in flight";
const BARE_CHUNKS: &str = "bare producer, 1000 then wait, repeat";
const BUS_BATCH: &str = "KafkaBus publish_batch, 1000 per call";
const BUS_BATCH_CONCURRENT: &str = "KafkaBus publish_batch, 4 callers";
const BUS_STREAM: &str = "KafkaBus publish_stream, 1000 in flight";
const BUS_STREAM_WIDE: &str = "KafkaBus publish_stream, 4000 in flight";
const BARE_SINGLE: &str = "bare producer, 64 in flight";
const BUS_SINGLE: &str = "KafkaBus publish, 64 concurrent calls";
const BARE_CONSUME: &str = "bare consumer (no copy, no decode)";
const BUS_GROUP: &str = "KafkaBus subscribe + decode + commit";
const BUS_READER: &str = "KafkaBus reader (no decode)";
const EMBEDDED_BATCH: &str = "EmbeddedBus publish_batch, 1000 per call";
const EMBEDDED_STREAM: &str = "EmbeddedBus publish_stream, 1000 in flight";
const EMBEDDED_SINGLE: &str = "EmbeddedBus publish, 64 concurrent calls";
const EMBEDDED_GROUP: &str = "EmbeddedBus subscribe + decode + commit";
const EMBEDDED_READER: &str = "EmbeddedBus reader (no decode)";

/// What a Kafka round needs.
struct KafkaLeg {
    brokers: String,
    bus: Arc<dyn EventBus>,
    producer: FutureProducer,
    events: Arc<Events>,
}

impl KafkaLeg {
    /// One round: every publisher on a topic of its own, then every consumer
    /// of the topic `publish_batch` filled.
    async fn round(&self, round: usize, figures: &mut Figures) {
        let (bus, events, n) = (self.bus.as_ref(), &self.events, self.events.len());
        let singles = n / SINGLES_SHARE;
        let batch_topic = fresh_topic(bus, "bench-bus").await;
        // Each figure runs next to the bare figures it is compared with:
        // the broker slows down as it fills up over a run.
        let one_window = [BARE_CHUNKS, BUS_BATCH, BARE_WINDOW, BUS_STREAM];
        let wide_window = [BARE_WINDOW_WIDE, BUS_BATCH_CONCURRENT, BUS_STREAM_WIDE];
        let groups = [&one_window[..], &wide_window[..]];
        let publishers = rotated(&groups, round)
            .into_iter()
            .flat_map(|group| rotated(group, round));
        for name in publishers {
            let elapsed = match name {
                BARE_WINDOW_WIDE => {
                    let topic = fresh_topic(bus, "bench-bare").await;
                    let window = CHUNK * BATCH_CALLERS;
                    bare_window(&self.producer, &topic, events, n, window).await
                }
                BUS_BATCH_CONCURRENT => {
                    let topic = fresh_topic(bus, "bench-bus").await;
                    bus_publish_batch_concurrent(&self.bus, &topic, events).await
                }
                BARE_WINDOW => {
                    let topic = fresh_topic(bus, "bench-bare").await;
                    bare_window(&self.producer, &topic, events, n, CHUNK).await
                }
                BARE_CHUNKS => {
                    let topic = fresh_topic(bus, "bench-bare").await;
                    bare_chunks(&self.producer, &topic, events).await
                }
                BUS_STREAM => {
                    let topic = fresh_topic(bus, "bench-bus").await;
                    bus_publish_stream(bus, &topic, events, CHUNK).await
                }
                BUS_STREAM_WIDE => {
                    let topic = fresh_topic(bus, "bench-bus").await;
                    let window = CHUNK * BATCH_CALLERS;
                    bus_publish_stream(bus, &topic, events, window).await
                }
                _ => bus_publish_batch(bus, &batch_topic, events).await,
            };
            figures.record(name, n, elapsed);
        }
        for name in rotated(&[BARE_SINGLE, BUS_SINGLE], round) {
            let topic = fresh_topic(bus, "bench-single").await;
            let elapsed = match name {
                BARE_SINGLE => {
                    bare_window(&self.producer, &topic, events, singles, CONCURRENCY).await
                }
                _ => bus_publish_concurrent(&self.bus, &topic, events, singles).await,
            };
            figures.record(name, singles, elapsed);
        }
        for name in rotated(&[BARE_CONSUME, BUS_GROUP, BUS_READER], round) {
            let consumed = match name {
                BARE_CONSUME => {
                    let (brokers, topic) = (self.brokers.clone(), batch_topic.clone());
                    tokio::task::spawn_blocking(move || bare_consume(&brokers, &topic, n))
                        .await
                        .expect("the bare consumer panicked")
                }
                BUS_GROUP => {
                    let consumed = bus_group_consume(bus, &batch_topic, n).await;
                    println!(
                        "  (group joined, first records after {:.2?})",
                        consumed.startup
                    );
                    consumed
                }
                _ => bus_read(bus, &batch_topic, n).await,
            };
            figures.record(name, consumed.counted, consumed.elapsed);
        }
    }
}

async fn embedded_round(bus: &Arc<dyn EventBus>, events: &Arc<Events>, figures: &mut Figures) {
    let n = events.len();
    let batch_topic = fresh_topic(bus.as_ref(), "bench-embedded").await;
    let single_topic = fresh_topic(bus.as_ref(), "bench-embedded").await;
    let stream_topic = fresh_topic(bus.as_ref(), "bench-embedded").await;
    let elapsed = bus_publish_batch(bus.as_ref(), &batch_topic, events).await;
    figures.record(EMBEDDED_BATCH, n, elapsed);
    let elapsed = bus_publish_stream(bus.as_ref(), &stream_topic, events, CHUNK).await;
    figures.record(EMBEDDED_STREAM, n, elapsed);
    let singles = n / SINGLES_SHARE;
    let elapsed = bus_publish_concurrent(bus, &single_topic, events, singles).await;
    figures.record(EMBEDDED_SINGLE, singles, elapsed);
    let consumed = bus_group_consume(bus.as_ref(), &batch_topic, n).await;
    figures.record(EMBEDDED_GROUP, consumed.counted, consumed.elapsed);
    let consumed = bus_read(bus.as_ref(), &batch_topic, n).await;
    figures.record(EMBEDDED_READER, consumed.counted, consumed.elapsed);
}

fn verdict(figures: &Figures, ours: &str, bare: &str) {
    let (o, b) = (figures.best(ours), figures.best(bare));
    let ratio = o / b.max(1e-9);
    let mark = if ratio >= TARGET { "PASS" } else { "MISS" };
    println!(
        "{ours:<42} {o:>9.0}/s  {bare:<38} {b:>9.0}/s {:>6.1}%  {mark}",
        ratio * 100.0
    );
}

fn main() {
    let n: usize = std::env::var("BUS_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
        .max(SINGLES_SHARE);
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
        let started = Instant::now();
        let events = Arc::new(Events::new(n));
        println!(
            "bus throughput: {n} events ({} for single publishes), canonical envelopes of {:.0} B \
             on average with 4 headers, {PARTITIONS} partitions, best of {rounds} rounds",
            n / SINGLES_SHARE,
            events.mean_size()
        );

        let mut config = KafkaConfig::new(&brokers);
        config.client_id = "bus-bench".to_owned();
        config.session_timeout = Duration::from_secs(6);
        let bus = KafkaBus::connect(config).expect("kafka bus");
        if let Err(error) = bus.ping(Duration::from_secs(5)).await {
            panic!("no Kafka broker answers at {brokers} ({error}): run `scripts/infra.sh up`");
        }
        let kafka = KafkaLeg {
            producer: bare_producer(&brokers),
            brokers,
            bus: Arc::new(bus),
            events: Arc::clone(&events),
        };
        let mut figures = Figures::default();
        for round in 0..rounds {
            println!("kafka round {}", round + 1);
            kafka.round(round, &mut figures).await;
        }
        drop(kafka);

        let dir = tempfile::tempdir().expect("temp dir");
        let embedded: Arc<dyn EventBus> =
            Arc::new(EmbeddedBus::open(dir.path()).expect("embedded bus"));
        for round in 0..rounds {
            println!("embedded round {}", round + 1);
            embedded_round(&embedded, &events, &mut figures).await;
        }

        println!();
        println!(
            "== best of {rounds} rounds: ours beside bare rdkafka (target >= {:.0}%) ==",
            TARGET * 100.0
        );
        verdict(&figures, BUS_BATCH, BARE_CHUNKS);
        verdict(&figures, BUS_BATCH, BARE_WINDOW);
        verdict(&figures, BUS_BATCH_CONCURRENT, BARE_WINDOW_WIDE);
        verdict(&figures, BUS_STREAM, BARE_WINDOW);
        verdict(&figures, BUS_STREAM_WIDE, BARE_WINDOW_WIDE);
        verdict(&figures, BUS_SINGLE, BARE_SINGLE);
        verdict(&figures, BUS_GROUP, BARE_CONSUME);
        verdict(&figures, BUS_READER, BARE_CONSUME);
        for name in [
            EMBEDDED_BATCH,
            EMBEDDED_STREAM,
            EMBEDDED_SINGLE,
            EMBEDDED_GROUP,
            EMBEDDED_READER,
        ] {
            println!(
                "{name:<42} {:>9.0}/s  (no bare baseline)",
                figures.best(name)
            );
        }
        println!("(whole run: {:.0?})", started.elapsed());
    });
}
