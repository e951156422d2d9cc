//! The W3C Trace Context `traceparent` header value, parsed strictly.
//!
//! Format (version `00`): `00-<trace-id: 32 lowercase hex>-<parent-id: 16
//! lowercase hex>-<trace-flags: 2 lowercase hex>`, exactly 55 characters.
//!
//! Invariants of a [`TraceParent`]: the trace id and the parent id are never
//! all zero. Parsing follows the specification's forward-compatibility rules:
//! version `ff` is invalid; a higher version is parsed as version `00` on its
//! first 55 characters, provided that anything after them starts with `-`.
//! Formatting always emits version `00`, the only version we speak.

use std::fmt;
use std::str::FromStr;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

/// Length of a version-`00` traceparent value.
const VERSION_00_LEN: usize = 55;

/// The sampled bit of the trace flags.
pub const FLAG_SAMPLED: u8 = 0x01;

/// A parsed W3C `traceparent` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace id; never all zero.
    trace_id: [u8; 16],
    /// The id of the caller's span (the parent of ours); never all zero.
    parent_id: [u8; 8],
    /// The trace flags; bit 0 is "sampled", other bits are carried as received.
    flags: u8,
}

/// Why a `traceparent` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TraceParentError {
    /// The value is shorter than 55 characters, or a version-00 value is not exactly 55.
    #[error("traceparent has length {0}, expected 55 characters")]
    Length(usize),
    /// The version is not two lowercase hex digits, or is the forbidden `ff`.
    #[error("traceparent version is invalid")]
    Version,
    /// A `-` separator is missing where one is required.
    #[error("traceparent is missing a `-` separator")]
    Separator,
    /// The trace id is not 32 lowercase hex digits.
    #[error("traceparent trace id is not 32 lowercase hex digits")]
    TraceId,
    /// The parent id is not 16 lowercase hex digits.
    #[error("traceparent parent id is not 16 lowercase hex digits")]
    ParentId,
    /// The trace flags are not 2 lowercase hex digits.
    #[error("traceparent trace flags are not 2 lowercase hex digits")]
    Flags,
    /// The trace id is all zeros.
    #[error("traceparent trace id is all zeros")]
    ZeroTraceId,
    /// The parent id is all zeros.
    #[error("traceparent parent id is all zeros")]
    ZeroParentId,
}

impl TraceParent {
    /// Builds a traceparent; `None` when either id is all zeros.
    pub fn new(trace_id: [u8; 16], parent_id: [u8; 8], flags: u8) -> Option<Self> {
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// A fresh root: random trace id and parent id, sampled.
    pub fn new_root() -> Self {
        let generator = RandomIdGenerator::default();
        let trace_id = non_zero_trace_id(&generator);
        Self {
            trace_id,
            parent_id: non_zero_span_id(&generator),
            flags: FLAG_SAMPLED,
        }
    }

    /// The same trace with a new random parent id: what a span opened under
    /// this one would propagate.
    pub fn child(&self) -> Self {
        let generator = RandomIdGenerator::default();
        Self {
            trace_id: self.trace_id,
            parent_id: non_zero_span_id(&generator),
            flags: self.flags,
        }
    }

    /// Parses a header value; optional whitespace (spaces, tabs) around it is ignored.
    pub fn parse(value: &str) -> Result<Self, TraceParentError> {
        let value = value.trim_matches([' ', '\t']);
        let bytes = value.as_bytes();
        if bytes.len() < VERSION_00_LEN {
            return Err(TraceParentError::Length(bytes.len()));
        }
        let version = decode_hex::<1>(&bytes[0..2]).ok_or(TraceParentError::Version)?[0];
        if version == 0xff {
            return Err(TraceParentError::Version);
        }
        if version == 0x00 && bytes.len() != VERSION_00_LEN {
            return Err(TraceParentError::Length(bytes.len()));
        }
        if bytes.len() > VERSION_00_LEN && bytes[VERSION_00_LEN] != b'-' {
            return Err(TraceParentError::Separator);
        }
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return Err(TraceParentError::Separator);
        }
        let trace_id = decode_hex::<16>(&bytes[3..35]).ok_or(TraceParentError::TraceId)?;
        let parent_id = decode_hex::<8>(&bytes[36..52]).ok_or(TraceParentError::ParentId)?;
        let flags = decode_hex::<1>(&bytes[53..55]).ok_or(TraceParentError::Flags)?[0];
        if trace_id == [0; 16] {
            return Err(TraceParentError::ZeroTraceId);
        }
        if parent_id == [0; 8] {
            return Err(TraceParentError::ZeroParentId);
        }
        Ok(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// The trace id.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex::encode(self.trace_id)
    }

    /// The parent (span) id.
    pub fn parent_id(&self) -> [u8; 8] {
        self.parent_id
    }

    /// The parent (span) id as 16 lowercase hex digits.
    pub fn parent_id_hex(&self) -> String {
        hex::encode(self.parent_id)
    }

    /// The trace flags.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the caller sampled (recorded) this trace.
    pub fn sampled(&self) -> bool {
        self.flags & FLAG_SAMPLED != 0
    }

    /// The OpenTelemetry trace id.
    pub fn otel_trace_id(&self) -> TraceId {
        TraceId::from_bytes(self.trace_id)
    }

    /// The OpenTelemetry span id of the parent.
    pub fn otel_parent_id(&self) -> SpanId {
        SpanId::from_bytes(self.parent_id)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.parent_id),
            self.flags
        )
    }
}

impl FromStr for TraceParent {
    type Err = TraceParentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Decodes exactly `2 * N` lowercase hex digits.
fn decode_hex<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (lower_hex_value(pair[0])? << 4) | lower_hex_value(pair[1])?;
    }
    Some(out)
}

fn lower_hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

fn non_zero_trace_id(generator: &RandomIdGenerator) -> [u8; 16] {
    loop {
        let id = generator.new_trace_id();
        if id != TraceId::INVALID {
            return id.to_bytes();
        }
    }
}

fn non_zero_span_id(generator: &RandomIdGenerator) -> [u8; 8] {
    loop {
        let id = generator.new_span_id();
        if id != SpanId::INVALID {
            return id.to_bytes();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_the_spec_example_sampled() {
        let tp = TraceParent::parse(SPEC_EXAMPLE).unwrap();
        assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.parent_id_hex(), "00f067aa0ba902b7");
        assert_eq!(tp.flags(), 1);
        assert!(tp.sampled());
        assert_eq!(tp.to_string(), SPEC_EXAMPLE);
    }

    #[test]
    fn parses_the_spec_example_not_sampled() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let tp: TraceParent = value.parse().unwrap();
        assert!(!tp.sampled());
        assert_eq!(tp.to_string(), value);
    }

    #[test]
    fn keeps_unknown_flags() {
        let tp =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09").unwrap();
        assert_eq!(tp.flags(), 0x09);
        assert!(tp.sampled());
    }

    #[test]
    fn trims_optional_whitespace() {
        assert!(TraceParent::parse(&format!(" \t{SPEC_EXAMPLE}\t ")).is_ok());
    }

    #[test]
    fn refuses_all_zero_ids() {
        assert_eq!(
            TraceParent::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            Err(TraceParentError::ZeroTraceId)
        );
        assert_eq!(
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
            Err(TraceParentError::ZeroParentId)
        );
    }

    #[test]
    fn refuses_version_ff_and_bad_versions() {
        for value in [
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "AA-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(value), Err(TraceParentError::Version));
        }
    }

    #[test]
    fn refuses_uppercase_hex() {
        assert_eq!(
            TraceParent::parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            Err(TraceParentError::TraceId)
        );
        assert_eq!(
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"),
            Err(TraceParentError::ParentId)
        );
        assert_eq!(
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A"),
            Err(TraceParentError::Flags)
        );
    }

    #[test]
    fn refuses_wrong_lengths_and_separators() {
        assert_eq!(TraceParent::parse(""), Err(TraceParentError::Length(0)));
        assert_eq!(
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"),
            Err(TraceParentError::Length(54))
        );
        // Version 00 must be exactly 55 characters.
        assert_eq!(
            TraceParent::parse(&format!("{SPEC_EXAMPLE}-what-the-future-will-be-like")),
            Err(TraceParentError::Length(84))
        );
        assert_eq!(
            TraceParent::parse("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Err(TraceParentError::Separator)
        );
        assert_eq!(
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01"),
            Err(TraceParentError::Separator)
        );
        // Shifted fields: a 31-digit trace id and a 17-digit parent id.
        assert!(
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01").is_err()
        );
    }

    #[test]
    fn parses_future_versions_per_forward_compatibility() {
        let tp = TraceParent::parse(
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like",
        )
        .unwrap();
        assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        // We always speak version 00.
        assert_eq!(tp.to_string(), SPEC_EXAMPLE);
        assert!(
            TraceParent::parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_ok()
        );
        assert_eq!(
            TraceParent::parse(
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what-the-future-will-be-like"
            ),
            Err(TraceParentError::Separator)
        );
    }

    #[test]
    fn child_keeps_trace_and_changes_parent() {
        let tp = TraceParent::parse(SPEC_EXAMPLE).unwrap();
        let child = tp.child();
        assert_eq!(child.trace_id(), tp.trace_id());
        assert_ne!(child.parent_id(), tp.parent_id());
        assert_eq!(child.flags(), tp.flags());
        let root = TraceParent::new_root();
        assert_eq!(TraceParent::parse(&root.to_string()), Ok(root));
    }

    #[test]
    fn new_refuses_zero_ids() {
        assert!(TraceParent::new([0; 16], [1; 8], 1).is_none());
        assert!(TraceParent::new([1; 16], [0; 8], 1).is_none());
        assert!(TraceParent::new([1; 16], [1; 8], 1).is_some());
    }

    #[test]
    fn never_panics_on_non_ascii() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-é";
        assert!(TraceParent::parse(value).is_err());
        assert!(
            TraceParent::parse("ééééééééééééééééééééééééééééééééééééééééééééééééééééééé").is_err()
        );
    }
}
