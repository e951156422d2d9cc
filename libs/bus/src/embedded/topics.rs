//! A topic of the embedded bus: its specification file and its partition logs,
//! under `<data dir>/topics/<name>/` (`topic.json`, then one directory per
//! partition).
//!
//! A topic is created in a temporary directory and renamed into place, so
//! after a crash it either exists whole or not at all (leftover temporary
//! directories are removed on open). Appends notify waiting consumers
//! through a `watch` channel, so nobody polls the disk on a timer.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::BusError;
use crate::topic::TopicSpec;

use super::fsutil;
use super::log::PartitionLog;

/// Prefix of a topic directory being created.
pub(crate) const TMP_PREFIX: &str = ".tmp-";
const SPEC_FILE: &str = "topic.json";

/// `topic.json`: what the topic was created with.
#[derive(Debug, Serialize, Deserialize)]
struct StoredSpec {
    name: String,
    partitions: i32,
    replication_factor: i16,
    retention_ms: Option<i64>,
    compacted: bool,
}

/// An open topic.
#[derive(Debug)]
pub(crate) struct TopicLog {
    /// Its name.
    pub(crate) name: String,
    /// Its partitions; index = partition number.
    pub(crate) partitions: Vec<PartitionLog>,
    /// Bumped after every append to any partition.
    appended: watch::Sender<u64>,
}

impl TopicLog {
    /// Creates `spec` under `topics_dir`, atomically and durably, and opens it.
    pub(crate) fn create(topics_dir: &Path, spec: &TopicSpec) -> Result<TopicLog, BusError> {
        let tmp = topics_dir.join(format!(
            "{TMP_PREFIX}{}-{}",
            spec.name,
            uuid::Uuid::now_v7()
        ));
        fs::create_dir_all(&tmp).map_err(|e| BusError::io(&tmp, e))?;
        let stored = StoredSpec {
            name: spec.name.clone(),
            partitions: spec.partitions,
            replication_factor: spec.replication_factor,
            retention_ms: spec.retention_ms,
            compacted: spec.compacted,
        };
        let json = serde_json::to_vec_pretty(&stored).map_err(|e| BusError::Config {
            reason: format!("cannot serialize topic {}: {e}", spec.name),
        })?;
        fsutil::write_atomically(&tmp.join(SPEC_FILE), &json)?;
        for p in 0..spec.partitions {
            PartitionLog::create(&spec.name, p, &tmp.join(p.to_string()))?;
        }
        fsutil::sync_dir(&tmp)?;
        let dir = topics_dir.join(&spec.name);
        fs::rename(&tmp, &dir).map_err(|e| BusError::io(&dir, e))?;
        fsutil::sync_dir(topics_dir)?;
        tracing::info!(topic = %spec.name, partitions = spec.partitions, "Topic created");
        TopicLog::open(&dir)
    }

    /// Opens (and recovers) the topic in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<TopicLog, BusError> {
        let spec_path = dir.join(SPEC_FILE);
        let json = fs::read(&spec_path).map_err(|e| BusError::io(&spec_path, e))?;
        let stored: StoredSpec = serde_json::from_slice(&json)
            .map_err(|e| BusError::corrupt(&spec_path, format!("unreadable topic spec: {e}")))?;
        let dir_name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        if dir_name.as_deref() != Some(stored.name.as_str()) || stored.partitions < 1 {
            return Err(BusError::corrupt(
                &spec_path,
                format!(
                    "spec names topic {:?} with {} partitions",
                    stored.name, stored.partitions
                ),
            ));
        }
        let partitions = (0..stored.partitions)
            .map(|p| PartitionLog::open(&stored.name, p, &dir.join(p.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TopicLog {
            name: stored.name,
            partitions,
            appended: watch::Sender::new(0),
        })
    }

    /// Number of partitions.
    pub(crate) fn partition_count(&self) -> i32 {
        // At most i32::MAX partitions are ever created (the spec's count is an i32).
        i32::try_from(self.partitions.len()).unwrap_or(i32::MAX)
    }

    /// The log of `partition`, or an error naming the topic and partition.
    pub(crate) fn partition(&self, partition: i32) -> Result<&PartitionLog, BusError> {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.partitions.get(p))
            .ok_or_else(|| BusError::UnknownPartition {
                topic: self.name.clone(),
                partition,
                partitions: self.partition_count(),
            })
    }

    /// Wakes everyone waiting for records of this topic.
    pub(crate) fn notify_appended(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees the next append (subscribe before checking for records).
    pub(crate) fn watch_appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }
}

/// The directory holding the topics of data directory `root`.
pub(crate) fn topics_dir(root: &Path) -> PathBuf {
    root.join("topics")
}
