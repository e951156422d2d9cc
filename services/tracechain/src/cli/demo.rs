//! `tracechain demo`: the story, step by step, against a running system —
//! `tracechain up` (the default URLs and `data/demo-keys.json`) or the
//! distributed services (`--registry`, `--shipments`, `--ledger`,
//! `--keys`, `--ledger-key`).
//!
//! A product with three serials and their QR codes; a shipment of them and
//! its label; a phone key for each carrier; pickup, hand-over and delivery
//! scans, each signed over its RFC 8785 bytes; then, once the ledger has
//! anchored the delivery, its inclusion proof verified here against the
//! signed checkpoint with the ledger's public key — the same check as
//! `tracechain verify proof`, on the files written to `--out`.
//!
//! Each run registers a fresh product (a random GTIN), so it can be run
//! again against the same system.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use tracechain_core::SigningKey;

use super::up::DemoKey;

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// The registry's URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    registry: String,
    /// The shipments service's URL.
    #[arg(long, default_value = "http://127.0.0.1:8082")]
    shipments: String,
    /// The ledger's URL.
    #[arg(long, default_value = "http://127.0.0.1:8083")]
    ledger: String,
    /// The data directory of `tracechain up`, for the two defaults below.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// The API keys: a JSON list of `{role, tenant, key}` with a
    /// manufacturer, two carriers and an auditor. Default:
    /// `<data-dir>/demo-keys.json`, which `tracechain up` writes.
    #[arg(long)]
    keys: Option<PathBuf>,
    /// The ledger's public key (a C2SP vkey, SPKI PEM or base64, or a file
    /// holding one). Default: the public half of
    /// `<data-dir>/ledger/signing-key.pem`, which `tracechain up` creates.
    #[arg(long)]
    ledger_key: Option<String>,
    /// Where the QR codes, the label and the proof files are written.
    #[arg(long, default_value = "demo-out")]
    out: PathBuf,
}

struct Api {
    client: Client,
}

impl Api {
    fn send(
        &self,
        request: reqwest::blocking::RequestBuilder,
        what: &str,
    ) -> anyhow::Result<Value> {
        let response = request
            .send()
            .with_context(|| format!("{what}: no answer"))?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        if !status.is_success() {
            bail!("{what}: {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{what}: not JSON"))
    }

    fn post(
        &self,
        url: &str,
        key: Option<&str>,
        body: &Value,
        what: &str,
    ) -> anyhow::Result<Value> {
        let mut request = self.client.post(url).json(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        self.send(request, what)
    }

    fn get(&self, url: &str, key: &str, what: &str) -> anyhow::Result<Value> {
        self.send(self.client.get(url).bearer_auth(key), what)
    }

    fn download(&self, url: &str, key: &str, to: &Path) -> anyhow::Result<()> {
        let response = self.client.get(url).bearer_auth(key).send()?;
        if !response.status().is_success() {
            bail!("GET {url}: {}", response.status());
        }
        std::fs::write(to, response.bytes()?).with_context(|| format!("writing {}", to.display()))
    }
}

fn key_of<'a>(keys: &'a [DemoKey], role: &str, nth: usize) -> anyhow::Result<&'a DemoKey> {
    keys.iter()
        .filter(|k| k.role == role)
        .nth(nth)
        .ok_or_else(|| anyhow!("the keys file has no {} {role} key", nth + 1))
}

/// A random valid GTIN-13 under the GS1 demo prefix 950.
fn fresh_gtin() -> String {
    let n = uuid::Uuid::now_v7().as_u128() % 1_000_000_000;
    let body = format!("950{n:09}");
    let check = tracechain_domain::gs1::check_digit(&body).unwrap_or(0);
    format!("{body}{check}")
}

/// A scan signed by `phone`: ed25519 over the RFC 8785 bytes of the body.
fn signed_scan(phone: &SigningKey, mut body: Value) -> anyhow::Result<Value> {
    let bytes = tracechain_core::to_canonical_vec(&body)?;
    body["signature"] = json!(phone.sign(&bytes).to_base64());
    Ok(body)
}

fn scan_body(code: &str, kind: &str, device: &Value, nonce: &str) -> anyhow::Result<Value> {
    Ok(json!({
        "code": code,
        "kind": kind,
        "device_id": device["id"],
        "scanned_at": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)?,
        "location": {"lat": 51.9225, "lon": 4.4792, "accuracy_m": 15.0},
        "nonce": nonce,
    }))
}

impl DemoArgs {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let keys_file = self
            .keys
            .clone()
            .unwrap_or_else(|| self.data_dir.join("demo-keys.json"));
        let keys: Vec<DemoKey> = serde_json::from_str(
            &std::fs::read_to_string(&keys_file)
                .with_context(|| format!("reading the keys file {}", keys_file.display()))?,
        )
        .with_context(|| {
            format!(
                "{} is not a list of {{role, tenant, key}}",
                keys_file.display()
            )
        })?;
        let maker = key_of(&keys, "manufacturer", 0)?;
        let carrier = key_of(&keys, "carrier", 0)?;
        let next = key_of(&keys, "carrier", 1)?;
        let auditor = key_of(&keys, "auditor", 0)?;
        let ledger_key = match &self.ledger_key {
            Some(key) => key.clone(),
            None => {
                let pem = self.data_dir.join("ledger").join("signing-key.pem");
                let text = std::fs::read_to_string(&pem).with_context(|| {
                    format!("no --ledger-key, and {} cannot be read", pem.display())
                })?;
                SigningKey::from_pkcs8_pem(&text)?
                    .verifying_key()
                    .to_base64()
            }
        };
        std::fs::create_dir_all(&self.out)?;
        let api = Api {
            client: Client::builder().timeout(Duration::from_secs(30)).build()?,
        };
        let (registry, shipments, ledger, out) =
            (&self.registry, &self.shipments, &self.ledger, &self.out);

        println!("1. {} registers a product with three serials", maker.tenant);
        let gtin = fresh_gtin();
        let product = api.post(
            &format!("{registry}/v1/products"),
            Some(&maker.key),
            &json!({"gtin": gtin, "name": "Demo olive oil 500 ml", "brand": "tracechain demo"}),
            "register the product",
        )?;
        let id = product["id"].as_str().unwrap_or_default().to_owned();
        api.post(
            &format!("{registry}/v1/products/{id}/lots"),
            Some(&maker.key),
            &json!({"lot": "DEMO1", "produced_at": "2026-11-01"}),
            "create the lot",
        )?;
        let items = api.post(
            &format!("{registry}/v1/products/{id}/lots/DEMO1/items"),
            Some(&maker.key),
            &json!({"serials": ["S1", "S2", "S3"]}),
            "serialise the items",
        )?;
        let links: Vec<String> = items["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["digital_link"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for serial in ["S1", "S2", "S3"] {
            let file = out.join(format!("item-{serial}.png"));
            api.download(
                &format!("{registry}/v1/products/{id}/lots/DEMO1/items/{serial}/qr.png"),
                &maker.key,
                &file,
            )?;
            println!("   QR of serial {serial}: {}", file.display());
        }

        println!("2. {} ships them with {}", maker.tenant, carrier.tenant);
        let shipment = {
            // The shipments service learns items from the registry's events.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match api.post(
                    &format!("{shipments}/v1/shipments"),
                    Some(&maker.key),
                    &json!({
                        "carrier_id": carrier.tenant,
                        "items": links,
                        "origin": {"gln": "9506000134352"},
                        "destination": {"address": "1 Dock Road, Rotterdam", "lat": 51.9, "lon": 4.5},
                        "due_by": "2026-12-31T12:00:00Z",
                        "agreement_ref": "demo-rate",
                    }),
                    "create the shipment",
                ) {
                    Ok(shipment) => break shipment,
                    Err(error) if Instant::now() < deadline => {
                        pause_before_retry(&error);
                    }
                    Err(error) => return Err(error),
                }
            }
        };
        let sid = shipment["id"].as_str().unwrap_or_default().to_owned();
        let label = shipment["label_uri"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let label_file = out.join("label.png");
        api.download(
            &format!("{shipments}/v1/shipments/{sid}/label.png"),
            &maker.key,
            &label_file,
        )?;
        println!(
            "   SSCC {} — label {} ({label})",
            text(&shipment["sscc"]),
            label_file.display()
        );

        println!("3. each carrier registers a phone key");
        let mut phones = Vec::new();
        for who in [carrier, next] {
            let phone = SigningKey::generate();
            let device = api.post(
                &format!("{shipments}/v1/carriers/{}/devices", who.tenant),
                Some(&who.key),
                &json!({"public_key": phone.verifying_key().to_base64(), "label": "demo phone"}),
                "register a phone",
            )?;
            println!("   {}: device {}", who.tenant, text(&device["id"]));
            phones.push((phone, device));
        }

        println!("4. signed scans: pickup, hand-over, delivery");
        let run = uuid::Uuid::now_v7().simple().to_string();
        let mut handover = scan_body(&label, "handover", &phones[1].1, &format!("{run}-handover"))?;
        handover["to_party"] = json!(next.tenant);
        let scans = [
            (
                &phones[0].0,
                scan_body(&label, "pickup", &phones[0].1, &format!("{run}-pickup"))?,
            ),
            (&phones[1].0, handover),
            (
                &phones[1].0,
                scan_body(&label, "delivery", &phones[1].1, &format!("{run}-delivery"))?,
            ),
        ];
        let mut delivery = Value::Null;
        for (phone, body) in scans {
            let kind = body["kind"].as_str().unwrap_or_default().to_owned();
            let accepted = api.post(
                &format!("{shipments}/v1/scans"),
                None,
                &signed_scan(phone, body)?,
                &format!("the {kind} scan"),
            )?;
            println!(
                "   {kind:<9} accepted: event {} → {} (custodian {})",
                text(&accepted["event_id"]),
                text(&accepted["state"]),
                text(&accepted["custodian"])
            );
            delivery = accepted;
        }
        let event_id = delivery["event_id"].as_str().unwrap_or_default().to_owned();

        println!("5. waiting for the ledger to anchor the delivery");
        let deadline = Instant::now() + Duration::from_secs(60);
        let event = loop {
            match api.get(
                &format!("{ledger}/v1/events/{event_id}"),
                &auditor.key,
                "the event",
            ) {
                Ok(event) => break event,
                Err(error) if Instant::now() < deadline => pause_before_retry(&error),
                Err(error) => return Err(error),
            }
        };
        println!(
            "   leaf {} in block {}",
            event["leaf_index"], event["block_height"]
        );
        let checkpoint = api
            .client
            .get(format!("{ledger}/v1/checkpoint"))
            .send()?
            .error_for_status()?
            .text()?;
        let size = checkpoint.lines().nth(1).unwrap_or_default().to_owned();
        let proof = api.get(
            &format!("{ledger}/v1/events/{event_id}/proof?tree_size={size}"),
            &auditor.key,
            "the inclusion proof",
        )?;
        let (event_file, proof_file, note_file) = (
            out.join("event.json"),
            out.join("proof.json"),
            out.join("checkpoint.txt"),
        );
        std::fs::write(&event_file, serde_json::to_vec_pretty(&event)?)?;
        std::fs::write(&proof_file, serde_json::to_vec_pretty(&proof)?)?;
        std::fs::write(&note_file, &checkpoint)?;

        println!("6. verifying it here, trusting only the ledger's public key");
        super::verify::verify_proof_files(&event_file, &proof_file, &note_file, &ledger_key)
            .context("the delivery's inclusion proof")?;
        println!(
            "   the same check: tracechain verify proof --event {} --proof {} --checkpoint {} --key {ledger_key}",
            event_file.display(),
            proof_file.display(),
            note_file.display()
        );
        println!("done: the delivery of shipment {sid} is in the signed log");
        Ok(())
    }
}

/// A JSON string member's text ("" when it is not one).
fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// Waits a moment before retrying something the system is still doing
/// (the error is the answer so far, which a later try replaces).
fn pause_before_retry(_pending: &anyhow::Error) {
    std::thread::sleep(Duration::from_millis(250));
}
