//! `tracechain up` as a newcomer runs it: the real binary, one process,
//! the embedded bus and store, nothing else. The story across services
//! works (a product's items shipped, a phone's signed pickup accepted, all
//! of it anchored by the ledger), and a restart keeps every record, the
//! keys and the chain.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};
use tracechain_core::SigningKey;
use tracechain_testkit::ChildProcess;

struct Up {
    process: ChildProcess,
    registry: String,
    shipments: String,
    ledger: String,
}

fn start(data: &Path, ports: [u16; 3], log: &Path) -> Up {
    let process = ChildProcess::spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_tracechain"))
            .arg("up")
            .arg("--data-dir")
            .arg(data)
            .args(["--registry-port", &ports[0].to_string()])
            .args(["--shipments-port", &ports[1].to_string()])
            .args(["--ledger-port", &ports[2].to_string()])
            .env("RUST_LOG", "warn"),
        log,
    );
    let up = Up {
        process,
        registry: format!("http://127.0.0.1:{}", ports[0]),
        shipments: format!("http://127.0.0.1:{}", ports[1]),
        ledger: format!("http://127.0.0.1:{}", ports[2]),
    };
    let client = Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for url in [&up.registry, &up.shipments, &up.ledger] {
        loop {
            if client
                .get(format!("{url}/readyz"))
                .send()
                .is_ok_and(|r| r.status() == 200)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{url} not ready within 60 s; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    up
}

fn stop(up: &mut Up) {
    up.process.signal("TERM");
    let status = up
        .process
        .wait_for_exit(Duration::from_secs(30))
        .expect("tracechain up stops on SIGTERM within 30 s");
    assert!(status.success(), "clean exit: {status}");
}

fn post(client: &Client, url: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = client.post(url).json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn get(client: &Client, url: &str, key: &str) -> Value {
    let response = client.get(url).bearer_auth(key).send().unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    response.json().unwrap()
}

/// The ledger's tree size once it reaches `at_least` (60 s at most).
fn wait_for_size(client: &Client, ledger: &str, key: &str, at_least: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = client
            .get(format!("{ledger}/v1/head"))
            .bearer_auth(key)
            .send()
            .unwrap();
        if response.status() == 200 {
            let head: Value = response.json().unwrap();
            if head["tree_size"].as_u64().unwrap_or(0) >= at_least {
                return head;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the ledger did not anchor {at_least} events"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn one_process_runs_the_story_and_a_restart_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ports = [0; 3].map(|_| tracechain_testkit::free_port());
    let mut up = start(&data, ports, &dir.path().join("first.log"));

    // The first start printed the URLs and the demo keys, and kept them.
    let banner = std::fs::read_to_string(dir.path().join("first.log")).unwrap();
    for url in [&up.registry, &up.shipments, &up.ledger] {
        assert!(banner.contains(&format!("{url}/docs")), "{banner}");
    }
    assert!(banner.contains(&format!("{}/scan", up.shipments)));
    assert!(banner.contains(&format!("{}/explorer", up.ledger)));
    let keys: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo-keys.json")).unwrap())
            .unwrap();
    let key = |tenant: &str| {
        keys.iter()
            .find(|k| k["tenant"] == tenant)
            .and_then(|k| k["key"].as_str())
            .unwrap()
            .to_owned()
    };
    let (acme, carrier, auditor) = (key("acme"), key("fastfreight"), key("audit-co"));
    assert!(
        banner.contains(&acme),
        "the keys are printed on first start"
    );
    let table = std::fs::read_to_string(data.join("api-keys.json")).unwrap();
    assert!(!table.contains(&acme), "the table holds hashes only");

    // The story: a product's items, shipped, picked up with a signed scan.
    let client = Client::new();
    let (status, product) = post(
        &client,
        &format!("{}/v1/products", up.registry),
        Some(&acme),
        &json!({"gtin": "09506000134352", "name": "Olive oil 500 ml"}),
    );
    assert_eq!(status, 201, "{product}");
    let id = product["id"].as_str().unwrap();
    let (status, _) = post(
        &client,
        &format!("{}/v1/products/{id}/lots", up.registry),
        Some(&acme),
        &json!({"lot": "L1", "produced_at": "2026-11-01"}),
    );
    assert_eq!(status, 201);
    let (status, items) = post(
        &client,
        &format!("{}/v1/products/{id}/lots/L1/items", up.registry),
        Some(&acme),
        &json!({"serials": ["S1", "S2", "S3"]}),
    );
    assert_eq!(status, 201, "{items}");
    let item = items["items"][0]["digital_link"]
        .as_str()
        .unwrap()
        .to_owned();
    // Shipments learns the items from the registry's events on the shared bus.
    let shipment = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = post(
                &client,
                &format!("{}/v1/shipments", up.shipments),
                Some(&acme),
                &json!({
                    "carrier_id": "fastfreight",
                    "items": [item],
                    "origin": {"gln": "9506000134352"},
                    "destination": {"address": "1 Dock Road, Rotterdam", "lat": 51.9, "lon": 4.5},
                    "due_by": "2026-12-31T12:00:00Z",
                }),
            );
            if status == 201 {
                break body;
            }
            assert!(Instant::now() < deadline, "shipment not created: {body}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let phone = SigningKey::generate();
    let (status, device) = post(
        &client,
        &format!("{}/v1/carriers/fastfreight/devices", up.shipments),
        Some(&carrier),
        &json!({"public_key": phone.verifying_key().to_base64(), "label": "phone"}),
    );
    assert_eq!(status, 201, "{device}");
    let mut scan = json!({
        "code": shipment["label_uri"],
        "kind": "pickup",
        "device_id": device["id"],
        "scanned_at": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
        "gln": "9506000134352",
        "nonce": "up-test-nonce-0001",
    });
    let signature = phone
        .sign(&tracechain_core::to_canonical_vec(&scan).unwrap())
        .to_base64();
    scan["signature"] = json!(signature);
    let (status, accepted) = post(&client, &format!("{}/v1/scans", up.shipments), None, &scan);
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["state"], "picked_up");

    // product, lot, items, shipment, device, scan: all anchored.
    let head = wait_for_size(&client, &up.ledger, &auditor, 6);
    let proof = get(
        &client,
        &format!(
            "{}/v1/events/{}/proof",
            up.ledger,
            accepted["event_id"].as_str().unwrap()
        ),
        &auditor,
    );
    assert!(proof["leaf_index"].is_u64(), "{proof}");
    stop(&mut up);

    // Again: same keys, same records, same chain (and nothing re-created).
    let mut up = start(&data, ports, &dir.path().join("second.log"));
    let banner = std::fs::read_to_string(dir.path().join("second.log")).unwrap();
    assert!(!banner.contains(&acme), "keys are not printed again");
    assert!(banner.contains("demo-keys.json"));
    assert_eq!(
        get(&client, &format!("{}/v1/products/{id}", up.registry), &acme)["gtin"],
        "09506000134352"
    );
    let read = get(
        &client,
        &format!(
            "{}/v1/shipments/{}",
            up.shipments,
            shipment["id"].as_str().unwrap()
        ),
        &acme,
    );
    assert_eq!(read["state"], "picked_up");
    let again = wait_for_size(
        &client,
        &up.ledger,
        &auditor,
        head["tree_size"].as_u64().unwrap(),
    );
    assert_eq!(again["key_id"], head["key_id"], "the same signing key");
    let (status, replay) = post(&client, &format!("{}/v1/scans", up.shipments), None, &scan);
    assert_eq!(
        (status, replay["check"].as_str()),
        (409, Some("nonce")),
        "{replay}"
    );

    // `tracechain demo` walks the whole story against it and verifies the
    // delivery's inclusion proof with the ledger's public key.
    let out = dir.path().join("demo-out");
    let demo = Command::new(env!("CARGO_BIN_EXE_tracechain"))
        .arg("demo")
        .arg("--data-dir")
        .arg(&data)
        .args(["--registry", &up.registry])
        .args(["--shipments", &up.shipments])
        .args(["--ledger", &up.ledger])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&demo.stdout);
    assert!(
        demo.status.success(),
        "demo failed: {printed}{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    for step in [
        "1. ",
        "2. ",
        "3. ",
        "4. ",
        "5. ",
        "6. ",
        "verified:",
        "done:",
    ] {
        assert!(printed.contains(step), "{step} in {printed}");
    }
    for file in ["item-S1.png", "item-S2.png", "item-S3.png", "label.png"] {
        assert!(
            !tracechain_testkit::zbar(&out.join(file)).is_empty(),
            "{file}"
        );
    }
    // The files it wrote verify on their own with the CLI.
    let verify = Command::new(env!("CARGO_BIN_EXE_tracechain"))
        .args(["verify", "proof", "--event"])
        .arg(out.join("event.json"))
        .arg("--proof")
        .arg(out.join("proof.json"))
        .arg("--checkpoint")
        .arg(out.join("checkpoint.txt"))
        .arg("--key")
        .arg(
            SigningKey::from_pkcs8_pem(
                &std::fs::read_to_string(data.join("ledger/signing-key.pem")).unwrap(),
            )
            .unwrap()
            .verifying_key()
            .to_base64(),
        )
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    stop(&mut up);
}

#[test]
fn serve_runs_each_service_on_its_own_against_the_broker_and_redis() {
    let brokers = tracechain_testkit::require_broker();
    tracechain_testkit::require_redis();
    let dir = tempfile::tempdir().unwrap();
    let unique = tracechain_testkit::unique_name("serve");
    let client = Client::new();
    for service in ["registry", "shipments", "ledger"] {
        let port = tracechain_testkit::free_port();
        let log = dir.path().join(format!("{service}.log"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_tracechain"));
        command
            .args(["serve", service])
            .env("RUST_LOG", "warn")
            .env("TRACECHAIN_HTTP__PORT", port.to_string())
            .env("TRACECHAIN_BUS__BROKERS", &brokers)
            .env("TRACECHAIN_BUS__SESSION_TIMEOUT_MS", "6000");
        // Each service's own settings (a section's unknown keys are refused,
        // so each gets only its own), with topics unique to this test.
        match service {
            "registry" => {
                command
                    .env("TRACECHAIN_STORE__URL", tracechain_testkit::redis_url())
                    .env("TRACECHAIN_STORE__NAMESPACE_SUFFIX", &unique)
                    .env("TRACECHAIN_TOPIC__NAME", format!("{unique}-registry"))
                    .env("TRACECHAIN_PROJECTION__NAME", &unique);
            }
            "shipments" => {
                command
                    .env("TRACECHAIN_STORE__URL", tracechain_testkit::redis_url())
                    .env("TRACECHAIN_STORE__NAMESPACE_SUFFIX", &unique)
                    .env(
                        "TRACECHAIN_TOPICS__SHIPMENTS",
                        format!("{unique}-shipments"),
                    )
                    .env("TRACECHAIN_TOPICS__REGISTRY", format!("{unique}-registry"))
                    .env("TRACECHAIN_PROJECTION__NAME", &unique);
            }
            _ => {
                command
                    .env(
                        "TRACECHAIN_TOPICS__INPUTS",
                        format!("[\"{unique}-registry\", \"{unique}-shipments\"]"),
                    )
                    .env("TRACECHAIN_TOPICS__BLOCKS", format!("{unique}-blocks"))
                    .env("TRACECHAIN_TOPICS__ELECTION", format!("{unique}-election"))
                    .env(
                        "TRACECHAIN_TOPICS__WRITER_GROUP",
                        format!("{unique}-writer"),
                    )
                    .env("TRACECHAIN_CHAIN__DATA_DIR", dir.path().join("ledger"))
                    .env(
                        "TRACECHAIN_CHAIN__SIGNING_KEY_FILE",
                        dir.path().join("ledger.pem"),
                    )
                    .env("TRACECHAIN_CHAIN__CREATE_SIGNING_KEY", "true");
            }
        }
        let mut process = ChildProcess::spawn_logged(&mut command, &log);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .is_ok_and(|r| r.status() == 200)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "tracechain serve {service} not ready; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let doc: Value = client
            .get(format!("http://127.0.0.1:{port}/openapi.json"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert!(
            doc["info"]["title"].as_str().unwrap().ends_with(service),
            "{service}: {}",
            doc["info"]["title"]
        );
        process.signal("TERM");
        let status = process.wait_for_exit(Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "{service} stops cleanly"
        );
    }
    let _ = tracechain_testkit::flush_namespace(&format!("tc:registry:{unique}"));
    let _ = tracechain_testkit::flush_namespace(&format!("tc:shipments:{unique}"));
}
