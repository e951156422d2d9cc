//! `spawn_app()`: the real registry on port 0, against the real broker and
//! Redis, isolated per test (its own topic, consumer group and Redis key
//! prefix), with typed request helpers and a reader for the test's topic.
//!
//! Never skipped: when the broker or Redis is down, the test fails and says
//! to run `scripts/infra.sh up`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracechain_bus::{EmbeddedBus, EventBus};
use tracechain_domain::{Envelope, Role};
use tracechain_http::HttpSettings;
use tracechain_registry::settings::{ProjectionSettings, TopicSettings};
use tracechain_registry::{Application, RegistrySettings, SERVICE_NAME, StartupError};
use tracechain_runtime::{BusKind, BusSettings, Infrastructure, StoreKind, StoreSettings};
use tracechain_store::{EmbeddedStore, Namespace, StateStore};
use tracechain_testkit::ApiKeyFile;

/// The Digital Link base every test app issues URIs under.
pub(crate) const BASE: &str = "https://id.example.com";

/// API keys of the test tenants: `acme` and `globex` are manufacturers.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub(crate) acme: String,
    pub(crate) globex: String,
    pub(crate) auditor: String,
    pub(crate) admin: String,
    pub(crate) carrier: String,
    pub(crate) finance: String,
}

fn write_keys(dir: &Path) -> (Keys, PathBuf) {
    let mut file = ApiKeyFile::new();
    let keys = Keys {
        acme: file.add(Role::Manufacturer, "acme", "acme"),
        globex: file.add(Role::Manufacturer, "globex", "globex"),
        auditor: file.add(Role::Auditor, "audit-co", "auditor"),
        admin: file.add(Role::Admin, "operator", "admin"),
        carrier: file.add(Role::Carrier, "fastfreight", "carrier"),
        finance: file.add(Role::Finance, "acme", "finance"),
    };
    let path = dir.join("api-keys.json");
    file.write(&path);
    (keys, path)
}

/// Which bus and store a test app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Infra {
    /// The real broker and Redis.
    Real,
    /// The embedded bus and store in a temporary directory.
    Embedded,
    /// A broker address where nothing listens, and the real Redis.
    DeadBroker,
}

/// A running registry.
pub(crate) struct TestApp {
    pub(crate) address: String,
    pub(crate) client: reqwest::Client,
    pub(crate) keys: Keys,
    pub(crate) topic: String,
    pub(crate) projection: String,
    pub(crate) bus: Arc<dyn EventBus>,
    pub(crate) store: Arc<dyn StateStore>,
    /// Whether the store is the shared Redis (cleaned up on drop).
    redis: bool,
    shutdown: CancellationToken,
    server: Option<JoinHandle<Result<(), StartupError>>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // Leave nothing behind in the shared Redis.
        if self.redis {
            let _ = flush_namespace(self.store.namespace().as_str());
        }
    }
}

pub(crate) use tracechain_testkit::{assert_problem, flush_namespace};

/// The real registry on the real broker and Redis, ready.
pub(crate) async fn spawn_app() -> TestApp {
    spawn(Infra::Real).await
}

/// The registry on `infra`; waits until ready unless the broker is dead.
pub(crate) async fn spawn(infra: Infra) -> TestApp {
    tracechain_testkit::init_telemetry("registry-tests");
    let dir = tempfile::tempdir().unwrap();
    let (keys, keys_file) = write_keys(dir.path());
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let topic = format!("registry-test-{unique}");
    let projection = format!("registry-{unique}");
    let brokers = match infra {
        Infra::Real => {
            let brokers = tracechain_testkit::require_broker();
            tracechain_testkit::require_redis();
            brokers
        }
        Infra::DeadBroker => {
            tracechain_testkit::require_redis();
            format!("127.0.0.1:{}", tracechain_testkit::free_port())
        }
        Infra::Embedded => String::new(),
    };
    let settings = RegistrySettings {
        http: HttpSettings {
            host: "127.0.0.1".to_owned(),
            port: 0,
            workers: Some(2),
            shutdown_grace_secs: 5,
            ..RegistrySettings::default().http
        },
        bus: BusSettings {
            kind: BusKind::Kafka,
            brokers,
            client_id: format!("registry-test-{unique}"),
            session_timeout_ms: 6000,
            delivery_timeout_ms: if infra == Infra::DeadBroker {
                1500
            } else {
                10_000
            },
            ..BusSettings::default()
        },
        store: StoreSettings {
            kind: StoreKind::Redis,
            url: tracechain_testkit::redis_url(),
            namespace_suffix: Some(format!("t-{unique}")),
            ..StoreSettings::default()
        },
        api_keys_file: Some(keys_file),
        public_base_url: BASE.to_owned(),
        topic: TopicSettings {
            name: topic.clone(),
            partitions: 2,
            replication_factor: 1,
        },
        projection: ProjectionSettings {
            name: projection.clone(),
            marker_check_interval_ms: 200,
        },
        ..RegistrySettings::default()
    };
    let namespace = Namespace::service(SERVICE_NAME).unwrap();
    let infrastructure = match infra {
        Infra::Real | Infra::DeadBroker => {
            Infrastructure::connect(&settings.bus, &settings.store, namespace)
                .await
                .unwrap()
        }
        Infra::Embedded => {
            let bus: Arc<dyn EventBus> =
                Arc::new(EmbeddedBus::open(dir.path().join("bus")).unwrap());
            let store: Arc<dyn StateStore> = Arc::new(
                EmbeddedStore::open(dir.path().join("store"), namespace.child("t").unwrap())
                    .await
                    .unwrap(),
            );
            Infrastructure::new(bus, store)
        }
    };
    let bus = Arc::clone(&infrastructure.bus);
    let store = Arc::clone(&infrastructure.store);
    let app = Application::build(settings, infrastructure).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    let app = TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        keys,
        topic,
        projection,
        bus,
        store,
        redis: infra != Infra::Embedded,
        shutdown,
        server: Some(server),
        _dir: dir,
    };
    if infra != Infra::DeadBroker {
        app.wait_ready().await;
    }
    app
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Waits until `/readyz` answers 200 (60 s at most).
    pub(crate) async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let response = self.client.get(self.url("/readyz")).send().await.unwrap();
            if response.status() == StatusCode::OK {
                return;
            }
            let body = response.text().await.unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "the registry did not become ready within 60 s: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the app and waits for it (consumer committed, producer flushed).
    pub(crate) async fn stop(&mut self) -> Duration {
        let started = Instant::now();
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(30), server)
                .await
                .expect("the registry stops within 30 s")
                .expect("the server task did not panic")
                .expect("the registry stopped cleanly");
        }
        started.elapsed()
    }

    pub(crate) async fn get(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.unwrap()
    }

    pub(crate) async fn get_json(&self, path: &str, key: &str) -> Value {
        let response = self.get(path, Some(key)).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        key: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.unwrap()
    }

    pub(crate) async fn post_with_key(
        &self,
        path: &str,
        key: &str,
        idempotency_key: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .header("Idempotency-Key", idempotency_key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Registers a product for `key` with a fresh GTIN; returns its body.
    pub(crate) async fn register(&self, key: &str, name: &str) -> Value {
        let response = self
            .post(
                "/v1/products",
                Some(key),
                &json!({"gtin": random_gtin(), "name": name, "brand": "Acme"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Creates lot `lot` of product `id`.
    pub(crate) async fn create_lot(&self, key: &str, id: &str, lot: &str) -> Value {
        let response = self
            .post(
                &format!("/v1/products/{id}/lots"),
                Some(key),
                &json!({"lot": lot, "produced_at": "2024-05-01", "expires_at": "2030-05-01"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "create lot {lot}");
        response.json().await.unwrap()
    }

    /// Serialises items of a lot (`body` is `{serials}` or `{count}`).
    pub(crate) async fn serialize(&self, key: &str, id: &str, lot: &str, body: Value) -> Value {
        let response = self
            .post(&lot_url(id, lot, "/items"), Some(key), &body)
            .await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "serialize: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// A product with lot `L1` holding `serials`: (product, items response).
    pub(crate) async fn product_with_items(&self, serials: &[&str]) -> (Value, Value) {
        let product = self.register(&self.keys.acme, "Olive oil 500 ml").await;
        let id = product["id"].as_str().unwrap().to_owned();
        self.create_lot(&self.keys.acme, &id, "L1").await;
        let items = self
            .serialize(&self.keys.acme, &id, "L1", json!({ "serials": serials }))
            .await;
        (product, items)
    }

    /// How many records the test's topic holds (sum of end offsets).
    pub(crate) async fn published(&self) -> i64 {
        self.bus
            .end_offsets(&self.topic)
            .await
            .unwrap()
            .values()
            .sum()
    }

    /// Every event on the test's topic, per partition in offset order.
    pub(crate) async fn events(&self) -> Vec<Envelope> {
        let ends = self.bus.end_offsets(&self.topic).await.unwrap();
        let starts: BTreeMap<i32, i64> = ends
            .iter()
            .filter(|(_, end)| **end > 0)
            .map(|(p, _)| (*p, 0))
            .collect();
        if starts.is_empty() {
            return Vec::new();
        }
        let mut reader = self.bus.reader(&self.topic, &starts).await.unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while ends
            .iter()
            .any(|(p, end)| *end > 0 && reader.positions().get(p).copied().unwrap_or(0) < *end)
        {
            assert!(Instant::now() < deadline, "reading the topic timed out");
            for record in reader
                .poll_batch(1000, Duration::from_millis(500))
                .await
                .unwrap()
            {
                out.push(record.envelope().unwrap());
            }
        }
        out
    }

    /// Waits until the projection consumer has applied every record on the
    /// topic (its applied positions, kept in the store, reach the ends).
    pub(crate) async fn wait_caught_up(&self) {
        let ends = self.bus.end_offsets(&self.topic).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut positions = tracechain_projection::AppliedPositions::new(&self.projection);
            let mut behind = Vec::new();
            for (partition, end) in &ends {
                let applied = positions
                    .applied(self.store.as_ref(), &self.topic, *partition)
                    .await
                    .unwrap();
                if *end > 0 && applied.is_none_or(|a| a + 1 < *end) {
                    behind.push((*partition, applied, *end));
                }
            }
            if behind.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the projection consumer did not catch up within 60 s: {behind:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The event types on the topic, as a multiset.
    pub(crate) async fn event_types(&self) -> Vec<String> {
        self.events()
            .await
            .iter()
            .map(|e| e.event_type().to_string())
            .collect()
    }
}

/// `/v1/products/{id}/lots/{lot}{suffix}`, the lot percent-encoded.
pub(crate) fn lot_url(id: &str, lot: &str, suffix: &str) -> String {
    format!("/v1/products/{id}/lots/{}{suffix}", encode(lot))
}

/// Percent-encodes everything but unreserved characters.
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The GS1 mod-10 check digit of `body`.
pub(crate) fn check_digit(body: &str) -> u8 {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// A random valid GTIN-13.
pub(crate) fn random_gtin() -> String {
    let n = uuid::Uuid::now_v7().as_u128() ^ u128::from(rand_u64());
    let body = format!("{:012}", n % 1_000_000_000_000);
    format!("{body}{}", check_digit(&body))
}

fn rand_u64() -> u64 {
    use rand_core::RngCore;
    rand_core::OsRng.next_u64()
}

pub(crate) use tracechain_testkit::zbar;

/// Scans a rendered label sheet (`page` a PNG at `dpi`) one label cell at a
/// time, as a person would scan one label: crops each of the 15 cells and
/// decodes it with `zbarimg`. Returns every URI found.
pub(crate) fn scan_sheet(page: &Path, dpi: f64) -> BTreeSet<String> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(page).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    assert_eq!(frame.bit_depth, png::BitDepth::Eight, "8-bit page");
    let (width, height) = (frame.width as usize, frame.height as usize);
    let gray = |x: usize, y: usize| -> u8 {
        let at = (y * width + x) * channels;
        let px = &pixels[at..at + channels];
        match channels {
            1 | 2 => px[0],
            _ => {
                let luma =
                    (u32::from(px[0]) * 299 + u32::from(px[1]) * 587 + u32::from(px[2]) * 114)
                        / 1000;
                if channels == 4 && px[3] < 128 {
                    255
                } else {
                    luma as u8
                }
            }
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let mut found = BTreeSet::new();
    let px = |mm: f64| (mm * dpi / 25.4).round() as usize;
    for index in 0..tracechain_registry::labels::LABELS_PER_SHEET {
        let (x, y, w, h) = tracechain_registry::labels::cell_rect_mm(index);
        let (x0, y0) = (px(x), px(y));
        let (cw, ch) = (px(w).min(width - x0), px(h).min(height - y0));
        let mut cell = Vec::with_capacity(cw * ch);
        for yy in y0..y0 + ch {
            for xx in x0..x0 + cw {
                cell.push(gray(xx, yy));
            }
        }
        let path = dir.path().join(format!("cell{index}.png"));
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, cw as u32, ch as u32);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(&cell).unwrap();
        }
        std::fs::write(&path, out).unwrap();
        let output = std::process::Command::new("zbarimg")
            .args(["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"])
            .arg(&path)
            .output()
            .expect("zbarimg runs");
        found.extend(
            String::from_utf8(output.stdout)
                .unwrap()
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    found
}
