use proptest::prelude::*;
use tracechain_domain::money::{Currency, Money};

use crate::strategies::nasty_string;

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(Currency::all().collect::<Vec<_>>())
}

proptest! {
    #[test]
    fn add_then_sub_is_identity(a in any::<i64>(), b in any::<i64>(), c in currency()) {
        let (a, b) = (Money::new(a, c), Money::new(b, c));
        if let Ok(sum) = a.checked_add(b) {
            prop_assert_eq!(sum.checked_sub(b), Ok(a));
        } else {
            prop_assert!(a.minor.checked_add(b.minor).is_none());
        }
    }

    #[test]
    fn mismatched_currencies_never_combine(a in any::<i64>(), b in any::<i64>(), c in currency(), d in currency()) {
        prop_assume!(c != d);
        prop_assert!(Money::new(a, c).checked_add(Money::new(b, d)).is_err());
        prop_assert!(Money::new(a, c).checked_sub(Money::new(b, d)).is_err());
    }

    #[test]
    fn decimal_string_round_trips(minor in any::<i64>(), c in currency()) {
        let m = Money::new(minor, c);
        prop_assert_eq!(Money::parse_decimal(&m.to_decimal_string(), c), Ok(m));
        prop_assert_eq!(m.to_string(), format!("{} {}", m.to_decimal_string(), c.code()));
        let json = serde_json::to_string(&m).unwrap();
        prop_assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
    }

    #[test]
    fn parsing_never_panics(s in nasty_string(), n in any::<i64>(), f in any::<i64>(), c in currency()) {
        let _ = Money::parse_decimal(&s, c);
        let _ = Currency::parse(&s);
        let m = Money::new(n, c);
        let _ = m.checked_mul(f);
        let _ = m.checked_neg();
        let _ = m.to_string();
    }

    #[test]
    fn parse_decimal_matches_integer_arithmetic(whole in 0i64..1_000_000_000, frac in 0i64..100, neg in any::<bool>()) {
        let s = format!("{}{whole}.{frac:02}", if neg { "-" } else { "" });
        let expected = (whole * 100 + frac) * if neg { -1 } else { 1 };
        prop_assert_eq!(Money::parse_decimal(&s, Currency::EUR).unwrap().minor, expected);
    }
}
