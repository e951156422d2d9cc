//! One partition of the embedded bus: an append-only log of segment files
//! with an in-memory index from offset to file position.
//!
//! Invariants:
//! - offsets are consecutive from 0; `next_offset` is the high watermark;
//! - an append is written and fsync'd (`sync_data`) before it returns, and
//!   appends are serialized by the state lock, so only the last batch can
//!   ever be torn (see `segment`);
//! - bytes below a segment's recorded `size` never change, so readers copy
//!   the index under the lock and read the file outside it;
//! - a failed append is cut back off the file and leaves the log unchanged.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::BusError;
use crate::outgoing::OutgoingRecord;
use crate::record::Record;

use super::fsutil;
use super::segment::{self, IndexEntry};

/// A segment file: `base` is the offset of its first record.
#[derive(Debug)]
struct Segment {
    /// Offset of its first record (and its file name).
    base: i64,
    /// The file, for positional reads and writes.
    file: Arc<File>,
    /// Path, for errors.
    path: PathBuf,
    /// Bytes of valid data; writes go here.
    size: u64,
    /// Entry `i` locates offset `base + i`.
    index: Vec<IndexEntry>,
}

#[derive(Debug)]
struct LogState {
    /// Segments in offset order; never empty.
    segments: Vec<Segment>,
    /// The next offset to be written.
    next_offset: i64,
}

/// One partition's log.
#[derive(Debug)]
pub(crate) struct PartitionLog {
    topic: String,
    partition: i32,
    dir: PathBuf,
    state: Mutex<LogState>,
}

fn segment_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

fn open_segment_file(path: &Path, create: bool) -> Result<File, BusError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
        .map_err(|e| BusError::io(path, e))
}

impl PartitionLog {
    /// Creates the (empty) log of `partition` in `dir`, durably.
    pub(crate) fn create(topic: &str, partition: i32, dir: &Path) -> Result<(), BusError> {
        fs::create_dir_all(dir).map_err(|e| BusError::io(dir, e))?;
        let path = segment_path(dir, 0);
        open_segment_file(&path, true)?
            .sync_all()
            .map_err(|e| BusError::io(&path, e))?;
        fsutil::sync_dir(dir)?;
        tracing::trace!(topic, partition, "Partition log created");
        Ok(())
    }

    /// Opens the log in `dir`, recovering it: a torn tail is cut off (and
    /// logged), corruption anywhere else is an error.
    pub(crate) fn open(topic: &str, partition: i32, dir: &Path) -> Result<PartitionLog, BusError> {
        let mut bases = Vec::new();
        let entries = fs::read_dir(dir).map_err(|e| BusError::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| BusError::io(dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(stem) = name.strip_suffix(".log") {
                let base = stem.parse::<i64>().map_err(|_| {
                    BusError::corrupt(entry.path(), "segment file name is not an offset")
                })?;
                bases.push(base);
            }
        }
        bases.sort_unstable();
        if bases.is_empty() {
            return Err(BusError::corrupt(dir, "partition has no segment file"));
        }
        let mut segments = Vec::with_capacity(bases.len());
        let mut next_offset = 0i64;
        let count = bases.len();
        for (i, base) in bases.into_iter().enumerate() {
            let path = segment_path(dir, base);
            if base != next_offset {
                return Err(BusError::corrupt(
                    &path,
                    format!("segment starts at offset {base}, expected {next_offset}"),
                ));
            }
            let bytes = fs::read(&path).map_err(|e| BusError::io(&path, e))?;
            let last = i + 1 == count;
            let scanned = segment::scan(&path, &bytes, base, last)?;
            let file = open_segment_file(&path, false)?;
            if let Some(why) = &scanned.torn {
                tracing::warn!(
                    topic, partition, path = %path.display(), reason = %why,
                    kept_bytes = scanned.valid_len, dropped_bytes = bytes.len() as u64 - scanned.valid_len,
                    "Torn tail cut off (a write interrupted by a crash, never acknowledged)"
                );
                file.set_len(scanned.valid_len)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| BusError::io(&path, e))?;
            }
            next_offset = base + scanned.index.len() as i64;
            segments.push(Segment {
                base,
                file: Arc::new(file),
                path,
                size: scanned.valid_len,
                index: scanned.index,
            });
        }
        Ok(PartitionLog {
            topic: topic.to_owned(),
            partition,
            dir: dir.to_owned(),
            state: Mutex::new(LogState {
                segments,
                next_offset,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        // A panic while holding the lock cannot leave the state inconsistent
        // (it is updated only after a successful write), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next offset to be written.
    pub(crate) fn end_offset(&self) -> i64 {
        self.lock().next_offset
    }

    /// Appends `records` with one write and one fsync; returns the offset of
    /// the first. Rolls to a new segment first when the current one has
    /// reached `max_segment_bytes`.
    pub(crate) fn append(
        &self,
        records: &[&OutgoingRecord],
        timestamp_ms: i64,
        max_segment_bytes: u64,
    ) -> Result<i64, BusError> {
        let mut state = self.lock();
        let first = state.next_offset;
        if records.is_empty() {
            return Ok(first);
        }
        let needs_roll = state
            .segments
            .last()
            .is_none_or(|s| s.size >= max_segment_bytes && !s.index.is_empty());
        if needs_roll {
            let path = segment_path(&self.dir, first);
            let file = open_segment_file(&path, true)?;
            fsutil::sync_dir(&self.dir)?;
            tracing::debug!(topic = %self.topic, partition = self.partition, base = first, "Segment rolled");
            state.segments.push(Segment {
                base: first,
                file: Arc::new(file),
                path,
                size: 0,
                index: Vec::new(),
            });
        }
        let Some(segment) = state.segments.last_mut() else {
            // Unreachable: a segment was just pushed if there was none.
            return Err(BusError::corrupt(&self.dir, "partition has no segment"));
        };
        let (bytes, index) = segment::encode_batches(first, records, timestamp_ms, segment.size);
        let written = segment
            .file
            .write_all_at(&bytes, segment.size)
            .and_then(|()| segment.file.sync_data());
        if let Err(error) = written {
            // Cut the partial write off so the log stays as it was; if even
            // that fails, the next append overwrites it and recovery would
            // treat it as a torn tail.
            let _ = segment.file.set_len(segment.size);
            return Err(BusError::io(&segment.path, error));
        }
        segment.size += bytes.len() as u64;
        segment.index.extend(index);
        state.next_offset += records.len() as i64;
        Ok(first)
    }

    /// Up to `max` records from offset `from` (blocking file reads).
    pub(crate) fn read(&self, from: i64, max: usize) -> Result<Vec<Record>, BusError> {
        // Copy what to read under the lock; read the files outside it.
        let mut plan: Vec<(Arc<File>, PathBuf, i64, Vec<IndexEntry>)> = Vec::new();
        {
            let state = self.lock();
            let mut offset = from.max(0);
            let mut left = max;
            let start = state
                .segments
                .partition_point(|s| s.base <= offset)
                .saturating_sub(1);
            for segment in &state.segments[start..] {
                if left == 0 || offset >= state.next_offset {
                    break;
                }
                let Ok(skip) = usize::try_from(offset - segment.base) else {
                    continue;
                };
                if skip >= segment.index.len() {
                    continue;
                }
                let take = left.min(segment.index.len() - skip);
                plan.push((
                    Arc::clone(&segment.file),
                    segment.path.clone(),
                    offset,
                    segment.index[skip..skip + take].to_vec(),
                ));
                offset += take as i64;
                left -= take;
            }
        }
        let mut out = Vec::new();
        for (file, path, first_offset, entries) in plan {
            let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
                continue;
            };
            let start = first.pos;
            let end = last.pos + u64::from(last.len);
            let len = usize::try_from(end - start)
                .map_err(|_| BusError::corrupt(&path, "read range too large"))?;
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, start)
                .map_err(|e| BusError::io(&path, e))?;
            for (i, entry) in entries.iter().enumerate() {
                let at = (entry.pos - start) as usize;
                let bytes = buf
                    .get(at..at + entry.len as usize)
                    .ok_or_else(|| BusError::corrupt(&path, "index points past the read range"))?;
                let stored = segment::decode_record(bytes).map_err(|why| {
                    BusError::corrupt(&path, format!("record at byte {}: {why}", entry.pos))
                })?;
                out.push(Record {
                    topic: self.topic.clone(),
                    partition: self.partition,
                    offset: first_offset + i as i64,
                    key: stored.key,
                    headers: stored.headers,
                    payload: stored.payload,
                    timestamp_ms: Some(stored.timestamp_ms),
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::Headers;

    fn rec(n: usize) -> OutgoingRecord {
        OutgoingRecord {
            key: Some(format!("k{n}").into_bytes()),
            headers: Headers::new().into(),
            payload: format!("payload {n}").into_bytes(),
        }
    }

    #[test]
    fn appends_roll_segments_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0");
        PartitionLog::create("t", 0, &p).unwrap();
        let log = PartitionLog::open("t", 0, &p).unwrap();
        let records: Vec<_> = (0..50).map(rec).collect();
        for chunk in records.chunks(7) {
            let refs: Vec<_> = chunk.iter().collect();
            log.append(&refs, 1, 200).unwrap();
        }
        assert_eq!(log.end_offset(), 50);
        let segments = fs::read_dir(&p).unwrap().count();
        assert!(segments > 3, "expected rolled segments, got {segments}");
        let check = |log: &PartitionLog| {
            let all = log.read(0, 1000).unwrap();
            assert_eq!(all.len(), 50);
            for (i, r) in all.iter().enumerate() {
                assert_eq!(r.offset, i as i64);
                assert_eq!(r.payload, format!("payload {i}").into_bytes());
            }
            let some = log.read(13, 9).unwrap();
            assert_eq!(
                some.iter().map(|r| r.offset).collect::<Vec<_>>(),
                (13..22).collect::<Vec<_>>()
            );
            assert!(log.read(50, 10).unwrap().is_empty());
        };
        check(&log);
        drop(log);
        let log = PartitionLog::open("t", 0, &p).unwrap();
        check(&log);
        assert_eq!(log.append(&[&rec(50)], 1, 200).unwrap(), 50);
    }
}
