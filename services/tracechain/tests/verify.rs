//! `tracechain verify` against real chains: a ledger runs in this process on
//! the real broker, anchors a few hundred events, and the built binary
//! verifies its block store, its API and proofs saved from it — and refuses
//! them once a byte is changed.

#[path = "../../ledger/tests/common/mod.rs"]
mod ledger_tests;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ledger_tests::{Ledger, Shared, event, publish};
use serde_json::{Value, json};
use tempfile::TempDir;
use tracechain_core::{Checkpoint, Hash, NoteSigner, SigningKey};
use tracechain_domain::Envelope;
use tracechain_ledger::settings::BlockSettings;
use tracechain_testkit::{CommandOutput, field};

/// Events each test anchors.
const EVENTS: usize = 300;

// ---------------------------------------------------------------------------
// A ledger in this process (the ledger's own test support, `ledger_tests`).

/// A ledger that anchored [`EVENTS`] events, with what a verifier is given.
struct Chain {
    /// Its files, keys and names.
    shared: Shared,
    /// `None` once stopped.
    ledger: Option<Ledger>,
    url: String,
    /// An auditor's API key (may read every event).
    api_key: String,
    origin: String,
    events: Vec<Envelope>,
}

impl Chain {
    /// Starts a ledger on unique topics, publishes the events and waits
    /// until all are anchored.
    async fn anchored() -> Chain {
        let shared = Shared::new();
        // Small blocks, so a few hundred events make a chain with a middle.
        let blocks = BlockSettings {
            max_events: 20,
            max_wait_ms: 50,
            ..BlockSettings::default()
        };
        let ledger = Ledger::spawn(shared.settings("data", blocks)).await;
        let events: Vec<Envelope> = (0..EVENTS)
            .map(|n| event("product.registered", "acme", n))
            .collect();
        publish(ledger_tests::kafka_bus().as_ref(), &shared.names, &events).await;
        ledger
            .wait_for_size(EVENTS as u64, Duration::from_secs(90))
            .await;
        Chain {
            url: ledger.url.clone(),
            api_key: shared.keys.auditor.clone(),
            origin: shared.names.origin.clone(),
            shared,
            ledger: Some(ledger),
            events,
        }
    }

    async fn stop(&mut self) {
        if let Some(ledger) = self.ledger.take() {
            ledger.stop().await;
        }
    }

    fn dir(&self) -> &Path {
        self.shared.dir.path()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    fn signing_key(&self) -> SigningKey {
        let pem = std::fs::read_to_string(self.dir().join("signing-key.pem")).unwrap();
        SigningKey::from_pkcs8_pem(&pem).unwrap()
    }

    /// The ledger's public key as an SPKI PEM file (what an operator hands out).
    fn public_key_file(&self) -> String {
        let path = self.dir().join("ledger-public.pem");
        let pem = self
            .signing_key()
            .verifying_key()
            .to_public_key_pem()
            .unwrap();
        std::fs::write(&path, pem).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn ledger(&self) -> &Ledger {
        self.ledger.as_ref().expect("the ledger runs")
    }

    async fn get_text(&self, path: &str) -> String {
        self.ledger().get_text(&self.api_key, path).await
    }

    async fn get_json(&self, path: &str) -> Value {
        self.ledger().get_json(&self.api_key, path).await
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
        let path = self.dir().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

// ---------------------------------------------------------------------------
// Running the built binary.

/// Runs `tracechain` with `args` on a blocking thread (a ledger may be
/// serving it from this process's runtime).
async fn tracechain(args: &[&str]) -> CommandOutput {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        CommandOutput::run(
            Command::new(env!("CARGO_BIN_EXE_tracechain"))
                .args(&args)
                .env_remove("TRACECHAIN_API_KEY"),
        )
    })
    .await
    .unwrap()
}

/// `tracechain verify store <dir> --key <key>`, then `more`.
async fn verify_store(dir: &str, key: &str, more: &[&str]) -> CommandOutput {
    let mut args = vec!["verify", "store", dir, "--key", key];
    args.extend_from_slice(more);
    tracechain(&args).await
}

/// `tracechain verify url <url> --api-key <api_key>`, then `more`.
async fn verify_url(url: &str, api_key: &str, more: &[&str]) -> CommandOutput {
    let mut args = vec!["verify", "url", url, "--api-key", api_key];
    args.extend_from_slice(more);
    tracechain(&args).await
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

/// `tracechain verify proof` of `event` with `proof` and `key`, against
/// the checkpoint `note` when given (else the proof's own).
async fn verify_proof(event: &str, proof: &str, note: Option<&str>, key: &str) -> CommandOutput {
    let mut args = vec![
        "verify", "proof", "--event", event, "--proof", proof, "--key", key,
    ];
    if let Some(note) = note {
        args.extend(["--checkpoint", note]);
    }
    tracechain(&args).await
}

/// Asserts a passed verification of the whole chain: [`EVENTS`] events in
/// blocks `0..=last`, ending at `root`.
#[track_caller]
fn assert_whole_chain(out: &CommandOutput, last: u64, root: &str) {
    let stdout = out.passed();
    assert_eq!(field(stdout, "tree size:"), EVENTS.to_string());
    assert_eq!(field(stdout, "height:"), last.to_string());
    assert_eq!(field(stdout, "root:"), root);
    assert!(
        stdout.contains(&format!(
            "blocks 0..={last} ({} blocks, {EVENTS} events)",
            last + 1
        )),
        "{out:#?}"
    );
}

/// Asserts a passed verification from the trusted checkpoint of block
/// `mid` (tree size `mid_size`): blocks `mid + 1..=last`.
#[track_caller]
fn assert_after_checkpoint(out: &CommandOutput, mid: u64, last: u64, mid_size: u64) {
    assert!(
        out.passed().contains(&format!(
            "blocks {}..={last} ({} blocks, {} events) after the trusted checkpoint at tree size {mid_size}",
            mid + 1,
            last - mid,
            EVENTS as u64 - mid_size
        )),
        "{out:#?}"
    );
}

/// `change` to a frame's bytes, then its checksum recomputed.
fn resealed(frame: &Frame, change: impl FnOnce(&mut Vec<u8>)) -> impl FnOnce(&mut Vec<u8>) {
    move |bytes| {
        change(bytes);
        fix_crc(bytes, frame);
    }
}

/// `tracechain verify store` (then `more`) on a copy of the store at
/// `data` changed by `change` fails with `want`.
async fn refused(
    data: &str,
    key: &str,
    more: &[&str],
    change: impl FnOnce(&mut Vec<u8>),
    want: &str,
) {
    let copy = damaged_copy(Path::new(data), change);
    verify_store(copy.path().to_str().unwrap(), key, more)
        .await
        .failed_with(want);
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
    let out = verify_store(data, &key, &[]).await;
    assert_whole_chain(&out, last as u64, head["root"].as_str().unwrap());
    let stdout = out.passed();
    assert_eq!(field(stdout, "origin:"), chain.origin);
    // The head's checkpoint note follows the summary.
    assert!(stdout.contains(&format!("checkpoint:\n{}\n{EVENTS}\n", chain.origin)));
    let blocks_dir = format!("{data}/blocks");
    verify_store(&blocks_dir, &key, &[]).await.passed();

    // Keys come from the verifier, never from the data.
    tracechain(&["verify", "store", data])
        .await
        .failed_with("no trusted keys");
    let stranger = SigningKey::generate().verifying_key().to_base64();
    verify_store(data, &stranger, &[])
        .await
        .failed_with("block 0: signed by unknown key");
    verify_store(data, &key, &["--origin", "other.example/log"])
        .await
        .failed_with("block 0: origin");

    let segment = std::fs::read(chain.data_dir().join("blocks/seg-00000000.tcb")).unwrap();
    let all = frames(&segment);
    assert_eq!(all.len(), last + 1);
    let frame = all[mid].clone();
    let layout = parts(&segment, &frame);

    // A changed byte anywhere in a frame: its checksum names the block.
    for at in [
        layout.header.start + 10,
        layout.signature.start + 7,
        layout.events[layout.events.len() / 2].start + 30,
    ] {
        let want = format!(
            "block {mid}: frame at seg-00000000.tcb offset {}: checksum mismatch",
            frame.offset
        );
        refused(data, &key, &[], |b| b[at] ^= 0x01, &want).await;
    }

    // The same changes with the checksum recomputed: the chain's own checks
    // find them. The header's time (microsecond digit, still a valid time):
    let time_at = layout.header.start + find(&segment[layout.header.clone()], b"\"time\":\"") + 8;
    let micro_digit = time_at + 25;
    assert_eq!(segment[micro_digit + 1], b'Z');
    let signature = format!("block {mid}: header signature");
    let change = resealed(&frame, |b| b[micro_digit] ^= 0x01);
    refused(data, &key, &[], change, &signature).await;
    // The signature:
    let change = resealed(&frame, |b| b[layout.signature.start + 7] ^= 0x01);
    refused(data, &key, &[], change, &signature).await;
    // An event's body ('x' becomes 'y': still canonical JSON):
    let event = layout.events[layout.events.len() / 2].clone();
    let x_at = event.start + find(&segment[event], b"xxxx");
    let want = format!("block {mid}: root recomputed from the events is");
    refused(
        data,
        &key,
        &[],
        resealed(&frame, |b| b[x_at] ^= 0x01),
        &want,
    )
    .await;
    // Its offset in ledger.blocks made equal to the block before's:
    let change = resealed(&frame, |b| {
        let before = all[mid - 1].offset;
        let previous: [u8; 8] = b[before + 8..before + 16].try_into().unwrap();
        b[frame.offset + 8..frame.offset + 16].copy_from_slice(&previous);
    });
    let want = format!("block {mid}: its offset in ledger.blocks");
    refused(data, &key, &[], change, &want).await;
    // A torn final write.
    let tail = all[last].clone();
    let want = format!(
        "block {last}: frame at seg-00000000.tcb offset {}",
        tail.offset
    );
    refused(data, &key, &[], |b| b.truncate(tail.offset + 40), &want).await;

    // From a trusted checkpoint: the one of the middle block.
    let note = chain.file("mid.checkpoint", mid_block["checkpoint"].as_str().unwrap());
    let mid_size = mid_block["header"]["tree_size"].as_u64().unwrap();
    let mid_root: Hash = mid_block["header"]["root"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let out = verify_store(data, &key, &["--from-checkpoint", &note]).await;
    assert_after_checkpoint(&out, mid as u64, last as u64, mid_size);
    assert_eq!(field(out.passed(), "tree size:"), EVENTS.to_string());
    // An event changed before the checkpoint is still found, in its block.
    let early = parts(&segment, &all[1]);
    let early_x = early.events[0].start + find(&segment[early.events[0].clone()], b"xxxx");
    refused(
        data,
        &key,
        &["--from-checkpoint", &note],
        resealed(&all[1], |b| b[early_x] ^= 0x01),
        "block 1: root recomputed from the events is",
    )
    .await;
    // A checkpoint is trusted only when a given key signed it...
    let forged = chain.file(
        "forged.checkpoint",
        &signed_checkpoint(&chain.origin, mid_size, mid_root, &SigningKey::generate()),
    );
    verify_store(data, &key, &["--from-checkpoint", &forged])
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
    verify_store(data, &key, &["--from-checkpoint", &wrong_root])
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
    verify_store(data, &key, &["--from-checkpoint", &inside])
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

    let out = verify_url(&url, &api_key, &["--key", &vkey]).await;
    assert_whole_chain(&out, last, head["root"].as_str().unwrap());

    // From a trusted checkpoint in the middle, and from the head's own.
    let mid = last / 2;
    let mid_block = chain.get_json(&format!("/v1/blocks/{mid}")).await;
    let mid_size = mid_block["header"]["tree_size"].as_u64().unwrap();
    let note = chain.file("mid.checkpoint", mid_block["checkpoint"].as_str().unwrap());
    let out = verify_url(
        &url,
        &api_key,
        &["--key", &vkey, "--from-checkpoint", &note],
    )
    .await;
    assert_after_checkpoint(&out, mid, last, mid_size);
    let head_note = chain.file("head.checkpoint", &chain.get_text("/v1/checkpoint").await);
    let out = verify_url(
        &url,
        &api_key,
        &["--key", &vkey, "--from-checkpoint", &head_note],
    )
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
    verify_url(
        &url,
        &api_key,
        &["--key", &vkey, "--from-checkpoint", &ahead],
    )
    .await
    .failed_with("behind the trusted checkpoint");

    // Keys served by the ledger are trusted only with a warning.
    let out = verify_url(&url, &api_key, &["--keys-from", &url]).await;
    assert_eq!(field(out.passed(), "tree size:"), EVENTS.to_string());
    assert!(
        out.stderr.contains("warning: trusting 1 key(s) served by"),
        "{out:#?}"
    );
    // The wrong key, no key, the wrong API key.
    let stranger = SigningKey::generate().verifying_key().to_base64();
    verify_url(&url, &api_key, &["--key", &stranger])
        .await
        .failed_with("block 0: signed by unknown key");
    verify_url(&url, &api_key, &[])
        .await
        .failed_with("no trusted keys");
    verify_url(&url, "tc_wrong", &["--key", &vkey])
        .await
        .failed_with("401");
    // A vkey names its log: it cannot vouch for another origin.
    verify_url(
        &url,
        &api_key,
        &["--key", &vkey, "--origin", "other.example/log"],
    )
    .await
    .failed_with("is the note key of the log");

    // The store verifies while the ledger runs, and the ledger is not disturbed.
    let data = chain.data_dir();
    let key = chain.public_key_file();
    let out = verify_store(data.to_str().unwrap(), &key, &[]).await;
    assert_eq!(field(out.passed(), "tree size:"), EVENTS.to_string());
    verify_url(&url, &api_key, &["--key", &vkey]).await.passed();
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

    let out = verify_proof(&event_file, &proof_file, Some(&note_file), &vkey).await;
    let leaf = proof["leaf_index"].as_u64().unwrap();
    assert!(
        out.passed().starts_with(&format!(
            "verified:   event {id} is leaf {leaf} of the log {} at tree size {size}",
            chain.origin
        )),
        "{out:#?}"
    );
    // The whole /v1/events response, a PEM key, and the proof's own checkpoint.
    verify_proof(&response_file, &proof_file, None, &pem)
        .await
        .passed();
    // Against an older checkpoint.
    let old_event_file = chain.file("old-event.json", &old_event.to_string());
    let old_proof_file = chain.file("old-proof.json", &old_proof.to_string());
    let old_note = chain.file("old.checkpoint", block1["checkpoint"].as_str().unwrap());
    let out = verify_proof(&old_event_file, &old_proof_file, Some(&old_note), &vkey).await;
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
    verify_proof(&event_file, &bad_path, Some(&note_file), &vkey)
        .await
        .failed_with("does not lead to the checkpoint's root");
    let mut bad = proof.clone();
    bad["leaf_index"] = json!(leaf + 1);
    let bad_index = chain.file("bad-index.json", &bad.to_string());
    verify_proof(&event_file, &bad_index, Some(&note_file), &vkey)
        .await
        .failed_with(&format!("the inclusion proof of leaf {}", leaf + 1));
    let mut body = response["event"].clone();
    body["payload"]["n"] = json!(124);
    let bad_event = chain.file("bad-event.json", &body.to_string());
    verify_proof(&bad_event, &proof_file, Some(&note_file), &vkey)
        .await
        .failed_with("the event is not the one that was anchored");
    let mut response_for_other = response.clone();
    response_for_other["event"]["id"] = json!(old_id);
    let other_event = chain.file("other-event.json", &response_for_other["event"].to_string());
    verify_proof(&other_event, &proof_file, Some(&note_file), &vkey)
        .await
        .failed_with("but the proof is for event");
    let mut lines: Vec<String> = checkpoint.lines().map(str::to_owned).collect();
    lines[2] = Hash::from_bytes([9; 32]).to_base64();
    let bad_note = chain.file("bad.checkpoint", &(lines.join("\n") + "\n"));
    verify_proof(&event_file, &proof_file, Some(&bad_note), &vkey)
        .await
        .failed_with("the checkpoint is not signed by a given key");
    let stranger = SigningKey::generate().verifying_key().to_base64();
    verify_proof(&event_file, &proof_file, Some(&note_file), &stranger)
        .await
        .failed_with("the checkpoint is not signed by a given key");
    // A proof for another tree size than the checkpoint's.
    verify_proof(&old_event_file, &old_proof_file, Some(&note_file), &vkey)
        .await
        .failed_with(&format!("the proof is for tree size {old_size}"));
}
