use proptest::prelude::*;
use tracechain_domain::gs1::{Gtin, Lot, Serial, Sscc};
use tracechain_domain::{DigitalLink, DigitalLinkError};

use crate::strategies::{cset82_value, digits_with_check, nasty_string};

fn base() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "https://id.gs1.org",
        "https://id.example.com/",
        "http://localhost:8080",
        "https://brand.example/products/v1",
        "//cdn.example.org",
        "https://01",
    ])
    .prop_map(str::to_owned)
}

fn link() -> impl Strategy<Value = DigitalLink> {
    prop_oneof![
        (
            digits_with_check(13),
            proptest::option::of(cset82_value()),
            proptest::option::of(cset82_value()),
        )
            .prop_map(|(gtin, lot, serial)| DigitalLink::Item {
                gtin: Gtin::parse(&gtin).unwrap(),
                lot: lot.map(|l| Lot::parse(&l).unwrap()),
                serial: serial.map(|s| Serial::parse(&s).unwrap()),
            }),
        digits_with_check(17).prop_map(|s| DigitalLink::Logistic {
            sscc: Sscc::parse(&s).unwrap()
        }),
    ]
}

proptest! {
    #[test]
    fn build_then_parse_is_identity(base in base(), link in link()) {
        let uri = link.to_uri(&base);
        // Values never leak a separator into the URI.
        prop_assert_eq!(uri.matches('/').count(), base.trim_end_matches('/').matches('/').count() + link.path().matches('/').count());
        prop_assert!(!uri[base.len().min(uri.len())..].contains(['?', '#']));
        let (parsed_base, parsed) = DigitalLink::parse(&uri).unwrap();
        prop_assert_eq!(parsed_base.as_str(), base.trim_end_matches('/'));
        prop_assert_eq!(&parsed, &link);
        // Path-only and with query and fragment too.
        prop_assert_eq!(DigitalLink::parse(&link.path()).unwrap(), (String::new(), link.clone()));
        let full = DigitalLink::parse_full(&format!("{uri}?linkType=all#x")).unwrap();
        prop_assert_eq!(full.link, link);
        prop_assert_eq!(full.query.as_deref(), Some("linkType=all"));
        prop_assert_eq!(full.fragment.as_deref(), Some("x"));
    }

    #[test]
    fn short_gtins_in_uris_normalise(gtin in digits_with_check(12), serial in cset82_value()) {
        let serial = Serial::parse(&serial).unwrap();
        let link = DigitalLink::Item { gtin: Gtin::parse(&gtin).unwrap(), lot: None, serial: Some(serial.clone()) };
        let uri = format!("https://x.org/01/{gtin}/21/{}", link.path().rsplit('/').next().unwrap());
        prop_assert_eq!(DigitalLink::parse(&uri).unwrap().1, link);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in nasty_string()) {
        let _ = DigitalLink::parse_full(&s);
    }

    #[test]
    fn trailing_junk_is_rejected(link in link(), junk in "[A-Za-z0-9]{1,5}") {
        let uri = format!("{}/{junk}", link.path());
        prop_assert!(DigitalLink::parse(&uri).is_err());
        let uri = format!("{}/", link.path());
        let is_empty_segment = matches!(DigitalLink::parse(&uri), Err(DigitalLinkError::EmptySegment { .. }));
        prop_assert!(is_empty_segment);
    }
}
