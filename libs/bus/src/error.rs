//! The bus's error type: what went wrong, on which topic or partition, and why.
//!
//! Messages are lowercase, name the topic (and partition where there is one)
//! and carry the cause, so a log line or a 503 body says what failed without
//! the reader having to guess.

use std::path::PathBuf;
use std::time::Duration;

use uuid::Uuid;

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The topic has not been created (topics are never created implicitly).
    #[error("topic {topic} does not exist")]
    UnknownTopic {
        /// The topic named by the caller.
        topic: String,
    },
    /// The partition is outside the topic's partitions.
    #[error("partition {partition} of topic {topic} does not exist (the topic has {partitions})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many partitions the topic has.
        partitions: i32,
    },
    /// A start position lies outside the records a partition holds.
    #[error(
        "offset {offset} is out of range for topic {topic} partition {partition} (records {low}..{high})"
    )]
    OffsetOutOfRange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset asked for.
        offset: i64,
        /// The first offset held.
        low: i64,
        /// The next offset to be written (an offset equal to it is valid).
        high: i64,
    },
    /// A topic name breaks Kafka's naming rules.
    #[error("invalid topic name {topic:?}: {reason}")]
    InvalidTopicName {
        /// The name given.
        topic: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A topic specification or a configuration value is unusable.
    #[error("invalid configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The envelope has no canonical bytes, so it cannot be published.
    #[error("cannot encode event {event_id} for topic {topic}: {source}")]
    Encode {
        /// The destination topic.
        topic: String,
        /// The event's id.
        event_id: Uuid,
        /// Why canonicalization failed.
        #[source]
        source: tracechain_domain::envelope::CanonicalError,
    },
    /// A record is larger than the bus accepts.
    #[error("record of {size} bytes for topic {topic} exceeds the limit of {limit} bytes")]
    RecordTooLarge {
        /// The destination topic.
        topic: String,
        /// The record's encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The broker (or the embedded log) did not acknowledge a record.
    #[error("publish to topic {topic}{} failed: {reason}", partition_suffix(*.partition))]
    Publish {
        /// The destination topic.
        topic: String,
        /// The partition, when it was known.
        partition: Option<i32>,
        /// The cause, as reported by the client.
        reason: String,
    },
    /// Some records of a batch were not acknowledged; the others were.
    #[error(
        "publish of a batch to topic {topic} failed for {} of {total} records (first: record #{}: {})",
        failures.len(),
        failures.first().map_or(0, |f| f.index),
        failures.first().map_or("", |f| f.reason.as_str())
    )]
    Batch {
        /// The destination topic.
        topic: String,
        /// How many records the batch had.
        total: usize,
        /// The records that were not acknowledged, by index in the batch.
        failures: Vec<BatchFailure>,
    },
    /// A Kafka client operation failed.
    #[error("kafka {operation}{} failed: {source}", topic_suffix(.topic.as_deref()))]
    Kafka {
        /// What was being done, e.g. `commit` or `fetch metadata`.
        operation: &'static str,
        /// The topic concerned, when there is one.
        topic: Option<String>,
        /// The client's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// Creating a topic failed for a reason other than its existence.
    #[error("create topic {topic} failed: {reason}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The broker's answer.
        reason: String,
    },
    /// A file of the embedded bus could not be read or written.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The embedded bus's data directory holds damaged data that recovery
    /// must not silently drop.
    #[error("corrupt data in {}: {reason}", path.display())]
    Corrupt {
        /// The damaged file or directory.
        path: PathBuf,
        /// What is wrong, with the byte position where there is one.
        reason: String,
    },
    /// An operation did not complete in time.
    #[error("{operation} timed out after {timeout:?}")]
    Timeout {
        /// What was being waited for.
        operation: String,
        /// How long it was given.
        timeout: Duration,
    },
    /// The consumer or reader was closed; it cannot be used again.
    #[error("the consumer is closed")]
    Closed,
    /// A background task of the bus failed (panicked or was cancelled).
    #[error("background task for {operation} failed: {reason}")]
    Task {
        /// What the task was doing.
        operation: &'static str,
        /// Why it ended.
        reason: String,
    },
}

/// One record of a batch that was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFailure {
    /// Index of the record in the batch given to `publish_batch`.
    pub index: usize,
    /// Why it failed.
    pub reason: String,
}

fn partition_suffix(partition: Option<i32>) -> String {
    partition.map_or_else(String::new, |p| format!(" partition {p}"))
}

fn topic_suffix(topic: Option<&str>) -> String {
    topic.map_or_else(String::new, |t| format!(" on topic {t}"))
}

impl BusError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> BusError {
        BusError::Io {
            path: path.into(),
            source,
        }
    }

    /// Corruption found in `path`.
    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> BusError {
        BusError::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// A Kafka client error during `operation`.
    pub(crate) fn kafka(
        operation: &'static str,
        topic: Option<&str>,
        source: rdkafka::error::KafkaError,
    ) -> BusError {
        BusError::Kafka {
            operation,
            topic: topic.map(str::to_owned),
            source,
        }
    }

    /// A background (blocking) task that did not finish normally.
    pub(crate) fn task(operation: &'static str, error: tokio::task::JoinError) -> BusError {
        BusError::Task {
            operation,
            reason: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_topic_partition_and_cause() {
        let e = BusError::Publish {
            topic: "t".into(),
            partition: Some(3),
            reason: "broker down".into(),
        };
        assert_eq!(
            e.to_string(),
            "publish to topic t partition 3 failed: broker down"
        );
        let e = BusError::Batch {
            topic: "t".into(),
            total: 10,
            failures: vec![BatchFailure {
                index: 4,
                reason: "timed out".into(),
            }],
        };
        assert_eq!(
            e.to_string(),
            "publish of a batch to topic t failed for 1 of 10 records (first: record #4: timed out)"
        );
        let e = BusError::UnknownPartition {
            topic: "t".into(),
            partition: 9,
            partitions: 3,
        };
        assert_eq!(
            e.to_string(),
            "partition 9 of topic t does not exist (the topic has 3)"
        );
    }
}
