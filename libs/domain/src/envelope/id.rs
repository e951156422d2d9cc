//! The envelope id rule: a UUIDv7 (RFC 9562), time-ordered so ids sort by
//! creation time and index well. Checked on construction and deserialization.

use serde::{Deserialize, Deserializer, de};
use uuid::{Uuid, Variant};

use super::EnvelopeError;

/// Accepts `id` only if it is an RFC 9562 version 7 UUID.
pub(crate) fn check_v7(id: Uuid) -> Result<Uuid, EnvelopeError> {
    if id.get_variant() != Variant::RFC4122 {
        return Err(EnvelopeError::IdVariant { id });
    }
    match id.get_version_num() {
        7 => Ok(id),
        version => Err(EnvelopeError::IdVersion { id, version }),
    }
}

pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
    check_v7(Uuid::deserialize(d)?).map_err(de::Error::custom)
}
