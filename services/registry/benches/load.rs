//! Load run of the registry with `wrk`: item resolution (JSON) and
//! 1,000-item serialisation batches, printed beside `GET /healthz` on the
//! same server in the same run. Target (issue 4): resolution at ≥ 50% of
//! the `/healthz` rate.
//!
//! `cargo bench -p tracechain-registry --bench load` (`make bench`). Runs the
//! application in-process (release build) twice: on the embedded bus and
//! store, then on the real broker and Redis (`scripts/infra.sh up`; when
//! they are not reachable that half is reported as skipped). Needs `wrk`
//! (Debian package `wrk`). `LOAD_SECONDS` sets each run's length (default
//! 10), `LOAD_CONNECTIONS` the GET connections (default 32).
//!
//! Fair by construction: the three endpoints are measured one after the
//! other against the same server with the same wrk threads; `/healthz` goes
//! through the same middleware (request ids, metrics, problem mapping) as
//! every route, so the ratio measures the resolver's own work — one or two
//! store round trips and a JSON body — and nothing else. Resolution rotates
//! over 1,000 distinct items (full `/01/{gtin}/10/{lot}/21/{serial}`
//! paths, `Accept: application/json`); serialisation rotates over 8
//! products so batches are not all serialised behind one product's lock.
//! The resolver serves immutable item records and (for 1 s) lot records
//! from memory; the same run is repeated against a second instance of the
//! registry on the same bus and store with that cache off, so the cost of a
//! store round trip per scan is printed too.
//! Logging is at `warn` (a line per request would measure the terminal).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracechain_bus::{EmbeddedBus, EventBus};
use tracechain_domain::{Role, TenantId};
use tracechain_http::{ApiKeyTable, HttpSettings, generate_api_key};
use tracechain_registry::settings::{ProjectionSettings, TopicSettings};
use tracechain_registry::{Application, RegistrySettings, SERVICE_NAME};
use tracechain_runtime::{BusKind, BusSettings, Infrastructure, StoreKind, StoreSettings};
use tracechain_store::{EmbeddedStore, Namespace, StateStore};

/// Items seeded for resolution.
const ITEMS: usize = 1000;
/// Products serialisation batches rotate over.
const PRODUCTS: usize = 8;
/// Connections for the serialisation run (each request carries 1,000 items).
const POST_CONNECTIONS: usize = 8;
/// wrk threads.
const THREADS: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Infra {
    Embedded,
    Real,
}

impl Infra {
    fn describe(self) -> &'static str {
        match self {
            Infra::Embedded => "embedded bus + embedded store (all-in-one mode)",
            Infra::Real => "Kafka-protocol broker (tansu) + Redis (distributed mode)",
        }
    }
}

/// One wrk run's figures.
#[derive(Debug, Default, Clone)]
struct Figures {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    requests: u64,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let code = runtime.block_on(run());
    std::process::exit(code);
}

async fn run() -> i32 {
    let mut config = tracechain_telemetry::TelemetryConfig::new("registry-load");
    config.filter = "warn".to_owned();
    config.log_format = tracechain_telemetry::LogFormat::Pretty;
    let _telemetry = tracechain_telemetry::init(&config).ok();
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("load: wrk is not installed (Debian package `wrk`: apt-get install -y wrk)");
        return 1;
    }
    let seconds: u64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let connections: usize = std::env::var("LOAD_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    println!(
        "registry load run: wrk, {THREADS} threads, {seconds} s per endpoint, same server and run; target: resolution >= 50% of /healthz"
    );
    let mut missed = false;
    for infra in [Infra::Embedded, Infra::Real] {
        println!();
        println!("== {}", infra.describe());
        if infra == Infra::Real && !reachable() {
            println!("   skipped: broker or Redis not reachable (run `scripts/infra.sh up`)");
            continue;
        }
        match measure(infra, seconds, connections).await {
            Ok(pass) => missed |= !pass,
            Err(error) => {
                println!("   failed: {error:#}");
                return 1;
            }
        }
    }
    if missed {
        println!(
            "\nresult: MISS (resolution below 50% of /healthz on at least one infrastructure)"
        );
    } else {
        println!("\nresult: PASS");
    }
    0
}

fn reachable() -> bool {
    tracechain_testkit::is_reachable(&tracechain_testkit::kafka_brokers())
        && tracechain_testkit::is_reachable(&tracechain_testkit::redis_url())
}

/// A started application with its seeded data.
struct Target {
    address: String,
    /// The same registry on the same bus and store, with the resolver
    /// cache off: every scan reads the store.
    cold_address: String,
    key: String,
    item_paths: Vec<String>,
    item_post_paths: Vec<String>,
    store: Arc<dyn StateStore>,
    shutdown: tokio_util::sync::CancellationToken,
    server: tokio::task::JoinHandle<Result<(), tracechain_registry::StartupError>>,
    cold_server: tokio::task::JoinHandle<Result<(), tracechain_registry::StartupError>>,
    _dir: tempfile::TempDir,
}

async fn start(infra: Infra) -> anyhow::Result<Target> {
    let dir = tempfile::tempdir()?;
    let (key, entry) = generate_api_key(Role::Manufacturer, TenantId::parse("acme")?, "bench")?;
    let keys_file = dir.path().join("keys.json");
    std::fs::write(
        &keys_file,
        ApiKeyTable::from_entries(vec![entry])?.to_json_pretty(),
    )?;
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let settings = RegistrySettings {
        http: HttpSettings {
            host: "127.0.0.1".to_owned(),
            port: 0,
            workers: Some(2),
            ..RegistrySettings::default().http
        },
        bus: BusSettings {
            kind: BusKind::Kafka,
            brokers: tracechain_testkit::kafka_brokers(),
            client_id: format!("registry-load-{unique}"),
            session_timeout_ms: 6000,
            ..BusSettings::default()
        },
        store: StoreSettings {
            kind: StoreKind::Redis,
            url: tracechain_testkit::redis_url(),
            namespace_suffix: Some(format!("load-{unique}")),
            ..StoreSettings::default()
        },
        api_keys_file: Some(keys_file),
        public_base_url: "https://id.example.com".to_owned(),
        topic: TopicSettings {
            name: format!("registry-load-{unique}"),
            partitions: 6,
            replication_factor: 1,
        },
        projection: ProjectionSettings {
            name: format!("registry-load-{unique}"),
            marker_check_interval_ms: 1000,
        },
        ..RegistrySettings::default()
    };
    let namespace = Namespace::service(SERVICE_NAME)?;
    let infrastructure = match infra {
        Infra::Real => Infrastructure::connect(&settings.bus, &settings.store, namespace).await?,
        Infra::Embedded => {
            let bus: Arc<dyn EventBus> = Arc::new(EmbeddedBus::open(dir.path().join("bus"))?);
            let store: Arc<dyn StateStore> =
                Arc::new(EmbeddedStore::open(dir.path().join("store"), namespace).await?);
            Infrastructure::new(bus, store)
        }
    };
    let store = Arc::clone(&infrastructure.store);
    let mut cold_settings = settings.clone();
    cold_settings.limits.resolver_lot_ttl_ms = 0;
    cold_settings.limits.resolver_item_cache = 0;
    let cold_infrastructure = infrastructure.clone();
    let app = Application::build(settings, infrastructure).await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    wait_ready(&client, &address).await?;

    let mut item_paths = Vec::new();
    let mut item_post_paths = Vec::new();
    for n in 0..PRODUCTS {
        let product = post(
            &client,
            &format!("{address}/v1/products"),
            &key,
            &json!({"gtin": gtin(n), "name": format!("Load product {n}"), "brand": "Acme"}),
        )
        .await?;
        let id = product["id"].as_str().unwrap_or_default().to_owned();
        post(
            &client,
            &format!("{address}/v1/products/{id}/lots"),
            &key,
            &json!({"lot": "L1", "produced_at": "2024-05-01", "expires_at": "2030-01-01"}),
        )
        .await?;
        item_post_paths.push(format!("/v1/products/{id}/lots/L1/items"));
        if n == 0 {
            let created = post(
                &client,
                &format!("{address}/v1/products/{id}/lots/L1/items"),
                &key,
                &json!({ "count": ITEMS }),
            )
            .await?;
            for item in created["items"].as_array().into_iter().flatten() {
                let link = item["digital_link"].as_str().unwrap_or_default();
                item_paths.push(link.trim_start_matches("https://id.example.com").to_owned());
            }
        }
    }
    anyhow::ensure!(
        item_paths.len() == ITEMS,
        "seeding made {} items",
        item_paths.len()
    );
    let cold = Application::build(cold_settings, cold_infrastructure).await?;
    let cold_address = format!("http://127.0.0.1:{}", cold.port());
    let cold_shutdown = cold.shutdown_token();
    let cold_server = tokio::spawn(cold.run_until_stopped());
    wait_ready(&client, &cold_address).await?;
    let stop_cold = shutdown.clone();
    tokio::spawn(async move {
        stop_cold.cancelled().await;
        cold_shutdown.cancel();
    });
    Ok(Target {
        address,
        cold_address,
        key,
        item_paths,
        item_post_paths,
        store,
        shutdown,
        server,
        cold_server,
        _dir: dir,
    })
}

/// A valid GTIN-13 for product `n` of this run.
fn gtin(n: usize) -> String {
    let seed = (uuid::Uuid::now_v7().as_u128() % 1_000_000_000) as u64;
    let body = format!("{:03}{:09}", n, seed);
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

async fn wait_ready(client: &reqwest::Client, address: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(format!("{address}/readyz")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the registry was not ready within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let response = client.post(url).bearer_auth(key).json(body).send().await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "POST {url}: {status} {text}");
    Ok(serde_json::from_str(&text)?)
}

/// Runs wrk and parses its report.
fn wrk(
    url: &str,
    script: Option<&Path>,
    connections: usize,
    seconds: u64,
) -> anyhow::Result<Figures> {
    let mut command = Command::new("wrk");
    command
        .arg(format!("-t{THREADS}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg("--timeout")
        .arg("30s")
        .arg("--latency");
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output = command.arg(url).output()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(
        output.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_wrk(&text).ok_or_else(|| anyhow::anyhow!("cannot read wrk's report:\n{text}"))
}

/// Reads `Requests/sec`, the 50% and 99% latencies, the request count and
/// errors (non-2xx/3xx and socket errors) from wrk's report.
fn parse_wrk(text: &str) -> Option<Figures> {
    let mut figures = Figures::default();
    let mut have_rate = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", rate] => {
                figures.requests_per_sec = rate.parse().ok()?;
                have_rate = true;
            }
            ["50%", latency] => figures.p50_ms = millis(latency)?,
            ["99%", latency] => figures.p99_ms = millis(latency)?,
            [count, "requests", "in", ..] => figures.requests = count.parse().ok()?,
            ["Non-2xx", "or", "3xx", "responses:", n] => figures.errors += n.parse::<u64>().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                figures.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    have_rate.then_some(figures)
}

fn millis(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        _ => return None,
    })
}

fn lua_table(paths: &[String]) -> String {
    let mut out = String::from("{");
    for path in paths {
        let _ = write!(out, "{path:?},");
    }
    out.push('}');
    out
}

async fn measure(infra: Infra, seconds: u64, connections: usize) -> anyhow::Result<bool> {
    let target = start(infra).await?;
    let dir = tempfile::tempdir()?;
    let resolve_script = dir.path().join("resolve.lua");
    std::fs::write(
        &resolve_script,
        format!(
            "local paths = {}\nlocal i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format(\"GET\", paths[(i % #paths) + 1], {{[\"Accept\"] = \"application/json\"}})\nend\n",
            lua_table(&target.item_paths)
        ),
    )?;
    let serialize_script = dir.path().join("serialize.lua");
    std::fs::write(
        &serialize_script,
        format!(
            "local paths = {}\nlocal i = 0\nwrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer {}\"\nwrk.body = '{{\"count\":1000}}'\nrequest = function()\n  i = i + 1\n  return wrk.format(nil, paths[(i % #paths) + 1])\nend\n",
            lua_table(&target.item_post_paths),
            target.key
        ),
    )?;
    let address = target.address.clone();
    let cold_address = target.cold_address.clone();
    let (health, resolve, cold, serialize) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let health = wrk(&format!("{address}/healthz"), None, connections, seconds)?;
            let resolve = wrk(&address, Some(&resolve_script), connections, seconds)?;
            let cold = wrk(&cold_address, Some(&resolve_script), connections, seconds)?;
            let serialize = wrk(&address, Some(&serialize_script), POST_CONNECTIONS, seconds)?;
            Ok((health, resolve, cold, serialize))
        })
        .await??;

    let ratio = resolve.requests_per_sec / health.requests_per_sec.max(f64::MIN_POSITIVE);
    let pass = ratio >= 0.5;
    println!(
        "   {:<44} {:>5} {:>10} {:>9} {:>9} {:>7} {:>12}",
        "endpoint", "conns", "req/s", "p50 ms", "p99 ms", "errors", "vs /healthz"
    );
    let row = |name: &str, conns: usize, f: &Figures, note: String| {
        println!(
            "   {:<44} {:>5} {:>10.1} {:>9.2} {:>9.2} {:>7} {:>12}",
            name, conns, f.requests_per_sec, f.p50_ms, f.p99_ms, f.errors, note
        );
    };
    row("GET /healthz", connections, &health, "1.00".to_owned());
    row(
        "GET /01/{gtin}/10/{lot}/21/{serial} (JSON)",
        connections,
        &resolve,
        format!("{ratio:.2} {}", if pass { "PASS" } else { "MISS" }),
    );
    row(
        "  same, resolver cache off (store every scan)",
        connections,
        &cold,
        format!(
            "{:.2}",
            cold.requests_per_sec / health.requests_per_sec.max(f64::MIN_POSITIVE)
        ),
    );
    row(
        "POST .../items {count:1000}",
        POST_CONNECTIONS,
        &serialize,
        format!(
            "{:.2}",
            serialize.requests_per_sec / health.requests_per_sec.max(f64::MIN_POSITIVE)
        ),
    );
    println!(
        "   serialisation: {:.0} items/s ({} batches of 1,000 in {seconds} s, each one acknowledged event)",
        serialize.requests_per_sec * 1000.0,
        serialize.requests
    );

    target.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), target.server).await;
    let _ = tokio::time::timeout(Duration::from_secs(30), target.cold_server).await;
    if infra == Infra::Real {
        // Free Redis of the run's projection (the topic stays, as in the
        // bus bench). Hundreds of thousands of keys: deleted with a
        // connection of its own, in UNLINK batches, not through the store's
        // per-call timeouts.
        let prefix = target.store.namespace().as_str().to_owned();
        match tokio::task::spawn_blocking(move || unlink_namespace(&prefix)).await {
            Ok(Ok(removed)) => println!("   (removed the run's {removed} Redis keys)"),
            Ok(Err(error)) => println!("   (could not remove the run's Redis keys: {error})"),
            Err(error) => println!("   (could not remove the run's Redis keys: {error})"),
        }
    }
    Ok(pass)
}

/// Deletes every Redis key under `prefix` (SCAN + UNLINK in batches).
fn unlink_namespace(prefix: &str) -> redis::RedisResult<usize> {
    let mut con = redis::Client::open(tracechain_testkit::redis_url())?.get_connection()?;
    let mut cursor: u64 = 0;
    let mut removed = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(5000)
            .query(&mut con)?;
        if !keys.is_empty() {
            removed += redis::cmd("UNLINK").arg(&keys).query::<usize>(&mut con)?;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}
