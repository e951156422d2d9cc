//! The embedded bus: Kafka's semantics in-process, persisted to a data
//! directory, for the all-in-one mode (no broker needed).
//!
//! Layout of the data directory:
//!
//! ```text
//! <dir>/topics/<topic>/topic.json                  the topic's spec
//! <dir>/topics/<topic>/<partition>/<base>.log      segment files (see `segment`)
//! <dir>/groups/<hex of group name>.json            committed offsets of a group
//! ```
//!
//! Invariants (the same contract as Kafka, checked by the conformance suite):
//! - a publish returns only after its records are written and fsync'd (a
//!   batch: one write and one fsync per partition; a publish stream writes
//!   the records it has taken in groups the same way, see `stream`);
//! - keys pick partitions with Kafka's Java murmur2 (records without a key
//!   go round-robin), so a key lands on the same partition number as on Kafka;
//! - offsets are consecutive per partition and survive restarts; committed
//!   offsets are fsync'd and survive restarts, so uncommitted records are
//!   redelivered after one;
//! - opening recovers: a torn trailing write is cut off, damage anywhere
//!   else is refused with [`BusError::Corrupt`];
//! - topics are never created implicitly; retention and compaction settings
//!   are recorded but not applied (everything is kept).
//!
//! One process at a time may open a data directory.

mod consumer;
mod fsutil;
mod group;
mod log;
mod reader;
mod segment;
mod stream;
mod topics;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::stream::BoxStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tracechain_domain::Envelope;

use crate::bus::{ConsumerOptions, EventBus, GroupConsumer, PartitionReader, StreamEvent};
use crate::error::{BatchFailure, BusError};
use crate::headers::Headers;
use crate::murmur2::partition_for_key;
use crate::outgoing::OutgoingRecord;
use crate::record::{Position, Record};
use crate::topic::{TopicSpec, validate_topic_name};

use self::consumer::EmbeddedGroupConsumer;
use self::group::Groups;
use self::reader::EmbeddedReader;
use self::topics::TopicLog;

/// Settings of an [`EmbeddedBus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// A partition's segment is closed and a new one started once it holds
    /// this many bytes.
    pub max_segment_bytes: u64,
    /// Largest encoded record (key, headers and payload) accepted.
    pub max_record_bytes: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            max_segment_bytes: 64 << 20,
            max_record_bytes: 8 << 20,
        }
    }
}

/// The in-process bus. Cheap to clone (clones share one state).
#[derive(Debug, Clone)]
pub struct EmbeddedBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    options: EmbeddedOptions,
    topics: RwLock<HashMap<String, Arc<TopicLog>>>,
    groups: Groups,
    /// Partition counter for records without a key.
    round_robin: AtomicUsize,
    /// Serializes topic creation.
    admin: Mutex<()>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl EmbeddedBus {
    /// Opens (creating if needed) the bus in `dir`, with default options.
    /// Blocking: recovery reads every segment once.
    pub fn open(dir: impl AsRef<Path>) -> Result<EmbeddedBus, BusError> {
        EmbeddedBus::open_with(dir, EmbeddedOptions::default())
    }

    /// Opens (creating if needed) the bus in `dir`.
    pub fn open_with(
        dir: impl AsRef<Path>,
        options: EmbeddedOptions,
    ) -> Result<EmbeddedBus, BusError> {
        let root = dir.as_ref().to_owned();
        let topics_dir = topics::topics_dir(&root);
        fsutil::create_dir_durably(&topics_dir)?;
        let mut topics = HashMap::new();
        let entries = fs::read_dir(&topics_dir).map_err(|e| BusError::io(&topics_dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| BusError::io(&topics_dir, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(topics::TMP_PREFIX) {
                // A creation interrupted by a crash: the topic never existed.
                fs::remove_dir_all(&path).map_err(|e| BusError::io(&path, e))?;
                continue;
            }
            if !path.is_dir() {
                continue;
            }
            let topic = TopicLog::open(&path)?;
            topics.insert(topic.name.clone(), Arc::new(topic));
        }
        let groups = Groups::open(&root.join("groups"))?;
        tracing::info!(dir = %root.display(), topics = topics.len(), "Embedded bus opened");
        Ok(EmbeddedBus {
            inner: Arc::new(Inner {
                root,
                options,
                topics: RwLock::new(topics),
                groups,
                round_robin: AtomicUsize::new(0),
                admin: Mutex::new(()),
            }),
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.root
    }

    fn topic(&self, topic: &str) -> Result<Arc<TopicLog>, BusError> {
        self.inner.topic(topic)
    }

    /// Appends `records` to `topic`; positions in input order. A record
    /// over the size limit refuses the whole batch with nothing written.
    async fn append(
        &self,
        topic: &str,
        records: Vec<OutgoingRecord>,
    ) -> Result<Vec<Position>, BusError> {
        let log = self.topic(topic)?;
        let limit = self.inner.options.max_record_bytes;
        if let Some(size) = records
            .iter()
            .map(segment::encoded_len)
            .find(|size| *size > limit)
        {
            return Err(BusError::RecordTooLarge {
                topic: topic.to_owned(),
                size,
                limit,
            });
        }
        let total = records.len();
        let Written {
            positions,
            mut errors,
        } = self.write(log, records).await?;
        if errors.is_empty() {
            return Ok(positions
                .into_iter()
                .flatten()
                .map(|(partition, offset)| Position {
                    topic: topic.to_owned(),
                    partition,
                    offset,
                })
                .collect());
        }
        if total == 1
            && let Some((_, _, error)) = errors.pop()
        {
            return Err(error);
        }
        let mut failures: Vec<BatchFailure> = errors
            .iter()
            .flat_map(|(_, indices, error)| {
                indices.iter().map(move |i| BatchFailure {
                    index: *i,
                    reason: error.to_string(),
                })
            })
            .collect();
        failures.sort_by_key(|f| f.index);
        Err(BusError::Batch {
            topic: topic.to_owned(),
            total,
            failures,
        })
    }

    /// Appends `records` (each within the size limit) to `topic`; one
    /// outcome per record, in input order. A partition whose write fails
    /// fails each of its records.
    async fn append_each(
        &self,
        topic: &str,
        records: Vec<OutgoingRecord>,
    ) -> Vec<Result<Position, BusError>> {
        let total = records.len();
        let written = match self.topic(topic) {
            Ok(log) => self.write(log, records).await,
            Err(error) => Err(error),
        };
        let Written { positions, errors } = match written {
            Ok(written) => written,
            Err(error) => {
                let reason = error.to_string();
                return (0..total)
                    .map(|_| match &error {
                        BusError::UnknownTopic { topic } => Err(BusError::UnknownTopic {
                            topic: topic.clone(),
                        }),
                        _ => Err(BusError::Publish {
                            topic: topic.to_owned(),
                            partition: None,
                            reason: reason.clone(),
                        }),
                    })
                    .collect();
            }
        };
        let mut outcomes: Vec<Result<Position, BusError>> = positions
            .into_iter()
            .map(|written| {
                written
                    .map(|(partition, offset)| Position {
                        topic: topic.to_owned(),
                        partition,
                        offset,
                    })
                    .ok_or_else(|| BusError::Publish {
                        topic: topic.to_owned(),
                        partition: None,
                        reason: "no position returned".to_owned(),
                    })
            })
            .collect();
        for (partition, indices, error) in errors {
            let reason = error.to_string();
            for i in indices {
                outcomes[i] = Err(BusError::Publish {
                    topic: topic.to_owned(),
                    partition: Some(partition),
                    reason: reason.clone(),
                });
            }
        }
        outcomes
    }

    /// Writes `records` to `log`, one write and one fsync per partition, on
    /// the blocking pool.
    async fn write(
        &self,
        log: Arc<TopicLog>,
        records: Vec<OutgoingRecord>,
    ) -> Result<Written, BusError> {
        let n = log.partition_count();
        let mut by_partition: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            let p = match &r.key {
                Some(key) => partition_for_key(key, n),
                None => {
                    let next = self.inner.round_robin.fetch_add(1, Ordering::Relaxed);
                    let partitions = usize::try_from(n).unwrap_or(1).max(1);
                    i32::try_from(next % partitions).unwrap_or(0)
                }
            };
            by_partition.entry(p).or_default().push(i);
        }
        let max_segment = self.inner.options.max_segment_bytes;
        let task_log = Arc::clone(&log);
        let written = tokio::task::spawn_blocking(move || {
            let timestamp = now_ms();
            let mut positions: Vec<Option<(i32, i64)>> = vec![None; records.len()];
            let mut errors = Vec::new();
            for (p, indices) in by_partition {
                let refs: Vec<&OutgoingRecord> = indices.iter().map(|i| &records[*i]).collect();
                let appended = task_log
                    .partition(p)
                    .and_then(|log| log.append(&refs, timestamp, max_segment));
                match appended {
                    Ok(first) => {
                        for (k, i) in indices.into_iter().enumerate() {
                            positions[i] = Some((p, first + k as i64));
                        }
                    }
                    Err(error) => errors.push((p, indices, error)),
                }
            }
            Written { positions, errors }
        })
        .await
        .map_err(|e| BusError::task("append", e))?;
        log.notify_appended();
        Ok(written)
    }
}

/// What [`EmbeddedBus::write`] did with each record.
#[derive(Debug)]
struct Written {
    /// `(partition, offset)` of each record written, by input index.
    positions: Vec<Option<(i32, i64)>>,
    /// Each partition whose write failed, the input indices of its records,
    /// and why.
    errors: Vec<(i32, Vec<usize>, BusError)>,
}

impl Inner {
    fn topic(&self, topic: &str) -> Result<Arc<TopicLog>, BusError> {
        let topics = self.topics.read().unwrap_or_else(|p| p.into_inner());
        topics
            .get(topic)
            .cloned()
            .ok_or_else(|| BusError::UnknownTopic {
                topic: topic.to_owned(),
            })
    }

    fn ensure_topics(&self, specs: &[TopicSpec]) -> Result<(), BusError> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let topics_dir = topics::topics_dir(&self.root);
        for spec in specs {
            if let Ok(existing) = self.topic(&spec.name) {
                if existing.partition_count() != spec.partitions {
                    tracing::warn!(
                        topic = %spec.name, existing = existing.partition_count(),
                        wanted = spec.partitions,
                        "Topic exists with another partition count; left unchanged"
                    );
                }
                continue;
            }
            let created = Arc::new(TopicLog::create(&topics_dir, spec)?);
            self.topics
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(spec.name.clone(), created);
        }
        Ok(())
    }
}

/// Reads up to `max` records from each `(topic, partition, from)` in turn
/// (blocking reads on the blocking pool; nothing at all when no partition
/// has records past its position).
async fn read_partitions(
    plan: Vec<(Arc<TopicLog>, i32, i64)>,
    max: usize,
) -> Result<Vec<Record>, BusError> {
    let has_data = plan.iter().any(|(topic, p, from)| {
        topic
            .partition(*p)
            .is_ok_and(|log| log.end_offset() > *from)
    });
    if max == 0 || !has_data {
        return Ok(Vec::new());
    }
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for (topic, p, from) in plan {
            let left = max - out.len();
            if left == 0 {
                break;
            }
            out.extend(topic.partition(p)?.read(from, left)?);
        }
        Ok(out)
    })
    .await
    .map_err(|e| BusError::task("read", e))?
}

/// Waits until any of `watches` sees a change (`true`) or `deadline` (`false`).
async fn wait_for_change(watches: &mut [watch::Receiver<u64>], deadline: Instant) -> bool {
    if watches.is_empty() {
        tokio::time::sleep_until(deadline).await;
        return false;
    }
    let changed = futures::future::select_all(watches.iter_mut().map(|w| Box::pin(w.changed())));
    tokio::select! {
        _ = changed => true,
        () = tokio::time::sleep_until(deadline) => false,
    }
}

#[async_trait]
impl EventBus for EmbeddedBus {
    async fn ensure_topics(&self, specs: &[TopicSpec]) -> Result<(), BusError> {
        for spec in specs {
            spec.validate()?;
        }
        let inner = Arc::clone(&self.inner);
        let specs = specs.to_vec();
        tokio::task::spawn_blocking(move || inner.ensure_topics(&specs))
            .await
            .map_err(|e| BusError::task("ensure topics", e))?
    }

    async fn publish(
        &self,
        topic: &str,
        key: &[u8],
        envelope: &Envelope,
    ) -> Result<Position, BusError> {
        let record = OutgoingRecord::from_envelope(topic, key, envelope)?;
        let mut positions = self.append(topic, vec![record]).await?;
        positions.pop().ok_or_else(|| BusError::Publish {
            topic: topic.to_owned(),
            partition: None,
            reason: "no position returned".to_owned(),
        })
    }

    async fn publish_batch(
        &self,
        topic: &str,
        events: &[(Vec<u8>, Envelope)],
    ) -> Result<Vec<Position>, BusError> {
        let records = OutgoingRecord::from_batch(topic, events)?;
        self.append(topic, records).await
    }

    fn publish_stream<'a>(
        &'a self,
        topic: &'a str,
        events: BoxStream<'a, StreamEvent<'a>>,
        window: usize,
    ) -> BoxStream<'a, Result<Position, BusError>> {
        Box::pin(stream::PublishStream::new(self, topic, events, window))
    }

    async fn publish_raw(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        headers: Headers,
        payload: &[u8],
    ) -> Result<Position, BusError> {
        let record = OutgoingRecord::raw(key, headers, payload);
        let mut positions = self.append(topic, vec![record]).await?;
        positions.pop().ok_or_else(|| BusError::Publish {
            topic: topic.to_owned(),
            partition: None,
            reason: "no position returned".to_owned(),
        })
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
        _options: ConsumerOptions,
    ) -> Result<Box<dyn GroupConsumer>, BusError> {
        if group.is_empty() {
            return Err(BusError::Config {
                reason: "a consumer group needs a non-empty name".to_owned(),
            });
        }
        if topics.is_empty() {
            return Err(BusError::Config {
                reason: format!("consumer group {group} subscribes to no topic"),
            });
        }
        let logs = topics
            .iter()
            .map(|t| self.topic(t))
            .collect::<Result<Vec<_>, _>>()?;
        let group = self.inner.groups.get(group);
        Ok(Box::new(EmbeddedGroupConsumer::join(group, logs)))
    }

    async fn reader(
        &self,
        topic: &str,
        start: &BTreeMap<i32, i64>,
    ) -> Result<Box<dyn PartitionReader>, BusError> {
        validate_topic_name(topic)?;
        let log = self.topic(topic)?;
        for (p, offset) in start {
            let high = log.partition(*p)?.end_offset();
            if *offset < 0 || *offset > high {
                return Err(BusError::OffsetOutOfRange {
                    topic: topic.to_owned(),
                    partition: *p,
                    offset: *offset,
                    low: 0,
                    high,
                });
            }
        }
        Ok(Box::new(EmbeddedReader::new(log, start.clone())))
    }

    async fn end_offsets(&self, topic: &str) -> Result<BTreeMap<i32, i64>, BusError> {
        let log = self.topic(topic)?;
        Ok((0..log.partition_count())
            .zip(log.partitions.iter().map(log::PartitionLog::end_offset))
            .collect())
    }

    async fn partition_count(&self, topic: &str) -> Result<i32, BusError> {
        Ok(self.topic(topic)?.partition_count())
    }

    async fn flush(&self, _timeout: Duration) -> Result<(), BusError> {
        // Every publish is fsync'd before it returns: nothing is pending.
        Ok(())
    }

    async fn ping(&self, _timeout: Duration) -> Result<(), BusError> {
        Ok(())
    }
}
