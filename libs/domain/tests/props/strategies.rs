//! Generators shared by the property tests.

use proptest::prelude::*;
use tracechain_domain::gs1::{check_digit, cset82::CSET82};

/// Arbitrary strings, biased toward the characters our parsers care about.
pub(crate) fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{0,20}",
        "[0-9A-Za-z%/.?#:~ _-]{0,40}",
        proptest::collection::vec(
            prop_oneof![
                Just("/01/".to_owned()),
                Just("/00/".to_owned()),
                Just("/10/".to_owned()),
                Just("/21/".to_owned()),
                Just("/22/".to_owned()),
                Just("/".to_owned()),
                Just("%".to_owned()),
                Just("%2F".to_owned()),
                Just("%FF".to_owned()),
                Just("?".to_owned()),
                Just("#".to_owned()),
                Just("https://".to_owned()),
                Just("//".to_owned()),
                Just("09506000134352".to_owned()),
                Just("106141412345678908".to_owned()),
                "[0-9]{1,18}",
                "[!-~]{0,4}",
                any::<String>(),
            ],
            0..10,
        )
        .prop_map(|parts| parts.concat()),
    ]
}

/// `len` random digits with their check digit appended.
pub(crate) fn digits_with_check(len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..10, len).prop_map(|digits| {
        let body: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        let check = check_digit(&body).expect("body is all digits");
        format!("{body}{check}")
    })
}

/// 1 to 20 characters from GS1 character set 82: any valid lot or serial.
pub(crate) fn cset82_value() -> impl Strategy<Value = String> {
    let chars: Vec<char> = CSET82.chars().collect();
    proptest::collection::vec(proptest::sample::select(chars), 1..=20)
        .prop_map(|cs| cs.into_iter().collect())
}
