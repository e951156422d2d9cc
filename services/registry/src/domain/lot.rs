//! Creating and recalling a lot: the request bodies and their validation.

use serde::{Deserialize, Serialize};
use time::Date;
use tracechain_domain::Lot;
use tracechain_http::FieldError;
use utoipa::ToSchema;

use super::{Violations, dates, text};

/// Longest recall reason.
pub const MAX_REASON_CHARS: usize = 500;

/// `POST /v1/products/{id}/lots`: a lot to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLot {
    /// The lot number (AI 10): 1 to 20 characters of GS1 character set 82.
    #[schema(example = "L2024-05")]
    pub lot: String,
    /// Production date (AI 11), `YYYY-MM-DD`.
    #[schema(example = "2024-05-01", format = Date)]
    pub produced_at: String,
    /// Expiry date (AI 17), `YYYY-MM-DD`, not before `produced_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-05-01", format = Date)]
    pub expires_at: Option<String>,
}

/// A validated [`CreateLot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLot {
    /// The lot number.
    pub lot: Lot,
    /// Production date.
    pub produced_at: Date,
    /// Expiry date.
    pub expires_at: Option<Date>,
}

impl CreateLot {
    /// Validates every field; the error lists each invalid one.
    pub fn validate(&self) -> Result<NewLot, Vec<FieldError>> {
        let mut v = Violations::new();
        let lot = v.check("lot", Lot::parse(&self.lot));
        let produced_at = v.check("produced_at", dates::parse(&self.produced_at));
        let expires_at = match &self.expires_at {
            Some(text) => v.check("expires_at", dates::parse(text)).map(Some),
            None => Some(None),
        };
        if let (Some(produced), Some(Some(expires))) = (produced_at, expires_at)
            && expires < produced
        {
            v.add(
                "expires_at",
                format!(
                    "{} is before produced_at {}",
                    dates::format(expires),
                    dates::format(produced)
                ),
            );
        }
        let value = match (lot, produced_at, expires_at) {
            (Some(lot), Some(produced_at), Some(expires_at)) => Some(NewLot {
                lot,
                produced_at,
                expires_at,
            }),
            _ => None,
        };
        v.finish(value)
    }
}

/// `POST /v1/products/{id}/lots/{lot}/recall`: why the lot is recalled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallLot {
    /// Why, 1 to 500 characters; shown to whoever scans an item of the lot.
    #[schema(example = "Possible contamination with glass fragments; do not consume.")]
    pub reason: String,
}

impl RecallLot {
    /// Validates the reason.
    pub fn validate(&self) -> Result<String, Vec<FieldError>> {
        let mut v = Violations::new();
        let ok = v.check("reason", text::check(&self.reason, MAX_REASON_CHARS, true));
        v.finish(ok.map(|()| self.reason.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lot_rules() {
        let ok = CreateLot {
            lot: "L1".into(),
            produced_at: "2024-05-01".into(),
            expires_at: Some("2025-05-01".into()),
        };
        assert_eq!(ok.validate().unwrap().lot.as_str(), "L1");
        let bad = CreateLot {
            lot: "L 1".into(),
            produced_at: "2024-05-01".into(),
            expires_at: Some("2024-04-30".into()),
        };
        let errors = bad.validate().unwrap_err();
        assert_eq!(errors[0].field, "lot");
        assert_eq!(errors[1].field, "expires_at");
        assert_eq!(
            errors[1].message,
            "2024-04-30 is before produced_at 2024-05-01"
        );
    }

    #[test]
    fn reason_rules() {
        assert!(
            RecallLot {
                reason: "x".repeat(500)
            }
            .validate()
            .is_ok()
        );
        let errors = RecallLot {
            reason: "x".repeat(501),
        }
        .validate()
        .unwrap_err();
        assert_eq!(errors[0].field, "reason");
        assert!(RecallLot { reason: "".into() }.validate().is_err());
    }
}
