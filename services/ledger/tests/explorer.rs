//! The explorer page in a real browser: Debian's Chromium driven by Python
//! playwright (`tests/browser/explorer.py`) against a real ledger on port 0
//! over the real broker (`scripts/infra.sh up`).
//!
//! The page must show the head and the blocks newest first, open a block,
//! and verify in the browser: the header's RFC 8785 bytes, its hash, its
//! Ed25519 signature, and events' RFC 9162 inclusion proofs against the
//! signed root. Responses altered in flight must turn those checks to FAIL.
//! The test fails (it is never skipped) when chromium or playwright is
//! missing: `.ci/run` installs them.

mod common;
#[path = "explorer/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::{Ledger, Shared, event_with, fast_blocks, kafka_bus, publish};
use serde_json::{Value, json};
use support::publish_together;
use tracechain_domain::Envelope;
use tracechain_testkit::Browser;

/// Events published; in batches of [`BATCH`], each anchored before the next
/// is sent, so the chain has at least 13 blocks (two pages of ten). The last
/// batch goes to one partition at once, so that its block holds events of
/// both tenants.
const EVENTS: usize = 50;
const BATCH: usize = 4;
/// Every fifth event belongs to another tenant, which `acme`'s key may not read.
fn tenant_of(n: usize) -> &'static str {
    if n % 5 == 4 { "fastfreight" } else { "acme" }
}

/// Event `n`, with text the page must show and hash exactly as sent.
fn event(n: usize) -> Envelope {
    event_with(
        "product.registered",
        tenant_of(n),
        n,
        json!({ "n": n, "note": format!("événement n°{n} <b>&amp;</b> \u{1F4E6}") }),
    )
}

/// JSON texts the page's canonicalizer must turn into exactly what
/// `tracechain_core::canonicalize_str` gives: member order by UTF-16 code
/// units (an astral character before U+FB33), escapes, ES number forms.
const CANONICAL_VECTORS: &[&str] = &[
    r#"{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}"#,
    r#"{"\u20ac":"euro","\r":"cr","\ufb33":"hebrew","1":"one","\ud83d\ude00":"emoji","\u0080":"ctrl","\u00f6":"o"}"#,
    r#"[1e21,1e-7,-0,0.000001,123456789012345680000,9007199254740991,-9007199254740991,1.4755143843317345e18,5e-324,-1.5]"#,
    r#"{"b":{"z":[],"a":{}},"a":"\u0000\u001f\t\b\f <script>&amp;","c":[{"y":1,"x":2}]}"#,
];

#[tokio::test(flavor = "multi_thread")]
async fn explorer_shows_the_chain_and_verifies_blocks_and_proofs_in_a_real_browser() {
    let browser = Browser::find();
    let shared = Shared::new();
    let ledger = Ledger::spawn(shared.settings("ledger", fast_blocks())).await;
    let keys = &shared.keys;

    // The page and its assets: bundled, same-origin only, locked down.
    for (path, content_type) in [
        ("/explorer", "text/html"),
        ("/explorer/explorer.js", "text/javascript"),
        ("/explorer/explorer.css", "text/css"),
    ] {
        let response = ledger.get(None, path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        assert!(header("content-type").starts_with(content_type), "{path}");
        let csp = header("content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && csp.contains("require-trusted-types-for 'script'"),
            "{path}: {csp}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} must not load anything from elsewhere"
        );
    }

    // Anchor the events, batch by batch.
    let bus = kafka_bus();
    let mut events = Vec::new();
    for first in (0..EVENTS).step_by(BATCH) {
        let batch: Vec<_> = (first..(first + BATCH).min(EVENTS)).map(event).collect();
        if first + BATCH >= EVENTS {
            publish_together(bus.as_ref(), &shared.names, &batch).await;
        } else {
            publish(bus.as_ref(), &shared.names, &batch).await;
        }
        events.extend(batch);
        ledger
            .wait_for_size(events.len() as u64, Duration::from_secs(60))
            .await;
    }
    let tenant_by_id: BTreeMap<String, &str> = events
        .iter()
        .enumerate()
        .map(|(n, e)| (e.id().to_string(), tenant_of(n)))
        .collect();

    // What the page should show, read through the API.
    let head = ledger.get_json(&keys.auditor, "/v1/head").await;
    let height = head["height"].as_u64().unwrap();
    assert_eq!(head["tree_size"], EVENTS as u64);
    assert!(height >= 12, "one block per batch at least, got {height}");
    let block = ledger
        .get_json(&keys.auditor, &format!("/v1/blocks/{height}"))
        .await;
    let block_events = block["events"].as_array().unwrap();
    let readable = block_events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .find(|id| tenant_by_id[*id] == "acme")
        .expect("the last block has an acme event (the last batch arrives at once)")
        .to_owned();
    assert!(
        block_events
            .iter()
            .any(|e| tenant_by_id[e["event_id"].as_str().unwrap()] == "fastfreight"),
        "the last block has an event acme may not read"
    );

    // Drive the page.
    let dir = shared.dir.path();
    let vectors = dir.join("vectors.json");
    std::fs::write(&vectors, serde_json::to_vec(CANONICAL_VECTORS).unwrap()).unwrap();
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explorer-screenshots");
    let out = dir.join("report.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/explorer.py");
    let args: Vec<String> = vec![
        "--url".into(),
        ledger.url.clone(),
        "--key".into(),
        keys.acme.clone(),
        "--block".into(),
        height.to_string(),
        "--event".into(),
        readable.clone(),
        "--vectors".into(),
        vectors.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--screenshots".into(),
        screenshots.display().to_string(),
    ];
    let (status, stdout, stderr) = browser
        .run(&script, &args, dir, Duration::from_secs(180))
        .await;
    let report: Value = std::fs::read_to_string(&out)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| panic!("no report ({status}); stdout:\n{stdout}\nstderr:\n{stderr}"));
    assert!(
        status.success() && report["ok"] == true,
        "the browser script failed ({status}): {}\nstderr:\n{stderr}",
        report["error"].as_str().unwrap_or("")
    );
    eprintln!(
        "explorer: {} (screenshots in {})",
        report["browser_version"],
        screenshots.display()
    );

    // No script error, no CSP or Trusted Types violation. (Chromium logs the
    // wrong key's 401 and the 404 of an event acme may not read as failed
    // resources: those are expected.)
    let expected = |e: &str| {
        ["401 (Unauthorized)", "404 (Not Found)"]
            .iter()
            .any(|s| e.contains(&format!("the server responded with a status of {s}")))
    };
    let console: Vec<&str> = report["console_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .filter(|e| !expected(e))
        .collect();
    assert!(console.is_empty(), "console errors: {console:#?}");

    // Before a key: the public origin only.
    assert_eq!(report["before_key"]["head_height"], "–");
    assert_eq!(report["before_key"]["blocks"], 0);
    assert_eq!(report["origin"], shared.names.origin);

    // A wrong key is refused in words, and nothing is shown.
    let wrong = &report["wrong_key"];
    assert!(
        wrong["banner"].as_str().unwrap().contains("refused (401)"),
        "{wrong}"
    );
    assert_eq!(wrong["head_height"], "–");

    // The head.
    let shown = &report["head"];
    assert_eq!(shown["height"], height.to_string());
    assert_eq!(shown["tree_size"], EVENTS.to_string());
    assert_eq!(shown["root"], head["root"]);
    assert_eq!(shown["time"], head["time"]);
    assert_eq!(shown["key_id"], head["key_id"]);

    // Blocks newest first, ten a page, every height once.
    let pages: Vec<Vec<u64>> = serde_json::from_value(report["block_pages"].clone()).unwrap();
    assert_eq!(pages[0].len(), 10);
    assert!(pages.len() >= 2);
    let all: Vec<u64> = pages.concat();
    assert_eq!(all, (0..=height).rev().collect::<Vec<_>>());
    assert_eq!(report["older_enabled_at_end"], false);
    assert_eq!(report["after_newer"], json!(pages[pages.len() - 2]));

    // The key survives a reload in sessionStorage only.
    let reload = &report["after_reload"];
    assert_eq!(reload["head_height"], height.to_string());
    assert_eq!(reload["session_key"], true);
    assert_eq!(reload["local_key"], 0);
    assert_eq!(reload["cookies"], 0);

    // The block opened with its events as the API lists them.
    let opened = &report["block"];
    assert_eq!(opened["height"], height.to_string());
    assert_eq!(opened["tree_size"], EVENTS.to_string());
    assert_eq!(opened["root"], block["header"]["root"]);
    assert_eq!(opened["hash_in_url"], format!("#block={height}"));
    let listed: Vec<Value> = block_events
        .iter()
        .map(|e| {
            json!({
                "event_id": e["event_id"], "leaf_index": e["leaf_index"],
                "type": e["type"], "leaf_hash": e["leaf_hash"],
            })
        })
        .collect();
    assert_eq!(opened["events"], Value::Array(listed));

    // "Verify block": canonical header, its hash, the key, the signature.
    let verified = &report["verify_block"];
    assert_eq!(verified["result"], "pass", "{verified:#}");
    assert_eq!(verified["label"], "PASS");
    for check in [
        "check-canonical",
        "check-header-hash",
        "check-context",
        "check-key",
        "check-signature",
    ] {
        assert_eq!(verified["checks"][check], "pass", "{check}: {verified:#}");
    }
    assert_eq!(
        verified["details"]["check-header-hash"],
        block["header_hash"]
    );

    // "Verify inclusion" of an event acme may read: leaf recomputed from
    // the body, proof for the block's size, path to the signed root.
    let inclusion = &report["verify_inclusion"];
    assert_eq!(inclusion["result"], "pass", "{inclusion:#}");
    for check in ["check-leaf", "check-proof", "check-root"] {
        assert_eq!(inclusion["checks"][check], "pass", "{check}: {inclusion:#}");
    }
    assert_eq!(inclusion["details"]["check-root"], head["root"]);

    // "Verify every inclusion": every event passes. For the events acme's
    // key may not read, the page checks the proof from the block's leaf
    // hash (proofs are for every key; bodies are not).
    let all_results = &report["verify_all"];
    assert_eq!(all_results["status"], "pass", "{all_results:#}");
    let mut unreadable = 0;
    for e in block_events {
        let id = e["event_id"].as_str().unwrap();
        unreadable += usize::from(tenant_by_id[id] != "acme");
        assert_eq!(all_results["results"][id], "pass", "event {id}");
    }
    assert!(unreadable > 0, "the block holds an event acme may not read");

    // The page's canonicalizer agrees with the Rust one.
    let canonical: Vec<String> = serde_json::from_value(report["canonical"].clone()).unwrap();
    for (text, got) in CANONICAL_VECTORS.iter().zip(&canonical) {
        let want = String::from_utf8(tracechain_core::canonicalize_str(text).unwrap()).unwrap();
        assert_eq!(got, &want, "canonical form of {text}");
    }
    assert_eq!(canonical.len(), CANONICAL_VECTORS.len());
    assert_eq!(report["innerhtml_with_string"], "TypeError");

    // Tampering shows as FAIL.
    let tamper = &report["tamper"];
    let proof = &tamper["proof_path"];
    assert_eq!(proof["result"], "fail", "{proof:#}");
    assert_eq!(proof["label"], "FAIL");
    assert_eq!(proof["checks"]["check-leaf"], "pass");
    assert_eq!(proof["checks"]["check-proof"], "pass");
    assert_eq!(proof["checks"]["check-root"], "fail");

    let signature = &tamper["signature"];
    assert_eq!(signature["result"], "fail", "{signature:#}");
    assert_eq!(signature["label"], "FAIL");
    assert_eq!(signature["checks"]["check-canonical"], "pass");
    assert_eq!(signature["checks"]["check-header-hash"], "pass");
    assert_eq!(signature["checks"]["check-signature"], "fail");
    let unsigned = &tamper["signature_inclusion"];
    assert_eq!(unsigned["result"], "fail", "{unsigned:#}");
    assert_eq!(unsigned["checks"]["check-root"], "fail");

    let header = &tamper["header_object"];
    assert_eq!(header["result"], "fail", "{header:#}");
    assert_eq!(header["checks"]["check-canonical"], "fail");
    assert_eq!(header["checks"]["check-signature"], "pass");

    // A phone: no sideways scrolling, and the checks work by touch.
    let phone = &report["phone"];
    assert!(
        phone["overflow_px"].as_i64().unwrap() <= 0,
        "the page scrolls sideways on a phone: {phone}"
    );
    assert_eq!(phone["verify_block"], "pass");
    assert_eq!(phone["verify_inclusion"], "pass");

    ledger.stop().await;
}
