//! The ledger's figures, each beside its baseline in the same run
//! (`cargo bench -p tracechain-ledger --bench ledger`; `make bench`):
//!
//! 1. **Anchoring throughput**: a topic pre-filled with `EVENTS` envelopes
//!    of ~300 bytes is anchored into durable, signed, published blocks by
//!    the real engine (in this process, over the real broker); beside it, a
//!    bare rdkafka consumer reads the same topic. Timed from the moment the
//!    engine starts writing to the moment the store holds every event.
//! 2. **Scale**: a chain of 1M and then 10M leaves is written straight into a
//!    block store (the append path the engine uses, without Kafka); then the
//!    `tracechain-ledger` binary is started on it (embedded bus), and the
//!    bench measures inclusion-proof latency over HTTP (p50/p99 of
//!    `GET /v1/events/{id}/proof`, random events) beside `GET /healthz` on the
//!    same server, and the process's RSS after start and after the proofs.
//!
//! `LEDGER_BENCH_EVENTS` (default 200000) and `LEDGER_BENCH_SCALES`
//! (default `1000000,10000000`) change the sizes.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::json;
use time::OffsetDateTime;
use tracechain_bus::{EventBus, KafkaBus, KafkaConfig, TopicSpec};
use tracechain_chain::{ChainVerifier, KeyRing, Positions};
use tracechain_core::SigningKey;
use tracechain_domain::{Envelope, EventType, Role, TenantId};
use tracechain_http::{ApiKeyTable, HttpSettings, generate_api_key};
use tracechain_ledger::settings::{ChainSettings, TopicSettings};
use tracechain_ledger::store::{BlockStore, StoreOptions};
use tracechain_ledger::{Application, LedgerSettings};
use tracechain_runtime::BusSettings;
use uuid::Uuid;

const PARTITIONS: i32 = 6;
/// Anchoring throughput the issue asks for.
const TARGET_RATE: f64 = 50_000.0;
/// Share of the bare consume rate the issue asks for.
const TARGET_SHARE: f64 = 0.70;
/// p99 proof latency the issue asks for at 10M leaves.
const TARGET_P99: Duration = Duration::from_millis(1);
/// RSS the issue allows, whatever the chain's length.
const TARGET_RSS_MIB: f64 = 256.0;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn envelope(n: usize) -> Envelope {
    Envelope::new(
        EventType::parse("scan.recorded").unwrap(),
        format!("shipment-{}", n % 1000),
        "ledger-bench",
        BTreeSet::from([TenantId::parse("acme").unwrap()]),
        json!({ "n": n, "kind": "pickup", "pad": "z".repeat(120) }),
    )
}

fn kafka() -> Arc<dyn EventBus> {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
    let mut config = KafkaConfig::new(brokers);
    config.session_timeout = Duration::from_secs(6);
    Arc::new(KafkaBus::connect(config).expect("a Kafka bus"))
}

fn bare_consume(brokers: &str, topic: &str, n: usize) -> Duration {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("ledger-bench-bare-{}", Uuid::now_v7()))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("bare consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(topic, p, Offset::Offset(0))
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let started = Instant::now();
    let mut got = 0;
    while got < n {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(500)) {
            black_box(message.payload().map(<[u8]>::len));
            got += 1;
        }
    }
    started.elapsed()
}

async fn anchoring(events: usize) {
    let bus = kafka();
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
    let id = format!("lb{}", Uuid::now_v7().simple());
    let topic = format!("{id}.input");
    bus.ensure_topics(&[TopicSpec::new(&topic, PARTITIONS)])
        .await
        .unwrap();
    let all: Vec<(Vec<u8>, Envelope)> = (0..events)
        .map(|n| {
            let e = envelope(n);
            (e.aggregate_id().as_bytes().to_vec(), e)
        })
        .collect();
    let mean = all
        .iter()
        .map(|(_, e)| e.canonical_bytes().unwrap().len())
        .sum::<usize>()
        / events;
    for chunk in all.chunks(2000) {
        bus.publish_batch(&topic, chunk).await.unwrap();
    }
    drop(all);

    let bare = {
        let (brokers, topic) = (brokers.clone(), topic.clone());
        tokio::task::spawn_blocking(move || bare_consume(&brokers, &topic, events))
            .await
            .unwrap()
    };

    let dir = tempfile::TempDir::new().unwrap();
    let settings = LedgerSettings {
        http: HttpSettings {
            host: "127.0.0.1".to_owned(),
            port: 0,
            ..HttpSettings::default()
        },
        bus: BusSettings {
            brokers,
            session_timeout_ms: 6000,
            ..BusSettings::default()
        },
        api_keys_file: None,
        chain: ChainSettings {
            origin: format!("ledger.bench/{id}"),
            data_dir: dir.path().join("data"),
            signing_key_file: dir.path().join("key.pem"),
            create_signing_key: true,
            ..ChainSettings::default()
        },
        topics: TopicSettings {
            inputs: vec![topic.clone()],
            input_partitions: PARTITIONS,
            blocks: format!("{id}.blocks"),
            election: format!("{id}.writer"),
            writer_group: format!("{id}-writer"),
            ..TopicSettings::default()
        },
        ..LedgerSettings::default()
    };
    let app = Application::build(settings, Arc::clone(&bus))
        .await
        .unwrap();
    let store = app.store();
    let status = app.engine().status();
    let stop = app.shutdown_token();
    let running = tokio::spawn(app.run_until_stopped());
    while !status.is_writer() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let started = Instant::now();
    while store.tree_size() < events as u64 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let ours = started.elapsed();
    let blocks = store.head().unwrap().header.height + 1;
    stop.cancel();
    running.await.unwrap().unwrap();

    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    let (ours_rate, bare_rate) = (rate(ours), rate(bare));
    let share = ours_rate / bare_rate;
    println!(
        "\n== anchoring {events} events of {mean} B from a pre-filled topic ({PARTITIONS} partitions), {blocks} blocks =="
    );
    println!(
        "bare rdkafka consume (no decoding)          {:>10.0} events/s",
        bare_rate
    );
    println!(
        "ledger: consume, dedup, sign, publish, fsync {:>10.0} events/s  = {:.0}% of bare  [target >= {:.0}/s and >= {:.0}%: {}]",
        ours_rate,
        share * 100.0,
        TARGET_RATE,
        TARGET_SHARE * 100.0,
        if ours_rate >= TARGET_RATE && share >= TARGET_SHARE {
            "met"
        } else {
            "NOT met"
        }
    );
}

/// Writes a chain of `leaves` synthetic events straight into a store.
fn build_store(dir: &Path, key: &SigningKey, origin: &str, leaves: usize) -> Vec<Uuid> {
    let options = StoreOptions::new(origin, KeyRing::new([key.verifying_key()]));
    let store = BlockStore::open(dir, &options).unwrap();
    let mut writer = ChainVerifier::from_genesis(origin, KeyRing::default());
    let mut samples = Vec::new();
    let per_block = 1000;
    let mut batch = Vec::new();
    let started = Instant::now();
    let mut n = 0;
    while n < leaves {
        let count = per_block.min(leaves - n);
        let events: Vec<Vec<u8>> = (n..n + count)
            .map(|i| {
                let e = envelope(i);
                if i % 997 == 0 {
                    samples.push(e.id());
                }
                e.canonical_bytes().unwrap()
            })
            .collect();
        n += count;
        let positions: Positions = [("bench".to_owned(), [(0, n as i64)].into())].into();
        let block = writer
            .seal_next(events, positions, OffsetDateTime::now_utc(), key)
            .unwrap();
        let offset = block.header().height as i64;
        batch.push((block, offset));
        if batch.len() == 16 || n == leaves {
            store.append(std::mem::take(&mut batch)).unwrap();
        }
        if n % 1_000_000 == 0 {
            eprintln!("  wrote {n} leaves in {:.0?}", started.elapsed());
        }
    }
    samples
}

/// Proof generation inside the store (no HTTP), after reopening it.
fn store_proofs(dir: &Path, key: &SigningKey, origin: &str, samples: &[Uuid]) {
    let options = StoreOptions::new(origin, KeyRing::new([key.verifying_key()]));
    let opened = Instant::now();
    let store = BlockStore::open(dir, &options).unwrap();
    let open_time = opened.elapsed();
    let size = store.tree_size();
    let mut times = Vec::with_capacity(10_000);
    for i in 0..10_000u64 {
        let leaf = (i.wrapping_mul(2_654_435_761)) % size;
        let started = Instant::now();
        black_box(store.inclusion_proof(leaf, size).unwrap());
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "BlockStore::open {open_time:.1?}; inclusion_proof at {size} leaves p50 {:>8.0?}  p99 {:>8.0?}  (10000 random leaves)",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );
    // What the proof handler does: find the event, then prove it.
    let mut times = Vec::with_capacity(samples.len());
    for id in samples {
        let started = Instant::now();
        let event = store.event(*id).unwrap().unwrap();
        black_box(
            store
                .inclusion_proof_and_root(event.leaf_index, size)
                .unwrap(),
        );
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "BlockStore::event + inclusion_proof_and_root           p50 {:>8.0?}  p99 {:>8.0?}  ({} events)",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.len()
    );
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

async fn latencies(client: &reqwest::Client, urls: &[String], key: &str) -> Vec<Duration> {
    let mut out = Vec::with_capacity(urls.len());
    for url in urls {
        let started = Instant::now();
        let response = client.get(url).bearer_auth(key).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        black_box(response.bytes().await.unwrap());
        out.push(started.elapsed());
    }
    out.sort();
    out
}

async fn scale(leaves: usize) {
    let dir = tempfile::TempDir::new_in(
        std::env::var("LEDGER_BENCH_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target").to_owned()),
    )
    .unwrap();
    let key = SigningKey::generate();
    std::fs::write(
        dir.path().join("key.pem"),
        key.to_pkcs8_pem().unwrap().as_bytes(),
    )
    .unwrap();
    let origin = "ledger.bench/scale";
    println!("\n== a chain of {leaves} leaves ==");
    let started = Instant::now();
    let samples = build_store(&dir.path().join("data"), &key, origin, leaves);
    println!(
        "written straight into the store in {:.1?}",
        started.elapsed()
    );
    // Measure reads, not the kernel writing back gigabytes of dirty pages.
    let _ = Command::new("sync").status();
    store_proofs(&dir.path().join("data"), &key, origin, &samples);

    let (api_key, entry) =
        generate_api_key(Role::Auditor, TenantId::parse("audit").unwrap(), "bench").unwrap();
    std::fs::write(
        dir.path().join("keys.json"),
        ApiKeyTable::from_entries(vec![entry])
            .unwrap()
            .to_json_pretty(),
    )
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let opened = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_tracechain-ledger"))
        .env("TRACECHAIN_HTTP__HOST", "127.0.0.1")
        .env("TRACECHAIN_HTTP__PORT", port.to_string())
        .env("TRACECHAIN_BUS__KIND", "embedded")
        .env("TRACECHAIN_BUS__DATA_DIR", dir.path().join("bus"))
        .env("TRACECHAIN_CHAIN__ORIGIN", origin)
        .env("TRACECHAIN_CHAIN__DATA_DIR", dir.path().join("data"))
        .env(
            "TRACECHAIN_CHAIN__SIGNING_KEY_FILE",
            dir.path().join("key.pem"),
        )
        .env("TRACECHAIN_API_KEYS_FILE", dir.path().join("keys.json"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let server = Server(child);
    let pid = server.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client
            .get(format!("{base}/v1/status"))
            .bearer_auth(&api_key)
            .send()
            .await
            && r.status().is_success()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let open_time = opened.elapsed();
    let rss_start = rss_mib(pid);

    let mut proof_urls: Vec<String> = samples
        .iter()
        .map(|id| format!("{base}/v1/events/{id}/proof"))
        .collect();
    proof_urls.truncate(5000);
    let health: Vec<String> = (0..proof_urls.len())
        .map(|_| format!("{base}/healthz"))
        .collect();
    let _warm = latencies(&client, &proof_urls[..200.min(proof_urls.len())], &api_key).await;
    let proofs = latencies(&client, &proof_urls, &api_key).await;
    let healthz = latencies(&client, &health, &api_key).await;
    let rss_after = rss_mib(pid);
    drop(server);

    println!("the binary checked the store and answered in {open_time:.1?}");
    println!(
        "GET /healthz                       p50 {:>8.0?}  p99 {:>8.0?}  ({} requests, one at a time)",
        percentile(&healthz, 0.5),
        percentile(&healthz, 0.99),
        healthz.len()
    );
    let p99 = percentile(&proofs, 0.99);
    println!(
        "GET /v1/events/{{id}}/proof (latest) p50 {:>8.0?}  p99 {:>8.0?}  [target p99 < {TARGET_P99:?}: {}]",
        percentile(&proofs, 0.5),
        p99,
        if p99 < TARGET_P99 { "met" } else { "NOT met" }
    );
    println!(
        "RSS of the ledger process: {rss_start:.0} MiB after start, {rss_after:.0} MiB after the proofs  [target < {TARGET_RSS_MIB:.0} MiB: {}]",
        if rss_after.max(rss_start) < TARGET_RSS_MIB {
            "met"
        } else {
            "NOT met"
        }
    );
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        anchoring(env_usize("LEDGER_BENCH_EVENTS", 200_000)).await;
        let scales =
            std::env::var("LEDGER_BENCH_SCALES").unwrap_or_else(|_| "1000000,10000000".to_owned());
        for leaves in scales
            .split(',')
            .filter_map(|s| s.trim().parse::<usize>().ok())
        {
            scale(leaves).await;
        }
    });
}
