//! The conformance suite against the embedded bus (a fresh temporary data
//! directory per test), plus what only the embedded bus has: restarts,
//! torn-tail recovery and refusal of corruption.

mod conformance;

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use conformance::{Leg, envelope, fresh_topic, unique};
use futures::StreamExt;
use tracechain_bus::{
    BusError, ConsumerOptions, EmbeddedBus, EmbeddedOptions, EventBus, Headers, Record, StreamEvent,
};

fn leg() -> Leg {
    let dir = tempfile::tempdir().expect("temporary directory");
    let bus = EmbeddedBus::open(dir.path()).expect("embedded bus opens");
    Leg {
        name: "embedded",
        bus: Arc::new(bus),
        _guard: Some(Box::new(dir)),
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                conformance::$name(&leg()).await;
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

fn segment_files(dir: &Path, topic: &str, partition: i32) -> Vec<PathBuf> {
    let mut files: Vec<_> =
        fs::read_dir(dir.join("topics").join(topic).join(partition.to_string()))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
    files.sort();
    files
}

async fn read_all(bus: &EmbeddedBus, topic: &str) -> Vec<Record> {
    let mut reader = bus.reader(topic, &BTreeMap::from([(0, 0)])).await.unwrap();
    let mut out = Vec::new();
    loop {
        let batch = reader
            .poll_batch(1000, Duration::from_millis(50))
            .await
            .unwrap();
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loses_nothing_and_redelivers_only_uncommitted_events() {
    let dir = tempfile::tempdir().unwrap();
    let group = unique("restart");
    let topic;
    let committed_positions;
    {
        let bus = EmbeddedBus::open(dir.path()).unwrap();
        topic = fresh_topic(&bus, "restart", 3).await;
        let events: Vec<_> = (0..50)
            .map(|i| {
                (
                    format!("k{i}").into_bytes(),
                    envelope(&format!("k{i}"), i, 0),
                )
            })
            .collect();
        bus.publish_batch(&topic, &events).await.unwrap();
        let mut consumer = bus
            .subscribe(&group, &[&topic], ConsumerOptions::default())
            .await
            .unwrap();
        let got = consumer
            .poll_batch(20, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(got.len(), 20);
        committed_positions = got.iter().map(Record::position).collect::<Vec<_>>();
        consumer.commit(&committed_positions).await.unwrap();
        // More records polled but not committed, then the process "dies".
        let _uncommitted = consumer
            .poll_batch(10, Duration::from_secs(5))
            .await
            .unwrap();
    }
    let bus = EmbeddedBus::open(dir.path()).unwrap();
    let ends = bus.end_offsets(&topic).await.unwrap();
    assert_eq!(
        ends.values().sum::<i64>(),
        50,
        "every acknowledged event survived"
    );
    let mut consumer = bus
        .subscribe(&group, &[&topic], ConsumerOptions::default())
        .await
        .unwrap();
    let again = conformance::consume(consumer.as_mut(), 30, Duration::from_secs(10)).await;
    for r in &again {
        assert!(
            !committed_positions.contains(&r.position()),
            "committed {r:?} redelivered"
        );
    }
    assert!(
        consumer
            .poll_batch(10, Duration::from_millis(200))
            .await
            .unwrap()
            .is_empty()
    );
    // Offsets continue where they were.
    let pos = bus
        .publish(&topic, b"k0", &envelope("k0", 50, 0))
        .await
        .unwrap();
    assert_eq!(pos.offset, ends[&pos.partition]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_trailing_write_is_cut_off_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let topic;
    {
        let bus = EmbeddedBus::open(dir.path()).unwrap();
        topic = fresh_topic(&bus, "torn", 1).await;
        for i in 0..5 {
            bus.publish(&topic, b"k", &envelope("k", i, 0))
                .await
                .unwrap();
        }
    }
    let segment = segment_files(dir.path(), &topic, 0).pop().unwrap();
    let acknowledged = fs::metadata(&segment).unwrap().len();
    {
        let bus = EmbeddedBus::open(dir.path()).unwrap();
        bus.publish(&topic, b"k", &envelope("k", 5, 0))
            .await
            .unwrap();
    }
    // A crash in the middle of the sixth append: only half of it reached the disk.
    let written = fs::metadata(&segment).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(acknowledged + (written - acknowledged) / 2)
        .unwrap();

    let bus = EmbeddedBus::open(dir.path()).unwrap();
    assert_eq!(
        fs::metadata(&segment).unwrap().len(),
        acknowledged,
        "torn tail cut off"
    );
    assert_eq!(read_all(&bus, &topic).await.len(), 5);
    let pos = bus
        .publish(&topic, b"k", &envelope("k", 5, 0))
        .await
        .unwrap();
    assert_eq!(pos.offset, 5);
    drop(bus);
    // Garbage after a complete write is cut off too (a zero-filled tail).
    OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap()
        .write_all(&[0u8; 64])
        .unwrap();
    let bus = EmbeddedBus::open(dir.path()).unwrap();
    assert_eq!(read_all(&bus, &topic).await.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corruption_before_the_tail_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let topic;
    {
        let bus = EmbeddedBus::open(dir.path()).unwrap();
        topic = fresh_topic(&bus, "corrupt", 1).await;
        for i in 0..3 {
            bus.publish(&topic, b"k", &envelope("k", i, 0))
                .await
                .unwrap();
        }
    }
    let segment = segment_files(dir.path(), &topic, 0).pop().unwrap();
    let mut bytes = fs::read(&segment).unwrap();
    bytes[40] ^= 0x20; // inside the first batch's body
    fs::write(&segment, &bytes).unwrap();
    let err = EmbeddedBus::open(dir.path()).unwrap_err();
    assert!(matches!(err, BusError::Corrupt { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&topic) && message.contains("checksum"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_roll_and_are_read_across_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        max_segment_bytes: 4096,
        ..EmbeddedOptions::default()
    };
    let topic;
    {
        let bus = EmbeddedBus::open_with(dir.path(), options.clone()).unwrap();
        topic = fresh_topic(&bus, "roll", 1).await;
        for chunk in 0..20u64 {
            let events: Vec<_> = (0..10)
                .map(|i| (b"k".to_vec(), envelope("k", chunk * 10 + i, 50)))
                .collect();
            bus.publish_batch(&topic, &events).await.unwrap();
        }
    }
    assert!(segment_files(dir.path(), &topic, 0).len() > 5);
    let bus = EmbeddedBus::open_with(dir.path(), options).unwrap();
    let records = read_all(&bus, &topic).await;
    assert_eq!(records.len(), 200);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.offset, i as i64);
        assert_eq!(r.envelope().unwrap().payload()["seq"], i as u64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_topics_and_oversized_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EmbeddedBus::open_with(
        dir.path(),
        EmbeddedOptions {
            max_record_bytes: 1024,
            ..EmbeddedOptions::default()
        },
    )
    .unwrap();
    let missing = unique("missing");
    assert!(matches!(
        bus.publish(&missing, b"k", &envelope("k", 0, 0)).await,
        Err(BusError::UnknownTopic { .. })
    ));
    let topic = fresh_topic(&bus, "big", 1).await;
    let err = bus
        .publish_raw(&topic, None, Headers::new(), &vec![0u8; 2000])
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::RecordTooLarge { .. }), "{err}");
    assert_eq!(
        bus.end_offsets(&topic).await.unwrap()[&0],
        0,
        "nothing half-written"
    );

    // A publish stream fails the oversized record alone, and every record
    // for a missing topic.
    let events = [
        (b"k".to_vec(), envelope("k", 0, 0)),
        (b"k".to_vec(), envelope("k", 1, 2000)),
        (b"k".to_vec(), envelope("k", 2, 0)),
    ];
    let input = futures::stream::iter(events.iter().map(StreamEvent::from));
    let outcomes: Vec<_> = bus.publish_stream(&topic, input.boxed(), 2).collect().await;
    assert_eq!(outcomes.len(), 3);
    assert_eq!(outcomes[0].as_ref().unwrap().offset, 0);
    assert!(
        matches!(outcomes[1], Err(BusError::RecordTooLarge { .. })),
        "{:?}",
        outcomes[1]
    );
    assert_eq!(outcomes[2].as_ref().unwrap().offset, 1);
    let small: Vec<_> = (0..3)
        .map(|seq| StreamEvent::owned(b"k".to_vec(), envelope("k", seq, 0)))
        .collect();
    let outcomes: Vec<_> = bus
        .publish_stream(&missing, futures::stream::iter(small).boxed(), 2)
        .collect()
        .await;
    assert_eq!(outcomes.len(), 3);
    for outcome in outcomes {
        assert!(
            matches!(outcome, Err(BusError::UnknownTopic { .. })),
            "{outcome:?}"
        );
    }
}
