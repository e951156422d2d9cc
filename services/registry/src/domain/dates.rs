//! Calendar dates written `YYYY-MM-DD` (RFC 3339 `full-date`), as GS1
//! production (AI 11) and expiry (AI 17) dates are given to the API.

use time::Date;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// `YYYY-MM-DD`.
const FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// Why a string is not a date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a calendar date written YYYY-MM-DD")]
pub struct DateError {
    /// The input (at most 40 characters of it).
    pub input: String,
}

/// Parses `YYYY-MM-DD` (years 0000–9999, a real calendar day).
pub fn parse(input: &str) -> Result<Date, DateError> {
    let error = || DateError {
        input: input.chars().take(40).collect(),
    };
    if input.len() != 10 {
        return Err(error());
    }
    Date::parse(input, FORMAT).map_err(|_| error())
}

/// Writes `YYYY-MM-DD`.
pub fn format(date: Date) -> String {
    date.format(FORMAT).unwrap_or_default()
}

/// Serde for a `Date` as `YYYY-MM-DD`.
pub mod serde_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    /// Serializes as `YYYY-MM-DD`.
    pub fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format(*date))
    }

    /// Deserializes from `YYYY-MM-DD`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde for an `Option<Date>` as `YYYY-MM-DD` or `null`.
pub mod serde_date_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    /// Serializes as `YYYY-MM-DD` or `null`.
    pub fn serialize<S: Serializer>(date: &Option<Date>, serializer: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => serializer.serialize_str(&super::format(*date)),
            None => serializer.serialize_none(),
        }
    }

    /// Deserializes from `YYYY-MM-DD` or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Date>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => super::parse(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let date = parse("2024-02-29").unwrap();
        assert_eq!(format(date), "2024-02-29");
        for bad in [
            "2023-02-29",
            "2024-2-1",
            "20240201",
            "2024-02-01T00:00:00Z",
            "",
            "x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse("tomorrow").unwrap_err().to_string(),
            "\"tomorrow\" is not a calendar date written YYYY-MM-DD"
        );
    }
}
