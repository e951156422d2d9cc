//! `spawn_app()`: the real shipments service on port 0, against the real
//! broker and Redis, isolated per test (its own topics, consumer group and
//! Redis prefix); registry events published the way the registry publishes
//! them; phones that sign scans as the RFCs say; a reader of what the
//! service published.
//!
//! Never skipped: when the broker or Redis is down, the test fails and says
//! to run `scripts/infra.sh up`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracechain_bus::EventBus;
use tracechain_core::SigningKey;
use tracechain_domain::{Envelope, Gtin, Lot, Role, Serial, TenantId};
use tracechain_http::HttpSettings;
use tracechain_registry::domain::events::{ItemsSerialized, ProductRegistered, RegistryEvent};
use tracechain_runtime::{BusKind, BusSettings, Infrastructure, StoreKind, StoreSettings};
use tracechain_shipments::settings::{ProjectionSettings, ScanSettings, TopicSettings};
use tracechain_shipments::{Application, SERVICE_NAME, ShipmentsSettings, StartupError};
use tracechain_store::{Namespace, StateStore};
use tracechain_testkit::ApiKeyFile;
use uuid::Uuid;

/// The label base every test app issues URIs under.
pub(crate) const BASE: &str = "https://id.example.com";

/// API keys of the test tenants: `acme` and `globex` manufacture;
/// `fastfreight` and `lastmile` carry.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub(crate) acme: String,
    pub(crate) globex: String,
    pub(crate) fastfreight: String,
    pub(crate) lastmile: String,
    pub(crate) auditor: String,
    pub(crate) admin: String,
    pub(crate) finance: String,
}

fn write_keys(dir: &Path) -> (Keys, PathBuf) {
    let mut file = ApiKeyFile::new();
    let keys = Keys {
        acme: file.add(Role::Manufacturer, "acme", "acme"),
        globex: file.add(Role::Manufacturer, "globex", "globex"),
        fastfreight: file.add(Role::Carrier, "fastfreight", "fastfreight"),
        lastmile: file.add(Role::Carrier, "lastmile", "lastmile"),
        auditor: file.add(Role::Auditor, "audit-co", "auditor"),
        admin: file.add(Role::Admin, "operator", "admin"),
        finance: file.add(Role::Finance, "acme", "finance"),
    };
    let path = dir.join("api-keys.json");
    file.write(&path);
    (keys, path)
}

/// A running shipments service.
pub(crate) struct TestApp {
    pub(crate) address: String,
    pub(crate) client: reqwest::Client,
    pub(crate) keys: Keys,
    pub(crate) topic: String,
    pub(crate) registry_topic: String,
    pub(crate) projection: String,
    pub(crate) bus: Arc<dyn EventBus>,
    pub(crate) store: Arc<dyn StateStore>,
    pub(crate) settings: ShipmentsSettings,
    shutdown: CancellationToken,
    server: Option<JoinHandle<Result<(), StartupError>>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let _ = tracechain_testkit::flush_namespace(self.store.namespace().as_str());
    }
}

/// The service on the real broker and Redis, ready.
pub(crate) async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// The service with settings changed by `change`, ready.
pub(crate) async fn spawn_with(change: impl FnOnce(&mut ShipmentsSettings)) -> TestApp {
    tracechain_testkit::init_telemetry("shipments-tests");
    let dir = tempfile::tempdir().unwrap();
    let (keys, keys_file) = write_keys(dir.path());
    let unique = Uuid::now_v7().simple().to_string();
    let topic = format!("shipments-test-{unique}");
    let registry_topic = format!("registry-test-{unique}");
    let projection = format!("shipments-{unique}");
    let brokers = tracechain_testkit::require_broker();
    tracechain_testkit::require_redis();
    let mut settings = ShipmentsSettings {
        http: HttpSettings {
            host: "127.0.0.1".to_owned(),
            port: 0,
            workers: Some(2),
            shutdown_grace_secs: 5,
            ..ShipmentsSettings::default().http
        },
        bus: BusSettings {
            kind: BusKind::Kafka,
            brokers,
            client_id: format!("shipments-test-{unique}"),
            session_timeout_ms: 6000,
            delivery_timeout_ms: 10_000,
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
        topics: TopicSettings {
            shipments: topic.clone(),
            partitions: 2,
            replication_factor: 1,
            registry: registry_topic.clone(),
        },
        projection: ProjectionSettings {
            name: projection.clone(),
            marker_check_interval_ms: 200,
        },
        scans: ScanSettings::default(),
        ..ShipmentsSettings::default()
    };
    change(&mut settings);
    let namespace = Namespace::service(SERVICE_NAME).unwrap();
    let infrastructure = Infrastructure::connect(&settings.bus, &settings.store, namespace)
        .await
        .unwrap();
    let bus = Arc::clone(&infrastructure.bus);
    let store = Arc::clone(&infrastructure.store);
    let app = Application::build(settings.clone(), infrastructure)
        .await
        .unwrap();
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
        registry_topic,
        projection,
        bus,
        store,
        settings,
        shutdown,
        server: Some(server),
        _dir: dir,
    };
    app.wait_ready().await;
    app
}

/// A phone: a registered device's id and its ed25519 key.
pub(crate) struct Phone {
    pub(crate) device_id: String,
    pub(crate) key: SigningKey,
}

impl Phone {
    /// A fresh, unregistered key.
    pub(crate) fn unregistered() -> Phone {
        Phone {
            device_id: Uuid::now_v7().to_string(),
            key: SigningKey::generate(),
        }
    }

    /// The scan body (unsigned) for `code` and `kind`, scanned now at a
    /// fixed place with a fresh nonce.
    pub(crate) fn body(&self, code: &str, kind: &str) -> Value {
        json!({
            "code": code,
            "kind": kind,
            "device_id": self.device_id,
            "scanned_at": now(),
            "location": {"lat": 52.3702, "lon": 4.8952, "accuracy_m": 12.5},
            "nonce": nonce(),
        })
    }

    /// `body` plus its signature: ed25519 over the RFC 8785 bytes of
    /// every member but `signature`.
    pub(crate) fn sign(&self, mut body: Value) -> Value {
        let bytes = tracechain_core::to_canonical_vec(&body).unwrap();
        let signature = self.key.sign(&bytes).to_base64();
        body["signature"] = json!(signature);
        body
    }

    /// A signed scan of `code`.
    pub(crate) fn scan(&self, code: &str, kind: &str) -> Value {
        self.sign(self.body(code, kind))
    }

    /// A signed hand-over of `code` to `to`.
    pub(crate) fn handover(&self, code: &str, to: &str) -> Value {
        let mut body = self.body(code, "handover");
        body["to_party"] = json!(to);
        self.sign(body)
    }
}

/// Now, RFC 3339 with milliseconds, as a phone writes it.
pub(crate) fn now() -> String {
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .unwrap();
    now.format(&Rfc3339).unwrap()
}

/// `at` seconds from now, RFC 3339.
pub(crate) fn seconds_from_now(at: i64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::seconds(at))
        .format(&Rfc3339)
        .unwrap()
}

/// A fresh nonce: 32 random hex digits.
pub(crate) fn nonce() -> String {
    format!("{:016x}{:016x}", random(), random())
}

/// A random u64 from the OS.
pub(crate) fn random() -> u64 {
    use rand_core::RngCore;
    rand_core::OsRng.next_u64()
}

/// A random valid GTIN-14.
pub(crate) fn random_gtin() -> Gtin {
    let body = format!("0{:012}", random() % 1_000_000_000_000);
    let check = tracechain_domain::gs1::check_digit(&body).unwrap();
    Gtin::parse(&format!("{body}{check}")).unwrap()
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
                "the service did not become ready within 60 s: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The token that stops the app.
    pub(crate) fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops the app and waits for it.
    pub(crate) async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(30), server)
                .await
                .expect("the service stops within 30 s")
                .expect("the server task did not panic")
                .expect("the service stopped cleanly");
        }
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
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
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

    /// Posts a scan; returns status and body.
    pub(crate) async fn post_scan(&self, scan: &Value) -> (u16, Value) {
        let response = self.post("/v1/scans", None, scan).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Posts a scan that must be accepted; returns the 202 body.
    pub(crate) async fn accept(&self, scan: &Value) -> Value {
        let (status, body) = self.post_scan(scan).await;
        assert_eq!(status, 202, "scan refused: {body}");
        body
    }

    /// Publishes, as the registry does, a product of `manufacturer` with
    /// lot `lot` holding `serials`, and waits until the service knows
    /// them. Returns the items' Digital Link URIs.
    pub(crate) async fn seed_items(
        &self,
        manufacturer: &str,
        lot: &str,
        serials: &[&str],
    ) -> Vec<String> {
        let gtin = random_gtin();
        let product_id = Uuid::now_v7();
        let owner = TenantId::parse(manufacturer).unwrap();
        let lot = Lot::parse(lot).unwrap();
        let events = [
            RegistryEvent::ProductRegistered(ProductRegistered {
                product_id,
                gtin: gtin.clone(),
                name: "Olive oil 500 ml".to_owned(),
                description: None,
                brand: None,
                attributes: BTreeMap::new(),
                manufacturer: owner.clone(),
            }),
            RegistryEvent::ItemsSerialized(ItemsSerialized {
                product_id,
                gtin: gtin.clone(),
                lot: lot.clone(),
                serials: serials.iter().map(|s| Serial::parse(s).unwrap()).collect(),
            }),
        ];
        let batch: Vec<(Vec<u8>, Envelope)> = events
            .iter()
            .map(|e| {
                (
                    product_id.to_string().into_bytes(),
                    e.to_envelope(&owner).unwrap(),
                )
            })
            .collect();
        self.bus
            .publish_batch(&self.registry_topic, &batch)
            .await
            .unwrap();
        let last = format!("item:{gtin}:{}", serials.last().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.store.get(&last).await.unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the registry events were not projected within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        serials
            .iter()
            .map(|s| format!("{BASE}/01/{gtin}/10/{lot}/21/{s}"))
            .collect()
    }

    /// Registers a phone for `carrier` with its key.
    pub(crate) async fn phone(&self, carrier: &str, key: &str) -> Phone {
        let signing = SigningKey::generate();
        let response = self
            .post(
                &format!("/v1/carriers/{carrier}/devices"),
                Some(key),
                &json!({"public_key": signing.verifying_key().to_base64(), "label": "test phone"}),
            )
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "register device: {body}");
        Phone {
            device_id: body["id"].as_str().unwrap().to_owned(),
            key: signing,
        }
    }

    /// The creation body of a shipment of `items` with `carrier`.
    pub(crate) fn shipment_body(items: &[String], carrier: &str) -> Value {
        json!({
            "carrier_id": carrier,
            "items": items,
            "origin": {"gln": "9506000134352"},
            "destination": {"address": "1 Dock Road, Rotterdam", "lat": 51.9, "lon": 4.5},
            "due_by": "2026-12-31T12:00:00Z",
            "agreement_ref": "rate-2026-eu",
        })
    }

    /// A shipment of `items` by acme with fastfreight; returns its body.
    pub(crate) async fn ship(&self, items: &[String]) -> Value {
        let response = self
            .post(
                "/v1/shipments",
                Some(&self.keys.acme),
                &Self::shipment_body(items, "fastfreight"),
            )
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "create shipment: {body}");
        body
    }

    /// One fresh item shipped by acme with fastfreight: (shipment, label URI).
    pub(crate) async fn shipment(&self) -> (Value, String) {
        let items = self.seed_items("acme", "L1", &[&nonce()[..12]]).await;
        let shipment = self.ship(&items).await;
        let label = shipment["label_uri"].as_str().unwrap().to_owned();
        (shipment, label)
    }

    /// Every event on the service's topic, per partition in offset order.
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

    /// How many records the service's topic holds.
    pub(crate) async fn published(&self) -> i64 {
        self.bus
            .end_offsets(&self.topic)
            .await
            .unwrap()
            .values()
            .sum()
    }

    /// The event types on the topic.
    pub(crate) async fn event_types(&self) -> Vec<String> {
        self.events()
            .await
            .iter()
            .map(|e| e.event_type().to_string())
            .collect()
    }

    /// The shipment as its manufacturer sees it.
    pub(crate) async fn shipment_state(&self, id: &str) -> Value {
        self.get_json(&format!("/v1/shipments/{id}"), &self.keys.acme)
            .await
    }

    /// Waits until the projection consumer has applied every record on
    /// both topics.
    pub(crate) async fn wait_caught_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for topic in [&self.topic, &self.registry_topic] {
            let ends = self.bus.end_offsets(topic).await.unwrap();
            loop {
                let mut positions = tracechain_projection::AppliedPositions::new(&self.projection);
                let mut behind = Vec::new();
                for (partition, end) in &ends {
                    let applied = positions
                        .applied(self.store.as_ref(), topic, *partition)
                        .await
                        .unwrap();
                    if *end > 0 && applied.is_none_or(|a| a + 1 < *end) {
                        behind.push((*partition, applied, *end));
                    }
                }
                if behind.is_empty() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the projection did not catch up: {behind:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
