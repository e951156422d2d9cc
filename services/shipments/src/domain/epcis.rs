//! The EPCIS 2.0 ObjectEvent an accepted scan carries (JSON-LD, with the
//! standard context), ready for export to EPCIS tools.
//!
//! Identifiers are GS1 Digital Link URIs (EPCIS 2.0 accepts them in
//! `epcList`); the read point is the place's GLN as a Digital Link URI
//! (`…/414/{gln}`) or a `geo:` URI; parties are `urn:tracechain:party:{tenant}`.
//! Business steps and dispositions are CBV 2.0 bare words:
//!
//! | scan | bizStep | disposition |
//! |---|---|---|
//! | pickup | departing | in_transit |
//! | checkpoint | transporting | in_transit |
//! | handover | accepting | in_transit |
//! | delivery | receiving | in_progress |
//! | exception | inspecting | non_conformant |

use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::scan::Scan;
use super::state::ScanKind;

/// The EPCIS 2.0 JSON-LD context.
pub const EPCIS_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";

/// CBV business step and disposition of a scan kind.
pub fn biz_step_and_disposition(kind: ScanKind) -> (&'static str, &'static str) {
    match kind {
        ScanKind::Pickup => ("departing", "in_transit"),
        ScanKind::Checkpoint => ("transporting", "in_transit"),
        ScanKind::Handover => ("accepting", "in_transit"),
        ScanKind::Delivery => ("receiving", "in_progress"),
        ScanKind::Exception => ("inspecting", "non_conformant"),
    }
}

/// A party's URI.
pub fn party_uri(tenant: &str) -> String {
    format!("urn:tracechain:party:{tenant}")
}

/// What the event needs besides the scan.
#[derive(Debug, Clone)]
pub struct EpcisContext<'a> {
    /// The scan event's id.
    pub event_id: Uuid,
    /// When the scan was scanned.
    pub scanned_at: OffsetDateTime,
    /// When the service accepted it.
    pub recorded_at: OffsetDateTime,
    /// The shipment's SSCC label URI and its items' URIs.
    pub epcs: Vec<String>,
    /// The Digital Link base (for the GLN read point).
    pub base_url: &'a str,
    /// The custodian before the scan (a hand-over's source).
    pub from_party: &'a str,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The ObjectEvent of an accepted scan.
pub fn object_event(scan: &Scan, ctx: &EpcisContext<'_>) -> Value {
    let (biz_step, disposition) = biz_step_and_disposition(scan.kind);
    let read_point = match (&scan.gln, &scan.location) {
        (Some(gln), _) => format!("{}/414/{gln}", ctx.base_url),
        (None, Some(at)) => format!("geo:{},{};u={}", at.lat, at.lon, at.accuracy_m),
        (None, None) => String::new(),
    };
    let mut event = json!({
        "@context": [EPCIS_CONTEXT],
        "type": "ObjectEvent",
        "eventID": format!("urn:uuid:{}", ctx.event_id),
        "eventTime": rfc3339(ctx.scanned_at),
        "recordTime": rfc3339(ctx.recorded_at),
        "eventTimeZoneOffset": "+00:00",
        "epcList": ctx.epcs,
        "action": "OBSERVE",
        "bizStep": biz_step,
        "disposition": disposition,
        "readPoint": { "id": read_point },
    });
    if let (ScanKind::Handover, Some(to)) = (scan.kind, &scan.to_party) {
        event["sourceList"] =
            json!([{ "type": "possessing_party", "source": party_uri(ctx.from_party) }]);
        event["destinationList"] =
            json!([{ "type": "possessing_party", "destination": party_uri(to) }]);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scan::GeoLocation;

    fn scan(kind: ScanKind) -> Scan {
        Scan {
            code: "https://id.example.com/00/095060001343528109".to_owned(),
            kind,
            device_id: Uuid::nil(),
            scanned_at: "2026-11-24T08:15:00Z".to_owned(),
            location: Some(GeoLocation {
                lat: 52.37,
                lon: 4.89,
                accuracy_m: 12.5,
            }),
            gln: None,
            nonce: "n-5f1c8a6e3b2d4f70".to_owned(),
            to_party: (kind == ScanKind::Handover).then(|| "lastmile".to_owned()),
            note: None,
        }
    }

    fn ctx() -> EpcisContext<'static> {
        EpcisContext {
            event_id: Uuid::nil(),
            scanned_at: OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap(),
            recorded_at: OffsetDateTime::from_unix_timestamp(1_795_000_001).unwrap(),
            epcs: vec!["https://id.example.com/00/095060001343528109".to_owned()],
            base_url: "https://id.example.com",
            from_party: "fastfreight",
        }
    }

    #[test]
    fn a_handover_is_an_observe_event_with_possessing_parties() {
        let event = object_event(&scan(ScanKind::Handover), &ctx());
        assert_eq!(event["type"], "ObjectEvent");
        assert_eq!(event["action"], "OBSERVE");
        assert_eq!(event["bizStep"], "accepting");
        assert_eq!(event["disposition"], "in_transit");
        assert_eq!(event["eventTime"], "2026-11-18T11:06:40Z");
        assert_eq!(event["readPoint"]["id"], "geo:52.37,4.89;u=12.5");
        assert_eq!(
            event["sourceList"][0]["source"],
            "urn:tracechain:party:fastfreight"
        );
        assert_eq!(event["destinationList"][0]["type"], "possessing_party");
        assert_eq!(
            event["destinationList"][0]["destination"],
            "urn:tracechain:party:lastmile"
        );
    }

    #[test]
    fn every_kind_has_a_cbv_step_and_only_handovers_name_parties() {
        for kind in [
            ScanKind::Pickup,
            ScanKind::Checkpoint,
            ScanKind::Delivery,
            ScanKind::Exception,
        ] {
            let event = object_event(&scan(kind), &ctx());
            assert!(event.get("sourceList").is_none());
            assert!(!event["bizStep"].as_str().unwrap().is_empty());
        }
        let mut at_gln = scan(ScanKind::Delivery);
        at_gln.location = None;
        at_gln.gln = Some("9506000134352".to_owned());
        let event = object_event(&at_gln, &ctx());
        assert_eq!(
            event["readPoint"]["id"],
            "https://id.example.com/414/9506000134352"
        );
        assert_eq!(event["bizStep"], "receiving");
    }
}
