//! `tracechain verify` against real chains: a ledger runs in this process on
//! the real broker, anchors a few hundred events, and the built binary
//! verifies its block store, its API and proofs saved from it — and refuses
//! them once a byte is changed.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracechain_bus::{EventBus, KafkaBus, KafkaConfig, TopicSpec};
use tracechain_core::{Checkpoint, Hash, NoteSigner, SigningKey};
use tracechain_domain::{Envelope, EventType, Role, TenantId};
use tracechain_http::{ApiKeyTable, HttpSettings, generate_api_key};
use tracechain_ledger::settings::{BlockSettings, ChainSettings, TopicSettings};
use tracechain_ledger::{Application, LedgerSettings};
use tracechain_runtime::BusSettings;

/// Events each test anchors.
const EVENTS: usize = 300;

// ---------------------------------------------------------------------------
// A ledger in this process (the minimal part of the ledger's own test helper).

/// A ledger that anchored [`EVENTS`] events, with what a verifier is given.
struct Chain {
    dir: TempDir,
    url: String,
    /// An auditor's API key (may read every event).
    api_key: String,
    origin: String,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
    store: Arc<tracechain_ledger::store::BlockStore>,
    events: Vec<Envelope>,
}

impl Chain {
    /// Starts a ledger on unique topics, publishes the events and waits
    /// until all are anchored.
    async fn anchored() -> Chain {
        let dir = TempDir::new().unwrap();
        let id = tracechain_testkit::unique_name("vt");
        let (secret, entry) = generate_api_key(
            Role::Auditor,
            TenantId::parse("audit-co").unwrap(),
            "auditor",
        )
        .unwrap();
        let api_keys = dir.path().join("api-keys.json");
        std::fs::write(
            &api_keys,
            ApiKeyTable::from_entries(vec![entry])
                .unwrap()
                .to_json_pretty(),
        )
        .unwrap();
        let inputs = vec![format!("{id}.registry"), format!("{id}.shipment")];
        let origin = format!("verify.test/{id}");
        let settings = LedgerSettings {
            http: HttpSettings {
                host: "127.0.0.1".to_owned(),
                port: 0,
                ..HttpSettings::default()
            },
            bus: BusSettings {
                brokers: tracechain_testkit::kafka_brokers(),
                session_timeout_ms: 6000,
                ..BusSettings::default()
            },
            api_keys_file: Some(api_keys),
            chain: ChainSettings {
                origin: origin.clone(),
                data_dir: dir.path().join("data"),
                signing_key_file: dir.path().join("signing-key.pem"),
                create_signing_key: true,
                ..ChainSettings::default()
            },
            topics: TopicSettings {
                inputs: inputs.clone(),
                input_partitions: 3,
                blocks: format!("{id}.blocks"),
                election: format!("{id}.writer"),
                writer_group: format!("{id}-writer"),
                ..TopicSettings::default()
            },
            // Small blocks, so a few hundred events make a chain with a middle.
            blocks: BlockSettings {
                max_events: 20,
                max_wait_ms: 50,
                ..BlockSettings::default()
            },
        };
        let bus = kafka_bus();
        let app = Application::build(settings, Arc::clone(&bus))
            .await
            .expect("the ledger starts");
        let url = format!("http://127.0.0.1:{}", app.port());
        let stop = app.shutdown_token();
        let store = app.store();
        let task = tokio::spawn(async move { app.run_until_stopped().await.unwrap() });

        let events: Vec<Envelope> = (0..EVENTS).map(event).collect();
        let specs: Vec<TopicSpec> = inputs.iter().map(|t| TopicSpec::new(t, 3)).collect();
        bus.ensure_topics(&specs).await.unwrap();
        for (i, topic) in inputs.iter().enumerate() {
            let batch: Vec<(Vec<u8>, Envelope)> = events
                .iter()
                .skip(i)
                .step_by(inputs.len())
                .map(|e| (e.aggregate_id().as_bytes().to_vec(), e.clone()))
                .collect();
            bus.publish_batch(topic, &batch).await.unwrap();
        }
        let chain = Chain {
            dir,
            url,
            api_key: secret,
            origin,
            stop,
            task: Some(task),
            store,
            events,
        };
        chain.wait_for_size(EVENTS as u64).await;
        chain
    }

    async fn wait_for_size(&self, size: u64) {
        let until = Instant::now() + Duration::from_secs(90);
        while self.store.tree_size() < size {
            assert!(
                Instant::now() < until,
                "only {} of {size} events anchored",
                self.store.tree_size()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the ledger stops in time")
                .unwrap();
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn signing_key(&self) -> SigningKey {
        let pem = std::fs::read_to_string(self.dir.path().join("signing-key.pem")).unwrap();
        SigningKey::from_pkcs8_pem(&pem).unwrap()
    }

    /// The ledger's public key as an SPKI PEM file (what an operator hands out).
    fn public_key_file(&self) -> String {
        let path = self.dir.path().join("ledger-public.pem");
        let pem = self
            .signing_key()
            .verifying_key()
            .to_public_key_pem()
            .unwrap();
        std::fs::write(&path, pem).unwrap();
        path.to_str().unwrap().to_owned()
    }

    async fn get_text(&self, path: &str) -> String {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.api_key)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    async fn get_json(&self, path: &str) -> Value {
        serde_json::from_str(&self.get_text(path).await).unwrap()
    }

    /// The note verifier key /v1/keys serves.
    async fn vkey(&self) -> String {
        let keys = self.get_json("/v1/keys").await;
        keys["keys"][0]["note_verifier_key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Writes `text` to a file in the test's directory; returns its path.
    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

fn kafka_bus() -> Arc<dyn EventBus> {
    let mut config = KafkaConfig::new(tracechain_testkit::kafka_brokers());
    config.session_timeout = Duration::from_secs(6);
    Arc::new(KafkaBus::connect(config).unwrap())
}

fn event(n: usize) -> Envelope {
    Envelope::new(
        EventType::parse("product.registered").unwrap(),
        format!("aggregate-{n}"),
        "verify-tests",
        BTreeSet::from([TenantId::parse("acme").unwrap()]),
        json!({ "n": n, "pad": "x".repeat(200) }),
    )
}

// ---------------------------------------------------------------------------
// Running the built binary.

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn passed(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        &self.stdout
    }

    /// Asserts exit code 1 with `want` in the error output.
    #[track_caller]
    fn failed_with(&self, want: &str) {
        assert_eq!(self.code, 1, "expected failure with {want:?}: {self:#?}");
        assert!(
            self.stderr.contains(want),
            "expected {want:?} in stderr: {self:#?}"
        );
    }
}

/// Runs `tracechain` with `args` on a blocking thread (a ledger may be
/// serving it from this process's runtime).
async fn tracechain(args: &[&str]) -> Run {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_tracechain"))
            .args(&args)
            .env_remove("TRACECHAIN_API_KEY")
            .output()
            .expect("run tracechain");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

#[track_caller]
fn field<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} line in {stdout}"))
}

// ---------------------------------------------------------------------------
// The block store's bytes (layouts of the ledger's segments and
// tracechain-chain's records), to change them the way corruption or an
// attacker would.

/// One frame of a segment file.
#[derive(Debug, Clone)]
struct Frame {
    /// Offset of the frame's length field.
    offset: usize,
    /// Record length.
    len: usize,
}

impl Frame {
    fn record(&self) -> Range<usize> {
        self.offset + 16..self.offset + 16 + self.len
    }
}

fn frames(segment: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < segment.len() {
        let len = u32::from_be_bytes(segment[at..at + 4].try_into().unwrap()) as usize;
        out.push(Frame { offset: at, len });
        at += 16 + len;
    }
    out
}

/// Where a record's parts are in the segment.
struct Parts {
    header: Range<usize>,
    signature: Range<usize>,
    events: Vec<Range<usize>>,
}

fn parts(segment: &[u8], frame: &Frame) -> Parts {
    let u32_at = |at: usize| u32::from_be_bytes(segment[at..at + 4].try_into().unwrap()) as usize;
    let mut at = frame.record().start + 4; // magic
    let header_len = u32_at(at);
    let header = at + 4..at + 4 + header_len;
    at = header.end;
    let signature = at..at + 64;
    at = signature.end;
    let note_len = u32_at(at);
    at += 4 + note_len;
    let count = u32_at(at);
    at += 4;
    let mut events = Vec::new();
    for _ in 0..count {
        let len = u32_at(at);
        events.push(at + 4..at + 4 + len);
        at += 4 + len;
    }
    assert_eq!(at, frame.record().end, "the record layout is as documented");
    Parts {
        header,
        signature,
        events,
    }
}

/// Recomputes a frame's CRC-32C (over topic offset ‖ record) so that only
/// the chain's own checks can notice a change.
fn fix_crc(segment: &mut [u8], frame: &Frame) {
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&segment[frame.offset + 8..frame.offset + 16]),
        &segment[frame.record()],
    );
    segment[frame.offset + 4..frame.offset + 8].copy_from_slice(&crc.to_be_bytes());
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

/// A copy of the store's `blocks/` directory with segment 0 changed by `change`.
fn damaged_copy(data_dir: &Path, change: impl FnOnce(&mut Vec<u8>)) -> TempDir {
    let copy = TempDir::new().unwrap();
    std::fs::create_dir(copy.path().join("blocks")).unwrap();
    for entry in std::fs::read_dir(data_dir.join("blocks")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            copy.path().join("blocks").join(entry.file_name()),
        )
        .unwrap();
    }
    let segment = copy.path().join("blocks/seg-00000000.tcb");
    let mut bytes = std::fs::read(&segment).unwrap();
    change(&mut bytes);
    std::fs::write(&segment, bytes).unwrap();
    copy
}

/// A checkpoint note for `size` and `root` signed by `key` as the log `origin`.
fn signed_checkpoint(origin: &str, size: u64, root: Hash, key: &SigningKey) -> String {
    Checkpoint::new(origin, size, root)
        .unwrap()
        .sign(&[NoteSigner::new(origin, key.clone()).unwrap()])
        .unwrap()
}

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn verify_store_passes_and_names_the_block_a_changed_byte_breaks() {
    let mut chain = Chain::anchored().await;
    let head = chain.get_json("/v1/head").await;
    let last = head["height"].as_u64().unwrap() as usize;
    assert!(last >= 6, "the test needs a chain with a middle: {head}");
    let mid = last / 2;
    let mid_block = chain.get_json(&format!("/v1/blocks/{mid}")).await;
    chain.stop().await;

    let data = chain.data_dir();
    let data = data.to_str().unwrap();
    let key = chain.public_key_file();

    // The untouched store verifies, from its data dir or its blocks/ dir.
    let out = tracechain(&["verify", "store", data, "--key", &key]).await;
    let stdout = out.passed();
    assert_eq!(field(stdout, "tree size:"), EVENTS.to_string());
    assert_eq!(field(stdout, "height:"), last.to_string());
    assert_eq!(field(stdout, "origin:"), chain.origin);
    assert_eq!(field(stdout, "root:"), head["root"].as_str().unwrap());
    assert!(
        stdout.contains(&format!(
            "blocks 0..={last} ({} blocks, {EVENTS} events)",
            last + 1
        )),
        "{stdout}"
    );
    // The head's checkpoint note follows the summary.
    assert!(stdout.contains(&format!("checkpoint:\n{}\n{EVENTS}\n", chain.origin)));
    let blocks_dir = format!("{data}/blocks");
    tracechain(&["verify", "store", &blocks_dir, "--key", &key])
        .await
        .passed();

    // Keys come from the verifier, never from the data.
    tracechain(&["verify", "store", data])
        .await
        .failed_with("no trusted keys");
    let stranger = SigningKey::generate().verifying_key().to_base64();
    tracechain(&["verify", "store", data, "--key", &stranger])
        .await
        .failed_with("block 0: signed by unknown key");
    tracechain(&[
        "verify",
        "store",
        data,
        "--key",
        &key,
        "--origin",
        "other.example/log",
    ])
    .await
    .failed_with("block 0: origin");

    let segment = std::fs::read(chain.data_dir().join("blocks/seg-00000000.tcb")).unwrap();
    let all = frames(&segment);
    assert_eq!(all.len(), last + 1);
    let frame = all[mid].clone();
    let layout = parts(&segment, &frame);
    let run_on = |copy: &TempDir| {
        let dir = copy.path().to_str().unwrap().to_owned();
        let key = key.clone();
        async move { tracechain(&["verify", "store", &dir, "--key", &key]).await }
    };

    // A changed byte anywhere in a frame: its checksum names the block.
    for at in [
        layout.header.start + 10,
        layout.signature.start + 7,
        layout.events[layout.events.len() / 2].start + 30,
    ] {
        let copy = damaged_copy(&chain.data_dir(), |b| b[at] ^= 0x01);
        run_on(&copy).await.failed_with(&format!(
            "block {mid}: frame at seg-00000000.tcb offset {}: checksum mismatch",
            frame.offset
        ));
    }

    // The same changes with the checksum recomputed: the chain's own checks
    // find them. The header's time (microsecond digit, still a valid time):
    let time_at = layout.header.start + find(&segment[layout.header.clone()], b"\"time\":\"") + 8;
    let micro_digit = time_at + 25;
    assert_eq!(segment[micro_digit + 1], b'Z');
    let copy = damaged_copy(&chain.data_dir(), |b| {
        b[micro_digit] ^= 0x01;
        fix_crc(b, &frame);
    });
    run_on(&copy)
        .await
        .failed_with(&format!("block {mid}: header signature"));
    // The signature:
    let copy = damaged_copy(&chain.data_dir(), |b| {
        b[layout.signature.start + 7] ^= 0x01;
        fix_crc(b, &frame);
    });
    run_on(&copy)
        .await
        .failed_with(&format!("block {mid}: header signature"));
    // An event's body ('x' becomes 'y': still canonical JSON):
    let event = layout.events[layout.events.len() / 2].clone();
    let x_at = event.start + find(&segment[event], b"xxxx");
    let copy = damaged_copy(&chain.data_dir(), |b| {
        b[x_at] ^= 0x01;
        fix_crc(b, &frame);
    });
    run_on(&copy)
        .await
        .failed_with(&format!("block {mid}: root recomputed from the events is"));
    // Its offset in ledger.blocks made equal to the block before's:
    let copy = damaged_copy(&chain.data_dir(), |b| {
        let before = all[mid - 1].offset;
        let previous: [u8; 8] = b[before + 8..before + 16].try_into().unwrap();
        b[frame.offset + 8..frame.offset + 16].copy_from_slice(&previous);
        fix_crc(b, &frame);
    });
    run_on(&copy)
        .await
        .failed_with(&format!("block {mid}: its offset in ledger.blocks"));
    // A torn final write.
    let tail = all[last].clone();
    let copy = damaged_copy(&chain.data_dir(), |b| b.truncate(tail.offset + 40));
    run_on(&copy).await.failed_with(&format!(
        "block {last}: frame at seg-00000000.tcb offset {}",
        tail.offset
    ));

    // From a trusted checkpoint: the one of the middle block.
    let note = chain.file("mid.checkpoint", mid_block["checkpoint"].as_str().unwrap());
    let mid_size = mid_block["header"]["tree_size"].as_u64().unwrap();
    let mid_root: Hash = mid_block["header"]["root"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let out = tracechain(&[
        "verify",
        "store",
        data,
        "--key",
        &key,
        "--from-checkpoint",
        &note,
    ])
    .await;
    let stdout = out.passed();
    assert!(
        stdout.contains(&format!(
            "blocks {}..={last} ({} blocks, {} events) after the trusted checkpoint at tree size {mid_size}",
            mid + 1,
            last - mid,
            EVENTS as u64 - mid_size
        )),
        "{stdout}"
    );
    assert_eq!(field(stdout, "tree size:"), EVENTS.to_string());
    // An event changed before the checkpoint is still found, in its block.
    let early = parts(&segment, &all[1]);
    let early_x = early.events[0].start + find(&segment[early.events[0].clone()], b"xxxx");
    let copy = damaged_copy(&chain.data_dir(), |b| {
        b[early_x] ^= 0x01;
        fix_crc(b, &all[1]);
    });
    let dir = copy.path().to_str().unwrap().to_owned();
    tracechain(&[
        "verify",
        "store",
        &dir,
        "--key",
        &key,
        "--from-checkpoint",
        &note,
    ])
    .await
    .failed_with("block 1: root recomputed from the events is");
    // A checkpoint is trusted only when a given key signed it...
    let forged = chain.file(
        "forged.checkpoint",
        &signed_checkpoint(&chain.origin, mid_size, mid_root, &SigningKey::generate()),
    );
    tracechain(&[
        "verify",
        "store",
        data,
        "--key",
        &key,
        "--from-checkpoint",
        &forged,
    ])
    .await
    .failed_with("not a checkpoint of");
    // ...and the store must hold exactly that tree.
    let wrong_root = chain.file(
        "wrong-root.checkpoint",
        &signed_checkpoint(
            &chain.origin,
            mid_size,
            Hash::from_bytes([7; 32]),
            &chain.signing_key(),
        ),
    );
    tracechain(&[
        "verify",
        "store",
        data,
        "--key",
        &key,
        "--from-checkpoint",
        &wrong_root,
    ])
    .await
    .failed_with(&format!(
        "block {mid}: the events up to tree size {mid_size} give root {mid_root}"
    ));
    // A tree size inside a block (one after its first leaf).
    let (inside_size, inside_root) = all
        .iter()
        .find_map(|frame| {
            let layout = parts(&segment, frame);
            let header: Value = serde_json::from_slice(&segment[layout.header]).unwrap();
            (layout.events.len() >= 2).then(|| {
                let root: Hash = header["root"].as_str().unwrap().parse().unwrap();
                (header["first_leaf"].as_u64().unwrap() + 1, root)
            })
        })
        .expect("a block with two events");
    let inside = chain.file(
        "inside.checkpoint",
        &signed_checkpoint(
            &chain.origin,
            inside_size,
            inside_root,
            &chain.signing_key(),
        ),
    );
    tracechain(&[
        "verify",
        "store",
        data,
        "--key",
        &key,
        "--from-checkpoint",
        &inside,
    ])
    .await
    .failed_with("no block ends at the trusted checkpoint's tree size");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_url_walks_a_running_ledger_with_consistency_proofs() {
    let mut chain = Chain::anchored().await;
    let head = chain.get_json("/v1/head").await;
    let last = head["height"].as_u64().unwrap();
    let url = chain.url.clone();
    let vkey = chain.vkey().await;
    let api_key = chain.api_key.clone();

    let out = tracechain(&["verify", "url", &url, "--api-key", &api_key, "--key", &vkey]).await;
    let stdout = out.passed();
    assert_eq!(field(stdout, "tree size:"), EVENTS.to_string());
    assert_eq!(field(stdout, "height:"), last.to_string());
    assert_eq!(field(stdout, "root:"), head["root"].as_str().unwrap());
    assert!(
        stdout.contains(&format!(
            "blocks 0..={last} ({} blocks, {EVENTS} events)",
            last + 1
        )),
        "{stdout}"
    );

    // From a trusted checkpoint in the middle, and from the head's own.
    let mid = last / 2;
    let mid_block = chain.get_json(&format!("/v1/blocks/{mid}")).await;
    let mid_size = mid_block["header"]["tree_size"].as_u64().unwrap();
    let note = chain.file("mid.checkpoint", mid_block["checkpoint"].as_str().unwrap());
    let out = tracechain(&[
        "verify",
        "url",
        &url,
        "--api-key",
        &api_key,
        "--key",
        &vkey,
        "--from-checkpoint",
        &note,
    ])
    .await;
    assert!(
        out.passed().contains(&format!(
            "blocks {}..={last} ({} blocks, {} events) after the trusted checkpoint at tree size {mid_size}",
            mid + 1,
            last - mid,
            EVENTS as u64 - mid_size
        )),
        "{out:#?}"
    );
    let head_note = chain.file("head.checkpoint", &chain.get_text("/v1/checkpoint").await);
    let out = tracechain(&[
        "verify",
        "url",
        &url,
        "--api-key",
        &api_key,
        "--key",
        &vkey,
        "--from-checkpoint",
        &head_note,
    ])
    .await;
    assert!(
        out.passed()
            .contains("no blocks after the trusted checkpoint"),
        "{out:#?}"
    );
    // A checkpoint of a bigger tree than the ledger serves: it rolled back.
    let ahead = chain.file(
        "ahead.checkpoint",
        &signed_checkpoint(
            &chain.origin,
            EVENTS as u64 + 5,
            Hash::from_bytes([1; 32]),
            &chain.signing_key(),
        ),
    );
    tracechain(&[
        "verify",
        "url",
        &url,
        "--api-key",
        &api_key,
        "--key",
        &vkey,
        "--from-checkpoint",
        &ahead,
    ])
    .await
    .failed_with("behind the trusted checkpoint");

    // Keys served by the ledger are trusted only with a warning.
    let out = tracechain(&[
        "verify",
        "url",
        &url,
        "--api-key",
        &api_key,
        "--keys-from",
        &url,
    ])
    .await;
    assert_eq!(field(out.passed(), "tree size:"), EVENTS.to_string());
    assert!(
        out.stderr.contains("warning: trusting 1 key(s) served by"),
        "{out:#?}"
    );
    // The wrong key, no key, the wrong API key.
    let stranger = SigningKey::generate().verifying_key().to_base64();
    tracechain(&[
        "verify",
        "url",
        &url,
        "--api-key",
        &api_key,
        "--key",
        &stranger,
    ])
    .await
    .failed_with("block 0: signed by unknown key");
    tracechain(&["verify", "url", &url, "--api-key", &api_key])
        .await
        .failed_with("no trusted keys");
    tracechain(&[
        "verify",
        "url",
        &url,
        "--api-key",
        "tc_wrong",
        "--key",
        &vkey,
    ])
    .await
    .failed_with("401");
    // A vkey names its log: it cannot vouch for another origin.
    tracechain(&[
        "verify",
        "url",
        &url,
        "--api-key",
        &api_key,
        "--key",
        &vkey,
        "--origin",
        "other.example/log",
    ])
    .await
    .failed_with("is the note key of the log");

    // The store verifies while the ledger runs, and the ledger is not disturbed.
    let data = chain.data_dir();
    let key = chain.public_key_file();
    let out = tracechain(&["verify", "store", data.to_str().unwrap(), "--key", &key]).await;
    assert_eq!(field(out.passed(), "tree size:"), EVENTS.to_string());
    tracechain(&["verify", "url", &url, "--api-key", &api_key, "--key", &vkey])
        .await
        .passed();
    chain.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_proof_checks_saved_files_offline_and_refuses_any_change() {
    let mut chain = Chain::anchored().await;
    let vkey = chain.vkey().await;
    let checkpoint = chain.get_text("/v1/checkpoint").await;
    let size: u64 = checkpoint.lines().nth(1).unwrap().parse().unwrap();
    assert_eq!(size, EVENTS as u64);
    let id = chain.events[123].id();
    let response = chain.get_json(&format!("/v1/events/{id}")).await;
    let proof = chain
        .get_json(&format!("/v1/events/{id}/proof?tree_size={size}"))
        .await;
    // An older tree: block 1's, with an event of block 0 or 1.
    let block1 = chain.get_json("/v1/blocks/1").await;
    let old_size = block1["header"]["tree_size"].as_u64().unwrap();
    let old_id = block1["events"][0]["event_id"].as_str().unwrap().to_owned();
    let old_event = chain.get_json(&format!("/v1/events/{old_id}")).await;
    let old_proof = chain
        .get_json(&format!("/v1/events/{old_id}/proof?tree_size={old_size}"))
        .await;
    chain.stop().await;

    // Everything below is offline.
    let event_file = chain.file("event.json", &response["event"].to_string());
    let response_file = chain.file(
        "event-response.json",
        &serde_json::to_string_pretty(&response).unwrap(),
    );
    let proof_file = chain.file("proof.json", &proof.to_string());
    let note_file = chain.file("checkpoint.txt", &checkpoint);
    let pem = chain.public_key_file();
    let verify = |event: String, proof: String, note: Option<String>, key: String| async move {
        let mut args = vec![
            "verify", "proof", "--event", &event, "--proof", &proof, "--key", &key,
        ];
        if let Some(note) = &note {
            args.extend(["--checkpoint", note.as_str()]);
        }
        tracechain(&args).await
    };

    let out = verify(
        event_file.clone(),
        proof_file.clone(),
        Some(note_file.clone()),
        vkey.clone(),
    )
    .await;
    let leaf = proof["leaf_index"].as_u64().unwrap();
    assert!(
        out.passed().starts_with(&format!(
            "verified:   event {id} is leaf {leaf} of the log {} at tree size {size}",
            chain.origin
        )),
        "{out:#?}"
    );
    // The whole /v1/events response, a PEM key, and the proof's own checkpoint.
    verify(response_file.clone(), proof_file.clone(), None, pem.clone())
        .await
        .passed();
    // Against an older checkpoint.
    let old_event_file = chain.file("old-event.json", &old_event.to_string());
    let old_proof_file = chain.file("old-proof.json", &old_proof.to_string());
    let old_note = chain.file("old.checkpoint", block1["checkpoint"].as_str().unwrap());
    let out = verify(
        old_event_file.clone(),
        old_proof_file.clone(),
        Some(old_note),
        vkey.clone(),
    )
    .await;
    assert_eq!(field(out.passed(), "tree size:"), old_size.to_string());

    // Changed proof path, leaf index, event body, checkpoint; wrong key.
    let mut bad = proof.clone();
    let first = bad["path"][0].as_str().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        if first.starts_with('0') { "1" } else { "0" },
        &first[1..]
    );
    bad["path"][0] = json!(flipped);
    let bad_path = chain.file("bad-path.json", &bad.to_string());
    verify(
        event_file.clone(),
        bad_path,
        Some(note_file.clone()),
        vkey.clone(),
    )
    .await
    .failed_with("does not lead to the checkpoint's root");
    let mut bad = proof.clone();
    bad["leaf_index"] = json!(leaf + 1);
    let bad_index = chain.file("bad-index.json", &bad.to_string());
    verify(
        event_file.clone(),
        bad_index,
        Some(note_file.clone()),
        vkey.clone(),
    )
    .await
    .failed_with(&format!("the inclusion proof of leaf {}", leaf + 1));
    let mut body = response["event"].clone();
    body["payload"]["n"] = json!(124);
    let bad_event = chain.file("bad-event.json", &body.to_string());
    verify(
        bad_event,
        proof_file.clone(),
        Some(note_file.clone()),
        vkey.clone(),
    )
    .await
    .failed_with("the event is not the one that was anchored");
    let mut response_for_other = response.clone();
    response_for_other["event"]["id"] = json!(old_id);
    let other_event = chain.file("other-event.json", &response_for_other["event"].to_string());
    verify(
        other_event,
        proof_file.clone(),
        Some(note_file.clone()),
        vkey.clone(),
    )
    .await
    .failed_with("but the proof is for event");
    let mut lines: Vec<String> = checkpoint.lines().map(str::to_owned).collect();
    lines[2] = Hash::from_bytes([9; 32]).to_base64();
    let bad_note = chain.file("bad.checkpoint", &(lines.join("\n") + "\n"));
    verify(
        event_file.clone(),
        proof_file.clone(),
        Some(bad_note),
        vkey.clone(),
    )
    .await
    .failed_with("the checkpoint is not signed by a given key");
    let stranger = SigningKey::generate().verifying_key().to_base64();
    verify(
        event_file.clone(),
        proof_file.clone(),
        Some(note_file.clone()),
        stranger,
    )
    .await
    .failed_with("the checkpoint is not signed by a given key");
    // A proof for another tree size than the checkpoint's.
    verify(old_event_file, old_proof_file, Some(note_file), vkey)
        .await
        .failed_with(&format!("the proof is for tree size {old_size}"));
}
