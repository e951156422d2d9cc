//! The envelope's timestamp rule: UTC, microsecond precision, serialized as
//! RFC 3339 with exactly six fractional digits and `Z`
//! (`2024-05-01T12:30:00.123456Z`), so one instant has one byte representation
//! and canonical bytes are deterministic.
//!
//! Any RFC 3339 input is accepted and normalised: converted to UTC, then
//! truncated (not rounded) to the microsecond. Instants whose UTC year falls
//! outside 0000–9999 are rejected, as RFC 3339 cannot write them.

use serde::{Deserialize, Deserializer, Serializer, de, ser};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::EnvelopeError;

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// Converts `t` to UTC and truncates it to the microsecond.
pub(crate) fn normalize(t: OffsetDateTime) -> Result<OffsetDateTime, EnvelopeError> {
    let out_of_range = || EnvelopeError::OccurredAtOutOfRange { occurred_at: t };
    let utc = t
        .checked_to_offset(UtcOffset::UTC)
        .ok_or_else(out_of_range)?;
    if !(0..=9999).contains(&utc.year()) {
        return Err(out_of_range());
    }
    Ok(utc.truncate_to_microsecond())
}

/// Formats a normalised timestamp.
pub(crate) fn format(t: OffsetDateTime) -> Result<String, EnvelopeError> {
    normalize(t)?
        .format(FORMAT)
        .map_err(|_| EnvelopeError::OccurredAtOutOfRange { occurred_at: t })
}

/// Appends a normalised timestamp to `out` in the same form as [`format`],
/// without going through `time`'s formatter (this is on every publish).
/// `t` must be normalised: UTC, year 0000–9999.
pub(super) fn write(t: OffsetDateTime, out: &mut Vec<u8>) {
    fn digits(value: u32, width: u32, out: &mut Vec<u8>) {
        let mut place = 10_u32.pow(width - 1);
        for _ in 0..width {
            // A single decimal digit: the cast is exact.
            out.push(b'0' + (value / place % 10) as u8);
            place /= 10;
        }
    }
    // Normalised: the year is within 0000–9999, so not negative.
    digits(t.year().unsigned_abs(), 4, out);
    out.push(b'-');
    digits(u32::from(u8::from(t.month())), 2, out);
    out.push(b'-');
    digits(u32::from(t.day()), 2, out);
    out.push(b'T');
    digits(u32::from(t.hour()), 2, out);
    out.push(b':');
    digits(u32::from(t.minute()), 2, out);
    out.push(b':');
    digits(u32::from(t.second()), 2, out);
    out.push(b'.');
    digits(t.microsecond(), 6, out);
    out.push(b'Z');
}

pub(super) fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    let text = format(*t).map_err(ser::Error::custom)?;
    s.serialize_str(&text)
}

pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    let text = String::deserialize(d)?;
    let t = OffsetDateTime::parse(&text, &Rfc3339).map_err(|e| {
        de::Error::custom(format_args!(
            "occurred_at '{text}' is not an rfc 3339 timestamp: {e}"
        ))
    })?;
    normalize(t).map_err(de::Error::custom)
}
