//! Serialising items: the request body, its validation, and the serials the
//! server issues when asked for a count.
//!
//! Server-issued serials are 12 characters of the RFC 4648 base32 alphabet
//! (`A-Z 2-7`, a subset of GS1 character set 82, no `0`/`1`/`8`/`9` to
//! confuse with letters): 60 random bits from the operating system's
//! generator, checked against the serials already issued for the GTIN and
//! within the batch, and drawn again on a collision.

use std::collections::HashSet;

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use tracechain_domain::Serial;
use tracechain_http::FieldError;
use utoipa::ToSchema;

use super::Violations;

/// The most items one request (one `items.serialized` event) may carry.
pub const MAX_ITEMS_PER_EVENT: usize = 10_000;

/// Characters of a server-issued serial.
pub const GENERATED_SERIAL_LEN: usize = 12;

/// RFC 4648 base32 alphabet.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Most field errors listed for one request (the first ones found).
const MAX_LISTED_ERRORS: usize = 20;

/// `POST /v1/products/{id}/lots/{lot}/items`: either the serials to register
/// or how many the server should issue — exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SerializeItems {
    /// The serials (AI 21) to register: 1 to 10,000, each 1 to 20 characters
    /// of GS1 character set 82, unique within the GTIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["SN-0001", "SN-0002"]))]
    pub serials: Option<Vec<String>>,
    /// How many items the server should serialise (1 to 10,000), with
    /// random 12-character serials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 100, minimum = 1, maximum = 10000)]
    pub count: Option<i64>,
}

/// What a valid [`SerializeItems`] asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemsCommand {
    /// Register exactly these serials, in this order.
    Given(Vec<Serial>),
    /// Issue this many serials.
    Generate(usize),
}

impl SerializeItems {
    /// Validates the request against `max` items (at most
    /// [`MAX_ITEMS_PER_EVENT`]); the error lists the invalid fields (for
    /// serials, up to 20 of them, as `serials[i]`).
    pub fn validate(&self, max: usize) -> Result<ItemsCommand, Vec<FieldError>> {
        let mut v = Violations::new();
        let command = match (&self.serials, self.count) {
            (Some(_), Some(_)) => {
                v.add("body", "give either `serials` or `count`, not both");
                None
            }
            (None, None) => {
                v.add(
                    "body",
                    "give either `serials` (a list) or `count` (a number)",
                );
                None
            }
            (None, Some(count)) => {
                if count < 1 || count > max as i64 {
                    v.add("count", format!("must be between 1 and {max}, got {count}"));
                    None
                } else {
                    usize::try_from(count).ok().map(ItemsCommand::Generate)
                }
            }
            (Some(serials), None) => {
                if serials.is_empty() {
                    v.add("serials", "must hold at least one serial");
                    None
                } else if serials.len() > max {
                    v.add(
                        "serials",
                        format!("has {} entries, at most {max} allowed", serials.len()),
                    );
                    None
                } else {
                    let mut parsed = Vec::with_capacity(serials.len());
                    let mut listed = 0;
                    for (i, serial) in serials.iter().enumerate() {
                        match Serial::parse(serial) {
                            Ok(serial) => parsed.push(serial),
                            Err(error) => {
                                if listed < MAX_LISTED_ERRORS {
                                    v.add(format!("serials[{i}]"), error.to_string());
                                }
                                listed += 1;
                            }
                        }
                    }
                    (listed == 0).then_some(ItemsCommand::Given(parsed))
                }
            }
        };
        v.finish(command)
    }
}

/// The first serial that appears twice in `serials`, if any.
pub fn first_duplicate(serials: &[Serial]) -> Option<&Serial> {
    let mut seen = HashSet::with_capacity(serials.len());
    serials.iter().find(|s| !seen.insert(s.as_str()))
}

/// Why serials could not be generated.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(String);

/// The serial spelled by the low 60 bits of `bits`, 5 bits a character.
fn serial_from_bits(mut bits: u64) -> Result<Serial, RandomError> {
    let mut text = String::with_capacity(GENERATED_SERIAL_LEN);
    for _ in 0..GENERATED_SERIAL_LEN {
        text.push(char::from(BASE32[(bits & 31) as usize]));
        bits >>= 5;
    }
    // 12 characters of A-Z2-7 are always a valid serial.
    Serial::parse(&text).map_err(|e| RandomError(e.to_string()))
}

/// `n` random 64-bit words from the operating system, in one call.
fn random_words(n: usize) -> Result<Vec<u64>, RandomError> {
    let mut bytes = vec![0u8; n * 8];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| RandomError(e.to_string()))?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

/// One random 12-character base32 serial.
pub fn random_serial() -> Result<Serial, RandomError> {
    serial_from_bits(random_words(1)?[0])
}

/// `count` distinct random serials, none for which `taken` is true.
pub fn generate_serials(
    count: usize,
    mut taken: impl FnMut(&Serial) -> bool,
) -> Result<Vec<Serial>, RandomError> {
    let mut seen = HashSet::with_capacity(count);
    let mut serials = Vec::with_capacity(count);
    while serials.len() < count {
        for bits in random_words(count - serials.len())? {
            let serial = serial_from_bits(bits)?;
            if taken(&serial) || !seen.insert(serial.clone()) {
                continue;
            }
            serials.push(serial);
        }
    }
    Ok(serials)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(serials: Option<Vec<&str>>, count: Option<i64>) -> SerializeItems {
        SerializeItems {
            serials: serials.map(|s| s.into_iter().map(str::to_owned).collect()),
            count,
        }
    }

    #[test]
    fn exactly_one_of_serials_and_count() {
        let errors = request(Some(vec!["A"]), Some(1)).validate(10).unwrap_err();
        assert_eq!(
            errors[0].message,
            "give either `serials` or `count`, not both"
        );
        assert!(request(None, None).validate(10).is_err());
        assert_eq!(
            request(None, Some(3)).validate(10).unwrap(),
            ItemsCommand::Generate(3)
        );
    }

    #[test]
    fn bounds_and_bad_serials_are_named() {
        let errors = request(None, Some(11)).validate(10).unwrap_err();
        assert_eq!(errors[0].field, "count");
        assert_eq!(errors[0].message, "must be between 1 and 10, got 11");
        let errors = request(Some(vec!["A"; 11]), None).validate(10).unwrap_err();
        assert_eq!(errors[0].message, "has 11 entries, at most 10 allowed");
        let long = "X".repeat(21);
        let errors = request(Some(vec!["OK", "A B", &long]), None)
            .validate(10)
            .unwrap_err();
        assert_eq!(errors[0].field, "serials[1]");
        assert_eq!(errors[1].field, "serials[2]");
        assert_eq!(
            errors[1].message,
            "serial is 21 characters, at most 20 allowed"
        );
    }

    #[test]
    fn finds_the_first_duplicate() {
        let serials: Vec<Serial> = ["A", "B", "C", "B", "A"]
            .iter()
            .map(|s| Serial::parse(s).unwrap())
            .collect();
        assert_eq!(first_duplicate(&serials).unwrap().as_str(), "B");
        assert!(first_duplicate(&serials[..3]).is_none());
    }

    #[test]
    fn generated_serials_are_distinct_base32_and_avoid_taken_ones() {
        let mut calls = 0;
        let serials = generate_serials(1000, |_| {
            calls += 1;
            calls == 1
        })
        .unwrap();
        assert_eq!(serials.len(), 1000);
        assert!(first_duplicate(&serials).is_none());
        for s in &serials {
            assert_eq!(s.as_str().len(), GENERATED_SERIAL_LEN);
            assert!(s.as_str().bytes().all(|b| BASE32.contains(&b)));
        }
    }
}
