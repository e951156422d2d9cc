//! Append-only segment files holding block records.
//!
//! A segment is `seg-<n>.tcb` (n from 0, eight digits); it holds frames
//! `len (u32 BE) ‖ crc (u32 BE) ‖ topic offset (i64 BE) ‖ record`, one per
//! block, in height order, where `crc` is the CRC-32C of the topic offset
//! and the record, and the topic offset is where the block sits in
//! `ledger.blocks`. Only the last segment is ever written; a new one starts
//! when it passes the roll size. A frame is durable once [`Segments::sync`]
//! returned after it was appended (fdatasync of the file, and of the
//! directory when a segment was created).
//!
//! Reads go through positioned reads (`pread`) on shared handles, so readers
//! never wait for the writer.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use super::StoreError;

/// Bytes before each record: length, CRC-32C and topic offset.
pub(crate) const FRAME_HEADER: u64 = 16;

/// Where a record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    /// Segment number.
    pub(crate) segment: u32,
    /// Offset of the frame (its length field) in the segment.
    pub(crate) offset: u64,
    /// Length of the record (without the frame header).
    pub(crate) len: u32,
}

impl Location {
    /// Offset of the record's first byte.
    pub(crate) fn record_offset(&self) -> u64 {
        self.offset + FRAME_HEADER
    }
}

/// One frame met while scanning.
#[derive(Debug)]
pub(crate) enum Scanned {
    /// A complete frame whose checksum matches: where, its topic offset, the record.
    Frame(Location, i64, Vec<u8>),
    /// A frame that is incomplete or whose checksum does not match.
    Bad {
        /// Where it starts.
        segment: u32,
        /// Its offset.
        offset: u64,
        /// What is wrong.
        reason: String,
        /// Whether it is the last thing in the last segment (a torn write).
        at_tail: bool,
    },
}

#[derive(Debug)]
struct Active {
    segment: u32,
    file: File,
    len: u64,
    /// Whether the directory entry of this segment still needs an fsync.
    new: bool,
}

/// The segment files of one store.
#[derive(Debug)]
pub(crate) struct Segments {
    dir: PathBuf,
    roll_bytes: u64,
    /// Read handles, by segment number.
    readers: RwLock<Vec<Arc<File>>>,
    active: std::sync::Mutex<Active>,
}

fn segment_path(dir: &Path, segment: u32) -> PathBuf {
    dir.join(format!("seg-{segment:08}.tcb"))
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

impl Segments {
    /// Opens the segments in `dir` (creating the first when there is none).
    pub(crate) fn open(dir: &Path, roll_bytes: u64) -> Result<Segments, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_error(format!("create {}", dir.display())))?;
        let mut count = 0u32;
        while segment_path(dir, count).exists() {
            count += 1;
        }
        let mut readers = Vec::new();
        for segment in 0..count {
            let path = segment_path(dir, segment);
            let file = File::open(&path).map_err(io_error(format!("open {}", path.display())))?;
            readers.push(Arc::new(file));
        }
        let last = count.saturating_sub(1);
        let path = segment_path(dir, last);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(format!("open {}", path.display())))?;
        let len = file
            .metadata()
            .map_err(io_error(format!("stat {}", path.display())))?
            .len();
        if count == 0 {
            let reader = File::open(&path).map_err(io_error(format!("open {}", path.display())))?;
            readers.push(Arc::new(reader));
        }
        Ok(Segments {
            dir: dir.to_owned(),
            roll_bytes,
            readers: RwLock::new(readers),
            active: std::sync::Mutex::new(Active {
                segment: last,
                file,
                len,
                new: count == 0,
            }),
        })
    }

    fn reader(&self, segment: u32) -> Result<Arc<File>, StoreError> {
        let readers = self.readers.read().unwrap_or_else(PoisonError::into_inner);
        readers
            .get(segment as usize)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("segment {segment} does not exist")))
    }

    /// Reads `len` bytes at `offset` of `segment`.
    pub(crate) fn read_at(
        &self,
        segment: u32,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, StoreError> {
        let file = self.reader(segment)?;
        let mut buf = vec![0; len];
        file.read_exact_at(&mut buf, offset)
            .map_err(io_error(format!("read segment {segment} at {offset}")))?;
        Ok(buf)
    }

    /// Reads the record at `at`.
    pub(crate) fn read_record(&self, at: Location) -> Result<Vec<u8>, StoreError> {
        self.read_at(at.segment, at.record_offset(), at.len as usize)
    }

    /// Appends one frame per record (not yet durable: call [`sync`](Self::sync)).
    pub(crate) fn append(&self, records: &[(i64, Vec<u8>)]) -> Result<Vec<Location>, StoreError> {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        let mut locations = Vec::with_capacity(records.len());
        for (topic_offset, record) in records {
            if active.len >= self.roll_bytes {
                self.roll(&mut active)?;
            }
            let len = u32::try_from(record.len())
                .map_err(|_| StoreError::Corrupt("a block record exceeds 4 GiB".to_owned()))?;
            let mut frame = Vec::with_capacity(record.len() + FRAME_HEADER as usize);
            let offset_bytes = topic_offset.to_be_bytes();
            frame.extend_from_slice(&len.to_be_bytes());
            frame.extend_from_slice(&frame_crc(&offset_bytes, record).to_be_bytes());
            frame.extend_from_slice(&offset_bytes);
            frame.extend_from_slice(record);
            let segment = active.segment;
            active
                .file
                .write_all(&frame)
                .map_err(io_error(format!("append to segment {segment}")))?;
            locations.push(Location {
                segment,
                offset: active.len,
                len,
            });
            active.len += frame.len() as u64;
        }
        Ok(locations)
    }

    /// Makes everything appended so far durable.
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        let segment = active.segment;
        active
            .file
            .sync_data()
            .map_err(io_error(format!("fsync segment {segment}")))?;
        if active.new {
            sync_dir(&self.dir)?;
            active.new = false;
        }
        Ok(())
    }

    /// Closes the active segment (durably) and starts the next one.
    fn roll(&self, active: &mut Active) -> Result<(), StoreError> {
        active
            .file
            .sync_data()
            .map_err(io_error(format!("fsync segment {}", active.segment)))?;
        let next = active.segment + 1;
        let path = segment_path(&self.dir, next);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(format!("create {}", path.display())))?;
        let reader = File::open(&path).map_err(io_error(format!("open {}", path.display())))?;
        self.readers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(reader));
        *active = Active {
            segment: next,
            file,
            len: 0,
            new: true,
        };
        Ok(())
    }

    /// Cuts the last segment at `offset` (dropping a torn tail), durably.
    pub(crate) fn truncate_tail(&self, segment: u32, offset: u64) -> Result<(), StoreError> {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        if segment != active.segment {
            return Err(StoreError::Corrupt(format!(
                "a damaged frame in segment {segment}, which is not the last one"
            )));
        }
        active
            .file
            .set_len(offset)
            .and_then(|()| active.file.sync_all())
            .map_err(io_error(format!("truncate segment {segment}")))?;
        active.len = offset;
        Ok(())
    }

    /// Every frame from the start, in order, calling `visit` for each; stops
    /// at the first bad frame (which is passed to `visit` too).
    pub(crate) fn scan(
        &self,
        mut visit: impl FnMut(Scanned) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let count = self
            .readers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len() as u32;
        for segment in 0..count {
            let file = self.reader(segment)?;
            let size = file
                .metadata()
                .map_err(io_error(format!("stat segment {segment}")))?
                .len();
            let last = segment + 1 == count;
            let mut offset = 0;
            while offset < size {
                let bad = |reason: String, at_tail: bool| Scanned::Bad {
                    segment,
                    offset,
                    reason,
                    at_tail: last && at_tail,
                };
                if size - offset < FRAME_HEADER {
                    return visit(bad("incomplete frame header".to_owned(), true));
                }
                let mut head = [0u8; FRAME_HEADER as usize];
                file.read_exact_at(&mut head, offset)
                    .map_err(io_error(format!("read segment {segment}")))?;
                let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
                let offset_bytes: [u8; 8] = [
                    head[8], head[9], head[10], head[11], head[12], head[13], head[14], head[15],
                ];
                let end = offset + FRAME_HEADER + u64::from(len);
                if end > size {
                    return visit(bad(format!("frame of {len} bytes runs past the end"), true));
                }
                let mut record = vec![0; len as usize];
                file.read_exact_at(&mut record, offset + FRAME_HEADER)
                    .map_err(io_error(format!("read segment {segment}")))?;
                if frame_crc(&offset_bytes, &record) != crc {
                    return visit(bad("checksum mismatch".to_owned(), end == size));
                }
                visit(Scanned::Frame(
                    Location {
                        segment,
                        offset,
                        len,
                    },
                    i64::from_be_bytes(offset_bytes),
                    record,
                ))?;
                offset = end;
            }
        }
        Ok(())
    }
}

fn frame_crc(topic_offset: &[u8; 8], record: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(topic_offset), record)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(format!("fsync {}", dir.display())))
}
