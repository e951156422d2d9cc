//! What the platform's users do, over HTTP, for the whole-system tests: a
//! manufacturer registers serialised items, ships them, a carrier registers
//! a phone whose ed25519 key signs each scan over its RFC 8785 bytes, and an
//! auditor reads the ledger's blocks.
//!
//! Async (reqwest on Tokio) so a test can keep hundreds of scans in flight.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tracechain_core::SigningKey;

/// An answer: the status code and the JSON body (`null` when there is none).
pub type Answer = (u16, Value);

/// An HTTP client for the platform's JSON APIs.
#[derive(Debug, Clone)]
pub struct Api {
    /// Shared connection pool.
    pub client: reqwest::Client,
}

impl Default for Api {
    fn default() -> Self {
        Api::new()
    }
}

impl Api {
    /// A client whose requests give up after 30 s.
    pub fn new() -> Api {
        Api {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a reqwest client"),
        }
    }

    /// Sends `request`; `None` when no answer came (refused, reset, timed out).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Option<Answer> {
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let text = response.text().await.ok()?;
        Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// `POST url` with a JSON body, as `key` when given; panics without an answer.
    pub async fn post(&self, url: &str, key: Option<&str>, body: &Value) -> Answer {
        let mut request = self.client.post(url).json(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        self.send(request)
            .await
            .unwrap_or_else(|| panic!("POST {url}: no answer"))
    }

    /// `GET url` as `key`; panics without an answer.
    pub async fn get(&self, url: &str, key: &str) -> Answer {
        self.send(self.client.get(url).bearer_auth(key))
            .await
            .unwrap_or_else(|| panic!("GET {url}: no answer"))
    }

    /// `GET url` as `key`, expecting 200; the body.
    pub async fn get_ok(&self, url: &str, key: &str) -> Value {
        let (status, body) = self.get(url, key).await;
        assert_eq!(status, 200, "GET {url}: {body}");
        body
    }
}

/// Every item of a paged listing (`{items, next_cursor}`), following
/// `next_cursor` 100 at a time; `url` may already carry a query.
pub async fn list_all(api: &Api, url: &str, key: &str) -> Vec<Value> {
    let separator = if url.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_url = match &cursor {
            Some(c) => format!("{url}{separator}limit=100&cursor={c}"),
            None => format!("{url}{separator}limit=100"),
        };
        let page = api.get_ok(&page_url, key).await;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// A random valid GTIN-13 under the GS1 demo prefix 950.
pub fn fresh_gtin() -> String {
    let n = uuid::Uuid::now_v7().as_u128() % 1_000_000_000;
    let body = format!("950{n:09}");
    let check = tracechain_domain::gs1::check_digit(&body).expect("twelve digits");
    format!("{body}{check}")
}

/// Registers a product of `manufacturer_key`'s tenant with lot `L1` and
/// `count` serials; their GS1 Digital Link URIs, in serial order.
pub async fn seed_items(
    api: &Api,
    registry: &str,
    manufacturer_key: &str,
    count: usize,
) -> Vec<String> {
    let (status, product) = api
        .post(
            &format!("{registry}/v1/products"),
            Some(manufacturer_key),
            &json!({"gtin": fresh_gtin(), "name": "e2e olive oil 500 ml"}),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    let id = product["id"].as_str().expect("a product id").to_owned();
    let (status, lot) = api
        .post(
            &format!("{registry}/v1/products/{id}/lots"),
            Some(manufacturer_key),
            &json!({"lot": "L1", "produced_at": "2026-11-01"}),
        )
        .await;
    assert_eq!(status, 201, "{lot}");
    let mut links = Vec::with_capacity(count);
    let serials: Vec<String> = (0..count).map(|i| format!("E{i:06}")).collect();
    for chunk in serials.chunks(1000) {
        let (status, items) = api
            .post(
                &format!("{registry}/v1/products/{id}/lots/L1/items"),
                Some(manufacturer_key),
                &json!({ "serials": chunk }),
            )
            .await;
        assert_eq!(status, 201, "{items}");
        links.extend(
            items["items"]
                .as_array()
                .expect("the created items")
                .iter()
                .map(|item| item["digital_link"].as_str().unwrap().to_owned()),
        );
    }
    links
}

/// A create-shipment body: `items` for `carrier`, from a GLN to an address.
pub fn shipment_body(carrier: &str, items: &[String]) -> Value {
    json!({
        "carrier_id": carrier,
        "items": items,
        "origin": {"gln": "9506000134352"},
        "destination": {"address": "1 Dock Road, Rotterdam", "lat": 51.9, "lon": 4.5},
        "due_by": "2026-12-31T12:00:00Z",
    })
}

/// Creates a shipment of `items` for `carrier`; retries while shipments has
/// not yet learned the items from the registry's events (422), for up to
/// 60 s. The created shipment.
pub async fn ship(
    api: &Api,
    shipments: &str,
    manufacturer_key: &str,
    carrier: &str,
    items: &[String],
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = api
            .post(
                &format!("{shipments}/v1/shipments"),
                Some(manufacturer_key),
                &shipment_body(carrier, items),
            )
            .await;
        if status == 201 {
            return body;
        }
        assert!(
            status == 422 && Instant::now() < deadline,
            "shipment not created: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One single-item shipment per item for `carrier`, eight created at a
/// time; each one's `(id, label URI)`, in item order.
pub async fn ship_each(
    api: &Api,
    shipments: &str,
    manufacturer_key: &str,
    carrier: &str,
    items: &[String],
) -> Vec<(String, String)> {
    futures::stream::iter(items)
        .map(|item| async move {
            let made = ship(
                api,
                shipments,
                manufacturer_key,
                carrier,
                std::slice::from_ref(item),
            )
            .await;
            let field = |name: &str| made[name].as_str().expect("a created shipment").to_owned();
            (field("id"), field("label_uri"))
        })
        .buffered(8)
        .collect()
        .await
}

/// How many of `manufacturer_key`'s shipments are delivered.
pub async fn delivered_count(api: &Api, shipments: &str, manufacturer_key: &str) -> usize {
    list_all(
        api,
        &format!("{shipments}/v1/shipments?state=delivered"),
        manufacturer_key,
    )
    .await
    .len()
}

/// A carrier's phone: its ed25519 key and the device id it was registered as.
#[derive(Debug)]
pub struct Phone {
    /// The phone's private key.
    pub key: SigningKey,
    /// The device id shipments gave it.
    pub device_id: String,
}

impl Phone {
    /// Registers a fresh key as a device of `carrier`.
    pub async fn register(api: &Api, shipments: &str, carrier: &str, carrier_key: &str) -> Phone {
        let key = SigningKey::generate();
        let (status, device) = api
            .post(
                &format!("{shipments}/v1/carriers/{carrier}/devices"),
                Some(carrier_key),
                &json!({"public_key": key.verifying_key().to_base64(), "label": "e2e phone"}),
            )
            .await;
        assert_eq!(status, 201, "{device}");
        Phone {
            key,
            device_id: device["id"].as_str().expect("a device id").to_owned(),
        }
    }

    /// A scan of `code` of `kind` signed now with a fresh nonce; a
    /// hand-over names `lastmile` as the receiving party.
    pub fn scan(&self, code: &str, kind: &str) -> Value {
        let mut body = json!({
            "code": code,
            "kind": kind,
            "device_id": self.device_id,
            "scanned_at": time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .expect("RFC 3339"),
            "location": {"lat": 51.9225, "lon": 4.4792, "accuracy_m": 15.0},
            "nonce": format!("e2e-{}", uuid::Uuid::now_v7().simple()),
        });
        if kind == "handover" {
            body["to_party"] = json!("lastmile");
        }
        let bytes = tracechain_core::to_canonical_vec(&body).expect("canonical JSON");
        body["signature"] = json!(self.key.sign(&bytes).to_base64());
        body
    }
}

/// One event in the ledger's blocks.
#[derive(Debug, Clone, Default)]
pub struct AnchoredEvent {
    /// Its type (`scan.recorded`, …).
    pub event_type: String,
    /// The heights of the blocks holding it: exactly one in a correct ledger.
    pub heights: Vec<u64>,
}

/// Every event the ledger has anchored, walking `/v1/blocks/{height}` from
/// genesis, by event id.
pub async fn anchored_events(
    api: &Api,
    ledger: &str,
    auditor_key: &str,
) -> BTreeMap<String, AnchoredEvent> {
    let (status, head) = api.get(&format!("{ledger}/v1/head"), auditor_key).await;
    let mut anchored: BTreeMap<String, AnchoredEvent> = BTreeMap::new();
    if status == 404 {
        return anchored;
    }
    assert_eq!(status, 200, "{head}");
    let height = head["height"].as_u64().expect("a height");
    for h in 0..=height {
        let block = api
            .get_ok(&format!("{ledger}/v1/blocks/{h}"), auditor_key)
            .await;
        for event in block["events"].as_array().expect("the block's events") {
            if let Some(id) = event["event_id"].as_str() {
                let entry = anchored.entry(id.to_owned()).or_default();
                entry.event_type = event["type"].as_str().unwrap_or_default().to_owned();
                entry.heights.push(h);
            }
        }
    }
    anchored
}

/// Waits up to `within` until the ledger's tree holds at least `size` leaves.
pub async fn wait_for_tree_size(
    api: &Api,
    ledger: &str,
    auditor_key: &str,
    size: u64,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, head) = api.get(&format!("{ledger}/v1/head"), auditor_key).await;
        if status == 200 && head["tree_size"].as_u64() >= Some(size) {
            return head;
        }
        assert!(
            Instant::now() < deadline,
            "the ledger did not reach {size} leaves within {within:?}: {status} {head}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
