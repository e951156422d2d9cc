use proptest::prelude::*;
use tracechain_domain::tenancy::{Role, TenantId};

use crate::strategies::nasty_string;

proptest! {
    #[test]
    fn valid_slugs_parse(s in "[a-z0-9][a-z0-9-]{0,63}") {
        let id = TenantId::parse(&s).unwrap();
        prop_assert_eq!(id.as_str(), s.as_str());
        let json = serde_json::to_string(&id).unwrap();
        prop_assert_eq!(serde_json::from_str::<TenantId>(&json).unwrap(), id);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in nasty_string()) {
        if let Ok(id) = TenantId::parse(&s) {
            prop_assert!(id.as_str().len() <= 64 && !id.as_str().starts_with('-'));
        }
        let _ = s.parse::<Role>();
    }
}
