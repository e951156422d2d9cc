//! What a phone sends for a scan, and how its signature is checked.
//!
//! The phone signs, with its registered ed25519 key, the RFC 8785 canonical
//! bytes of the JSON object it sends *without* its `signature` member —
//! exactly the members it sent, so a field the server does not know about,
//! or a `null` it omitted, can never make a valid signature fail or a
//! forged one pass. The signature is base64 (standard alphabet) of the 64
//! raw bytes.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracechain_core::{Signature, VerifyingKey};
use uuid::Uuid;

use super::state::ScanKind;

/// Where a scan happened: coordinates or a GLN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoLocation {
    /// Latitude, -90 to 90.
    pub lat: f64,
    /// Longitude, -180 to 180.
    pub lon: f64,
    /// Accuracy radius in metres, 0 to 100 km.
    pub accuracy_m: f64,
}

/// A scan as the phone sends it (`signature` aside).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scan {
    /// The scanned URI: a shipment label (`{base}/00/{sscc}`) or an item in it.
    pub code: String,
    /// What the scan records.
    pub kind: ScanKind,
    /// The registered device that signed it.
    pub device_id: Uuid,
    /// When the phone scanned (RFC 3339).
    pub scanned_at: String,
    /// Coordinates, or…
    #[serde(default)]
    pub location: Option<GeoLocation>,
    /// …the GLN of the place.
    #[serde(default)]
    pub gln: Option<String>,
    /// A value the phone never reuses (replay protection).
    pub nonce: String,
    /// The receiving party of a hand-over.
    #[serde(default)]
    pub to_party: Option<String>,
    /// Free text.
    #[serde(default)]
    pub note: Option<String>,
}

/// Longest accepted note.
pub const MAX_NOTE_CHARS: usize = 500;

/// Why a scan body is refused before any lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanFormatError {
    /// The body is not a JSON object.
    #[error("a scan is a JSON object")]
    NotAnObject,
    /// `signature` is missing or not base64 of 64 bytes.
    #[error("signature must be the base64 of a 64-byte ed25519 signature")]
    Signature,
    /// A field is missing, unknown or of the wrong type.
    #[error("{0}")]
    Shape(String),
    /// A field's value is out of range.
    #[error("{field}: {message}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The body has no canonical form (e.g. an integer beyond 2^53).
    #[error("the scan has no RFC 8785 canonical form: {0}")]
    Canonical(String),
}

/// A scan with the exact bytes its signature covers.
#[derive(Debug, Clone)]
pub struct SignedScan {
    /// The scan.
    pub scan: Scan,
    /// When it was scanned.
    pub scanned_at: OffsetDateTime,
    /// The RFC 8785 bytes of the body without `signature`.
    pub signed_bytes: Vec<u8>,
    /// The signature.
    pub signature: Signature,
}

fn field(field: &'static str, message: impl Into<String>) -> ScanFormatError {
    ScanFormatError::Field {
        field,
        message: message.into(),
    }
}

impl SignedScan {
    /// Reads a scan body: splits off `signature`, computes the signed bytes,
    /// parses and range-checks the fields.
    pub fn from_json(body: serde_json::Value) -> Result<SignedScan, ScanFormatError> {
        let serde_json::Value::Object(mut object) = body else {
            return Err(ScanFormatError::NotAnObject);
        };
        let signature = match object.remove("signature") {
            Some(serde_json::Value::String(text)) => {
                Signature::from_base64(&text).map_err(|_| ScanFormatError::Signature)?
            }
            _ => return Err(ScanFormatError::Signature),
        };
        // Name the field serde's enum error would not.
        if let Some(kind) = object.get("kind")
            && serde_json::from_value::<ScanKind>(kind.clone()).is_err()
        {
            return Err(field(
                "kind",
                "must be one of pickup, handover, checkpoint, delivery, exception",
            ));
        }
        let unsigned = serde_json::Value::Object(object);
        let signed_bytes = tracechain_core::to_canonical_vec(&unsigned)
            .map_err(|e| ScanFormatError::Canonical(e.to_string()))?;
        let scan: Scan =
            serde_json::from_value(unsigned).map_err(|e| ScanFormatError::Shape(e.to_string()))?;
        let scanned_at = scan.validate()?;
        Ok(SignedScan {
            scan,
            scanned_at,
            signed_bytes,
            signature,
        })
    }

    /// Checks the signature with the device's key (strict ed25519).
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        key.verify_strict(&self.signed_bytes, &self.signature)
            .is_ok()
    }
}

impl Scan {
    /// Range checks; returns `scanned_at` parsed.
    fn validate(&self) -> Result<OffsetDateTime, ScanFormatError> {
        if self.code.is_empty() || self.code.len() > 2048 {
            return Err(field("code", "must be 1 to 2048 characters"));
        }
        let scanned_at = OffsetDateTime::parse(&self.scanned_at, &Rfc3339)
            .map_err(|_| field("scanned_at", "must be an RFC 3339 date-time"))?
            .to_offset(time::UtcOffset::UTC);
        let nonce_ok = (16..=128).contains(&self.nonce.len())
            && self
                .nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !nonce_ok {
            return Err(field(
                "nonce",
                "must be 16 to 128 characters from A-Z, a-z, 0-9, '-' and '_'",
            ));
        }
        match (&self.location, &self.gln) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(field(
                    "location",
                    "give either location {lat, lon, accuracy_m} or gln",
                ));
            }
            (Some(at), None) => {
                if !(-90.0..=90.0).contains(&at.lat) {
                    return Err(field("location.lat", "must be -90 to 90"));
                }
                if !(-180.0..=180.0).contains(&at.lon) {
                    return Err(field("location.lon", "must be -180 to 180"));
                }
                if !(0.0..=100_000.0).contains(&at.accuracy_m) {
                    return Err(field("location.accuracy_m", "must be 0 to 100000"));
                }
            }
            (None, Some(gln)) => {
                tracechain_domain::Gln::parse(gln).map_err(|e| field("gln", e.to_string()))?;
            }
        }
        match (self.kind, &self.to_party) {
            (ScanKind::Handover, None) => {
                return Err(field("to_party", "a handover names the receiving party"));
            }
            (ScanKind::Handover, Some(party)) => {
                tracechain_domain::TenantId::parse(party)
                    .map_err(|e| field("to_party", e.to_string()))?;
            }
            (_, Some(_)) => {
                return Err(field("to_party", "only a handover names a receiving party"));
            }
            (_, None) => {}
        }
        if self
            .note
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
        {
            return Err(field(
                "note",
                format!("must be at most {MAX_NOTE_CHARS} characters"),
            ));
        }
        Ok(scanned_at)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tracechain_core::SigningKey;

    use super::*;

    fn body() -> serde_json::Value {
        json!({
            "code": "https://id.example.com/00/095060001343528109",
            "kind": "pickup",
            "device_id": "0190a0a0-0000-7000-8000-000000000001",
            "scanned_at": "2026-11-24T08:15:00.250Z",
            "location": {"lat": 52.37, "lon": 4.89, "accuracy_m": 12.5},
            "nonce": "n-5f1c8a6e3b2d4f70",
        })
    }

    fn sign(key: &SigningKey, body: &serde_json::Value) -> serde_json::Value {
        let bytes = tracechain_core::to_canonical_vec(body).unwrap();
        let mut signed = body.clone();
        signed["signature"] = json!(key.sign(&bytes).to_base64());
        signed
    }

    #[test]
    fn a_scan_signed_over_its_canonical_bytes_verifies() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let scan = SignedScan::from_json(sign(&key, &body())).unwrap();
        assert!(scan.verify(&key.verifying_key()));
        assert_eq!(scan.scan.kind, ScanKind::Pickup);
        // Key order and whitespace on the wire do not matter: the phone signs
        // the canonical form.
        let text = r#"{"signature":"SIG","nonce":"n-5f1c8a6e3b2d4f70","location":{"accuracy_m":12.5,"lon":4.89,"lat":52.37},"scanned_at":"2026-11-24T08:15:00.250Z","device_id":"0190a0a0-0000-7000-8000-000000000001","kind":"pickup","code":"https://id.example.com/00/095060001343528109"}"#;
        let signature = key
            .sign(&tracechain_core::to_canonical_vec(&body()).unwrap())
            .to_base64();
        let reordered: serde_json::Value =
            serde_json::from_str(&text.replace("SIG", &signature)).unwrap();
        assert!(
            SignedScan::from_json(reordered)
                .unwrap()
                .verify(&key.verifying_key())
        );
    }

    #[test]
    fn any_change_or_another_key_fails_verification() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let signed = sign(&key, &body());
        for (path, value) in [
            ("kind", json!("delivery")),
            ("nonce", json!("n-5f1c8a6e3b2d4f71")),
            ("scanned_at", json!("2026-11-24T08:15:00.251Z")),
        ] {
            let mut changed = signed.clone();
            changed[path] = value;
            assert!(
                !SignedScan::from_json(changed)
                    .unwrap()
                    .verify(&key.verifying_key()),
                "{path}"
            );
        }
        let mut with_note = signed.clone();
        with_note["note"] = json!("added later");
        assert!(
            !SignedScan::from_json(with_note)
                .unwrap()
                .verify(&key.verifying_key())
        );
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert!(!SignedScan::from_json(signed).unwrap().verify(&other));
    }

    #[test]
    fn malformed_scans_name_the_field() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (json!([1, 2]), "a scan is a JSON object"),
            (body(), "signature must be"),
            (
                sign(&key, &{
                    let mut b = body();
                    b["nonce"] = json!("short");
                    b
                }),
                "nonce:",
            ),
            (
                sign(&key, &{
                    let mut b = body();
                    b["scanned_at"] = json!("yesterday");
                    b
                }),
                "scanned_at:",
            ),
            (
                sign(&key, &{
                    let mut b = body();
                    b["location"]["lat"] = json!(91.0);
                    b
                }),
                "location.lat:",
            ),
            (
                sign(&key, &{
                    let mut b = body();
                    b["gln"] = json!("9506000134352");
                    b
                }),
                "location:",
            ),
            (
                sign(&key, &{
                    let mut b = body();
                    b["kind"] = json!("handover");
                    b
                }),
                "to_party:",
            ),
            (
                sign(&key, &{
                    let mut b = body();
                    b["to_party"] = json!("lastmile");
                    b
                }),
                "to_party:",
            ),
            (
                sign(&key, &{
                    let mut b = body();
                    b["kind"] = json!("teleport");
                    b
                }),
                "kind: must be one of",
            ),
            (
                sign(&key, &{
                    let mut b = body();
                    b["extra"] = json!(1);
                    b
                }),
                "unknown field",
            ),
            (
                sign(&key, &{
                    let mut b = body();
                    b["note"] = json!("x".repeat(501));
                    b
                }),
                "note:",
            ),
        ];
        for (body, want) in cases {
            let err = SignedScan::from_json(body).unwrap_err().to_string();
            assert!(err.contains(want), "{want}: {err}");
        }
    }
}
