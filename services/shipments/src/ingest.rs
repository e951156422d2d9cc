//! The scan pipeline: one signed scan from a phone, checked in the order
//! the API promises, then published and applied — or refused with the
//! check that failed, having changed nothing.
//!
//! Order of checks (each refusal names its `check`):
//!
//! 1. `format` — the body is a well-formed scan ([`SignedScan::from_json`]);
//! 2. `device` — the device is registered and not revoked;
//! 3. `signature` — ed25519 (strict) under the device's key over the RFC
//!    8785 bytes of the body without `signature`;
//! 4. `nonce` — no accepted (or in-progress) scan of this device used it;
//! 5. `skew` — `scanned_at` within the allowed skew of the server's clock
//!    (an offline batch: not in the future beyond the skew, not older
//!    than the offline age);
//! 6. `code` — the scanned URI resolves to a shipment (its label's SSCC, or
//!    an item it carries while it is open);
//! 7. `custody` — the device's carrier holds the shipment (or receives it
//!    in this hand-over);
//! 8. `transition` — the state machine allows the scan.
//!
//! Invariants: the nonce is claimed (a lease) before anything is
//! published and released on every refusal after it, so a refused scan
//! changes nothing; after a failed publish it keeps its lease (the broker
//! may hold the events all the same), so a re-sent scan is "in flight"
//! until the projection has recorded it or the lease lapsed; a scan's event
//! ids follow from its device, nonce and time, so even a scan published
//! twice is one event to the ledger and the projection; scans of one
//! shipment are serialised by a lease lock, and the
//! state is re-read under it; the answer comes after the broker
//! acknowledged `scan.recorded` (and `shipment.delivered` /
//! `shipment.exception`, published with it in one batch).

use std::collections::HashMap;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracechain_core::VerifyingKey;
use tracechain_domain::{DigitalLink, TenantId};
use tracechain_projection::{AppliedPositions, Projector as _};
use tracechain_store::IdempotencyState;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::epcis::{EpcisContext, object_event};
use crate::domain::events::{ScanRecorded, ShipmentDelivered, ShipmentEvent, ShipmentException};
use crate::domain::scan::SignedScan;
use crate::domain::state::{ScanKind, ShipmentState};
use crate::error::{ScanRefusal, ShipmentsError};
use crate::projection::{Claim, DeviceRecord, DeviceStatus, nonce_key};
use crate::state::AppState;

/// Most parsed device keys kept in memory (keys never change; a device's
/// status is always read from the store).
const KEY_CACHE_CAPACITY: usize = 100_000;

/// How a scan arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Sent as it was scanned: `scanned_at` within the skew of now.
    Live,
    /// Queued on the phone while offline: up to the offline age old.
    Offline,
}

/// The answer to an accepted scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScanAccepted {
    /// The `scan.recorded` event id.
    pub event_id: Uuid,
    /// The shipment.
    pub shipment_id: Uuid,
    /// Its SSCC.
    pub sscc: String,
    /// What the scan recorded.
    #[schema(value_type = String, example = "pickup")]
    pub kind: ScanKind,
    /// The shipment's state after the scan.
    #[schema(value_type = String, example = "picked_up")]
    pub state: ShipmentState,
    /// Who holds the shipment after the scan.
    pub custodian: String,
    /// When the service accepted it (RFC 3339, UTC).
    pub recorded_at: String,
}

/// Parsed device keys by device id.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: RwLock<HashMap<Uuid, VerifyingKey>>,
}

impl KeyCache {
    fn key_of(&self, device: &DeviceRecord) -> Option<VerifyingKey> {
        if let Some(key) = self.keys.read().ok()?.get(&device.id) {
            return Some(*key);
        }
        let key = VerifyingKey::from_base64(&device.public_key).ok()?;
        if let Ok(mut keys) = self.keys.write() {
            if keys.len() >= KEY_CACHE_CAPACITY {
                keys.clear();
            }
            keys.insert(device.id, key);
        }
        Some(key)
    }
}

/// What a scanned code points at, before looking it up.
enum CodeTarget {
    /// A shipment label: `sscc:{sscc}`.
    Label(String),
    /// An item: `open-item:{gtin}:{serial}`.
    Item(String),
    /// Not something a shipment is found by.
    Invalid(String),
}

fn code_target(code: &str) -> CodeTarget {
    match DigitalLink::parse(code) {
        Ok((_, DigitalLink::Logistic { sscc })) => CodeTarget::Label(sscc.to_string()),
        Ok((
            _,
            DigitalLink::Item {
                gtin,
                serial: Some(serial),
                ..
            },
        )) => CodeTarget::Item(format!("{gtin}:{serial}")),
        Ok(_) => CodeTarget::Invalid(
            "names a product or lot, not a shipment label or serialised item".to_owned(),
        ),
        Err(error) => CodeTarget::Invalid(format!("is not a GS1 Digital Link URI: {error}")),
    }
}

fn refuse(state: &AppState, refusal: ScanRefusal) -> ShipmentsError {
    state.metrics.refused(refusal.check());
    ShipmentsError::Scan(refusal)
}

/// Checks, publishes and applies one scan; see the [module docs](self).
pub async fn ingest(
    state: &AppState,
    keys: &KeyCache,
    body: serde_json::Value,
    arrival: Arrival,
) -> Result<ScanAccepted, ShipmentsError> {
    let scan = SignedScan::from_json(body).map_err(|e| refuse(state, ScanRefusal::Format(e)))?;
    let device_id = scan.scan.device_id;

    // The device and what the code points at, in one round trip; the
    // code's answer is only reported in its turn.
    let target = code_target(&scan.scan.code);
    let families = &state.families;
    let device_key = families.devices.key(&device_id.to_string());
    let code_key = match &target {
        CodeTarget::Label(sscc) => Some(families.ssccs.key(sscc)),
        CodeTarget::Item(item) => Some(families.open_items.key(item)),
        CodeTarget::Invalid(_) => None,
    };
    // With them, in the same atomic read, the projection's completeness
    // marker: a store that lost its state (a FLUSHALL) would otherwise call
    // a registered device unknown, or take a replayed nonce for a new one,
    // in the moment before the runner notices and closes the gate.
    let marker = AppliedPositions::marker_key(state.projector.name());
    let mut wanted = vec![marker.as_str(), device_key.as_str()];
    if let Some(key) = &code_key {
        wanted.push(key.as_str());
    }
    let found = families.store.get_many(&wanted).await?;
    if found.first().is_none_or(Option::is_none) {
        return Err(ShipmentsError::Rebuilding);
    }
    let device: Option<DeviceRecord> = decode(&device_key, found.get(1).cloned().flatten())?;
    let claim: Option<Claim> = match &code_key {
        Some(key) => decode(key, found.get(2).cloned().flatten())?,
        None => None,
    };

    let device = device.ok_or_else(|| refuse(state, ScanRefusal::DeviceUnknown(device_id)))?;
    if device.status == DeviceStatus::Revoked {
        return Err(refuse(state, ScanRefusal::DeviceRevoked(device_id)));
    }
    let verified = keys.key_of(&device).is_some_and(|key| scan.verify(&key));
    if !verified {
        return Err(refuse(state, ScanRefusal::Signature(device_id)));
    }

    let nonce = nonce_key(&device_id, &scan.scan.nonce);
    match families
        .store
        .idempotency_begin(&nonce, state.scans.nonce_lease())
        .await?
    {
        IdempotencyState::New => {}
        IdempotencyState::InFlight => {
            return Err(refuse(
                state,
                ScanRefusal::NonceInFlight(scan.scan.nonce.clone()),
            ));
        }
        IdempotencyState::Completed(previous) => {
            let event_id = std::str::from_utf8(&previous)
                .ok()
                .and_then(|text| Uuid::parse_str(text).ok());
            return Err(refuse(
                state,
                ScanRefusal::NonceReplayed {
                    nonce: scan.scan.nonce.clone(),
                    event_id,
                },
            ));
        }
    }
    let outcome = checked(state, &scan, &device, target, claim, arrival).await;
    match &outcome {
        Ok((accepted, applied)) => {
            // The projector completed the nonce when it applied the event;
            // when that failed, complete it here rather than wait for the
            // projection consumer.
            if !applied
                && let Err(error) = families
                    .store
                    .idempotency_complete(
                        &nonce,
                        accepted.event_id.to_string().as_bytes(),
                        state.scans.nonce_retention(),
                    )
                    .await
            {
                tracing::warn!(%error, "Recording an accepted scan's nonce failed; the projection consumer will record it");
            }
            state.metrics.accepted(accepted.kind);
        }
        // The broker may hold what it did not acknowledge (a timed-out
        // publish is "possibly persisted"): the nonce keeps its lease, so a
        // re-sent scan is "in flight" until the lease lapses — longer than
        // a delivery plus a rebalance, by the settings' check — by when the
        // projection has recorded the nonce if the events did land.
        Err(ShipmentsError::Bus(_)) => {}
        Err(_) => {
            if let Err(error) = families.store.idempotency_abandon(&nonce).await {
                tracing::warn!(%error, "Releasing a refused scan's nonce failed; its lease will expire");
            }
        }
    }
    outcome.map(|(accepted, _)| accepted)
}

/// The ids of a scan's events, fixed by the scan itself: `scan.recorded`'s
/// and that of the `shipment.delivered` or `shipment.exception` it implies.
///
/// A phone re-sends a scan whose answer it lost; if the first attempt did
/// reach the topic after all, the second publishes the SAME ids, so the
/// ledger anchors the scan once and the projection records it once (both
/// go by event id). UUIDv7 layout: the signed `scanned_at` in
/// milliseconds, then SHA-256 of the device and nonce (unique per device
/// by the nonce check) in place of the random bits.
fn scan_event_ids(device_id: Uuid, nonce: &str, scanned_at: OffsetDateTime) -> (Uuid, Uuid) {
    use sha2::{Digest, Sha256};
    let millis = u64::try_from(scanned_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let id = |role: &[u8]| {
        let digest = Sha256::new()
            .chain_update(b"tracechain scan event id\0")
            .chain_update(role)
            .chain_update(device_id.as_bytes())
            .chain_update(nonce.as_bytes())
            .finalize();
        let mut random = [0u8; 10];
        random.copy_from_slice(&digest[..10]);
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    };
    (id(b"scan.recorded"), id(b"follow-up"))
}

fn decode<T: serde::de::DeserializeOwned>(
    key: &str,
    raw: Option<tracechain_store::Versioned>,
) -> Result<Option<T>, ShipmentsError> {
    raw.map(|raw| {
        serde_json::from_slice(&raw.value).map_err(|source| {
            ShipmentsError::Store(tracechain_store::StoreError::Codec {
                op: "decode",
                key: key.to_owned(),
                source,
            })
        })
    })
    .transpose()
}

/// Checks 5 to 8 and the publish, with the nonce held.
async fn checked(
    state: &AppState,
    scan: &SignedScan,
    device: &DeviceRecord,
    target: CodeTarget,
    claim: Option<Claim>,
    arrival: Arrival,
) -> Result<(ScanAccepted, bool), ShipmentsError> {
    let now = OffsetDateTime::now_utc();
    check_time(state, scan, now, arrival)?;

    let code = &scan.scan.code;
    let unresolved = |reason: String| {
        refuse(
            state,
            ScanRefusal::Code {
                code: code.chars().take(200).collect(),
                reason,
            },
        )
    };
    let shipment_id = match (&target, claim) {
        (CodeTarget::Invalid(reason), _) => return Err(unresolved(reason.clone())),
        (_, Some(claim)) if claim.pending_since_ms.is_none() => claim.owner,
        (CodeTarget::Label(sscc), _) => {
            return Err(unresolved(format!(
                "names sscc {sscc}, which no shipment has"
            )));
        }
        (CodeTarget::Item(_), _) => {
            return Err(unresolved(
                "names an item that is in no open shipment".to_owned(),
            ));
        }
    };

    let lock = state.lock_shipment(shipment_id).await?;
    let result = under_lock(state, scan, device, shipment_id, now).await;
    lock.release().await;
    result
}

fn check_time(
    state: &AppState,
    scan: &SignedScan,
    now: OffsetDateTime,
    arrival: Arrival,
) -> Result<(), ShipmentsError> {
    let off_by = (scan.scanned_at - now).whole_seconds();
    let skew = i64::try_from(state.scans.max_skew_secs).unwrap_or(i64::MAX);
    let too_far = match arrival {
        Arrival::Live => off_by.abs() > skew,
        Arrival::Offline => off_by > skew,
    };
    if too_far {
        return Err(refuse(
            state,
            ScanRefusal::Skew {
                scanned_at: scan.scan.scanned_at.clone(),
                off_by_secs: off_by,
                allowed_secs: state.scans.max_skew_secs,
            },
        ));
    }
    let max_age = i64::try_from(state.scans.max_offline_age_secs).unwrap_or(i64::MAX);
    if arrival == Arrival::Offline && -off_by > max_age {
        return Err(refuse(
            state,
            ScanRefusal::TooOld {
                scanned_at: scan.scan.scanned_at.clone(),
                allowed_secs: state.scans.max_offline_age_secs,
            },
        ));
    }
    Ok(())
}

/// Checks 7 and 8 on the state read under the shipment's lock, then
/// publishes; also says whether the events were applied here.
async fn under_lock(
    state: &AppState,
    scan: &SignedScan,
    device: &DeviceRecord,
    shipment_id: Uuid,
    now: OffsetDateTime,
) -> Result<(ScanAccepted, bool), ShipmentsError> {
    // The record and the completeness marker in one atomic read: without
    // the marker (the store lost everything after this scan's first read),
    // "not recorded" would be a false refusal.
    let marker = AppliedPositions::marker_key(state.projector.name());
    let (read, marker_read) = state
        .families
        .shipments
        .get_with(&shipment_id.to_string(), &[marker.as_str()])
        .await?;
    if marker_read.first().is_none_or(Option::is_none) {
        return Err(ShipmentsError::Rebuilding);
    }
    let read = read.ok_or_else(|| {
        refuse(
            state,
            ScanRefusal::Code {
                code: scan.scan.code.chars().take(200).collect(),
                reason: format!("names shipment {shipment_id}, which is not recorded yet"),
            },
        )
    })?;
    let (version, record) = (read.version, read.value);
    let party = &device.carrier;
    let to_party = scan
        .scan
        .to_party
        .as_deref()
        .and_then(|p| TenantId::parse(p).ok());
    let custody = &record.custody;
    let receiving = scan.scan.kind == ScanKind::Handover && to_party.as_ref() == Some(party);
    if *party != custody.custodian && !receiving {
        return Err(refuse(
            state,
            ScanRefusal::Custody {
                sscc: record.sscc.to_string(),
                party: party.to_string(),
                custodian: custody.custodian.to_string(),
            },
        ));
    }
    let next = custody
        .apply(scan.scan.kind, party, to_party.as_ref())
        .map_err(|source| {
            refuse(
                state,
                ScanRefusal::Transition {
                    sscc: record.sscc.to_string(),
                    source,
                },
            )
        })?;

    let (event_id, follow_up_id) = scan_event_ids(device.id, &scan.scan.nonce, scan.scanned_at);
    let label = DigitalLink::Logistic {
        sscc: record.sscc.clone(),
    }
    .to_uri(&state.base_url);
    let mut epcs = vec![label];
    epcs.extend(record.items.iter().cloned());
    let epcis = object_event(
        &scan.scan,
        &EpcisContext {
            event_id,
            scanned_at: scan.scanned_at,
            recorded_at: now,
            epcs,
            base_url: &state.base_url,
            from_party: custody.custodian.as_str(),
        },
    );
    let signed = serde_json::from_slice(&scan.signed_bytes)
        .map_err(|e| ShipmentsError::Internal(e.into()))?;
    let mut events = vec![ShipmentEvent::ScanRecorded(Box::new(ScanRecorded {
        shipment_id,
        sscc: record.sscc.clone(),
        kind: scan.scan.kind,
        device_id: device.id,
        scanned_by: party.clone(),
        signed,
        signature: scan.signature.to_base64(),
        state: next.state,
        custodian: next.custodian.clone(),
        epcis,
    }))];
    let scanned_at = rfc3339(scan.scanned_at);
    match scan.scan.kind {
        ScanKind::Delivery => events.push(ShipmentEvent::Delivered(ShipmentDelivered {
            shipment_id,
            sscc: record.sscc.clone(),
            carrier: record.carrier.clone(),
            delivered_by: party.clone(),
            delivered_at: scanned_at,
            due_by: record.due_by.clone(),
            agreement_ref: record.agreement_ref.clone(),
            scan_event_id: event_id,
        })),
        ScanKind::Exception => events.push(ShipmentEvent::Exception(ShipmentException {
            shipment_id,
            sscc: record.sscc.clone(),
            reported_by: party.clone(),
            reported_at: scanned_at,
            note: scan.scan.note.clone(),
            scan_event_id: event_id,
        })),
        _ => {}
    }
    let mut parties = record.parties();
    parties.insert(next.custodian.clone());
    parties.insert(party.clone());
    let envelopes = state
        .publish(&events, &parties, &[event_id, follow_up_id], now)
        .await?;
    // The scan goes onto the record read under the lock in one
    // compare-and-set; anything else (a moved record, a failure) takes the
    // projector's general path.
    let applied = match state
        .projector
        .apply_scan_over(&envelopes[0], version, &record)
        .await
    {
        Ok(true) => state.apply(&envelopes[1..]).await,
        Ok(false) => state.apply(&envelopes).await,
        Err(error) => {
            tracing::warn!(%error, "Applying a scan over the locked record failed; applying it afresh");
            state.apply(&envelopes).await
        }
    };
    let accepted = ScanAccepted {
        event_id,
        shipment_id,
        sscc: record.sscc.to_string(),
        kind: scan.scan.kind,
        state: next.state,
        custodian: next.custodian.to_string(),
        recorded_at: rfc3339(now),
    };
    Ok((accepted, applied))
}

/// The RFC 3339 text of a time.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scans_event_ids_are_fixed_by_device_nonce_and_time() {
        let device = Uuid::now_v7();
        let at = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let (scan, follow_up) = scan_event_ids(device, "n-1", at);
        assert_eq!(
            scan_event_ids(device, "n-1", at),
            (scan, follow_up),
            "a re-sent scan"
        );
        assert_ne!(scan, follow_up);
        assert_ne!(scan_event_ids(device, "n-2", at).0, scan, "another nonce");
        assert_ne!(
            scan_event_ids(Uuid::now_v7(), "n-1", at).0,
            scan,
            "another device"
        );
        assert_eq!(scan.get_version_num(), 7);
        let (seconds, _) = scan.get_timestamp().unwrap().to_unix();
        assert_eq!(seconds, 1_790_000_000, "ordered by the signed scan time");
    }
}
