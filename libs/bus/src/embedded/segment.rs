//! The on-disk format of the embedded bus's segment files, and the scan that
//! recovers one after a crash.
//!
//! A segment file (`<base offset, 20 digits>.log`) is a sequence of batches,
//! one per append (an append is fsync'd before it is acknowledged and before
//! the next append starts, so only the LAST batch of the LAST segment can be
//! torn by a crash). Integers are little-endian.
//!
//! ```text
//! batch  := magic "TCB1" | base_offset i64 | record_count u32 | body_len u32
//!           | body_crc u32 (CRC32C of body) | header_crc u32 (CRC32C of the 24 bytes before)
//!           | body
//! body   := record*                       (record_count of them, exactly body_len bytes)
//! record := record_len u32 | timestamp_ms i64 | key_len i32 (-1: no key) | key
//!           | header_count u32 | (name_len u32 | name (UTF-8) | value_len u32 | value)*
//!           | payload_len u32 | payload
//! ```
//!
//! Recovery rule ([`scan`]): a damaged batch that can be the product of an
//! interrupted write — an incomplete header, a header of zeros, a body running
//! past the end of the file, or a bad body checksum on the very last batch —
//! at the end of the last segment is a **torn tail** and is cut off. Anything
//! else (a bad batch followed by more data, a bad header, a wrong base
//! offset, damage in a sealed segment) is **corruption** and opening fails:
//! acknowledged records are never dropped silently.

use std::path::Path;

use crate::error::BusError;
use crate::headers::Headers;
use crate::outgoing::OutgoingRecord;

/// The first four bytes of every batch.
pub(crate) const MAGIC: [u8; 4] = *b"TCB1";
/// Bytes of a batch header.
pub(crate) const BATCH_HEADER_LEN: usize = 28;
/// Largest body of one batch; bigger appends are split into several batches
/// (still one fsync).
pub(crate) const MAX_BATCH_BODY: usize = 64 << 20;

/// Where one record sits in a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    /// File position of the record's `record_len` field.
    pub(crate) pos: u64,
    /// Bytes of the record including its `record_len` field.
    pub(crate) len: u32,
}

/// A record decoded from a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredRecord {
    /// Milliseconds since the Unix epoch when it was appended.
    pub(crate) timestamp_ms: i64,
    /// Its key.
    pub(crate) key: Option<Vec<u8>>,
    /// Its headers.
    pub(crate) headers: Headers,
    /// Its payload.
    pub(crate) payload: Vec<u8>,
}

/// Bytes `record` takes in a batch body.
pub(crate) fn encoded_len(record: &OutgoingRecord) -> usize {
    let headers: usize = record
        .headers
        .iter()
        .map(|(n, v)| 8 + n.len() + v.len())
        .sum();
    4 + 8 + 4 + record.key.as_ref().map_or(0, Vec::len) + 4 + headers + 4 + record.payload.len()
}

/// Encodes `records` as one or more batches starting at `base_offset`, to be
/// written at file position `file_pos`. Returns the bytes and one index entry
/// per record. Each record must be smaller than [`MAX_BATCH_BODY`] (checked by
/// the caller against a much smaller limit).
pub(crate) fn encode_batches(
    base_offset: i64,
    records: &[&OutgoingRecord],
    timestamp_ms: i64,
    file_pos: u64,
) -> (Vec<u8>, Vec<IndexEntry>) {
    let total: usize = records.iter().map(|r| encoded_len(r)).sum();
    let mut out = Vec::with_capacity(total + BATCH_HEADER_LEN * (1 + total / MAX_BATCH_BODY));
    let mut index = Vec::with_capacity(records.len());
    let mut next_offset = base_offset;
    let mut rest = records;
    while !rest.is_empty() {
        // Take as many records as fit in one body (at least one).
        let mut body_len = 0usize;
        let mut count = 0usize;
        for r in rest {
            let len = encoded_len(r);
            if count > 0 && body_len + len > MAX_BATCH_BODY {
                break;
            }
            body_len += len;
            count += 1;
        }
        let (chunk, tail) = rest.split_at(count);
        rest = tail;

        let header_at = out.len();
        out.resize(header_at + BATCH_HEADER_LEN, 0);
        let body_at = out.len();
        for r in chunk {
            let pos = file_pos + out.len() as u64;
            let len = encoded_len(r);
            index.push(IndexEntry {
                pos,
                len: len as u32,
            });
            encode_record(&mut out, r, timestamp_ms, len);
        }
        let body_crc = crc32c::crc32c(&out[body_at..]);
        let mut header = [0u8; BATCH_HEADER_LEN];
        header[0..4].copy_from_slice(&MAGIC);
        header[4..12].copy_from_slice(&next_offset.to_le_bytes());
        header[12..16].copy_from_slice(&(count as u32).to_le_bytes());
        header[16..20].copy_from_slice(&(body_len as u32).to_le_bytes());
        header[20..24].copy_from_slice(&body_crc.to_le_bytes());
        let header_crc = crc32c::crc32c(&header[0..24]);
        header[24..28].copy_from_slice(&header_crc.to_le_bytes());
        out[header_at..body_at].copy_from_slice(&header);
        next_offset += count as i64;
    }
    (out, index)
}

fn encode_record(out: &mut Vec<u8>, r: &OutgoingRecord, timestamp_ms: i64, len: usize) {
    out.extend_from_slice(&((len - 4) as u32).to_le_bytes());
    out.extend_from_slice(&timestamp_ms.to_le_bytes());
    match &r.key {
        Some(key) => {
            out.extend_from_slice(&(key.len() as i32).to_le_bytes());
            out.extend_from_slice(key);
        }
        None => out.extend_from_slice(&(-1i32).to_le_bytes()),
    }
    out.extend_from_slice(&(r.headers.len() as u32).to_le_bytes());
    for (name, value) in r.headers.iter() {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    }
    out.extend_from_slice(&(r.payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&r.payload);
}

/// A bounds-checked reader over a byte slice: never panics, `None` when the
/// bytes run out.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|b| b.try_into().ok())
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn i32(&mut self) -> Option<i32> {
        self.array().map(i32::from_le_bytes)
    }

    fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }

    fn bytes_u32(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()?;
        self.take(usize::try_from(len).ok()?)
    }
}

/// Decodes one record (starting at its `record_len` field); the error says
/// what is malformed.
pub(crate) fn decode_record(bytes: &[u8]) -> Result<StoredRecord, &'static str> {
    let mut c = Cursor { bytes };
    let len = c.u32().ok_or("record length is cut off")?;
    let body = c
        .take(usize::try_from(len).map_err(|_| "record length overflows")?)
        .ok_or("record runs past its batch")?;
    let mut c = Cursor { bytes: body };
    let timestamp_ms = c.i64().ok_or("timestamp is cut off")?;
    let key_len = c.i32().ok_or("key length is cut off")?;
    let key = match key_len {
        -1 => None,
        n => {
            let n = usize::try_from(n).map_err(|_| "key length is negative")?;
            Some(c.take(n).ok_or("key is cut off")?.to_vec())
        }
    };
    let count = c.u32().ok_or("header count is cut off")?;
    let mut headers = Headers::new();
    for _ in 0..count {
        let name = c.bytes_u32().ok_or("header name is cut off")?;
        let name = std::str::from_utf8(name).map_err(|_| "header name is not utf-8")?;
        let value = c.bytes_u32().ok_or("header value is cut off")?;
        headers.append(name, value.to_vec());
    }
    let payload = c.bytes_u32().ok_or("payload is cut off")?.to_vec();
    if !c.bytes.is_empty() {
        return Err("record has trailing bytes");
    }
    Ok(StoredRecord {
        timestamp_ms,
        key,
        headers,
        payload,
    })
}

/// What [`scan`] found in a segment file.
#[derive(Debug)]
pub(crate) struct Scanned {
    /// One entry per valid record, in offset order.
    pub(crate) index: Vec<IndexEntry>,
    /// Length of the valid prefix: the file is truncated to it when longer.
    pub(crate) valid_len: u64,
    /// Why the bytes after `valid_len` were dropped, if they were.
    pub(crate) torn: Option<String>,
}

/// Scans the bytes of segment `path` whose first record has offset
/// `base_offset`. `last` says whether it is the partition's last segment (the
/// only one whose tail may be torn). See the module docs for the rule.
pub(crate) fn scan(
    path: &Path,
    bytes: &[u8],
    base_offset: i64,
    last: bool,
) -> Result<Scanned, BusError> {
    let mut index = Vec::new();
    let mut pos = 0usize;
    let mut next_offset = base_offset;
    let torn = |index: Vec<IndexEntry>, pos: usize, why: String| {
        if last {
            Ok(Scanned {
                index,
                valid_len: pos as u64,
                torn: Some(why),
            })
        } else {
            Err(BusError::corrupt(
                path,
                format!("{why} in a sealed segment"),
            ))
        }
    };
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.len() < BATCH_HEADER_LEN {
            return torn(index, pos, format!("incomplete batch header at byte {pos}"));
        }
        let header = &rest[..BATCH_HEADER_LEN];
        if header.iter().all(|b| *b == 0) && rest.iter().all(|b| *b == 0) {
            return torn(index, pos, format!("zero-filled tail at byte {pos}"));
        }
        let mut c = Cursor { bytes: header };
        let magic: [u8; 4] = c.array().unwrap_or_default();
        let batch_base = c.i64().unwrap_or_default();
        let count = c.u32().unwrap_or_default();
        let body_len = c.u32().unwrap_or_default() as usize;
        let body_crc = c.u32().unwrap_or_default();
        let header_crc = c.u32().unwrap_or_default();
        if magic != MAGIC || header_crc != crc32c::crc32c(&header[..24]) {
            return Err(BusError::corrupt(
                path,
                format!("batch header at byte {pos} is damaged (bad magic or checksum)"),
            ));
        }
        if batch_base != next_offset {
            return Err(BusError::corrupt(
                path,
                format!(
                    "batch at byte {pos} starts at offset {batch_base}, expected {next_offset}"
                ),
            ));
        }
        let body_end = BATCH_HEADER_LEN + body_len;
        if rest.len() < body_end {
            return torn(
                index,
                pos,
                format!(
                    "batch at byte {pos} ends {} bytes past the end of the file",
                    body_end - rest.len()
                ),
            );
        }
        let body = &rest[BATCH_HEADER_LEN..body_end];
        if crc32c::crc32c(body) != body_crc {
            if rest.len() == body_end {
                return torn(
                    index,
                    pos,
                    format!("last batch at byte {pos} fails its checksum"),
                );
            }
            return Err(BusError::corrupt(
                path,
                format!("batch at byte {pos} fails its checksum and more data follows it"),
            ));
        }
        // The checksum holds: the records must tile the body exactly.
        let mut at = 0usize;
        for i in 0..count {
            let record = &body[at..];
            let len = Cursor { bytes: record }
                .u32()
                .map(|l| l as usize + 4)
                .filter(|l| *l <= record.len());
            let Some(len) = len else {
                return Err(BusError::corrupt(
                    path,
                    format!("record {i} of the batch at byte {pos} runs past the batch"),
                ));
            };
            if let Err(why) = decode_record(&record[..len]) {
                return Err(BusError::corrupt(
                    path,
                    format!("record {i} of the batch at byte {pos}: {why}"),
                ));
            }
            index.push(IndexEntry {
                pos: (pos + BATCH_HEADER_LEN + at) as u64,
                len: len as u32,
            });
            at += len;
        }
        if at != body.len() {
            return Err(BusError::corrupt(
                path,
                format!(
                    "batch at byte {pos} has {} bytes after its {count} records",
                    body.len() - at
                ),
            ));
        }
        next_offset += i64::from(count);
        pos += body_end;
    }
    Ok(Scanned {
        index,
        valid_len: pos as u64,
        torn: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: Option<&str>, payload: &str) -> OutgoingRecord {
        let mut headers = Headers::new();
        headers.append("h", b"v".to_vec());
        headers.append("h", b"".to_vec());
        OutgoingRecord {
            key: key.map(|k| k.as_bytes().to_vec()),
            headers: headers.into(),
            payload: payload.as_bytes().to_vec(),
        }
    }

    fn two_batches() -> (Vec<u8>, Vec<IndexEntry>) {
        let (r1, r2, r3) = (rec(Some("k"), "one"), rec(None, "two"), rec(Some(""), ""));
        let (mut bytes, mut index) = encode_batches(0, &[&r1, &r2], 42, 0);
        let (b2, i2) = encode_batches(2, &[&r3], 43, bytes.len() as u64);
        bytes.extend(b2);
        index.extend(i2);
        (bytes, index)
    }

    #[test]
    fn records_round_trip_and_scan_rebuilds_the_index() {
        let (bytes, index) = two_batches();
        let scanned = scan(Path::new("x"), &bytes, 0, true).unwrap();
        assert_eq!(scanned.index, index);
        assert_eq!(scanned.valid_len, bytes.len() as u64);
        assert!(scanned.torn.is_none());
        let at = |e: IndexEntry| &bytes[e.pos as usize..(e.pos + u64::from(e.len)) as usize];
        let first = decode_record(at(index[0])).unwrap();
        assert_eq!(first.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(first.payload, b"one");
        assert_eq!(first.timestamp_ms, 42);
        assert_eq!(first.headers.len(), 2);
        assert_eq!(decode_record(at(index[1])).unwrap().key, None);
        assert_eq!(decode_record(at(index[2])).unwrap().key, Some(vec![]));
    }

    #[test]
    fn every_truncation_of_the_last_batch_is_a_torn_tail() {
        let (bytes, index) = two_batches();
        let second_batch_at = index[2].pos as usize - BATCH_HEADER_LEN;
        for cut in second_batch_at..bytes.len() {
            let scanned = scan(Path::new("x"), &bytes[..cut], 0, true).unwrap();
            assert_eq!(scanned.valid_len, second_batch_at as u64, "cut at {cut}");
            assert_eq!(scanned.index.len(), 2);
            assert_eq!(scanned.torn.is_some(), cut > second_batch_at);
            // In a sealed segment the same bytes are corruption.
            if cut > second_batch_at {
                assert!(scan(Path::new("x"), &bytes[..cut], 0, false).is_err());
            }
        }
    }

    #[test]
    fn damage_before_the_end_is_corruption_and_garbage_never_panics() {
        let (bytes, _) = two_batches();
        // A flipped bit in the first batch's body, with the second batch after it.
        let mut damaged = bytes.clone();
        damaged[BATCH_HEADER_LEN + 6] ^= 1;
        let err = scan(Path::new("seg"), &damaged, 0, true).unwrap_err();
        assert!(
            err.to_string()
                .contains("fails its checksum and more data follows"),
            "{err}"
        );
        // A flipped bit in the last batch's body: torn (an interrupted write).
        let mut damaged = bytes.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(
            scan(Path::new("seg"), &damaged, 0, true)
                .unwrap()
                .torn
                .is_some()
        );
        // A damaged header is corruption.
        let mut damaged = bytes.clone();
        damaged[5] ^= 1;
        assert!(scan(Path::new("seg"), &damaged, 0, true).is_err());
        // A wrong base offset is corruption.
        assert!(scan(Path::new("seg"), &bytes, 5, true).is_err());
        // Zeros at the end (a file extended but not written) are torn.
        let mut zeros = bytes.clone();
        zeros.extend([0u8; 100]);
        assert_eq!(
            scan(Path::new("seg"), &zeros, 0, true).unwrap().valid_len,
            bytes.len() as u64
        );
        // Arbitrary bytes: an error or a torn tail, never a panic.
        for seed in 0u32..200 {
            let noise: Vec<u8> = (0..(seed % 97))
                .map(|i| (i.wrapping_mul(2_654_435_761u32.wrapping_add(seed)) >> 13) as u8)
                .collect();
            let _ = scan(Path::new("seg"), &noise, 0, true);
            let _ = decode_record(&noise);
        }
    }

    #[test]
    fn large_appends_split_into_several_batches() {
        let big = OutgoingRecord {
            key: None,
            headers: Headers::new().into(),
            payload: vec![7u8; MAX_BATCH_BODY / 2],
        };
        let (bytes, index) = encode_batches(10, &[&big, &big, &big], 1, 0);
        let scanned = scan(Path::new("x"), &bytes, 10, true).unwrap();
        assert_eq!(scanned.index, index);
        assert_eq!(index.len(), 3);
    }
}
