//! The story across the services as SEPARATE PROCESSES over the real
//! broker and Redis (`tracechain serve registry|shipments|ledger`), walked
//! by `tracechain demo` — products, a shipment, phone keys, signed
//! pickup, hand-over and delivery, the delivery's inclusion proof verified
//! with the ledger's public key — and ending with `tracechain verify url`
//! checking the whole chain from genesis; then Redis loses everything and
//! every answer comes back the same, rebuilt from the topics.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use tracechain_core::SigningKey;
use tracechain_domain::Role;
use tracechain_testkit::{ApiKeyFile, ChildProcess};

struct Service {
    process: ChildProcess,
    url: String,
}

fn serve(name: &str, envs: &[(&str, String)], dir: &Path) -> Service {
    let port = tracechain_testkit::free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tracechain"));
    command
        .args(["serve", name])
        .env("RUST_LOG", "warn")
        .env("TRACECHAIN_HTTP__HOST", "127.0.0.1")
        .env("TRACECHAIN_HTTP__PORT", port.to_string());
    for (key, value) in envs {
        command.env(key, value);
    }
    Service {
        process: ChildProcess::spawn_logged(&mut command, &dir.join(format!("{name}.log"))),
        url: format!("http://127.0.0.1:{port}"),
    }
}

fn wait_ready(service: &Service, name: &str, dir: &Path) {
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !client
        .get(format!("{}/readyz", service.url))
        .send()
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(
            Instant::now() < deadline,
            "{name} not ready; log:\n{}",
            std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_story_across_separate_processes_ends_in_a_verified_chain() {
    let brokers = tracechain_testkit::require_broker();
    let redis = tracechain_testkit::require_redis();
    let dir = tempfile::tempdir().unwrap();
    let unique = tracechain_testkit::unique_name("story");
    let (registry_topic, shipments_topic) =
        (format!("{unique}-registry"), format!("{unique}-shipments"));

    // API keys: the table every service loads, and the demo's key list.
    let mut table = ApiKeyFile::new();
    let mut listed = Vec::new();
    for (role, tenant) in [
        (Role::Manufacturer, "acme"),
        (Role::Carrier, "fastfreight"),
        (Role::Carrier, "lastmile"),
        (Role::Auditor, "audit-co"),
    ] {
        let key = table.add(role, tenant, tenant);
        listed.push(json!({"role": role.as_str(), "tenant": tenant, "key": key}));
    }
    let keys_file = dir.path().join("api-keys.json");
    table.write(&keys_file);
    let demo_keys = dir.path().join("demo-keys.json");
    std::fs::write(&demo_keys, serde_json::to_vec(&listed).unwrap()).unwrap();
    let auditor = listed[3]["key"].as_str().unwrap().to_owned();

    let common = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        let mut envs = vec![
            ("TRACECHAIN_BUS__BROKERS", brokers.clone()),
            ("TRACECHAIN_BUS__SESSION_TIMEOUT_MS", "6000".to_owned()),
            (
                "TRACECHAIN_API_KEYS_FILE",
                keys_file.to_string_lossy().into_owned(),
            ),
        ];
        envs.extend(extra.iter().cloned());
        envs
    };
    let store = [
        ("TRACECHAIN_STORE__URL", redis.clone()),
        ("TRACECHAIN_STORE__NAMESPACE_SUFFIX", unique.clone()),
    ];
    let pem = dir.path().join("ledger.pem");
    let mut ledger = serve(
        "ledger",
        &common(&[
            (
                "TRACECHAIN_TOPICS__INPUTS",
                format!("[\"{registry_topic}\", \"{shipments_topic}\"]"),
            ),
            ("TRACECHAIN_TOPICS__BLOCKS", format!("{unique}-blocks")),
            ("TRACECHAIN_TOPICS__ELECTION", format!("{unique}-election")),
            (
                "TRACECHAIN_TOPICS__WRITER_GROUP",
                format!("{unique}-writer"),
            ),
            (
                "TRACECHAIN_CHAIN__DATA_DIR",
                dir.path().join("ledger").to_string_lossy().into_owned(),
            ),
            (
                "TRACECHAIN_CHAIN__SIGNING_KEY_FILE",
                pem.to_string_lossy().into_owned(),
            ),
            ("TRACECHAIN_CHAIN__CREATE_SIGNING_KEY", "true".to_owned()),
        ]),
        dir.path(),
    );
    let mut registry_envs = store.to_vec();
    registry_envs.push(("TRACECHAIN_TOPIC__NAME", registry_topic.clone()));
    // Each projection its own consumer group, as the defaults have it.
    registry_envs.push(("TRACECHAIN_PROJECTION__NAME", format!("{unique}-registry")));
    let mut registry = serve("registry", &common(&registry_envs), dir.path());
    let mut shipments_envs = store.to_vec();
    shipments_envs.push(("TRACECHAIN_TOPICS__SHIPMENTS", shipments_topic.clone()));
    shipments_envs.push(("TRACECHAIN_TOPICS__REGISTRY", registry_topic.clone()));
    shipments_envs.push(("TRACECHAIN_PROJECTION__NAME", format!("{unique}-shipments")));
    let mut shipments = serve("shipments", &common(&shipments_envs), dir.path());
    for (service, name) in [
        (&ledger, "ledger"),
        (&registry, "registry"),
        (&shipments, "shipments"),
    ] {
        wait_ready(service, name, dir.path());
    }
    // The key the operator pins: the public half of the ledger's key.
    let public_key = SigningKey::from_pkcs8_pem(&std::fs::read_to_string(&pem).unwrap())
        .unwrap()
        .verifying_key()
        .to_base64();

    let demo = Command::new(env!("CARGO_BIN_EXE_tracechain"))
        .arg("demo")
        .args(["--registry", &registry.url])
        .args(["--shipments", &shipments.url])
        .args(["--ledger", &ledger.url])
        .arg("--keys")
        .arg(&demo_keys)
        .args(["--ledger-key", &public_key])
        .arg("--out")
        .arg(dir.path().join("demo-out"))
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&demo.stdout);
    assert!(
        demo.status.success(),
        "demo failed: {printed}{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    for step in [
        "pickup    accepted",
        "handover  accepted",
        "delivery  accepted",
        "verified:",
        "done:",
    ] {
        assert!(printed.contains(step), "{step} in {printed}");
    }

    // The whole chain, from genesis, trusting only the pinned key.
    let verify = Command::new(env!("CARGO_BIN_EXE_tracechain"))
        .args([
            "verify",
            "url",
            &ledger.url,
            "--api-key",
            &auditor,
            "--key",
            &public_key,
        ])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success(),
        "verify url failed: {report}{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // Redis loses everything (the services' keys, flushed at once, as a
    // FLUSHALL would; the shared Redis also serves other tests): the
    // projections are rebuilt from the topics and every answer is as before.
    let acme = listed[0]["key"].as_str().unwrap().to_owned();
    let shipment_id = printed
        .lines()
        .find_map(|l| l.strip_prefix("done: the delivery of shipment "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the demo names its shipment")
        .to_owned();
    let client = reqwest::blocking::Client::new();
    let read = |url: String| -> Option<serde_json::Value> {
        let response = client.get(&url).bearer_auth(&acme).send().ok()?;
        (response.status() == 200)
            .then(|| response.json().ok())
            .flatten()
    };
    let reads = [
        format!("{}/v1/products", registry.url),
        format!("{}/v1/shipments/{shipment_id}", shipments.url),
        format!("{}/v1/shipments", shipments.url),
    ];
    let before: Vec<_> = reads.iter().map(|url| read(url.clone()).unwrap()).collect();
    let flushed = tracechain_testkit::flush_namespace(&format!("tc:registry:{unique}")).unwrap()
        + tracechain_testkit::flush_namespace(&format!("tc:shipments:{unique}")).unwrap();
    assert!(flushed > 0, "the services' keys were in Redis");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let after: Vec<_> = reads.iter().map(|url| read(url.clone())).collect();
        if after
            .iter()
            .zip(&before)
            .all(|(a, b)| a.as_ref() == Some(b))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not rebuilt within 60 s: {after:?} vs {before:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    for service in [&mut shipments, &mut registry, &mut ledger] {
        service.process.signal("TERM");
        let status = service.process.wait_for_exit(Duration::from_secs(30));
        assert!(status.is_some_and(|s| s.success()), "clean stop");
    }
    let _ = tracechain_testkit::flush_namespace(&format!("tc:registry:{unique}"));
    let _ = tracechain_testkit::flush_namespace(&format!("tc:shipments:{unique}"));
}
