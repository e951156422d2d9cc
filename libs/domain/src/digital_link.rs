//! GS1 Digital Link URIs (GS1 Digital Link Standard: URI Syntax 1.x), the web
//! addresses our QR codes carry.
//!
//! Two forms are supported, the ones tracechain issues:
//!
//! - an item: `{base}/01/{gtin14}[/10/{lot}][/21/{serial}]`;
//! - a logistic unit: `{base}/00/{sscc}`.
//!
//! **Building** ([`DigitalLink::to_uri`]) always writes the GTIN as 14 digits
//! and percent-encodes lot and serial the way the standard asks: every byte
//! outside the RFC 3986 unreserved set (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`
//! with uppercase hex, so a `/` in a serial is `%2F` and can never be taken
//! for a path separator. For character set 82 this encodes exactly
//! `! " % & ' ( ) * + , / : ; < = > ?`.
//!
//! **Parsing** ([`DigitalLink::parse`], [`DigitalLink::parse_full`]) accepts any
//! scheme, host and path prefix (or none: servers see only the path) before the
//! first path segment that is `01` or `00`; everything before that segment's
//! `/` is returned as the base. It then requires, and validates with the
//! [`gs1`](crate::gs1) types:
//!
//! - the primary key value (GTIN-8/12/13/14, normalised to 14 digits; or an SSCC);
//! - after a GTIN, optionally `10/{lot}` then `21/{serial}`, in that order, each
//!   at most once; after an SSCC, nothing;
//! - nothing else in the path: unknown qualifiers, repeated or misordered
//!   qualifiers, empty segments (including a trailing `/`) are errors.
//!
//! Values are percent-decoded (upper- or lowercase hex; a `%` must start a
//! `%XX` escape) before validation; characters the standard would have us
//! encode are also accepted raw. The query string and fragment are ignored for
//! identification but kept, raw, in [`ParsedDigitalLink`]. The convenience
//! alphabetic short names of early versions (`/gtin/`, `/lot/`, …) are not
//! recognised.
//!
//! Design choice: the consumer product variant qualifier (AI 22, allowed by the
//! standard between `01` and `10`) is **rejected** with
//! [`DigitalLinkError::UnsupportedQualifier`]: tracechain does not model
//! variants, and dropping it silently would identify a different thing than the
//! URI does.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::gs1::{Gtin, KeyError, Lot, Serial, Sscc, TextError};

/// Bytes percent-encoded in a path segment value: all but RFC 3986 unreserved.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Application identifier of the GTIN primary key.
const AI_GTIN: &str = "01";
/// Application identifier of the SSCC primary key.
const AI_SSCC: &str = "00";
/// Application identifier of the lot qualifier.
const AI_LOT: &str = "10";
/// Application identifier of the serial qualifier.
const AI_SERIAL: &str = "21";
/// Application identifier of the consumer product variant qualifier.
const AI_CPV: &str = "22";

/// What a GS1 Digital Link URI identifies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DigitalLink {
    /// A trade item: a product (GTIN), optionally narrowed to a lot, a serialised
    /// instance, or both.
    Item {
        /// The product.
        gtin: Gtin,
        /// The batch or lot (AI 10), if given.
        lot: Option<Lot>,
        /// The serial number (AI 21), if given.
        serial: Option<Serial>,
    },
    /// A logistic unit (pallet, parcel, container).
    Logistic {
        /// The unit's SSCC.
        sscc: Sscc,
    },
}

/// A parsed Digital Link URI with the parts around the identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedDigitalLink {
    /// Everything before the primary key segment's `/`, raw: scheme, host and
    /// any path prefix (`https://id.example.com`, `https://x.org/shop`), or the
    /// empty string when the input was path-only. Never ends in the `/` that
    /// introduces the primary key.
    pub base: String,
    /// What the URI identifies.
    pub link: DigitalLink,
    /// The query string without its `?`, raw (not decoded), if there was one.
    pub query: Option<String>,
    /// The fragment without its `#`, raw, if there was one.
    pub fragment: Option<String>,
}

/// Why a string is not a supported GS1 Digital Link URI. Every variant names
/// the offending segment or application identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigitalLinkError {
    /// No path segment is `01` (GTIN) or `00` (SSCC).
    #[error("no gs1 primary key segment ('/01/' for a gtin or '/00/' for an sscc) in the uri path")]
    NoPrimaryKey,
    /// An application identifier is the last segment, or is followed by an
    /// empty one.
    #[error("ai {ai} has no value")]
    MissingValue {
        /// The application identifier, e.g. `10`.
        ai: &'static str,
    },
    /// A value segment holds a `%` that does not start a `%XX` escape.
    #[error("ai {ai} segment '{segment}' has a '%' that is not followed by two hex digits")]
    MalformedPercentEncoding {
        /// The application identifier whose value this is.
        ai: &'static str,
        /// The raw segment.
        segment: String,
    },
    /// A value segment percent-decodes to bytes that are not UTF-8.
    #[error("ai {ai} segment '{segment}' percent-decodes to invalid utf-8")]
    InvalidUtf8 {
        /// The application identifier whose value this is.
        ai: &'static str,
        /// The raw segment.
        segment: String,
    },
    /// The GTIN segment is not a valid GTIN.
    #[error("ai 01 segment '{segment}': {reason}")]
    InvalidGtin {
        /// The raw segment.
        segment: String,
        /// What is wrong with its decoded value.
        reason: KeyError,
    },
    /// The SSCC segment is not a valid SSCC.
    #[error("ai 00 segment '{segment}': {reason}")]
    InvalidSscc {
        /// The raw segment.
        segment: String,
        /// What is wrong with its decoded value.
        reason: KeyError,
    },
    /// The lot segment is not a valid lot.
    #[error("ai 10 segment '{segment}': {reason}")]
    InvalidLot {
        /// The raw segment.
        segment: String,
        /// What is wrong with its decoded value.
        reason: TextError,
    },
    /// The serial segment is not a valid serial.
    #[error("ai 21 segment '{segment}': {reason}")]
    InvalidSerial {
        /// The raw segment.
        segment: String,
        /// What is wrong with its decoded value.
        reason: TextError,
    },
    /// A qualifier the standard allows but tracechain does not model.
    #[error("qualifier ai 22 (consumer product variant) is not supported")]
    UnsupportedQualifier,
    /// A segment after the GTIN that is not a known qualifier.
    #[error(
        "unexpected segment '{segment}' after the gtin, expected qualifier 10 (lot) or 21 (serial)"
    )]
    UnknownQualifier {
        /// The raw segment.
        segment: String,
    },
    /// A qualifier that appears twice.
    #[error("qualifier ai {ai} appears more than once")]
    RepeatedQualifier {
        /// The application identifier.
        ai: &'static str,
    },
    /// Lot after serial.
    #[error("qualifier ai 10 (lot) must come before ai 21 (serial)")]
    QualifierOrder,
    /// Anything after the SSCC value.
    #[error("unexpected segment '{segment}' after the sscc, which takes no qualifiers")]
    TrailingAfterSscc {
        /// The raw segment.
        segment: String,
    },
    /// An empty path segment where a qualifier was expected: `//` or a
    /// trailing `/`.
    #[error("empty path segment after the ai {after} value (a '//' or a trailing '/')")]
    EmptySegment {
        /// The application identifier whose value precedes the empty segment.
        after: &'static str,
    },
}

impl DigitalLink {
    /// The URI under `base` (scheme, host and optional path prefix; trailing
    /// `/`s are dropped), e.g. `https://id.example.com/01/09506000134352/10/ABC`.
    pub fn to_uri(&self, base: &str) -> String {
        let mut uri = base.trim_end_matches('/').to_owned();
        self.write_path(&mut uri);
        uri
    }

    /// The path alone, e.g. `/00/106141412345678908`: [`to_uri`](Self::to_uri)
    /// with an empty base. Also what `Display` writes.
    pub fn path(&self) -> String {
        self.to_uri("")
    }

    fn write_path(&self, out: &mut String) {
        match self {
            DigitalLink::Item { gtin, lot, serial } => {
                push_segment_pair(out, AI_GTIN, gtin.as_str());
                if let Some(lot) = lot {
                    push_segment_pair(out, AI_LOT, lot.as_str());
                }
                if let Some(serial) = serial {
                    push_segment_pair(out, AI_SERIAL, serial.as_str());
                }
            }
            DigitalLink::Logistic { sscc } => push_segment_pair(out, AI_SSCC, sscc.as_str()),
        }
    }

    /// Parses a Digital Link URI (or its path alone) into its base and what it
    /// identifies; see the [module docs](self) for the accepted syntax.
    ///
    /// ```
    /// use tracechain_domain::DigitalLink;
    /// let (base, link) =
    ///     DigitalLink::parse("https://id.example.com/01/9506000134352/10/ABC%2F1?linkType=all").unwrap();
    /// assert_eq!(base, "https://id.example.com");
    /// let DigitalLink::Item { gtin, lot, serial } = link else { panic!() };
    /// assert_eq!(gtin.as_str(), "09506000134352");
    /// assert_eq!(lot.unwrap().as_str(), "ABC/1");
    /// assert!(serial.is_none());
    /// ```
    pub fn parse(uri: &str) -> Result<(String, DigitalLink), DigitalLinkError> {
        let parsed = Self::parse_full(uri)?;
        Ok((parsed.base, parsed.link))
    }

    /// Like [`parse`](Self::parse), also returning the raw query string and
    /// fragment.
    pub fn parse_full(uri: &str) -> Result<ParsedDigitalLink, DigitalLinkError> {
        let (rest, fragment) = split_once_opt(uri, '#');
        let (rest, query) = split_once_opt(rest, '?');
        let path_start = path_start(rest);
        let path = &rest[path_start..];
        let key_slash = find_primary_key(path).ok_or(DigitalLinkError::NoPrimaryKey)?;
        let base = &rest[..path_start + key_slash];
        // Skip the '/' before the primary key; the rest is `ai/value/ai/value…`.
        let mut segments = path[key_slash + 1..].split('/');
        let link = match segments.next() {
            Some(AI_GTIN) => parse_item(&mut segments)?,
            Some(AI_SSCC) => parse_logistic(&mut segments)?,
            // `find_primary_key` only stops at a `01` or `00` segment.
            _ => return Err(DigitalLinkError::NoPrimaryKey),
        };
        Ok(ParsedDigitalLink {
            base: base.to_owned(),
            link,
            query: query.map(str::to_owned),
            fragment: fragment.map(str::to_owned),
        })
    }

    /// The GTIN, if this identifies an item.
    pub fn gtin(&self) -> Option<&Gtin> {
        match self {
            DigitalLink::Item { gtin, .. } => Some(gtin),
            DigitalLink::Logistic { .. } => None,
        }
    }

    /// The SSCC, if this identifies a logistic unit.
    pub fn sscc(&self) -> Option<&Sscc> {
        match self {
            DigitalLink::Logistic { sscc } => Some(sscc),
            DigitalLink::Item { .. } => None,
        }
    }
}

impl fmt::Display for DigitalLink {
    /// Writes the path form, e.g. `/01/09506000134352/21/X%2F1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// Appends `/{ai}/{value}`, percent-encoding `value`.
fn push_segment_pair(out: &mut String, ai: &str, value: &str) {
    out.push('/');
    out.push_str(ai);
    out.push('/');
    out.extend(utf8_percent_encode(value, SEGMENT));
}

/// `s` split at the first `sep`, the second part absent if `sep` is.
fn split_once_opt(s: &str, sep: char) -> (&str, Option<&str>) {
    match s.split_once(sep) {
        Some((head, tail)) => (head, Some(tail)),
        None => (s, None),
    }
}

/// Byte offset where the path starts: after `scheme://authority` or
/// `//authority` if present, else 0.
fn path_start(s: &str) -> usize {
    let authority_start = match s.find("://") {
        Some(i) if is_scheme(&s[..i]) => i + 3,
        _ if s.starts_with("//") => 2,
        _ => return 0,
    };
    s[authority_start..]
        .find('/')
        .map_or(s.len(), |j| authority_start + j)
}

/// RFC 3986 scheme: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Byte offset of the `/` that introduces the first `01` or `00` segment.
fn find_primary_key(path: &str) -> Option<usize> {
    path.match_indices('/').map(|(i, _)| i).find(|&i| {
        let segment = path[i + 1..].split('/').next().unwrap_or("");
        segment == AI_GTIN || segment == AI_SSCC
    })
}

/// The value segment after `ai`, percent-decoded; present and non-empty.
fn next_value<'a>(
    segments: &mut impl Iterator<Item = &'a str>,
    ai: &'static str,
) -> Result<(&'a str, String), DigitalLinkError> {
    let segment = match segments.next() {
        Some(s) if !s.is_empty() => s,
        _ => return Err(DigitalLinkError::MissingValue { ai }),
    };
    Ok((segment, decode(segment, ai)?))
}

/// Strict percent-decoding of one segment.
fn decode(segment: &str, ai: &'static str) -> Result<String, DigitalLinkError> {
    let bytes = segment.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err(DigitalLinkError::MalformedPercentEncoding {
                ai,
                segment: segment.to_owned(),
            });
        }
    }
    percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| DigitalLinkError::InvalidUtf8 {
            ai,
            segment: segment.to_owned(),
        })
}

fn parse_item<'a>(
    segments: &mut impl Iterator<Item = &'a str>,
) -> Result<DigitalLink, DigitalLinkError> {
    let (raw, value) = next_value(segments, AI_GTIN)?;
    let gtin = Gtin::parse(&value).map_err(|reason| DigitalLinkError::InvalidGtin {
        segment: raw.to_owned(),
        reason,
    })?;
    let mut lot: Option<Lot> = None;
    let mut serial: Option<Serial> = None;
    let mut last_ai = AI_GTIN;
    while let Some(qualifier) = segments.next() {
        match qualifier {
            "" => return Err(DigitalLinkError::EmptySegment { after: last_ai }),
            AI_LOT => {
                if lot.is_some() {
                    return Err(DigitalLinkError::RepeatedQualifier { ai: AI_LOT });
                }
                if serial.is_some() {
                    return Err(DigitalLinkError::QualifierOrder);
                }
                let (raw, value) = next_value(segments, AI_LOT)?;
                lot = Some(
                    Lot::parse(&value).map_err(|reason| DigitalLinkError::InvalidLot {
                        segment: raw.to_owned(),
                        reason,
                    })?,
                );
                last_ai = AI_LOT;
            }
            AI_SERIAL => {
                if serial.is_some() {
                    return Err(DigitalLinkError::RepeatedQualifier { ai: AI_SERIAL });
                }
                let (raw, value) = next_value(segments, AI_SERIAL)?;
                serial = Some(Serial::parse(&value).map_err(|reason| {
                    DigitalLinkError::InvalidSerial {
                        segment: raw.to_owned(),
                        reason,
                    }
                })?);
                last_ai = AI_SERIAL;
            }
            AI_CPV => return Err(DigitalLinkError::UnsupportedQualifier),
            other => {
                return Err(DigitalLinkError::UnknownQualifier {
                    segment: other.to_owned(),
                });
            }
        }
    }
    Ok(DigitalLink::Item { gtin, lot, serial })
}

fn parse_logistic<'a>(
    segments: &mut impl Iterator<Item = &'a str>,
) -> Result<DigitalLink, DigitalLinkError> {
    let (raw, value) = next_value(segments, AI_SSCC)?;
    let sscc = Sscc::parse(&value).map_err(|reason| DigitalLinkError::InvalidSscc {
        segment: raw.to_owned(),
        reason,
    })?;
    match segments.next() {
        None => Ok(DigitalLink::Logistic { sscc }),
        Some("") => Err(DigitalLinkError::EmptySegment { after: AI_SSCC }),
        Some(other) => Err(DigitalLinkError::TrailingAfterSscc {
            segment: other.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GTIN: &str = "09506000134352";
    const SSCC: &str = "106141412345678908";

    fn item(lot: Option<&str>, serial: Option<&str>) -> DigitalLink {
        DigitalLink::Item {
            gtin: Gtin::parse(GTIN).unwrap(),
            lot: lot.map(|l| Lot::parse(l).unwrap()),
            serial: serial.map(|s| Serial::parse(s).unwrap()),
        }
    }

    fn err(uri: &str) -> String {
        DigitalLink::parse(uri).unwrap_err().to_string()
    }

    #[test]
    fn builds_the_standard_forms() {
        let base = "https://id.gs1.org";
        assert_eq!(
            item(None, None).to_uri(base),
            "https://id.gs1.org/01/09506000134352"
        );
        assert_eq!(
            item(Some("ABC"), Some("123")).to_uri("https://id.gs1.org/"),
            "https://id.gs1.org/01/09506000134352/10/ABC/21/123"
        );
        assert_eq!(
            item(None, Some("A/B%1")).to_uri(base),
            "https://id.gs1.org/01/09506000134352/21/A%2FB%251"
        );
        let sscc = DigitalLink::Logistic {
            sscc: Sscc::parse(SSCC).unwrap(),
        };
        assert_eq!(
            sscc.to_uri(base),
            "https://id.gs1.org/00/106141412345678908"
        );
        assert_eq!(sscc.to_string(), "/00/106141412345678908");
    }

    #[test]
    fn encodes_exactly_the_reserved_cset82_characters() {
        let all = crate::gs1::cset82::CSET82;
        let encoded: String = utf8_percent_encode(all, SEGMENT).to_string();
        assert_eq!(
            encoded,
            "%21%22%25%26%27%28%29%2A%2B%2C-.%2F0123456789%3A%3B%3C%3D%3E%3F\
             ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
        );
    }

    #[test]
    fn parses_standard_examples() {
        // GS1 Digital Link standard examples.
        let (base, link) =
            DigitalLink::parse("https://id.gs1.org/01/09506000134352/10/ABC/21/123").unwrap();
        assert_eq!(base, "https://id.gs1.org");
        assert_eq!(link, item(Some("ABC"), Some("123")));

        let (base, link) = DigitalLink::parse("https://example.com/00/106141412345678908").unwrap();
        assert_eq!(base, "https://example.com");
        assert_eq!(link.sscc().unwrap().as_str(), SSCC);

        // A path prefix belongs to the base; GTIN-13 normalises to 14.
        let (base, link) =
            DigitalLink::parse("https://brand.example.com/some/prefix/01/9506000134352/21/X")
                .unwrap();
        assert_eq!(base, "https://brand.example.com/some/prefix");
        assert_eq!(link, item(None, Some("X")));
    }

    #[test]
    fn parses_path_only_forms() {
        let (base, link) = DigitalLink::parse("/01/09506000134352/10/ABC/21/123").unwrap();
        assert_eq!(base, "");
        assert_eq!(link, item(Some("ABC"), Some("123")));
        let (base, link) = DigitalLink::parse("/01/09506000134352/21/123").unwrap();
        assert_eq!((base.as_str(), link), ("", item(None, Some("123"))));
    }

    #[test]
    fn keeps_query_and_fragment() {
        let p = DigitalLink::parse_full(
            "https://x.org/01/09506000134352/10/A?linkType=gs1:pip&17=251231#top",
        )
        .unwrap();
        assert_eq!(p.base, "https://x.org");
        assert_eq!(p.link, item(Some("A"), None));
        assert_eq!(p.query.as_deref(), Some("linkType=gs1:pip&17=251231"));
        assert_eq!(p.fragment.as_deref(), Some("top"));
        // A '?' inside the fragment is not a query.
        let p = DigitalLink::parse_full("/01/09506000134352#a?b").unwrap();
        assert_eq!((p.query, p.fragment.as_deref()), (None, Some("a?b")));
    }

    #[test]
    fn decodes_percent_encoding() {
        let (_, link) = DigitalLink::parse("/01/09506000134352/10/a%2fb/21/%21%22%25").unwrap();
        assert_eq!(link, item(Some("a/b"), Some("!\"%")));
        // Raw sub-delims are accepted too.
        let (_, link) = DigitalLink::parse("/01/09506000134352/21/a!b(c)*+,;=:").unwrap();
        assert_eq!(link, item(None, Some("a!b(c)*+,;=:")));
    }

    #[test]
    fn host_named_like_an_ai_is_not_a_primary_key() {
        let (base, link) = DigitalLink::parse("https://01/00/106141412345678908").unwrap();
        assert_eq!(base, "https://01");
        assert!(link.sscc().is_some());
    }

    #[test]
    fn errors_name_the_offending_segment() {
        assert_eq!(
            err("https://x.org/gtin/09506000134352"),
            "no gs1 primary key segment ('/01/' for a gtin or '/00/' for an sscc) in the uri path"
        );
        assert_eq!(err("https://01"), err("https://x.org/"));
        assert_eq!(err("/01"), "ai 01 has no value");
        assert_eq!(err("/01/"), "ai 01 has no value");
        assert_eq!(err("/01/09506000134352/10"), "ai 10 has no value");
        assert_eq!(err("/01/09506000134352/10//21/1"), "ai 10 has no value");
        assert_eq!(
            err("/01/09506000134353"),
            "ai 01 segment '09506000134353': gtin check digit is 3, expected 2"
        );
        assert_eq!(
            err("/00/106141412345678909"),
            "ai 00 segment '106141412345678909': sscc check digit is 9, expected 8"
        );
        assert_eq!(
            err("/01/09506000134352/21/A%7E1"),
            "ai 21 segment 'A%7E1': serial contains '~' at position 2, which is not in GS1 character set 82"
        );
        assert_eq!(
            err("/01/09506000134352/10/ABCDEFGHIJKLMNOPQRSTU"),
            "ai 10 segment 'ABCDEFGHIJKLMNOPQRSTU': lot is 21 characters, at most 20 allowed"
        );
        assert_eq!(
            err("/01/09506000134352/10/A%2"),
            "ai 10 segment 'A%2' has a '%' that is not followed by two hex digits"
        );
        assert_eq!(
            err("/01/09506000134352/10/A%FF"),
            "ai 10 segment 'A%FF' percent-decodes to invalid utf-8"
        );
        assert_eq!(
            err("/01/09506000134352/22/V1/10/A"),
            "qualifier ai 22 (consumer product variant) is not supported"
        );
        assert_eq!(
            err("/01/09506000134352/17/251231"),
            "unexpected segment '17' after the gtin, expected qualifier 10 (lot) or 21 (serial)"
        );
        assert_eq!(
            err("/01/09506000134352/10/A/10/B"),
            "qualifier ai 10 appears more than once"
        );
        assert_eq!(
            err("/01/09506000134352/21/A/21/B"),
            "qualifier ai 21 appears more than once"
        );
        assert_eq!(
            err("/01/09506000134352/21/A/10/B"),
            "qualifier ai 10 (lot) must come before ai 21 (serial)"
        );
        assert_eq!(
            err("/01/09506000134352/21/A/"),
            "empty path segment after the ai 21 value (a '//' or a trailing '/')"
        );
        assert_eq!(
            err("/00/106141412345678908/21/1"),
            "unexpected segment '21' after the sscc, which takes no qualifiers"
        );
        assert_eq!(
            err("/00/106141412345678908/"),
            "empty path segment after the ai 00 value (a '//' or a trailing '/')"
        );
    }
}
