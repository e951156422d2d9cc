//! RFC 8785 conformance: the RFC's own examples as facts, the policy
//! refusals, and differential/property tests against `serde_json_canonicalizer`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use tracechain_core::canonical::{self, CanonicalError, MAX_SAFE_INTEGER, parse_strict};
use tracechain_core::{canonicalize, canonicalize_str, to_canonical_vec};

fn canonical_text(value: &Value) -> String {
    String::from_utf8(canonicalize(value).unwrap()).unwrap()
}

/// RFC 8785 §3.2.2: the sample input and its canonical form.
#[test]
fn rfc8785_section_3_2_2_sample() {
    let input = r#"{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
    let expected = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
    assert_eq!(
        String::from_utf8(canonicalize_str(input).unwrap()).unwrap(),
        expected
    );
}

/// RFC 8785 Appendix B: IEEE 754 bit patterns and their ES6 serialization.
#[test]
fn rfc8785_appendix_b_numbers() {
    let table: &[(u64, &str)] = &[
        (0x0000000000000000, "0"),
        (0x8000000000000000, "0"), // minus zero
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xc340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44b52d02c7e14af5, "9.999999999999997e+22"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
        (0x444b1ae4d6e2ef4e, "999999999999999700000"),
        (0x444b1ae4d6e2ef4f, "999999999999999900000"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555553, "333333333.3333332"),
        (0x41b3de4355555554, "333333333.33333325"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x41b3de4355555556, "333333333.3333334"),
        (0x41b3de4355555557, "333333333.33333343"),
        (0xbecbf647612f3696, "-0.0000033333333333333333"),
        (0x43143ff3c1cb0959, "1424953923781206.2"),
    ];
    for &(bits, expected) in table {
        let value = f64::from_bits(bits);
        let number = serde_json::Number::from_f64(value).unwrap();
        assert_eq!(
            canonical_text(&Value::Number(number)),
            expected,
            "bits {bits:016x}"
        );
        // The text form canonicalizes the same way when it parses as a double.
        if !expected.contains('e') && !expected.contains('.') && expected.len() > 15 {
            continue; // big integer literals parse as u64 and hit the integer policy
        }
        assert_eq!(
            canonicalize_str(expected).unwrap(),
            expected.as_bytes(),
            "text {expected}"
        );
    }
    // NaN and Infinity (7fffffffffffffff, 7ff0000000000000) have no JSON form.
    #[derive(serde::Serialize)]
    struct Float(f64);
    for bits in [
        0x7fffffffffffffff_u64,
        0x7ff0000000000000,
        0xfff0000000000000,
    ] {
        assert!(matches!(
            to_canonical_vec(&Float(f64::from_bits(bits))),
            Err(CanonicalError::NonFiniteNumber)
        ));
    }
}

/// Further ES6 number facts around the exponent switch points.
#[test]
fn ecmascript_number_boundaries() {
    for (value, expected) in [
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (0.1, "0.1"),
        (-1.5, "-1.5"),
        (100.0, "100"),
        (123e-20, "1.23e-18"),
    ] {
        assert_eq!(canonical_text(&json!(value)), expected);
    }
}

/// RFC 8785 §3.2.3: members sorted by UTF-16 code units.
#[test]
fn rfc8785_section_3_2_3_sorting() {
    let input = r#"{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"#;
    let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_eq!(
        String::from_utf8(canonicalize_str(input).unwrap()).unwrap(),
        expected
    );
}

#[test]
fn string_escapes_are_minimal() {
    let value = json!("\u{8}\u{c}\n\r\t\"\\/\u{0}\u{1f}\u{7f}\u{2028}");
    assert_eq!(
        canonical_text(&value),
        "\"\\b\\f\\n\\r\\t\\\"\\\\/\\u0000\\u001f\u{7f}\u{2028}\""
    );
}

#[test]
fn duplicate_keys_are_refused() {
    let error = canonicalize_str(r#"{"a":1,"b":{"c":1,"c":2}}"#).unwrap_err();
    assert!(
        matches!(error, CanonicalError::DuplicateKey { ref key } if key == "c"),
        "{error}"
    );
    // serde_json alone would have kept the last value silently.
    let lenient: Value = serde_json::from_str(r#"{"c":1,"c":2}"#).unwrap();
    assert_eq!(lenient, json!({"c": 2}));
}

#[test]
fn invalid_json_is_refused() {
    for text in [
        r#""\ud800""#,  // lone high surrogate
        r#""\udc00x""#, // lone low surrogate
        "[1,]",
        "{\"a\":1} x",
        "NaN",
        "1e400",
        "",
    ] {
        assert!(
            matches!(canonicalize_str(text), Err(CanonicalError::Parse(_))),
            "{text:?} should not parse"
        );
    }
    let deep = "[".repeat(200) + &"]".repeat(200);
    assert!(canonicalize_str(&deep).is_err());
}

#[test]
fn integers_that_a_double_would_change_are_refused_not_rounded() {
    assert_eq!(
        canonicalize(&json!(MAX_SAFE_INTEGER)).unwrap(),
        b"9007199254740991"
    );
    assert_eq!(
        canonicalize(&json!(-(MAX_SAFE_INTEGER as i64))).unwrap(),
        b"-9007199254740991"
    );
    // 2^53 is exact, and so is an integer already in ES6 canonical form.
    assert_eq!(
        canonicalize(&json!(MAX_SAFE_INTEGER + 1)).unwrap(),
        b"9007199254740992"
    );
    assert_eq!(
        canonicalize_str("1475514384331734500").unwrap(),
        b"1475514384331734500"
    );
    // These would silently become other numbers.
    for (value, text) in [
        (json!(MAX_SAFE_INTEGER + 2), "9007199254740993"),
        (json!(1u64 << 60), "1152921504606846976"),
        (json!(u64::MAX), "18446744073709551615"),
        (json!(i64::MIN), "-9223372036854775808"),
    ] {
        assert!(
            matches!(
                canonicalize(&value),
                Err(CanonicalError::IntegerOutOfRange { value: ref v }) if v == text
            ),
            "{text}"
        );
        assert!(matches!(
            canonicalize_str(text),
            Err(CanonicalError::IntegerOutOfRange { .. })
        ));
    }
}

#[test]
fn serializable_types_canonicalize_like_their_json() {
    #[derive(serde::Serialize)]
    struct Event<'a> {
        zeta: u32,
        alpha: &'a str,
        nested: BTreeMap<&'a str, Option<f64>>,
    }
    let mut nested = BTreeMap::new();
    nested.insert("b", Some(2.5));
    nested.insert("a", None);
    let event = Event {
        zeta: 7,
        alpha: "é",
        nested,
    };
    assert_eq!(
        to_canonical_vec(&event).unwrap(),
        "{\"alpha\":\"é\",\"nested\":{\"a\":null,\"b\":2.5},\"zeta\":7}".as_bytes()
    );
    let mut bad_keys = BTreeMap::new();
    bad_keys.insert(vec![1u8], 1);
    assert!(matches!(
        to_canonical_vec(&bad_keys),
        Err(CanonicalError::Serialize(_))
    ));
    assert!(matches!(
        to_canonical_vec(&vec![Some(f32::NAN)]),
        Err(CanonicalError::NonFiniteNumber)
    ));
}

/// JSON values within our policy: safe integers, finite doubles, any strings.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(MAX_SAFE_INTEGER as i64)..=(MAX_SAFE_INTEGER as i64)).prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        "[\\x00-\\x1f\"\\\\a\u{80}\u{fb33}\u{1f600}]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Our output equals the independent `serde_json_canonicalizer` crate's.
    #[test]
    fn agrees_with_serde_json_canonicalizer(value in arb_json()) {
        let ours = canonicalize(&value).unwrap();
        let theirs = serde_json_canonicalizer::to_vec(&value).unwrap();
        prop_assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(theirs).unwrap());
    }

    /// Canonical text is valid JSON, denotes the same value, and is a fixed point.
    #[test]
    fn canonical_form_is_a_fixed_point(value in arb_json()) {
        let once = canonicalize(&value).unwrap();
        let text = std::str::from_utf8(&once).unwrap();
        let reparsed = parse_strict(text).unwrap();
        prop_assert_eq!(canonicalize(&reparsed).unwrap(), once.clone());
        prop_assert_eq!(canonicalize_str(text).unwrap(), once);
    }

    /// No input text makes the parser or canonicalizer panic.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,64}|[\\[\\]{}\":,0-9eE.+\\-\\\\u]{0,64}") {
        let _ = canonicalize_str(&text);
    }
}

#[test]
fn nesting_is_bounded() {
    let mut value = json!(1);
    for _ in 0..canonical::MAX_DEPTH {
        value = json!([value]);
    }
    assert!(canonicalize(&value).is_ok());
    let too_deep = json!([value]);
    assert!(matches!(
        canonicalize(&too_deep),
        Err(CanonicalError::TooDeep)
    ));
}

/// What the `serde_json_canonicalizer` crate (0.3) does, recorded as facts: it
/// conforms on the RFC's examples, but rounds integers beyond 2^53 (every
/// integer goes through `as f64`) and, reading text with `serde_json`, lets a
/// duplicate member name silently win. That is why `canonical` is our own.
#[test]
fn serde_json_canonicalizer_conforms_but_rounds_and_accepts_duplicates() {
    let sample = r#"{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}"#;
    assert_eq!(
        serde_json_canonicalizer::pipe(sample).unwrap().into_bytes(),
        canonicalize_str(sample).unwrap()
    );
    for bits in [
        0x444b1ae4d6e2ef50_u64,
        0x3eb0c6f7a0b5ed8c,
        0x8000000000000000,
    ] {
        let value = json!(f64::from_bits(bits));
        assert_eq!(
            serde_json_canonicalizer::to_vec(&value).unwrap(),
            canonicalize(&value).unwrap()
        );
    }
    assert_eq!(
        serde_json_canonicalizer::to_string(&(MAX_SAFE_INTEGER + 2)).unwrap(),
        "9007199254740992"
    );
    assert_eq!(
        serde_json_canonicalizer::pipe(r#"{"a":1,"a":2}"#).unwrap(),
        r#"{"a":2}"#
    );
}
