use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tracechain_domain::{Envelope, EventType, TenantId};

use crate::strategies::nasty_string;

/// JSON payloads with nested objects, arrays, strings, integers and floats.
fn payload() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        // Integers within ±(2^53 - 1): beyond that JSON has no exact canonical form.
        (-9_007_199_254_740_991i64..=9_007_199_254_740_991).prop_map(Value::from),
        (-1e15f64..1e15).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}|.{0,4}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        "[a-z][a-z0-9_]{0,10}\\.[a-z][a-z0-9_]{0,10}",
        any::<String>(),
        prop::collection::btree_set("[a-z0-9][a-z0-9-]{0,10}", 0..4),
        payload(),
        // Any instant from year 0000 to 9999, at nanosecond precision, with an
        // offset that keeps it within range once converted to UTC.
        (
            -62_167_219_200i64 + 86_400..253_402_300_799 - 86_400,
            0u32..1_000_000_000,
        ),
        -86_399i32..=86_399,
        any::<u32>(),
    )
        .prop_map(
            |(ty, aggregate, parties, payload, (secs, nanos), offset, version)| {
                let parties: BTreeSet<TenantId> = parties
                    .iter()
                    .map(|p| TenantId::parse(p).unwrap())
                    .collect();
                let t = OffsetDateTime::from_unix_timestamp(secs).unwrap()
                    + time::Duration::nanoseconds(i64::from(nanos));
                let t = t.to_offset(time::UtcOffset::from_whole_seconds(offset).unwrap());
                Envelope::new(
                    EventType::parse(&ty).unwrap(),
                    aggregate,
                    "producer",
                    parties,
                    payload,
                )
                .with_occurred_at(t)
                .unwrap()
                .with_schema_version(version)
            },
        )
}

proptest! {
    #[test]
    fn serde_round_trip_is_identity(e in envelope()) {
        let json = serde_json::to_string(&e).unwrap();
        let back: Envelope = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &e);
        prop_assert_eq!(&serde_json::to_string(&back).unwrap(), &json);
        prop_assert_eq!(e.occurred_at().offset(), time::UtcOffset::UTC);
        prop_assert_eq!(e.occurred_at().nanosecond() % 1000, 0);
        prop_assert_eq!(back.canonical_bytes().unwrap(), e.canonical_bytes().unwrap());
        prop_assert_eq!(
            tracechain_core::canonical::canonicalize_str(&json).unwrap(),
            e.canonical_bytes().unwrap()
        );
        let text = e.occurred_at_rfc3339();
        prop_assert_eq!(text.len(), "0000-00-00T00:00:00.000000Z".len());
    }

    #[test]
    fn arbitrary_json_never_panics(s in nasty_string(), t in nasty_string()) {
        let _ = serde_json::from_str::<Envelope>(&s);
        let doc = json!({
            "id": "01890a5d-ac96-774b-bcce-b302099a8057",
            "type": "a.b",
            "schema_version": 1,
            "aggregate_id": "x",
            "occurred_at": s,
            "producer": "p",
            "parties": [t],
            "payload": null
        });
        let _ = serde_json::from_value::<Envelope>(doc);
    }
}
