//! A read-only walk over a block store's segment files, for verifiers.
//!
//! [`StoreScan`] yields every stored block in height order with its offset in
//! `ledger.blocks`, decoding the frames of [`super::segments`] itself. It is
//! for `tracechain verify store`, which must not trust what it verifies, so:
//!
//! - it never opens the redb index (whose entries could point anywhere) and
//!   never writes: files are opened read-only, nothing is created, locked,
//!   truncated or repaired. It can run beside a live ledger;
//! - it checks framing only — lengths, each frame's CRC-32C and that the
//!   record decodes as a block ([`Block::from_record`]); signatures, links
//!   and roots are the caller's job (`tracechain_chain::ChainVerifier`);
//! - the first bad frame ends the walk and is reported as a [`BadFrame`]
//!   naming the height the block would have had (the number of good frames
//!   before it), its segment and its offset. Later frames are not read:
//!   after a damaged length field nothing further can be located.
//!
//! The set of segments and their sizes are taken when the scan opens, so a
//! scan beside a running ledger verifies the blocks stored at that moment.
//! One exception keeps that race-free: a frame cut short at the end of the
//! last segment may be an append still being written, so the scan waits up
//! to [`StoreScan::with_tail_wait`] for the file to grow to the frame's
//! length before reporting it truncated (it waits for nothing by default).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracechain_chain::Block;

use super::segments::FRAME_HEADER;

/// How often a scan looks again at a last segment that may be growing.
const TAIL_POLL: Duration = Duration::from_millis(20);

/// Why a frame is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadFrameKind {
    /// The segment ends inside the frame (a crash during an append, or a
    /// damaged length field).
    Truncated,
    /// The frame's CRC-32C does not match its contents.
    Checksum,
    /// The checksum matches but the record is not a well-formed block.
    Record,
    /// A segment file is missing although later ones exist.
    MissingSegment,
}

/// The first bad frame of a store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block {height}: frame at {} offset {offset}: {reason}", segment_file_name(*segment))]
pub struct BadFrame {
    /// The height the block would have: the number of good frames before it.
    pub height: u64,
    /// The segment number (`seg-<segment>.tcb`).
    pub segment: u32,
    /// Byte offset of the frame (its length field) in the segment.
    pub offset: u64,
    /// What kind of damage.
    pub kind: BadFrameKind,
    /// What is wrong, for people.
    pub reason: String,
}

/// Why a scan could not start or go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The directory is not a block store.
    #[error("{} is not a block store: {reason}", dir.display())]
    NotAStore {
        /// The directory given.
        dir: PathBuf,
        /// Why not.
        reason: String,
    },
    /// Reading failed.
    #[error("cannot {what}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A frame is damaged.
    #[error(transparent)]
    BadFrame(#[from] BadFrame),
}

/// A good frame: a decoded block and where it is.
#[derive(Debug, Clone)]
pub struct ScannedBlock {
    /// The block (structure checked, cryptography not).
    pub block: Block,
    /// Where the block sits in `ledger.blocks`.
    pub topic_offset: i64,
    /// Its segment number.
    pub segment: u32,
    /// Byte offset of its frame in the segment.
    pub offset: u64,
}

/// One segment file as seen when the scan opened.
#[derive(Debug)]
struct SegmentFile {
    number: u32,
    path: PathBuf,
    /// Bytes to scan: the file's size when the scan opened, grown only to
    /// take in a final frame that was being appended then.
    size: u64,
    /// False when the file is missing although a later one exists.
    present: bool,
}

/// Iterates over a store's blocks. See the module docs.
#[derive(Debug)]
pub struct StoreScan {
    segments: Vec<SegmentFile>,
    /// Index into `segments` of the one being read.
    current: usize,
    /// The open file of `segments[current]`, if opened yet.
    file: Option<File>,
    /// Offset of the next frame in the current segment.
    offset: u64,
    /// Height of the next block (good frames so far).
    height: u64,
    /// Bytes of frames consumed so far, over all segments.
    consumed: u64,
    /// How long to wait for a final frame that may still be being written.
    tail_wait: Duration,
    /// Set after the end or the first error: the iterator is fused.
    finished: bool,
}

/// `seg-00000003.tcb` for segment 3 (the naming of [`super::segments`]).
pub fn segment_file_name(segment: u32) -> String {
    format!("seg-{segment:08}.tcb")
}

/// The segment number of a file name, if it is a segment's.
fn parse_segment_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".tcb")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ScanError {
    let what = what.into();
    move |source| ScanError::Io { what, source }
}

impl StoreScan {
    /// Opens a scan of the store in `store_dir` (the directory a ledger's
    /// `chain.data_dir` names, holding `blocks/`), listing its segments and
    /// their current sizes. Writes nothing.
    pub fn open(store_dir: &Path) -> Result<StoreScan, ScanError> {
        let blocks = store_dir.join("blocks");
        let not_a_store = |reason: String| ScanError::NotAStore {
            dir: store_dir.to_owned(),
            reason,
        };
        let entries = match std::fs::read_dir(&blocks) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(not_a_store(format!("{} does not exist", blocks.display())));
            }
            Err(e) => return Err(io_error(format!("list {}", blocks.display()))(e)),
        };
        let mut found: Vec<(u32, u64)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error(format!("list {}", blocks.display())))?;
            let Some(number) = entry.file_name().to_str().and_then(parse_segment_name) else {
                continue;
            };
            let size = entry
                .metadata()
                .map_err(io_error(format!("stat {}", entry.path().display())))?
                .len();
            found.push((number, size));
        }
        found.sort_unstable();
        if found.is_empty() {
            return Err(not_a_store(format!(
                "{} holds no segment file ({})",
                blocks.display(),
                segment_file_name(0)
            )));
        }
        // Segments are numbered from 0 without gaps. The scan stops at the
        // first gap, where it reports the missing file (naming the block it
        // would hold); the list is not built out to a stray file's number,
        // which could be huge.
        let mut segments = Vec::with_capacity(found.len());
        for (expected, (number, size)) in (0u32..).zip(&found) {
            let present = *number == expected;
            segments.push(SegmentFile {
                number: expected,
                path: blocks.join(segment_file_name(expected)),
                size: if present { *size } else { 0 },
                present,
            });
            if !present {
                break;
            }
        }
        Ok(StoreScan {
            segments,
            current: 0,
            file: None,
            offset: 0,
            height: 0,
            consumed: 0,
            tail_wait: Duration::ZERO,
            finished: false,
        })
    }

    /// Waits up to `wait` for a final frame cut short by an append in
    /// progress to be completed (see the module docs).
    pub fn with_tail_wait(mut self, wait: Duration) -> StoreScan {
        self.tail_wait = wait;
        self
    }

    /// Bytes of frames the scan will read (the segments' sizes when it opened).
    pub fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// Bytes of frames read so far.
    pub fn bytes_read(&self) -> u64 {
        self.consumed
    }

    /// The number of segment files.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
}

/// Where a frame is read, for [`read_frame`].
struct FrameAt<'a> {
    file: &'a File,
    segment: &'a mut SegmentFile,
    /// Offset of the frame in the segment.
    offset: u64,
    /// Height the block would have.
    height: u64,
    /// Whether this is the last segment, where an append may be in progress.
    last: bool,
    tail_wait: Duration,
}

impl FrameAt<'_> {
    fn bad(&self, kind: BadFrameKind, reason: String) -> ScanError {
        ScanError::BadFrame(BadFrame {
            height: self.height,
            segment: self.segment.number,
            offset: self.offset,
            kind,
            reason,
        })
    }

    fn torn_hint(&self) -> &'static str {
        if self.last {
            " (a torn final write: a ledger cuts it off when it next starts)"
        } else {
            " (not the last segment: the store is damaged)"
        }
    }

    /// Whether the segment holds `needed` bytes; on the last segment, waits
    /// up to the tail wait for it to grow that far, and takes those bytes
    /// (and no more) into the scan.
    fn holds(&mut self, needed: u64) -> Result<bool, ScanError> {
        if needed <= self.segment.size {
            return Ok(true);
        }
        if !self.last {
            return Ok(false);
        }
        let until = Instant::now() + self.tail_wait;
        loop {
            let len = self
                .file
                .metadata()
                .map_err(io_error(format!("stat {}", self.segment.path.display())))?
                .len();
            if len >= needed {
                // Exactly the frame that was being written, not whatever
                // was appended after the scan opened.
                self.segment.size = needed;
                return Ok(true);
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            std::thread::sleep(TAIL_POLL);
        }
    }

    /// Reads the frame; returns the block and the frame's length in bytes.
    fn read(mut self) -> Result<(ScannedBlock, u64), ScanError> {
        let offset = self.offset;
        let name = segment_file_name(self.segment.number);
        let read_error = || io_error(format!("read {name} at offset {offset}"));

        let header_end = offset + FRAME_HEADER;
        if !self.holds(header_end)? {
            return Err(self.bad(
                BadFrameKind::Truncated,
                format!(
                    "the segment ends {} bytes into the {FRAME_HEADER}-byte frame header{}",
                    self.segment.size - offset,
                    self.torn_hint()
                ),
            ));
        }
        let mut head = [0u8; FRAME_HEADER as usize];
        self.file
            .read_exact_at(&mut head, offset)
            .map_err(read_error())?;
        // The layout of `super::segments`: len ‖ crc ‖ topic offset, big-endian.
        let [l0, l1, l2, l3, c0, c1, c2, c3, topic_offset @ ..] = head;
        let len = u32::from_be_bytes([l0, l1, l2, l3]);
        let crc = u32::from_be_bytes([c0, c1, c2, c3]);
        let end = header_end + u64::from(len);
        if !self.holds(end)? {
            return Err(self.bad(
                BadFrameKind::Truncated,
                format!(
                    "the frame announces a {len}-byte record but the segment ends after {} of them{}",
                    self.segment.size.saturating_sub(header_end),
                    self.torn_hint()
                ),
            ));
        }
        // Allocated only now: `len` is bounded by bytes that exist.
        let mut record = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut record, header_end)
            .map_err(read_error())?;
        let computed = crc32c::crc32c_append(crc32c::crc32c(&topic_offset), &record);
        if computed != crc {
            return Err(self.bad(
                BadFrameKind::Checksum,
                format!(
                    "checksum mismatch: the frame says CRC-32C {crc:#010x}, its bytes give {computed:#010x}"
                ),
            ));
        }
        let block = Block::from_record(&record)
            .map_err(|e| self.bad(BadFrameKind::Record, e.to_string()))?;
        let scanned = ScannedBlock {
            block,
            topic_offset: i64::from_be_bytes(topic_offset),
            segment: self.segment.number,
            offset,
        };
        Ok((scanned, end - offset))
    }
}

impl StoreScan {
    /// Reads the frame at the current position, opening its segment first.
    fn read_next(&mut self) -> Result<(ScannedBlock, u64), ScanError> {
        let last = self.current + 1 == self.segments.len();
        let segment = &mut self.segments[self.current];
        let file = match &mut self.file {
            Some(file) => &*file,
            slot @ None => &*slot.insert(
                File::open(&segment.path)
                    .map_err(io_error(format!("open {}", segment.path.display())))?,
            ),
        };
        FrameAt {
            file,
            segment,
            offset: self.offset,
            height: self.height,
            last,
            tail_wait: self.tail_wait,
        }
        .read()
    }
}

impl Iterator for StoreScan {
    type Item = Result<ScannedBlock, ScanError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.finished {
            let Some(segment) = self.segments.get(self.current) else {
                self.finished = true;
                return None;
            };
            if !segment.present {
                self.finished = true;
                return Some(Err(ScanError::BadFrame(BadFrame {
                    height: self.height,
                    segment: segment.number,
                    offset: 0,
                    kind: BadFrameKind::MissingSegment,
                    reason: format!(
                        "{} is missing but later segments exist",
                        segment_file_name(segment.number)
                    ),
                })));
            }
            if self.offset >= segment.size {
                self.current += 1;
                self.offset = 0;
                self.file = None;
                continue;
            }
            return Some(match self.read_next() {
                Ok((scanned, frame_len)) => {
                    self.offset += frame_len;
                    self.consumed += frame_len;
                    self.height += 1;
                    Ok(scanned)
                }
                Err(error) => {
                    self.finished = true;
                    Err(error)
                }
            });
        }
        None
    }
}

impl std::iter::FusedIterator for StoreScan {}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use tempfile::TempDir;
    use time::OffsetDateTime;
    use tracechain_chain::{ChainVerifier, KeyRing, Positions};
    use tracechain_core::SigningKey;

    use super::*;
    use crate::store::{BlockStore, StoreOptions};

    const ORIGIN: &str = "tracechain.test/scan";

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[5; 32])
    }

    fn options() -> StoreOptions {
        StoreOptions {
            // Small segments, so a few blocks span several files.
            segment_bytes: 2048,
            ..StoreOptions::new(ORIGIN, KeyRing::new([key().verifying_key()]))
        }
    }

    fn blocks(sizes: &[usize]) -> Vec<Block> {
        let mut writer = ChainVerifier::from_genesis(ORIGIN, KeyRing::default());
        let mut next = 0usize;
        sizes
            .iter()
            .map(|&n| {
                let events = (next..next + n)
                    .map(|i| {
                        format!(
                            r#"{{"id":"{}","n":{i},"pad":"{}"}}"#,
                            uuid::Uuid::now_v7(),
                            "y".repeat(150)
                        )
                        .into_bytes()
                    })
                    .collect();
                next += n;
                let positions: Positions = [("t".to_owned(), [(0, next as i64)].into())].into();
                writer
                    .seal_next(events, positions, OffsetDateTime::now_utc(), &key())
                    .unwrap()
            })
            .collect()
    }

    /// A store holding `sizes.len()` blocks at topic offsets 100, 101, …
    fn store(sizes: &[usize]) -> (TempDir, Vec<Block>) {
        let dir = TempDir::new().unwrap();
        let blocks = blocks(sizes);
        let store = BlockStore::open(dir.path(), &options()).unwrap();
        store
            .append(blocks.iter().cloned().zip(100..).collect())
            .unwrap();
        (dir, blocks)
    }

    fn segment(dir: &Path, n: u32) -> PathBuf {
        dir.join("blocks").join(segment_file_name(n))
    }

    /// Every file under `dir` with its bytes.
    fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let bytes = std::fs::read(&path).unwrap();
                    out.push((path, bytes));
                }
            }
        }
        out.sort();
        out
    }

    fn bad_frame(scan: StoreScan) -> BadFrame {
        match scan.collect::<Result<Vec<_>, _>>() {
            Err(ScanError::BadFrame(bad)) => bad,
            other => panic!("expected a bad frame, got {other:?}"),
        }
    }

    #[test]
    fn yields_every_block_in_order_across_segments_without_the_index() {
        let (dir, blocks) = store(&[3, 1, 4, 1, 5, 9, 2, 6]);
        std::fs::remove_file(dir.path().join("index.redb")).unwrap();
        let before = snapshot(dir.path());

        let scan = StoreScan::open(dir.path()).unwrap();
        assert!(scan.segment_count() > 2, "the test needs several segments");
        let total = scan.total_bytes();
        let mut scan = scan;
        let mut seen = Vec::new();
        for item in scan.by_ref() {
            seen.push(item.unwrap());
        }
        assert_eq!(scan.bytes_read(), total);
        assert_eq!(seen.len(), blocks.len());
        for (i, (scanned, block)) in seen.iter().zip(&blocks).enumerate() {
            assert_eq!(&scanned.block, block);
            assert_eq!(scanned.topic_offset, 100 + i as i64);
        }
        assert!(seen.last().unwrap().segment > 0);
        // Read-only: no index recreated, not a byte changed.
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn scans_beside_an_open_store_and_changes_nothing() {
        let dir = TempDir::new().unwrap();
        let chain = blocks(&[2, 2, 2]);
        let store = BlockStore::open(dir.path(), &options()).unwrap();
        store
            .append(chain[..2].iter().cloned().zip(0..).collect())
            .unwrap();
        let before = snapshot(dir.path());
        let scanned: Vec<_> = StoreScan::open(dir.path())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(scanned.len(), 2);
        assert_eq!(snapshot(dir.path()), before);
        // The store keeps working after the scan.
        store.append(vec![(chain[2].clone(), 2)]).unwrap();
        assert_eq!(StoreScan::open(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn a_flipped_byte_is_a_checksum_mismatch_naming_the_block() {
        let (dir, _) = store(&[2, 2, 2, 2]);
        let scanned: Vec<ScannedBlock> = StoreScan::open(dir.path())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let victim = &scanned[2];
        let path = segment(dir.path(), victim.segment);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = victim.offset as usize + FRAME_HEADER as usize + 40;
        bytes[at] ^= 0x04;
        std::fs::write(&path, bytes).unwrap();

        let bad = bad_frame(StoreScan::open(dir.path()).unwrap());
        assert_eq!(
            (bad.height, bad.segment, bad.offset, bad.kind),
            (2, victim.segment, victim.offset, BadFrameKind::Checksum)
        );
        let text = bad.to_string();
        assert!(
            text.starts_with(&format!(
                "block 2: frame at {} offset {}: checksum mismatch",
                segment_file_name(victim.segment),
                victim.offset
            )),
            "{text}"
        );
    }

    #[test]
    fn a_record_that_does_not_decode_is_reported_even_with_a_good_checksum() {
        let dir = TempDir::new().unwrap();
        std::fs::create_dir_all(dir.path().join("blocks")).unwrap();
        let record = b"TCB1 this is not a block";
        let topic_offset = 7i64.to_be_bytes();
        let mut frame = Vec::new();
        frame.extend_from_slice(&(record.len() as u32).to_be_bytes());
        frame.extend_from_slice(
            &crc32c::crc32c_append(crc32c::crc32c(&topic_offset), record).to_be_bytes(),
        );
        frame.extend_from_slice(&topic_offset);
        frame.extend_from_slice(record);
        std::fs::write(segment(dir.path(), 0), frame).unwrap();
        let bad = bad_frame(StoreScan::open(dir.path()).unwrap());
        assert_eq!((bad.height, bad.kind), (0, BadFrameKind::Record));
        assert!(bad.reason.contains("malformed block record"), "{bad}");
    }

    #[test]
    fn a_torn_final_frame_is_truncated_unless_its_append_completes() {
        let (dir, _) = store(&[2, 3]);
        let path = segment(dir.path(), 0);
        let whole = std::fs::read(&path).unwrap();
        let scanned: Vec<ScannedBlock> = StoreScan::open(dir.path())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let last = scanned[1].offset as usize;
        let cut = last + 30;
        std::fs::write(&path, &whole[..cut]).unwrap();

        let bad = bad_frame(StoreScan::open(dir.path()).unwrap());
        assert_eq!(
            (bad.height, bad.offset, bad.kind),
            (1, last as u64, BadFrameKind::Truncated)
        );
        assert!(bad.reason.contains("torn final write"), "{bad}");

        // An append in progress when the scan opened: it waits for the rest.
        let scan = StoreScan::open(dir.path())
            .unwrap()
            .with_tail_wait(Duration::from_secs(10));
        let rest = whole[cut..].to_vec();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
            file.write_all(&rest).unwrap();
        });
        let all: Vec<ScannedBlock> = scan.collect::<Result<_, _>>().unwrap();
        writer.join().unwrap();
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn a_missing_segment_names_the_block_it_would_hold() {
        let (dir, _) = store(&[3, 1, 4, 1, 5, 9, 2, 6]);
        let scan = StoreScan::open(dir.path()).unwrap();
        assert!(scan.segment_count() > 2);
        let in_first: u64 = scan
            .filter_map(Result::ok)
            .filter(|s| s.segment == 0)
            .count() as u64;
        std::fs::remove_file(segment(dir.path(), 1)).unwrap();
        let bad = bad_frame(StoreScan::open(dir.path()).unwrap());
        assert_eq!(
            (bad.height, bad.segment, bad.kind),
            (in_first, 1, BadFrameKind::MissingSegment)
        );
    }

    #[test]
    fn a_stray_segment_far_ahead_is_a_gap_right_after_the_real_ones() {
        let (dir, blocks) = store(&[2, 2]);
        let count = StoreScan::open(dir.path()).unwrap().segment_count() as u32;
        std::fs::write(segment(dir.path(), 99_999_999), b"").unwrap();
        let scan = StoreScan::open(dir.path()).unwrap();
        assert_eq!(scan.segment_count() as u32, count + 1);
        let bad = bad_frame(scan);
        assert_eq!(
            (bad.height, bad.segment, bad.kind),
            (blocks.len() as u64, count, BadFrameKind::MissingSegment)
        );
    }

    #[test]
    fn a_directory_without_segments_is_not_a_store() {
        let dir = TempDir::new().unwrap();
        let err = StoreScan::open(dir.path()).unwrap_err();
        assert!(matches!(err, ScanError::NotAStore { .. }), "{err}");
        // And opening it created nothing.
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }
}
