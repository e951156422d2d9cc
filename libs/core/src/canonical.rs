//! RFC 8785 JSON Canonicalization Scheme (JCS): the one byte string a JSON value
//! hashes and signs as.
//!
//! The output is the JCS serialization of the input: no whitespace, object
//! members sorted by the UTF-16 code units of their names, strings escaped with
//! the minimal JSON escapes (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, and
//! lowercase `\u00xx` for the other controls below U+0020; everything else as
//! raw UTF-8), and numbers printed the way ECMAScript's `Number.prototype.toString`
//! prints the IEEE 754 double they denote (`1e+21`, `1e-7`, `-0` → `0`).
//!
//! Invariants this module keeps, beyond the RFC:
//! - **No silent change of value.** RFC 8785 treats every number as a double, so
//!   a conforming canonicalizer would turn the integer 9007199254740993 into
//!   9007199254740992, and 2^60 into 1152921504606847000. We refuse instead
//!   ([`CanonicalError::IntegerOutOfRange`]): an integer is accepted only if
//!   the double nearest to it prints as the very same integer. That holds for
//!   every integer within ±[`MAX_SAFE_INTEGER`] (2^53 − 1, I-JSON's limit, RFC
//!   7493 §2.2) and, beyond it, only for integers already in canonical form
//!   (such as 1475514384331734500, which is how the double 1.4755143843317345e18
//!   prints), so canonical output always canonicalizes to itself. Carry other
//!   large integers as strings. (Literals beyond the `u64`/`i64` range are read
//!   by serde_json as doubles, and canonicalized as doubles, as every JCS
//!   implementation does.)
//! - **No NaN or infinity**: [`to_canonical_vec`] refuses them, although
//!   `serde_json` would quietly turn them into `null`.
//! - **No duplicate object names**: [`canonicalize_str`] refuses them (I-JSON
//!   §2.3, required by RFC 8785 §3.1), where `serde_json` keeps the last one.
//! - **Bounded nesting**: at most [`MAX_DEPTH`] nested arrays/objects, the same
//!   limit serde_json's parser applies, so no input can exhaust the stack.
//!
//! The `serde_json` dependency must not have its `arbitrary_precision` feature
//! enabled anywhere in the build: it changes how numbers reach this module.

use std::cell::Cell;
use std::cmp::Ordering;
use std::fmt;

use serde::Serialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// 2^53 − 1, the largest integer `n` such that `n` and `n + 1` are both exactly
/// representable as IEEE 754 doubles. Every integer up to this magnitude is
/// accepted; larger ones only in canonical form (see the module docs).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 128;

/// Why a value has no canonical form.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalError {
    /// The text is not valid JSON (includes lone surrogate escapes and nesting
    /// deeper than serde_json's limit).
    #[error("input is not valid json")]
    Parse(#[source] serde_json::Error),
    /// An object has the same member name twice.
    #[error("object has duplicate member name {key:?}")]
    DuplicateKey {
        /// The repeated member name.
        key: String,
    },
    /// An integer that would change value when read as a double.
    #[error("integer {value} would change value as a double; send it as a string")]
    IntegerOutOfRange {
        /// The integer, in decimal.
        value: String,
    },
    /// A float is NaN or infinite.
    #[error("number is nan or infinite, which json cannot represent")]
    NonFiniteNumber,
    /// Arrays and objects nest deeper than [`MAX_DEPTH`].
    #[error("json nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// The value's `Serialize` implementation failed or produced something JSON
    /// cannot hold (for example a map with non-string keys).
    #[error("value cannot be represented as json")]
    Serialize(#[source] serde_json::Error),
}

/// Canonical bytes of a JSON value.
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(128);
    write_value(value, &mut out, 0)?;
    Ok(out)
}

/// Appends the canonical bytes of `value` to `out`, for a value nested inside
/// `depth` arrays or objects of a document written by the caller (0 for a
/// whole document): the [`MAX_DEPTH`] limit counts those enclosing levels too.
///
/// For callers that write the fixed part of a document themselves (such as a
/// struct with known member names, written in sorted order) and canonicalize
/// only a free-form member. On error, `out` holds a partial write.
pub fn write_nested(value: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    write_value(value, out, depth)
}

/// Appends `text` to `out` as a canonical JSON string (quoted and minimally
/// escaped), exactly as [`canonicalize`] writes a string value or member name.
pub fn write_str(text: &str, out: &mut Vec<u8>) {
    write_string(text, out);
}

/// Canonical bytes of any serializable value.
///
/// Equivalent to [`canonicalize`] of `serde_json::to_value(value)`, except that
/// NaN and infinities are refused instead of becoming `null`.
pub fn to_canonical_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    match value.serialize(FiniteProbe) {
        Err(ProbeError::NonFinite) => return Err(CanonicalError::NonFiniteNumber),
        // Any other failure is the value's own; `to_value` reports it below.
        Err(ProbeError::Other) | Ok(()) => {}
    }
    let tree = serde_json::to_value(value).map_err(CanonicalError::Serialize)?;
    canonicalize(&tree)
}

/// Parses JSON text strictly (duplicate member names refused) and returns its
/// canonical bytes.
pub fn canonicalize_str(text: &str) -> Result<Vec<u8>, CanonicalError> {
    canonicalize(&parse_strict(text)?)
}

/// Parses JSON text into a [`Value`], refusing duplicate member names (which
/// `serde_json::from_str` silently resolves to the last one), lone surrogate
/// escapes and trailing characters.
pub fn parse_strict(text: &str) -> Result<Value, CanonicalError> {
    let duplicate = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = StrictSeed {
        duplicate: &duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match parsed {
        Ok(value) => Ok(value),
        Err(error) => match duplicate.take() {
            Some(key) => Err(CanonicalError::DuplicateKey { key }),
            None => Err(CanonicalError::Parse(error)),
        },
    }
}

fn write_value(value: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_number(number, out)?,
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(CanonicalError::TooDeep);
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out, depth + 1)?;
            }
            out.push(b']');
        }
        Value::Object(members) => {
            if depth >= MAX_DEPTH {
                return Err(CanonicalError::TooDeep);
            }
            out.push(b'{');
            // Members parsed from canonical text are already in order (the
            // map keeps insertion order): then no sorted copy is needed.
            let in_order = members
                .keys()
                .zip(members.keys().skip(1))
                .all(|(a, b)| utf16_cmp(a, b) == Ordering::Less);
            if in_order {
                write_members(members.iter(), out, depth)?;
            } else {
                let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
                sorted.sort_unstable_by(|a, b| utf16_cmp(a.0, b.0));
                write_members(sorted.into_iter(), out, depth)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Writes `name:value` pairs, comma-separated, in the order given.
fn write_members<'a>(
    members: impl Iterator<Item = (&'a String, &'a Value)>,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), CanonicalError> {
    for (i, (name, member)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        write_value(member, out, depth + 1)?;
    }
    Ok(())
}

/// Orders strings by their UTF-16 code units (RFC 8785 §3.2.3). This differs
/// from byte (code point) order only between supplementary-plane characters,
/// which UTF-16 encodes with surrogates D800–DFFF, and characters E000–FFFF.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

fn write_number(number: &Number, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    if let Some(unsigned) = number.as_u64() {
        if unsigned <= MAX_SAFE_INTEGER {
            write_decimal(unsigned, false, out);
            return Ok(());
        }
        write_integer(unsigned.to_string(), unsigned as f64, out)
    } else if let Some(signed) = number.as_i64() {
        if signed.unsigned_abs() <= MAX_SAFE_INTEGER {
            write_decimal(signed.unsigned_abs(), signed < 0, out);
            return Ok(());
        }
        write_integer(signed.to_string(), signed as f64, out)
    } else {
        // Without `arbitrary_precision` a Number is u64, i64 or a finite f64,
        // so `as_f64` only returns None for a number we cannot handle at all.
        let float = number.as_f64().ok_or(CanonicalError::NonFiniteNumber)?;
        write_double(float, out)
    }
}

/// Writes `magnitude` in decimal, after a `-` when `negative`, without
/// allocating (integers are the most common numbers in payloads).
fn write_decimal(mut magnitude: u64, negative: bool, out: &mut Vec<u8>) {
    // u64::MAX has 20 digits.
    let mut digits = [0_u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        // `magnitude % 10` is below 10, so the cast is exact.
        digits[start] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if negative {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[start..]);
}

/// Writes an integer beyond ±(2^53 − 1) whose decimal form is `decimal` and
/// whose nearest double is `nearest`, if that double prints as the same
/// integer; otherwise the value would change.
fn write_integer(decimal: String, nearest: f64, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    let mut buffer = ryu_js::Buffer::new();
    if buffer.format_finite(nearest) == decimal {
        out.extend_from_slice(decimal.as_bytes());
        Ok(())
    } else {
        Err(CanonicalError::IntegerOutOfRange { value: decimal })
    }
}

/// Writes a double as ECMAScript's `Number.prototype.toString` would.
fn write_double(value: f64, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    if !value.is_finite() {
        return Err(CanonicalError::NonFiniteNumber);
    }
    if value == 0.0 {
        // Both +0 and -0 print as "0" (ECMAScript Number::toString step 2).
        out.push(b'0');
        return Ok(());
    }
    let mut buffer = ryu_js::Buffer::new();
    out.extend_from_slice(buffer.format_finite(value).as_bytes());
    Ok(())
}

fn write_string(text: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut clean_from = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        // Bytes of multi-byte UTF-8 sequences are all >= 0x80, so scanning
        // byte by byte never splits a character.
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0x0f)],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[clean_from..i]);
        out.extend_from_slice(escape);
        clean_from = i + 1;
    }
    out.extend_from_slice(&bytes[clean_from..]);
    out.push(b'"');
}

/// Deserializes a JSON value like `serde_json::Value` does, but records the
/// first duplicate member name in `duplicate` and fails.
#[derive(Clone, Copy)]
struct StrictSeed<'a> {
    duplicate: &'a Cell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a json value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        Number::from_f64(value)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                self.duplicate.set(Some(name));
                return Err(de::Error::custom("duplicate object member name"));
            }
            let member = map.next_value_seed(self)?;
            members.insert(name, member);
        }
        Ok(Value::Object(members))
    }
}

/// A serializer that produces nothing and only looks for non-finite floats,
/// which `serde_json::to_value` would otherwise turn into `null`.
#[derive(Clone, Copy)]
struct FiniteProbe;

#[derive(Debug)]
enum ProbeError {
    NonFinite,
    Other,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::NonFinite => f.write_str("non-finite float"),
            ProbeError::Other => f.write_str("serialization failed"),
        }
    }
}

impl std::error::Error for ProbeError {}

impl serde::ser::Error for ProbeError {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        ProbeError::Other
    }
}

macro_rules! probe_ok {
    ($($method:ident($($ty:ty),*)),* $(,)?) => {
        $(fn $method(self, $(_: $ty),*) -> Result<(), ProbeError> { Ok(()) })*
    };
}

impl serde::Serializer for FiniteProbe {
    type Ok = ();
    type Error = ProbeError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    probe_ok!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_f32(self, value: f32) -> Result<(), ProbeError> {
        self.serialize_f64(f64::from(value))
    }

    fn serialize_f64(self, value: f64) -> Result<(), ProbeError> {
        if value.is_finite() {
            Ok(())
        } else {
            Err(ProbeError::NonFinite)
        }
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), ProbeError> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), ProbeError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), ProbeError> {
        value.serialize(self)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self, ProbeError> {
        Ok(self)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self, ProbeError> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, ProbeError> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, ProbeError> {
        Ok(self)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self, ProbeError> {
        Ok(self)
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, ProbeError> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, ProbeError> {
        Ok(self)
    }
}

macro_rules! probe_compound {
    ($($trait:ident :: $method:ident),* $(,)?) => {
        $(impl serde::ser::$trait for FiniteProbe {
            type Ok = ();
            type Error = ProbeError;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ProbeError> {
                value.serialize(*self)
            }

            fn end(self) -> Result<(), ProbeError> {
                Ok(())
            }
        })*
    };
}

probe_compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl serde::ser::SerializeMap for FiniteProbe {
    type Ok = ();
    type Error = ProbeError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ProbeError> {
        key.serialize(*self)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ProbeError> {
        value.serialize(*self)
    }

    fn end(self) -> Result<(), ProbeError> {
        Ok(())
    }
}

impl serde::ser::SerializeStruct for FiniteProbe {
    type Ok = ();
    type Error = ProbeError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<(), ProbeError> {
        value.serialize(*self)
    }

    fn end(self) -> Result<(), ProbeError> {
        Ok(())
    }
}

impl serde::ser::SerializeStructVariant for FiniteProbe {
    type Ok = ();
    type Error = ProbeError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<(), ProbeError> {
        value.serialize(*self)
    }

    fn end(self) -> Result<(), ProbeError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_with_lowercase_hex() {
        let out = canonicalize(&Value::String("\u{1}\u{1f}\u{7f}é".into())).unwrap();
        assert_eq!(out, "\"\\u0001\\u001f\u{7f}é\"".as_bytes());
    }

    #[test]
    fn negative_zero_prints_as_zero() {
        assert_eq!(canonicalize_str("-0").unwrap(), b"0");
        assert_eq!(canonicalize_str("-0.0").unwrap(), b"0");
        assert_eq!(canonicalize(&Value::from(-0.0_f64)).unwrap(), b"0");
    }

    #[test]
    fn nesting_limit_is_enforced_without_recursion_blowup() {
        let mut deep = Value::Null;
        for _ in 0..(MAX_DEPTH + 1) {
            deep = Value::Array(vec![deep]);
        }
        assert!(matches!(canonicalize(&deep), Err(CanonicalError::TooDeep)));
    }
}
