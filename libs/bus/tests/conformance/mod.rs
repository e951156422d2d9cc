//! The bus conformance suite: every scenario written once over `EventBus`
//! and run against each implementation (`tests/embedded.rs`, `tests/kafka.rs`).
//!
//! Each scenario creates its own topics and groups (UUIDv7 suffix), so the
//! scenarios run in parallel against one broker. Every wait is bounded and
//! fails with a message saying what did not happen.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracechain_bus::headers as h;
use tracechain_bus::murmur2::partition_for_key;
use tracechain_bus::{
    BusError, ConsumerOptions, EventBus, GroupConsumer, Handler, HandlerError, Headers,
    LoopOptions, Position, Record, RetryPolicy, StreamEvent, TopicPartition, TopicSpec, dlq_topic,
    run_consumer_with,
};
use tracechain_domain::{Envelope, EventType, TenantId};
use tracing::Instrument;

/// One implementation under test.
pub(crate) struct Leg {
    /// `embedded` or `kafka`, for printed figures.
    pub(crate) name: &'static str,
    /// The bus.
    pub(crate) bus: Arc<dyn EventBus>,
    /// Keeps whatever the bus needs alive (a temporary directory).
    pub(crate) _guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// A name unique to this run: `<prefix>-<uuidv7>`.
pub(crate) fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Creates a fresh topic (and its `.dlq`) with `partitions` partitions.
pub(crate) async fn fresh_topic(bus: &dyn EventBus, prefix: &str, partitions: i32) -> String {
    let name = unique(prefix);
    let spec = TopicSpec::new(&name, partitions);
    bus.ensure_topics(&[spec.clone(), spec.dlq()])
        .await
        .expect("ensure_topics creates a fresh topic");
    name
}

fn parties() -> std::collections::BTreeSet<TenantId> {
    [TenantId::parse("acme").unwrap()].into_iter().collect()
}

/// A test envelope about `key` with sequence number `seq` and `pad` bytes of padding.
pub(crate) fn envelope(key: &str, seq: u64, pad: usize) -> Envelope {
    envelope_with(key, json!({"key": key, "seq": seq, "pad": "x".repeat(pad)}))
}

/// A test envelope about `key` with `payload`.
pub(crate) fn envelope_with(key: &str, payload: serde_json::Value) -> Envelope {
    Envelope::new(
        EventType::parse("test.happened").unwrap(),
        key,
        "bus-tests",
        parties(),
        payload,
    )
}

fn seq_of(envelope: &Envelope) -> u64 {
    envelope.payload()["seq"]
        .as_u64()
        .expect("test payload has a seq")
}

const SETTLE: Duration = Duration::from_secs(60);

/// Polls (committing each batch) until `count` records came or `within` passed.
pub(crate) async fn consume(
    consumer: &mut dyn GroupConsumer,
    count: usize,
    within: Duration,
) -> Vec<Record> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records arrived within {within:?}",
            out.len()
        );
        let batch = consumer
            .poll_batch(count - out.len(), Duration::from_millis(500))
            .await
            .expect("poll succeeds");
        let handled: Vec<Position> = batch.iter().map(Record::position).collect();
        consumer.commit(&handled).await.expect("commit succeeds");
        out.extend(batch);
    }
    out
}

/// Polls without committing until `count` records came or `within` passed.
async fn poll_exactly(
    consumer: &mut dyn GroupConsumer,
    count: usize,
    within: Duration,
) -> Vec<Record> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records arrived within {within:?}",
            out.len()
        );
        out.extend(
            consumer
                .poll_batch(count - out.len(), Duration::from_millis(500))
                .await
                .expect("poll succeeds"),
        );
    }
    out
}

/// Polls for `quiet` after the consumer got partitions; panics on any record.
async fn assert_nothing_more(consumer: &mut dyn GroupConsumer, quiet: Duration) {
    let join_deadline = Instant::now() + SETTLE;
    while consumer.assignment().await.expect("assignment").is_empty() {
        assert!(
            Instant::now() < join_deadline,
            "consumer got no partitions within {SETTLE:?}"
        );
        let got = consumer
            .poll_batch(100, Duration::from_millis(200))
            .await
            .expect("poll");
        assert!(
            got.is_empty(),
            "unexpected records redelivered: {:?}",
            positions(&got)
        );
    }
    let end = Instant::now() + quiet;
    while Instant::now() < end {
        let got = consumer
            .poll_batch(100, Duration::from_millis(200))
            .await
            .expect("poll");
        assert!(
            got.is_empty(),
            "unexpected records redelivered: {:?}",
            positions(&got)
        );
    }
}

fn positions(records: &[Record]) -> Vec<(i32, i64)> {
    records.iter().map(|r| (r.partition, r.offset)).collect()
}

// ---------------------------------------------------------------------------

/// `ensure_topics` is idempotent; unknown topics are errors, not created.
pub(crate) async fn ensure_topics_is_idempotent(leg: &Leg) {
    let bus = leg.bus.as_ref();
    let name = unique("admin");
    let spec = TopicSpec::new(&name, 3);
    bus.ensure_topics(&[spec.clone(), spec.dlq()])
        .await
        .unwrap();
    bus.ensure_topics(&[spec.clone(), spec.dlq()])
        .await
        .unwrap();
    // An existing topic with another partition count is left as it is.
    bus.ensure_topics(&[TopicSpec::new(&name, 5)])
        .await
        .unwrap();
    assert_eq!(bus.partition_count(&name).await.unwrap(), 3);
    assert_eq!(bus.partition_count(&dlq_topic(&name)).await.unwrap(), 3);
    let ends = bus.end_offsets(&name).await.unwrap();
    assert_eq!(ends, BTreeMap::from([(0, 0), (1, 0), (2, 0)]));

    let missing = unique("missing");
    assert!(matches!(
        bus.partition_count(&missing).await,
        Err(BusError::UnknownTopic { .. })
    ));
    let subscribed = bus
        .subscribe(&unique("g"), &[&missing], ConsumerOptions::default())
        .await;
    assert!(matches!(subscribed, Err(BusError::UnknownTopic { .. })));
    assert!(matches!(
        bus.ensure_topics(&[TopicSpec::new("bad/name", 1)]).await,
        Err(BusError::InvalidTopicName { .. })
    ));
    // The platform topics can be ensured (twice) too.
    bus.ensure_topics(&TopicSpec::platform_defaults())
        .await
        .unwrap();
    bus.ensure_topics(&TopicSpec::platform_defaults())
        .await
        .unwrap();
    assert_eq!(bus.partition_count("ledger.blocks").await.unwrap(), 1);
}

/// The position a publish returns is where a reader finds the event, byte for byte.
pub(crate) async fn publish_ack_position_is_readable(leg: &Leg) {
    let bus = leg.bus.as_ref();
    let topic = fresh_topic(bus, "ack", 3).await;
    let mut published = Vec::new();
    for i in 0..6 {
        let env = envelope(&format!("agg-{i}"), i, 10);
        let pos = bus
            .publish(&topic, format!("agg-{i}").as_bytes(), &env)
            .await
            .unwrap();
        assert_eq!(pos.topic, topic);
        published.push((pos, env));
    }
    let ends = bus.end_offsets(&topic).await.unwrap();
    for (pos, env) in &published {
        assert!(
            ends[&pos.partition] > pos.offset,
            "end offsets {ends:?} do not cover {pos:?}"
        );
        let mut reader = bus
            .reader(&topic, &BTreeMap::from([(pos.partition, pos.offset)]))
            .await
            .unwrap();
        let got = reader.poll_batch(1, Duration::from_secs(10)).await.unwrap();
        assert_eq!(got.len(), 1, "reader found nothing at {pos:?}");
        assert_eq!(got[0].position(), *pos);
        assert_eq!(got[0].payload, env.canonical_bytes().unwrap());
        assert_eq!(got[0].envelope().unwrap(), *env);
        assert_eq!(got[0].key.as_deref(), Some(env.aggregate_id().as_bytes()));
        assert!(got[0].timestamp_ms.is_some_and(|t| t > 0));
    }
}

/// Events of one key arrive in publish order, all on the key's partition.
pub(crate) async fn per_key_ordering(leg: &Leg) {
    let bus = leg.bus.as_ref();
    let topic = fresh_topic(bus, "order", 4).await;
    const KEYS: u64 = 20;
    const PER_KEY: u64 = 50;
    // Two batches and single publishes, interleaving keys.
    let mut seq: HashMap<u64, u64> = HashMap::new();
    let mut next = |k: u64| {
        let s = seq.entry(k).or_default();
        *s += 1;
        envelope(&format!("key-{k}"), *s - 1, 20)
    };
    let first: Vec<_> = (0..PER_KEY / 2)
        .flat_map(|_| (0..KEYS).collect::<Vec<_>>())
        .map(|k| (format!("key-{k}").into_bytes(), next(k)))
        .collect();
    bus.publish_batch(&topic, &first).await.unwrap();
    for k in 0..KEYS {
        bus.publish(&topic, format!("key-{k}").as_bytes(), &next(k))
            .await
            .unwrap();
    }
    let second: Vec<_> = (0..PER_KEY / 2 - 1)
        .flat_map(|_| (0..KEYS).rev().collect::<Vec<_>>())
        .map(|k| (format!("key-{k}").into_bytes(), next(k)))
        .collect();
    bus.publish_batch(&topic, &second).await.unwrap();

    let mut consumer = bus
        .subscribe(&unique("order"), &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    let records = consume(consumer.as_mut(), (KEYS * PER_KEY) as usize, SETTLE).await;
    consumer.close().await.unwrap();
    let mut by_key: BTreeMap<String, (BTreeSet<i32>, Vec<u64>)> = BTreeMap::new();
    for r in &records {
        let env = r.envelope().unwrap();
        let entry = by_key.entry(env.aggregate_id().to_owned()).or_default();
        entry.0.insert(r.partition);
        entry.1.push(seq_of(&env));
    }
    assert_eq!(by_key.len(), KEYS as usize);
    for (key, (partitions, seqs)) in by_key {
        assert_eq!(
            partitions.len(),
            1,
            "{key} spread over partitions {partitions:?}"
        );
        assert_eq!(seqs, (0..PER_KEY).collect::<Vec<_>>(), "{key} out of order");
    }
}

/// Reads every record of `topic`'s `partitions` from offset 0 until `count` came.
async fn read_topic(bus: &dyn EventBus, topic: &str, partitions: i32, count: usize) -> Vec<Record> {
    let start: BTreeMap<i32, i64> = (0..partitions).map(|p| (p, 0)).collect();
    let mut reader = bus.reader(topic, &start).await.unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + SETTLE;
    while got.len() < count {
        assert!(
            Instant::now() < deadline,
            "read {} of {count} records of {topic}",
            got.len()
        );
        got.extend(
            reader
                .poll_batch(count - got.len(), Duration::from_millis(500))
                .await
                .unwrap(),
        );
    }
    got
}

/// What a publish stream gave: each outcome, and the most records it had
/// taken from its input and not yet yielded at any moment.
struct Streamed {
    outcomes: Vec<Result<Position, BusError>>,
    most_ahead: usize,
}

/// Publishes `events` through `publish_stream` (created in `span`) and
/// collects every outcome, checking at each that no more than twice
/// `window` records were taken and not yielded (`window` in flight, and
/// outcomes held for an earlier record's).
async fn stream_all(
    bus: &dyn EventBus,
    topic: &str,
    events: Vec<StreamEvent<'_>>,
    window: usize,
    span: &tracing::Span,
) -> Streamed {
    use futures::StreamExt;
    let count = events.len();
    let taken = Arc::new(AtomicUsize::new(0));
    let input = {
        let taken = Arc::clone(&taken);
        futures::stream::iter(events).inspect(move |_| {
            taken.fetch_add(1, Ordering::SeqCst);
        })
    };
    let mut outcomes_stream = span.in_scope(|| bus.publish_stream(topic, input.boxed(), window));
    assert_eq!(
        taken.load(Ordering::SeqCst),
        0,
        "nothing is taken before the stream is polled"
    );
    let mut outcomes = Vec::with_capacity(count);
    let mut most_ahead = 0;
    let deadline = Instant::now() + SETTLE;
    loop {
        let next = tokio::time::timeout_at(deadline.into(), outcomes_stream.next())
            .await
            .unwrap_or_else(|_| panic!("{} of {count} outcomes within {SETTLE:?}", outcomes.len()));
        let Some(outcome) = next else { break };
        // This outcome's record is taken and not yielded until now.
        let ahead = taken.load(Ordering::SeqCst) - outcomes.len();
        assert!(
            ahead <= 2 * window.max(1),
            "{ahead} records taken and not yielded, window {window}"
        );
        most_ahead = most_ahead.max(ahead);
        outcomes.push(outcome);
    }
    assert_eq!(outcomes.len(), count, "one outcome per record");
    Streamed {
        outcomes,
        most_ahead,
    }
}

/// A publish stream keeps up to its window of records in flight, yields each
/// record's durable position in input order (where a reader finds it, with
/// the creating span's trace context), and keeps the order of each key.
pub(crate) async fn publish_stream_yields_positions_in_order_within_its_window(leg: &Leg) {
    telemetry();
    let bus = leg.bus.as_ref();
    const PARTITIONS: i32 = 4;
    const KEYS: u64 = 20;
    const PER_KEY: u64 = 30;
    const WINDOW: usize = 16;
    let topic = fresh_topic(bus, "stream", PARTITIONS).await;
    let events: Vec<_> = (0..PER_KEY)
        .flat_map(|seq| (0..KEYS).map(move |k| (k, seq)))
        .map(|(k, seq)| {
            let key = format!("key-{k}");
            (key.clone().into_bytes(), envelope(&key, seq, 20))
        })
        .collect();
    let span = tracing::info_span!("publish_test_stream");
    let sent_trace = tracechain_telemetry::span_trace_parent(&span)
        .expect("the telemetry layer gives spans a trace context")
        .trace_id();
    // Borrowed events: the publisher keeps them.
    let borrowed = events.iter().map(StreamEvent::from).collect();
    let streamed = stream_all(bus, &topic, borrowed, WINDOW, &span).await;
    assert!(
        streamed.most_ahead >= WINDOW,
        "the stream keeps its whole window in flight (at most {} ahead)",
        streamed.most_ahead
    );
    let mut last_offset: BTreeMap<i32, i64> = BTreeMap::new();
    let mut at: HashMap<(i32, i64), &Envelope> = HashMap::new();
    for ((key, env), outcome) in events.iter().zip(&streamed.outcomes) {
        let pos = outcome.as_ref().expect("every record is acknowledged");
        assert_eq!(pos.topic, topic);
        assert_eq!(pos.partition, partition_for_key(key, PARTITIONS));
        if let Some(last) = last_offset.insert(pos.partition, pos.offset) {
            assert!(
                pos.offset > last,
                "positions of partition {} not in input order",
                pos.partition
            );
        }
        at.insert((pos.partition, pos.offset), env);
    }

    let records = read_topic(bus, &topic, PARTITIONS, events.len()).await;
    let mut seqs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for record in &records {
        let sent = at
            .get(&(record.partition, record.offset))
            .unwrap_or_else(|| panic!("record at {:?} was not acknowledged", record.position()));
        assert_eq!(record.envelope().unwrap(), **sent);
        let traceparent = record
            .headers
            .get_str(h::TRACEPARENT)
            .expect("every streamed record has a traceparent");
        let received = tracechain_telemetry::TraceParent::parse(traceparent).unwrap();
        assert_eq!(received.trace_id(), sent_trace);
        seqs.entry(sent.aggregate_id().to_owned())
            .or_default()
            .push(seq_of(sent));
    }
    assert_eq!(seqs.len(), KEYS as usize);
    for (key, seqs) in seqs {
        assert_eq!(seqs, (0..PER_KEY).collect::<Vec<_>>(), "{key} out of order");
    }

    // Owned events; a window of 0 is a window of 1; records of a key keep
    // their order across streams too.
    let more: Vec<_> = (PER_KEY..PER_KEY + 3)
        .map(|seq| StreamEvent::owned(b"key-0".to_vec(), envelope("key-0", seq, 0)))
        .collect();
    let streamed = stream_all(bus, &topic, more, 0, &tracing::Span::none()).await;
    assert!(
        streamed.most_ahead <= 2,
        "window 1: {}",
        streamed.most_ahead
    );
    let partition = partition_for_key(b"key-0", PARTITIONS);
    let mut last = last_offset[&partition];
    for outcome in streamed.outcomes {
        let pos = outcome.unwrap();
        assert_eq!(pos.partition, partition);
        assert!(pos.offset > last);
        last = pos.offset;
    }
    // An empty input ends the stream at once.
    let streamed = stream_all(bus, &topic, Vec::new(), WINDOW, &tracing::Span::none()).await;
    assert!(streamed.outcomes.is_empty());
}

/// A record of a publish stream fails alone, with its reason, and the
/// stream goes on: an envelope without canonical bytes is refused and not
/// published; every record for an invalid topic name fails.
pub(crate) async fn publish_stream_fails_records_alone(leg: &Leg) {
    let bus = leg.bus.as_ref();
    let topic = fresh_topic(bus, "stream-fail", 1).await;
    // Beyond 2^53: it would change value as a double, so it has no canonical form.
    let unencodable = envelope_with("k", json!({"seq": 5, "n": 9_007_199_254_740_993_u64}));
    let events: Vec<_> = (0..11)
        .map(|seq| {
            let env = if seq == 5 {
                unencodable.clone()
            } else {
                envelope("k", seq, 0)
            };
            (b"k".to_vec(), env)
        })
        .collect();
    let owned = events.iter().cloned().map(StreamEvent::from).collect();
    let streamed = stream_all(bus, &topic, owned, 4, &tracing::Span::none()).await;
    for (i, outcome) in streamed.outcomes.iter().enumerate() {
        match (i, outcome) {
            (5, Err(BusError::Encode { event_id, .. })) => assert_eq!(*event_id, unencodable.id()),
            (5, other) => panic!("record 5 has no canonical form, got {other:?}"),
            (_, Ok(pos)) => assert_eq!(pos.partition, 0),
            (_, Err(error)) => panic!("record {i} failed: {error}"),
        }
    }
    let ends = bus.end_offsets(&topic).await.unwrap();
    let records = read_topic(bus, &topic, 1, 10).await;
    assert_eq!(
        ends[&0],
        records.last().unwrap().offset + 1,
        "nothing more was written"
    );
    let published: Vec<Envelope> = records.iter().map(|r| r.envelope().unwrap()).collect();
    let expected: Vec<Envelope> = events
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 5)
        .map(|(_, (_, env))| env)
        .collect();
    assert_eq!(published, expected, "the others, in order");

    let events: Vec<_> = (0..3)
        .map(|seq| StreamEvent::owned(b"k".to_vec(), envelope("k", seq, 0)))
        .collect();
    let streamed = stream_all(bus, "bad/name", events, 2, &tracing::Span::none()).await;
    for outcome in streamed.outcomes {
        assert!(
            matches!(outcome, Err(BusError::InvalidTopicName { .. })),
            "{outcome:?}"
        );
    }
}

/// Keys land on `toPositive(murmur2(key)) % partitions`, as with Kafka's Java client.
pub(crate) async fn partitions_follow_java_murmur2(leg: &Leg) {
    let bus = leg.bus.as_ref();
    let topic = fresh_topic(bus, "murmur", 7).await;
    let keys = murmur_keys();
    let events: Vec<_> = keys
        .iter()
        .map(|k| (k.as_bytes().to_vec(), envelope(k, 0, 0)))
        .collect();
    let positions = bus.publish_batch(&topic, &events).await.unwrap();
    for (key, pos) in keys.iter().zip(&positions) {
        assert_eq!(
            pos.partition,
            partition_for_key(key.as_bytes(), 7),
            "key {key}"
        );
    }
    let single = bus
        .publish(&topic, b"21", &envelope("21", 0, 0))
        .await
        .unwrap();
    assert_eq!(single.partition, partition_for_key(b"21", 7));
}

/// The keys the murmur2 scenarios publish.
pub(crate) fn murmur_keys() -> Vec<String> {
    let mut keys: Vec<String> = (0..200).map(|i| format!("aggregate-{i}")).collect();
    keys.extend(
        [
            "21",
            "foobar",
            "a-little-bit-long-string",
            "abc",
            "09506000134352",
        ]
        .map(String::from),
    );
    keys
}

/// A reader starts at the positions given and reports where it got to.
pub(crate) async fn reader_from_explicit_positions(leg: &Leg) {
    let bus = leg.bus.as_ref();
    let topic = fresh_topic(bus, "reader", 3).await;
    let events: Vec<_> = (0..60)
        .map(|i| {
            (
                format!("k{i}").into_bytes(),
                envelope(&format!("k{i}"), i, 0),
            )
        })
        .collect();
    let positions = bus.publish_batch(&topic, &events).await.unwrap();
    let ends = bus.end_offsets(&topic).await.unwrap();
    // Partition 0 from its start, partition 1 from its middle, partition 2 from its end.
    let mut starts = BTreeMap::new();
    let mut expected = BTreeSet::new();
    for p in 0..3 {
        let mine: Vec<i64> = positions
            .iter()
            .filter(|x| x.partition == p)
            .map(|x| x.offset)
            .collect();
        assert!(!mine.is_empty(), "partition {p} got no key");
        let start = match p {
            0 => mine[0],
            1 => mine[mine.len() / 2],
            _ => ends[&p],
        };
        starts.insert(p, start);
        expected.extend(mine.iter().filter(|o| **o >= start).map(|o| (p, *o)));
    }
    let mut reader = bus.reader(&topic, &starts).await.unwrap();
    let mut got = BTreeSet::new();
    let deadline = Instant::now() + SETTLE;
    while got.len() < expected.len() {
        assert!(
            Instant::now() < deadline,
            "reader got {} of {}",
            got.len(),
            expected.len()
        );
        for r in reader
            .poll_batch(7, Duration::from_millis(500))
            .await
            .unwrap()
        {
            assert!(got.insert((r.partition, r.offset)), "record read twice");
        }
    }
    assert_eq!(got, expected);
    // Nothing more, and the positions are the end offsets.
    assert!(
        reader
            .poll_batch(10, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(reader.positions(), ends);
    // A record published now reaches the waiting reader.
    let later = bus
        .publish(&topic, b"k0", &envelope("k0", 99, 0))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + SETTLE;
    while seen.is_empty() {
        assert!(
            Instant::now() < deadline,
            "reader never saw the late record"
        );
        seen = reader.poll_batch(10, Duration::from_secs(2)).await.unwrap();
    }
    assert_eq!(seen[0].position(), later);
    // Out of range and unknown partitions are errors.
    let past_end = BTreeMap::from([(0, ends[&0] + 1000)]);
    assert!(matches!(
        bus.reader(&topic, &past_end).await,
        Err(BusError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        bus.reader(&topic, &BTreeMap::from([(9, 0)])).await,
        Err(BusError::UnknownPartition { .. })
    ));
}

/// A consumer that dies without committing: what it committed is not
/// redelivered, everything else is.
pub(crate) async fn uncommitted_events_are_redelivered_after_a_crash(leg: &Leg) {
    let bus = leg.bus.as_ref();
    let topic = fresh_topic(bus, "crash", 2).await;
    let group = unique("crash");
    let events: Vec<_> = (0..40)
        .map(|i| {
            (
                format!("k{i}").into_bytes(),
                envelope(&format!("k{i}"), i, 0),
            )
        })
        .collect();
    bus.publish_batch(&topic, &events).await.unwrap();

    let mut first = bus
        .subscribe(&group, &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    let got = poll_exactly(first.as_mut(), 40, SETTLE).await;
    // Commit the first half of each partition only.
    let mut by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for r in &got {
        by_partition.entry(r.partition).or_default().push(r.offset);
    }
    let mut handled = Vec::new();
    let mut expected_again = BTreeSet::new();
    for (p, offsets) in &by_partition {
        let half = offsets.len() / 2;
        handled.extend(offsets[..half].iter().map(|o| Position {
            topic: topic.clone(),
            partition: *p,
            offset: *o,
        }));
        expected_again.extend(offsets[half..].iter().map(|o| (*p, *o)));
    }
    let committed = first.commit(&handled).await.unwrap();
    assert_eq!(committed.len(), by_partition.len());
    drop(first); // the crash: no close, nothing more committed

    let mut second = bus
        .subscribe(&group, &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    let again = poll_exactly(second.as_mut(), expected_again.len(), SETTLE).await;
    let again: BTreeSet<_> = again.iter().map(|r| (r.partition, r.offset)).collect();
    assert_eq!(
        again, expected_again,
        "redelivered exactly the uncommitted records"
    );
    second
        .commit(
            &again
                .iter()
                .map(|(p, o)| Position {
                    topic: topic.clone(),
                    partition: *p,
                    offset: *o,
                })
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    assert_nothing_more(second.as_mut(), Duration::from_millis(500)).await;
    second.close().await.unwrap();
    assert!(matches!(
        second.poll_batch(1, Duration::ZERO).await,
        Err(BusError::Closed)
    ));
    // A third member after a clean close: everything is committed.
    let mut third = bus
        .subscribe(&group, &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    assert_nothing_more(third.as_mut(), Duration::from_millis(500)).await;
    third.close().await.unwrap();
}

/// A member that lost a partition in a rebalance commits nothing for it
/// (the commit skips it), and the new owner gets its records again.
pub(crate) async fn commits_for_revoked_partitions_are_skipped(leg: &Leg) {
    let bus = leg.bus.as_ref();
    let topic = fresh_topic(bus, "revoked", 2).await;
    let group = unique("revoked");
    let events: Vec<_> = (0..40)
        .map(|i| {
            (
                format!("k{i}").into_bytes(),
                envelope(&format!("k{i}"), i, 0),
            )
        })
        .collect();
    let published = bus.publish_batch(&topic, &events).await.unwrap();
    let per_partition = |p: i32| published.iter().filter(|x| x.partition == p).count();
    assert!(per_partition(0) > 0 && per_partition(1) > 0);

    let mut a = bus
        .subscribe(&group, &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    let handled = poll_exactly(a.as_mut(), 40, SETTLE).await;
    let mut b = bus
        .subscribe(&group, &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    // Both poll until the group has split the partitions between them.
    let mut b_got = Vec::new();
    let deadline = Instant::now() + SETTLE;
    loop {
        assert!(
            Instant::now() < deadline,
            "the group never split its partitions"
        );
        let extra = a.poll_batch(10, Duration::from_millis(100)).await.unwrap();
        assert!(
            extra.is_empty() || a.assignment().await.unwrap().len() < 2,
            "A got records twice"
        );
        b_got.extend(b.poll_batch(100, Duration::from_millis(100)).await.unwrap());
        let (owned_a, owned_b) = (a.assignment().await.unwrap(), b.assignment().await.unwrap());
        if owned_a.len() == 1 && owned_b.len() == 1 {
            break;
        }
    }
    let lost = b.assignment().await.unwrap()[0].1;
    // A commits everything it handled: only its remaining partition is committed.
    let positions: Vec<_> = handled.iter().map(Record::position).collect();
    let committed = a.commit(&positions).await.unwrap();
    assert!(
        committed.iter().all(|p| p.partition != lost),
        "committed a revoked partition: {committed:?}"
    );
    assert_eq!(committed.len(), 1);
    // B gets every record of the partition it took, from the start.
    let expected = per_partition(lost);
    let deadline = Instant::now() + SETTLE;
    while b_got.len() < expected {
        assert!(
            Instant::now() < deadline,
            "B got {} of {expected}",
            b_got.len()
        );
        b_got.extend(b.poll_batch(100, Duration::from_millis(200)).await.unwrap());
    }
    assert!(b_got.iter().all(|r| r.partition == lost));
    assert_eq!(b_got.len(), expected);
    b.close().await.unwrap();
    a.close().await.unwrap();
}

/// Small batches with a commit after each keep flowing (the `StreamConsumer`
/// stall after manual commits, rust-rdkafka #848, must not happen).
pub(crate) async fn commits_between_small_batches_do_not_stall(leg: &Leg) {
    let bus = leg.bus.as_ref();
    let topic = fresh_topic(bus, "stall", 3).await;
    let events: Vec<_> = (0..300)
        .map(|i| {
            (
                format!("k{i}").into_bytes(),
                envelope(&format!("k{i}"), i, 0),
            )
        })
        .collect();
    bus.publish_batch(&topic, &events).await.unwrap();
    let mut consumer = bus
        .subscribe(&unique("stall"), &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    let mut seen = HashSet::new();
    let mut longest_gap = Duration::ZERO;
    let mut last = None::<Instant>;
    let deadline = Instant::now() + SETTLE;
    let mut polls = 0;
    while seen.len() < 300 {
        assert!(
            Instant::now() < deadline,
            "stalled at {} of 300 after {polls} polls",
            seen.len()
        );
        let batch = consumer
            .poll_batch(7, Duration::from_millis(500))
            .await
            .unwrap();
        polls += 1;
        if batch.is_empty() {
            continue;
        }
        let now = Instant::now();
        if let Some(last) = last {
            longest_gap = longest_gap.max(now - last);
        }
        last = Some(now);
        let handled: Vec<_> = batch.iter().map(Record::position).collect();
        consumer.commit(&handled).await.unwrap();
        for r in batch {
            assert!(
                seen.insert((r.partition, r.offset)),
                "record delivered twice"
            );
        }
    }
    consumer.close().await.unwrap();
    println!(
        "[{}] 300 records in batches of 7 with a commit each: longest gap {longest_gap:?}",
        leg.name
    );
    assert!(
        longest_gap < Duration::from_secs(5),
        "consumption stalled for {longest_gap:?}"
    );
}

// --- rebalance --------------------------------------------------------------

/// What happened, in one global order.
#[derive(Debug, Clone)]
enum Event {
    Handled {
        who: usize,
        partition: i32,
        offset: i64,
    },
    Committed {
        who: usize,
        positions: Vec<Position>,
    },
}

#[derive(Default)]
struct Journal {
    seq: AtomicU64,
    events: Mutex<Vec<(u64, Event)>>,
}

impl Journal {
    fn log(&self, event: Event) {
        let mut events = self.events.lock().unwrap();
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        events.push((seq, event));
    }
}

/// A consumer that logs what it actually committed.
struct Recording {
    inner: Box<dyn GroupConsumer>,
    who: usize,
    journal: Arc<Journal>,
}

#[async_trait]
impl GroupConsumer for Recording {
    async fn poll_batch(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>, BusError> {
        self.inner.poll_batch(max, timeout).await
    }

    async fn commit(&mut self, handled: &[Position]) -> Result<Vec<Position>, BusError> {
        let committed = self.inner.commit(handled).await?;
        self.journal.log(Event::Committed {
            who: self.who,
            positions: committed.clone(),
        });
        Ok(committed)
    }

    async fn assignment(&self) -> Result<Vec<TopicPartition>, BusError> {
        self.inner.assignment().await
    }

    async fn close(&mut self) -> Result<(), BusError> {
        self.inner.close().await
    }
}

struct JournalHandler {
    who: usize,
    journal: Arc<Journal>,
    count: Arc<AtomicUsize>,
}

#[async_trait]
impl Handler for JournalHandler {
    async fn handle(&self, record: &Record, _envelope: &Envelope) -> Result<(), HandlerError> {
        self.journal.log(Event::Handled {
            who: self.who,
            partition: record.partition,
            offset: record.offset,
        });
        self.count.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok(())
    }
}

/// Two members of one group: a rebalance loses nothing, and no event one
/// member committed is handled by the other afterwards.
pub(crate) async fn rebalance_loses_nothing_and_never_rehandles_committed_events(leg: &Leg) {
    let bus = &leg.bus;
    let topic = fresh_topic(bus.as_ref(), "rebalance", 4).await;
    let group = unique("rebalance");
    let batch = |from: u64, n: u64| -> Vec<(Vec<u8>, Envelope)> {
        (from..from + n)
            .map(|i| {
                (
                    format!("k{}", i % 50).into_bytes(),
                    envelope(&format!("k{}", i % 50), i, 0),
                )
            })
            .collect()
    };
    bus.publish_batch(&topic, &batch(0, 600)).await.unwrap();
    let journal = Arc::new(Journal::default());
    let stop_a = CancellationToken::new();
    let stop_b = CancellationToken::new();
    let start = |who: usize, count: Arc<AtomicUsize>, shutdown: CancellationToken| {
        let bus = Arc::clone(bus);
        let topic = topic.clone();
        let group = group.clone();
        let journal = Arc::clone(&journal);
        tokio::spawn(async move {
            let consumer = bus
                .subscribe(&group, &[&topic], ConsumerOptions::default())
                .await
                .unwrap();
            let consumer = Box::new(Recording {
                inner: consumer,
                who,
                journal: Arc::clone(&journal),
            });
            let handler = JournalHandler {
                who,
                journal,
                count,
            };
            let options = LoopOptions {
                batch_size: 50,
                poll_timeout: Duration::from_millis(100),
                ..LoopOptions::default()
            };
            run_consumer_with(consumer, Arc::clone(&bus), handler, options, shutdown).await
        })
    };
    let a_count = Arc::new(AtomicUsize::new(0));
    let b_count = Arc::new(AtomicUsize::new(0));
    let a = start(0, Arc::clone(&a_count), stop_a.clone());
    wait_until("member A handles 100 events", || {
        a_count.load(Ordering::SeqCst) >= 100
    })
    .await;
    let b = start(1, Arc::clone(&b_count), stop_b.clone());
    // Keep events coming until B has some (joining a Kafka group takes a while).
    let mut published = 600u64;
    let deadline = Instant::now() + SETTLE;
    while b_count.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "member B never handled an event");
        bus.publish_batch(&topic, &batch(published, 20))
            .await
            .unwrap();
        published += 20;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bus.publish_batch(&topic, &batch(published, 600))
        .await
        .unwrap();
    published += 600;
    let distinct = || {
        let events = journal.events.lock().unwrap();
        events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Handled {
                    partition, offset, ..
                } => Some((*partition, *offset)),
                Event::Committed { .. } => None,
            })
            .collect::<HashSet<_>>()
            .len() as u64
    };
    wait_until("every published event is handled", || {
        distinct() >= published
    })
    .await;
    // B leaves: A gets every partition back and handles what comes next.
    stop_b.cancel();
    let b_stats = b.await.unwrap().unwrap();
    let a_before = a_count.load(Ordering::SeqCst);
    bus.publish_batch(&topic, &batch(published, 200))
        .await
        .unwrap();
    published += 200;
    wait_until("A handles the events after B left", || {
        distinct() >= published
    })
    .await;
    assert!(
        a_count.load(Ordering::SeqCst) >= a_before + 200,
        "A did not take B's partitions"
    );
    stop_a.cancel();
    let a_stats = a.await.unwrap().unwrap();

    let events = journal.events.lock().unwrap().clone();
    // Which (partition, offset) each member had committed, and when.
    let mut handled_by: HashMap<(usize, i32, i64), u64> = HashMap::new();
    let mut violations = Vec::new();
    let mut committed_upto: HashMap<(usize, i32), (i64, u64)> = HashMap::new();
    let mut duplicates = 0;
    let mut seen = HashSet::new();
    for (seq, event) in &events {
        match event {
            Event::Handled {
                who,
                partition,
                offset,
            } => {
                if !seen.insert((*partition, *offset)) {
                    duplicates += 1;
                }
                for other in [0usize, 1].into_iter().filter(|o| o != who) {
                    let committed_by_other = committed_upto
                        .get(&(other, *partition))
                        .is_some_and(|(upto, _)| upto >= offset)
                        && handled_by.contains_key(&(other, *partition, *offset));
                    if committed_by_other {
                        violations.push((*seq, *who, *partition, *offset));
                    }
                }
                handled_by.insert((*who, *partition, *offset), *seq);
            }
            Event::Committed { who, positions } => {
                for p in positions {
                    committed_upto.insert((*who, p.partition), (p.offset, *seq));
                }
            }
        }
    }
    println!(
        "[{}] rebalance: A handled {}, B handled {}, {duplicates} handled twice (uncommitted at hand-over), A {a_stats:?}, B {b_stats:?}",
        leg.name,
        a_count.load(Ordering::SeqCst),
        b_count.load(Ordering::SeqCst)
    );
    assert_eq!(seen.len() as u64, published, "events lost");
    assert!(
        violations.is_empty(),
        "events handled after another member committed them: {violations:?}"
    );
    assert!(b_count.load(Ordering::SeqCst) > 0 && a_count.load(Ordering::SeqCst) > 0);
    // Everything handled was committed: a new member gets nothing.
    let mut late = bus
        .subscribe(&group, &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    assert_nothing_more(late.as_mut(), Duration::from_millis(500)).await;
    late.close().await.unwrap();
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + SETTLE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// --- dead letters -----------------------------------------------------------

/// Acts on the payload's `action`: `permanent`, `transient` (always) or
/// `flaky` (fails twice, then succeeds); anything else succeeds.
struct ActionHandler {
    calls: Mutex<HashMap<uuid::Uuid, u32>>,
    done: Arc<AtomicUsize>,
}

#[async_trait]
impl Handler for ActionHandler {
    async fn handle(&self, _record: &Record, envelope: &Envelope) -> Result<(), HandlerError> {
        let calls = {
            let mut calls = self.calls.lock().unwrap();
            let n = calls.entry(envelope.id()).or_default();
            *n += 1;
            *n
        };
        let result = match envelope.payload()["action"].as_str() {
            Some("permanent") => Err(HandlerError::permanent("refused for good")),
            Some("transient") => Err(HandlerError::transient(format!(
                "store down (call {calls})"
            ))),
            Some("flaky") if calls < 3 => Err(HandlerError::transient("briefly down")),
            _ => Ok(()),
        };
        self.done.fetch_add(1, Ordering::SeqCst);
        result
    }
}

/// Poison records go to `<topic>.dlq` with the error in their headers, and
/// consumption goes on; what was handled is committed.
pub(crate) async fn poison_records_go_to_the_dlq_and_consumption_goes_on(leg: &Leg) {
    let bus = &leg.bus;
    let topic = fresh_topic(bus.as_ref(), "dlq", 1).await;
    let group = unique("dlq");
    let action = |a: &str| envelope_with("k", json!({"action": a}));
    let ok_first = action("ok");
    bus.publish(&topic, b"k", &ok_first).await.unwrap();
    let mut custom = Headers::new();
    custom.append("x-custom", b"kept".to_vec());
    let garbage = bus
        .publish_raw(&topic, Some(b"k"), custom, b"\x00not an envelope")
        .await
        .unwrap();
    let permanent = action("permanent");
    let permanent_pos = bus.publish(&topic, b"k", &permanent).await.unwrap();
    let transient = action("transient");
    let transient_pos = bus.publish(&topic, b"k", &transient).await.unwrap();
    bus.publish(&topic, b"k", &action("flaky")).await.unwrap();
    let last = action("last");
    bus.publish(&topic, b"k", &last).await.unwrap();

    let done = Arc::new(AtomicUsize::new(0));
    let handler = ActionHandler {
        calls: Mutex::default(),
        done: Arc::clone(&done),
    };
    let shutdown = CancellationToken::new();
    let consumer = bus
        .subscribe(&group, &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    let options = LoopOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
        },
        poll_timeout: Duration::from_millis(100),
        ..LoopOptions::default()
    };
    let metrics = Arc::clone(&options.metrics);
    let run = tokio::spawn(run_consumer_with(
        consumer,
        Arc::clone(bus),
        handler,
        options,
        shutdown.clone(),
    ));
    // ok + permanent + 3 transient + 3 flaky + last = 9 handler calls.
    wait_until("the handler has seen every event", || {
        done.load(Ordering::SeqCst) >= 9
    })
    .await;
    wait_until("the batch is committed", || metrics.snapshot().commits >= 1).await;
    shutdown.cancel();
    let stats = run.await.unwrap().unwrap();
    assert_eq!(stats.dead_lettered, 3, "{stats:?}");
    assert_eq!(stats.undecodable, 1, "{stats:?}");
    assert_eq!(stats.events_handled, 3, "{stats:?}");
    assert_eq!(stats.handler_retries, 4, "{stats:?}");

    let dlq = dlq_topic(&topic);
    let mut reader = bus.reader(&dlq, &BTreeMap::from([(0, 0)])).await.unwrap();
    let mut dead = Vec::new();
    let deadline = Instant::now() + SETTLE;
    while dead.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "only {} dead letters",
            dead.len()
        );
        dead.extend(
            reader
                .poll_batch(10, Duration::from_millis(500))
                .await
                .unwrap(),
        );
    }
    let header = |r: &Record, name: &str| r.headers.get_str(name).map(str::to_owned);
    let expect = [
        (&garbage, "undecodable", "0"),
        (&permanent_pos, "permanent", "1"),
        (&transient_pos, "retries-exhausted", "3"),
    ];
    for (record, (source, reason, attempts)) in dead.iter().zip(expect) {
        assert_eq!(header(record, h::DLQ_REASON).as_deref(), Some(reason));
        assert_eq!(header(record, h::DLQ_ATTEMPTS).as_deref(), Some(attempts));
        assert_eq!(header(record, h::DLQ_SOURCE_TOPIC), Some(topic.clone()));
        assert_eq!(
            header(record, h::DLQ_SOURCE_PARTITION),
            Some(source.partition.to_string())
        );
        assert_eq!(
            header(record, h::DLQ_SOURCE_OFFSET),
            Some(source.offset.to_string())
        );
        assert!(header(record, h::DLQ_ERROR).is_some_and(|e| !e.is_empty()));
        assert_eq!(record.key.as_deref(), Some(&b"k"[..]));
    }
    assert_eq!(dead[0].payload, b"\x00not an envelope");
    assert_eq!(dead[0].headers.get_str("x-custom"), Some("kept"));
    assert!(
        header(&dead[0], h::DLQ_ERROR)
            .unwrap()
            .contains("not a valid envelope")
    );
    assert_eq!(dead[1].envelope().unwrap(), permanent);
    assert!(
        header(&dead[1], h::DLQ_ERROR)
            .unwrap()
            .contains("refused for good")
    );
    assert_eq!(dead[2].envelope().unwrap(), transient);
    assert!(
        header(&dead[2], h::DLQ_ERROR)
            .unwrap()
            .contains("store down (call 3)")
    );

    // Everything was committed: the group has nothing left.
    let mut again = bus
        .subscribe(&group, &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    assert_nothing_more(again.as_mut(), Duration::from_millis(500)).await;
    again.close().await.unwrap();
}

// --- headers and trace context ---------------------------------------------

/// Installs the telemetry subscriber (with its OpenTelemetry layer) once.
pub(crate) fn telemetry() {
    static GUARD: OnceLock<Option<tracechain_telemetry::TelemetryGuard>> = OnceLock::new();
    GUARD.get_or_init(|| {
        let mut config = tracechain_telemetry::TelemetryConfig::new("bus-tests");
        config.filter = "info".to_owned();
        config.test_writer = true;
        tracechain_telemetry::init(&config).ok()
    });
}

struct TraceCapture {
    seen: Mutex<Vec<(uuid::Uuid, Option<[u8; 16]>)>>,
}

#[async_trait]
impl Handler for TraceCapture {
    async fn handle(&self, _record: &Record, envelope: &Envelope) -> Result<(), HandlerError> {
        let trace = tracechain_telemetry::span_trace_parent(&tracing::Span::current())
            .map(|t| t.trace_id());
        self.seen.lock().unwrap().push((envelope.id(), trace));
        Ok(())
    }
}

/// Envelope headers, raw headers (order, duplicates, binary values) and the
/// publisher's W3C trace context travel with the record and reach the handler's span.
pub(crate) async fn headers_and_traceparent_round_trip(leg: &Leg) {
    telemetry();
    let bus = &leg.bus;
    let topic = fresh_topic(bus.as_ref(), "headers", 2).await;
    let env = envelope("agg-1", 1, 0).with_schema_version(3);
    let span = tracing::info_span!("publish_test_event");
    let sent_trace = tracechain_telemetry::span_trace_parent(&span)
        .expect("the telemetry layer gives spans a trace context");
    let pos = bus
        .publish(&topic, b"agg-1", &env)
        .instrument(span.clone())
        .await
        .unwrap();
    let raw_headers: Headers = [
        ("bin", vec![0u8, 255, 1]),
        ("dup", b"1".to_vec()),
        ("dup", b"2".to_vec()),
        ("empty", Vec::new()),
    ]
    .into_iter()
    .collect();
    let raw_pos = bus
        .publish_raw(&topic, Some(b"agg-1"), raw_headers.clone(), b"raw bytes")
        .await
        .unwrap();
    assert_eq!(raw_pos.partition, pos.partition);

    let mut reader = bus
        .reader(&topic, &BTreeMap::from([(pos.partition, pos.offset)]))
        .await
        .unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + SETTLE;
    while got.len() < 2 {
        assert!(Instant::now() < deadline, "records not read back");
        got.extend(
            reader
                .poll_batch(2, Duration::from_millis(500))
                .await
                .unwrap(),
        );
    }
    let record = &got[0];
    assert_eq!(
        record.headers.get_str(h::EVENT_ID),
        Some(env.id().to_string().as_str())
    );
    assert_eq!(record.headers.get_str(h::EVENT_TYPE), Some("test.happened"));
    assert_eq!(record.headers.get_str(h::SCHEMA_VERSION), Some("3"));
    assert_eq!(
        record.headers.get_str(h::CONTENT_TYPE),
        Some("application/json")
    );
    let traceparent = record
        .headers
        .get_str(h::TRACEPARENT)
        .expect("traceparent header");
    let received = tracechain_telemetry::TraceParent::parse(traceparent).unwrap();
    assert_eq!(received.trace_id(), sent_trace.trace_id());
    assert_eq!(record.envelope().unwrap(), env);
    // Raw headers come back exactly (no traceparent added outside a span).
    assert_eq!(got[1].headers, raw_headers);
    assert_eq!(got[1].payload, b"raw bytes");

    // The consumer loop makes the handler's span a child of the publisher's trace.
    let capture = TraceCapture {
        seen: Mutex::default(),
    };
    let capture = Arc::new(capture);
    struct Shared(Arc<TraceCapture>);
    #[async_trait]
    impl Handler for Shared {
        async fn handle(&self, record: &Record, envelope: &Envelope) -> Result<(), HandlerError> {
            self.0.handle(record, envelope).await
        }
    }
    let shutdown = CancellationToken::new();
    let consumer = bus
        .subscribe(&unique("headers"), &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    let run = tokio::spawn(run_consumer_with(
        consumer,
        Arc::clone(bus),
        Shared(Arc::clone(&capture)),
        LoopOptions {
            poll_timeout: Duration::from_millis(100),
            ..LoopOptions::default()
        },
        shutdown.clone(),
    ));
    wait_until("the handler sees the event", || {
        !capture.seen.lock().unwrap().is_empty()
    })
    .await;
    shutdown.cancel();
    let stats = run.await.unwrap().unwrap();
    assert_eq!(
        stats.dead_lettered, 1,
        "the raw record is not an envelope: {stats:?}"
    );
    let seen = capture.seen.lock().unwrap().clone();
    assert_eq!(seen, vec![(env.id(), Some(sent_trace.trace_id()))]);

    // A batch large enough to be encoded on several threads carries the
    // publishing span's trace context on every record.
    let batch_topic = fresh_topic(bus.as_ref(), "headers-batch", 1).await;
    let events: Vec<_> = (0..600)
        .map(|i| (b"agg-1".to_vec(), envelope("agg-1", i, 0)))
        .collect();
    let span = tracing::info_span!("publish_test_batch");
    let batch_trace = tracechain_telemetry::span_trace_parent(&span)
        .expect("the telemetry layer gives spans a trace context");
    let positions = bus
        .publish_batch(&batch_topic, &events)
        .instrument(span)
        .await
        .unwrap();
    let mut reader = bus
        .reader(&batch_topic, &BTreeMap::from([(0, positions[0].offset)]))
        .await
        .unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + SETTLE;
    while got.len() < events.len() {
        assert!(Instant::now() < deadline, "batch not read back");
        got.extend(
            reader
                .poll_batch(events.len(), Duration::from_millis(500))
                .await
                .unwrap(),
        );
    }
    for (record, (_, sent)) in got.iter().zip(&events) {
        assert_eq!(record.envelope().unwrap(), *sent);
        let traceparent = record
            .headers
            .get_str(h::TRACEPARENT)
            .expect("every record of the batch has a traceparent");
        let received = tracechain_telemetry::TraceParent::parse(traceparent).unwrap();
        assert_eq!(received.trace_id(), batch_trace.trace_id());
    }
}

// --- volume -------------------------------------------------------------------

/// 100k events through `publish_batch`, then all consumed by one group member
/// (committing each batch); prints the rates.
pub(crate) async fn batch_of_100k_events(leg: &Leg) {
    const N: usize = 100_000;
    let bus = leg.bus.as_ref();
    let topic = fresh_topic(bus, "volume", 6).await;
    let events: Vec<_> = (0..N)
        .map(|i| {
            let key = format!("aggregate-{}", i % 1000);
            let env = envelope(&key, i as u64, 120);
            (key.into_bytes(), env)
        })
        .collect();
    let bytes: usize = events
        .iter()
        .map(|(_, e)| e.canonical_bytes().unwrap().len())
        .sum();
    let started = Instant::now();
    let positions = bus.publish_batch(&topic, &events).await.unwrap();
    let publish = started.elapsed();
    assert_eq!(positions.len(), N);
    drop(events);
    let ends = bus.end_offsets(&topic).await.unwrap();
    assert_eq!(ends.values().map(|e| *e as usize).sum::<usize>(), N);

    let join_started = Instant::now();
    let mut consumer = bus
        .subscribe(&unique("volume"), &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    let mut seen: HashMap<i32, HashSet<i64>> = HashMap::new();
    let mut count = 0usize;
    let mut first_record = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    while count < N {
        assert!(Instant::now() < deadline, "only {count} of {N} consumed");
        let batch = consumer
            .poll_batch(10_000, Duration::from_secs(1))
            .await
            .unwrap();
        if batch.is_empty() {
            continue;
        }
        first_record.get_or_insert_with(Instant::now);
        let handled: Vec<_> = batch.iter().map(Record::position).collect();
        consumer.commit(&handled).await.unwrap();
        for r in batch {
            assert!(
                seen.entry(r.partition).or_default().insert(r.offset),
                "duplicate"
            );
            count += 1;
        }
    }
    let done = Instant::now();
    consumer.close().await.unwrap();
    let first_record = first_record.unwrap_or(done);
    let join = first_record - join_started;
    let consume = done - first_record;
    let rate = |d: Duration| N as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "[{}] 100k events ({:.0} B avg): publish_batch {:.2} s = {:.0} events/s; consume+commit {:.2} s = {:.0} events/s; first record after {:.2} s (group join)",
        leg.name,
        bytes as f64 / N as f64,
        publish.as_secs_f64(),
        rate(publish),
        consume.as_secs_f64(),
        rate(consume),
        join.as_secs_f64(),
    );
    assert_eq!(count, N);
}
