//! Tests of the envelope's serialized form and invariants.

use super::*;
use serde_json::json;
use time::macros::datetime;

fn tenant(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

fn sample() -> Envelope {
    Envelope::new(
        EventType::parse("product.registered").unwrap(),
        "09506000134352",
        "registry",
        [tenant("acme"), tenant("beta-logistics")].into(),
        json!({"gtin": "09506000134352", "name": "Crème fraîche", "weight_g": 250, "tags": []}),
    )
}

/// A fixed, valid envelope in JSON.
const FIXED: &str = r#"{
    "id": "01890a5d-ac96-774b-bcce-b302099a8057",
    "type": "shipment.delivered",
    "schema_version": 2,
    "aggregate_id": "106141412345678908",
    "occurred_at": "2024-05-01T12:30:00.5Z",
    "producer": "shipments",
    "parties": ["zeta", "acme"],
    "payload": {"b": 1, "a": [true, null, 1.5]}
}"#;

#[test]
fn new_assigns_a_v7_id_and_a_normalised_now() {
    let e = sample();
    assert_eq!(e.id().get_version_num(), 7);
    assert_eq!(e.occurred_at().offset(), time::UtcOffset::UTC);
    assert_eq!(e.occurred_at().nanosecond() % 1000, 0);
    assert_eq!(e.schema_version(), 1);
    assert_ne!(sample().id(), e.id());
}

#[test]
fn serialized_shape() {
    let e: Envelope = serde_json::from_str(FIXED).unwrap();
    let value = serde_json::to_value(&e).unwrap();
    assert_eq!(
        value,
        json!({
            "id": "01890a5d-ac96-774b-bcce-b302099a8057",
            "type": "shipment.delivered",
            "schema_version": 2,
            "aggregate_id": "106141412345678908",
            "occurred_at": "2024-05-01T12:30:00.500000Z",
            "producer": "shipments",
            "parties": ["acme", "zeta"],
            "payload": {"b": 1, "a": [true, null, 1.5]}
        })
    );
    assert_eq!(e.occurred_at_rfc3339(), "2024-05-01T12:30:00.500000Z");
}

#[test]
fn serde_round_trip_is_identity() {
    let e = sample();
    let json = serde_json::to_string(&e).unwrap();
    let back: Envelope = serde_json::from_str(&json).unwrap();
    assert_eq!(back, e);
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
}

#[test]
fn non_utc_offsets_and_extra_precision_normalise() {
    let json = FIXED.replace(
        "2024-05-01T12:30:00.5Z",
        "2024-05-01T14:30:00.123456789+02:00",
    );
    let e: Envelope = serde_json::from_str(&json).unwrap();
    assert_eq!(e.occurred_at(), datetime!(2024-05-01 12:30:00.123456 UTC));
    assert_eq!(e.occurred_at_rfc3339(), "2024-05-01T12:30:00.123456Z");
    // Across a date line and with a negative offset.
    let json = FIXED.replace("2024-05-01T12:30:00.5Z", "2023-12-31T23:00:00-01:30");
    let e: Envelope = serde_json::from_str(&json).unwrap();
    assert_eq!(e.occurred_at_rfc3339(), "2024-01-01T00:30:00.000000Z");
    // The builder normalises the same way.
    let e = sample()
        .with_occurred_at(datetime!(2024-05-01 14:30:00.999999999 +02:00))
        .unwrap();
    assert_eq!(e.occurred_at_rfc3339(), "2024-05-01T12:30:00.999999Z");
}

#[test]
fn out_of_range_years_are_rejected_not_panicking() {
    let json = FIXED.replace("2024-05-01T12:30:00.5Z", "9999-12-31T23:59:59-01:00");
    let err = serde_json::from_str::<Envelope>(&json)
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside years 0000 to 9999 in utc"), "{err}");
    let json = FIXED.replace("2024-05-01T12:30:00.5Z", "0000-01-01T00:00:00+01:00");
    assert!(serde_json::from_str::<Envelope>(&json).is_err());
    assert!(
        sample()
            .with_occurred_at(datetime!(-0001-01-01 0:00 UTC))
            .is_err()
    );
}

#[test]
fn bad_timestamps_are_rejected() {
    // (A space for `T` is accepted: RFC 3339 §5.6 allows it.)
    for bad in [
        "2024-05-01T12:30Z",
        "2024-05-01T12:30:00",
        "yesterday",
        "2024-13-01T00:00:00Z",
    ] {
        let json = FIXED.replace("2024-05-01T12:30:00.5Z", bad);
        let err = serde_json::from_str::<Envelope>(&json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not an rfc 3339 timestamp"), "{bad}: {err}");
    }
}

#[test]
fn unknown_fields_are_rejected() {
    let json = FIXED.replace("\"producer\"", "\"extra\": 1, \"producer\"");
    let err = serde_json::from_str::<Envelope>(&json)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `extra`"), "{err}");
}

#[test]
fn missing_fields_are_rejected() {
    let json = FIXED.replace("\"schema_version\": 2,", "");
    let err = serde_json::from_str::<Envelope>(&json)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing field `schema_version`"), "{err}");
}

#[test]
fn ids_must_be_v7() {
    let v4 = "3f0c9e2a-8d4b-4c1e-9a6f-2b7d5e8c1a40";
    let json = FIXED.replace("01890a5d-ac96-774b-bcce-b302099a8057", v4);
    let err = serde_json::from_str::<Envelope>(&json)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "envelope id {v4} is a version 4 uuid, expected version 7"
        )),
        "{err}"
    );
    let nil = Uuid::nil().to_string();
    let json = FIXED.replace("01890a5d-ac96-774b-bcce-b302099a8057", &nil);
    assert!(serde_json::from_str::<Envelope>(&json).is_err());
    let json = FIXED.replace("01890a5d-ac96-774b-bcce-b302099a8057", "not-a-uuid");
    assert!(serde_json::from_str::<Envelope>(&json).is_err());
    assert_eq!(
        sample()
            .with_id(Uuid::parse_str(v4).unwrap())
            .unwrap_err()
            .to_string(),
        format!("envelope id {v4} is a version 4 uuid, expected version 7 (time-ordered)")
    );
    // Right version nibble, wrong variant bits.
    let bad_variant = Uuid::parse_str("01890a5d-ac96-774b-ccce-b302099a8057").unwrap();
    assert!(matches!(
        sample().with_id(bad_variant),
        Err(EnvelopeError::IdVariant { .. })
    ));
    let v7 = Uuid::now_v7();
    assert_eq!(sample().with_id(v7).unwrap().id(), v7);
}

#[test]
fn invalid_type_and_parties_are_rejected() {
    let json = FIXED.replace("shipment.delivered", "Shipment");
    assert!(serde_json::from_str::<Envelope>(&json).is_err());
    let json = FIXED.replace("\"zeta\"", "\"Zeta Corp\"");
    assert!(serde_json::from_str::<Envelope>(&json).is_err());
}

#[test]
fn visibility_follows_parties() {
    let e = sample();
    assert!(e.is_visible_to(&tenant("acme")));
    assert!(e.is_visible_to(&tenant("beta-logistics")));
    assert!(!e.is_visible_to(&tenant("gamma")));
}

#[test]
fn canonical_bytes_are_sorted_compact_json() {
    let e: Envelope = serde_json::from_str(FIXED).unwrap();
    let expected = concat!(
        r#"{"aggregate_id":"106141412345678908","id":"01890a5d-ac96-774b-bcce-b302099a8057","#,
        r#""occurred_at":"2024-05-01T12:30:00.500000Z","parties":["acme","zeta"],"#,
        r#""payload":{"a":[true,null,1.5],"b":1},"producer":"shipments","schema_version":2,"#,
        r#""type":"shipment.delivered"}"#,
    );
    assert_eq!(
        String::from_utf8(e.canonical_bytes().unwrap()).unwrap(),
        expected
    );
    assert_eq!(
        e.leaf_hash().unwrap(),
        tracechain_core::merkle::leaf_hash(expected.as_bytes())
    );
}

#[test]
fn serde_round_trip_preserves_canonical_bytes() {
    let e = sample();
    let json = serde_json::to_string_pretty(&e).unwrap();
    let back: Envelope = serde_json::from_str(&json).unwrap();
    assert_eq!(
        back.canonical_bytes().unwrap(),
        e.canonical_bytes().unwrap()
    );
    assert_eq!(back.leaf_hash().unwrap(), e.leaf_hash().unwrap());
    // And canonicalizing the wire text directly gives the same bytes.
    assert_eq!(
        tracechain_core::canonical::canonicalize_str(&json).unwrap(),
        e.canonical_bytes().unwrap()
    );
}

#[test]
fn equivalent_spellings_share_canonical_bytes() {
    let a: Envelope = serde_json::from_str(FIXED).unwrap();
    let spelled_differently = FIXED
        .replace(
            "2024-05-01T12:30:00.5Z",
            "2024-05-01T14:30:00.500000999+02:00",
        )
        .replace("[\"zeta\", \"acme\"]", "[\"acme\", \"zeta\"]");
    let b: Envelope = serde_json::from_str(&spelled_differently).unwrap();
    assert_eq!(a.canonical_bytes().unwrap(), b.canonical_bytes().unwrap());
}

#[test]
fn unsafe_integers_in_the_payload_have_no_canonical_form() {
    let e = Envelope::new(
        EventType::parse("a.b").unwrap(),
        "x",
        "p",
        BTreeSet::new(),
        json!({"n": 9_007_199_254_740_993_u64}),
    );
    assert!(e.canonical_bytes().is_err());
    assert!(e.leaf_hash().is_err());
}

/// `canonical_bytes` writes the envelope directly; it must give exactly what
/// the generic canonicalizer gives for the serialized envelope.
#[test]
fn canonical_bytes_match_the_generic_canonicalizer() {
    let generic = |e: &Envelope| tracechain_core::canonical::to_canonical_vec(e);
    let fixed: Envelope = serde_json::from_str(FIXED).unwrap();
    let mut deep = json!("leaf");
    for _ in 0..(tracechain_core::canonical::MAX_DEPTH - 2) {
        deep = json!([deep]);
    }
    let payloads = [
        json!({}),
        json!(null),
        json!([
            1,
            -2,
            0,
            -0.0,
            1e21,
            1.5e-7,
            9_007_199_254_740_991_i64,
            -9_007_199_254_740_991_i64
        ]),
        json!({"z": {"b": [], "a": {}}, "é": 1, "\u{e000}": 2, "\u{1f600}": 3, "A": "q\"\\\n\u{1}\u{7f}"}),
        json!({"big": 1_475_514_384_331_734_500_u64}),
        deep.clone(),
        json!([deep]),
        json!({"n": 9_007_199_254_740_993_u64}),
    ];
    let times = [
        datetime!(2024-05-01 12:30:00.5 UTC),
        datetime!(0000-01-01 00:00:00 UTC),
        datetime!(9999-12-31 23:59:59.999999 UTC),
        datetime!(2024-02-29 01:02:03.000004 UTC),
    ];
    let texts = [
        "",
        "plain",
        "quote\" back\\ tab\t nul\u{0} del\u{7f}",
        "Crème 😀 \u{2028}",
    ];
    let parties: [BTreeSet<TenantId>; 2] = [
        BTreeSet::new(),
        [tenant("zeta"), tenant("acme"), tenant("0-b")].into(),
    ];
    let mut checked = 0;
    for payload in &payloads {
        for (i, time) in times.iter().enumerate() {
            let text = texts[i % texts.len()];
            let e = Envelope::new(
                fixed.event_type().clone(),
                text,
                texts[(i + 1) % texts.len()],
                parties[i % 2].clone(),
                payload.clone(),
            )
            .with_occurred_at(*time)
            .unwrap()
            .with_schema_version(u32::MAX - i as u32);
            match (e.canonical_bytes(), generic(&e)) {
                (Ok(direct), Ok(expected)) => assert_eq!(
                    String::from_utf8(direct).unwrap(),
                    String::from_utf8(expected).unwrap()
                ),
                (Err(direct), Err(expected)) => {
                    assert_eq!(direct.to_string(), expected.to_string())
                }
                (direct, expected) => panic!("{payload}: {direct:?} but generically {expected:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, payloads.len() * times.len());
    assert_eq!(fixed.canonical_bytes().unwrap(), generic(&fixed).unwrap());
    let sample = sample();
    assert_eq!(sample.canonical_bytes().unwrap(), generic(&sample).unwrap());
}

#[test]
fn write_canonical_bytes_appends_and_leaves_the_buffer_alone_on_error() {
    let e = sample();
    let mut out = b"prefix".to_vec();
    e.write_canonical_bytes(&mut out).unwrap();
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(out[6..], e.canonical_bytes().unwrap());
    let unsafe_integer = Envelope::new(
        EventType::parse("a.b").unwrap(),
        "x",
        "p",
        BTreeSet::new(),
        json!({"n": 9_007_199_254_740_993_u64}),
    );
    let before = out.clone();
    assert!(unsafe_integer.write_canonical_bytes(&mut out).is_err());
    assert_eq!(out, before);
}
