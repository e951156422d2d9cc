use proptest::prelude::*;
use tracechain_domain::gs1::{Gln, Gtin, KeyError, Lot, Serial, Sscc, check_digit};

use crate::strategies::{cset82_value, digits_with_check, nasty_string};

/// `id` with the digit at `pos` (mod its length) replaced by a different one.
fn corrupt(id: &str, pos: usize, delta: u8) -> String {
    let pos = pos % id.len();
    let mut bytes = id.as_bytes().to_vec();
    let d = bytes[pos] - b'0';
    bytes[pos] = b'0' + (d + 1 + delta % 9) % 10;
    String::from_utf8(bytes).unwrap()
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(s in nasty_string(), e in any::<u8>(), t in nasty_string()) {
        let _ = check_digit(&s);
        let _ = Gtin::parse(&s);
        let _ = Sscc::parse(&s);
        let _ = Sscc::from_first17(&s);
        let _ = Sscc::from_body(e, &s, &t);
        let _ = Gln::parse(&s);
        let _ = Gln::from_first12(&s);
        let _ = Lot::parse(&s);
        let _ = Serial::parse(&s);
        let _ = serde_json::from_str::<Gtin>(&s);
        let _ = serde_json::from_value::<Sscc>(serde_json::Value::String(s.clone()));
    }

    #[test]
    fn every_valid_gtin_parses_and_normalises(
        id in prop::sample::select(vec![8usize, 12, 13, 14]).prop_flat_map(|len| digits_with_check(len - 1)),
    ) {
        let gtin = Gtin::parse(&id).unwrap();
        prop_assert_eq!(gtin.as_str().len(), 14);
        prop_assert!(gtin.as_str().ends_with(&id));
        prop_assert!(gtin.as_str()[..14 - id.len()].bytes().all(|b| b == b'0'));
        prop_assert_eq!(Gtin::parse(gtin.as_str()).unwrap(), gtin.clone());
        prop_assert_eq!(gtin.to_string(), gtin.as_str());
    }

    #[test]
    fn every_valid_sscc_and_gln_parses(sscc in digits_with_check(17), gln in digits_with_check(12)) {
        let parsed = Sscc::parse(&sscc).unwrap();
        prop_assert_eq!(parsed.as_str(), sscc.as_str());
        prop_assert_eq!(Sscc::from_first17(&sscc[..17]).unwrap(), parsed.clone());
        let ext = sscc.as_bytes()[0] - b'0';
        prop_assert_eq!(Sscc::from_body(ext, &sscc[1..8], &sscc[8..17]).unwrap(), parsed);
        prop_assert_eq!(Gln::parse(&gln).unwrap().to_string(), gln.clone());
        prop_assert_eq!(Gln::from_first12(&gln[..12]).unwrap().to_string(), gln);
    }

    #[test]
    fn changing_any_single_digit_fails(
        gtin in digits_with_check(13),
        sscc in digits_with_check(17),
        gln in digits_with_check(12),
        pos in any::<usize>(),
        delta in any::<u8>(),
    ) {
        let is_check_digit_error = |r: Result<(), KeyError>| matches!(r, Err(KeyError::CheckDigit { .. }));
        prop_assert!(is_check_digit_error(Gtin::parse(&corrupt(&gtin, pos, delta)).map(drop)));
        prop_assert!(is_check_digit_error(Sscc::parse(&corrupt(&sscc, pos, delta)).map(drop)));
        prop_assert!(is_check_digit_error(Gln::parse(&corrupt(&gln, pos, delta)).map(drop)));
    }

    #[test]
    fn every_cset82_value_is_a_lot_and_a_serial(s in cset82_value()) {
        prop_assert_eq!(Lot::parse(&s).unwrap().to_string(), s.clone());
        prop_assert_eq!(Serial::parse(&s).unwrap().to_string(), s.clone());
        let json = serde_json::to_string(&Serial::parse(&s).unwrap()).unwrap();
        prop_assert_eq!(serde_json::from_str::<Serial>(&json).unwrap().to_string(), s);
    }
}
