//! Topic specifications: what `ensure_topics` creates at start-up.
//!
//! Creation is idempotent: a topic that already exists is left as it is (a
//! different partition count is logged, never changed, since that would move
//! keys to other partitions). Every domain topic has a dead-letter twin named
//! `<topic>.dlq` ([`dlq_topic`]).

use tracechain_domain::topics;

use crate::error::BusError;

/// Suffix of a dead-letter topic.
pub const DLQ_SUFFIX: &str = ".dlq";

/// The dead-letter topic of `topic`.
pub fn dlq_topic(topic: &str) -> String {
    format!("{topic}{DLQ_SUFFIX}")
}

/// Partitions of each domain topic in [`TopicSpec::platform_defaults`].
pub const DEFAULT_DOMAIN_PARTITIONS: i32 = 6;

/// How a topic is to be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Its name; Kafka's rules apply (see [`validate_topic_name`]).
    pub name: String,
    /// Number of partitions, at least 1. Keys map to partitions by murmur2
    /// modulo this number, so it must not change once events are published.
    pub partitions: i32,
    /// Copies of each partition kept by the cluster, at least 1 (the embedded
    /// bus keeps one copy, fsync'd).
    pub replication_factor: i16,
    /// `retention.ms`: how long records are kept; `Some(-1)` forever, `None`
    /// the broker's default. The embedded bus keeps everything.
    pub retention_ms: Option<i64>,
    /// `cleanup.policy=compact` instead of `delete`. The embedded bus does
    /// not compact.
    pub compacted: bool,
}

impl TopicSpec {
    /// A topic with `partitions` partitions, one replica, kept forever, not compacted.
    pub fn new(name: impl Into<String>, partitions: i32) -> TopicSpec {
        TopicSpec {
            name: name.into(),
            partitions,
            replication_factor: 1,
            retention_ms: Some(-1),
            compacted: false,
        }
    }

    /// The same, with `replication_factor` replicas.
    pub fn with_replication_factor(mut self, replication_factor: i16) -> TopicSpec {
        self.replication_factor = replication_factor;
        self
    }

    /// The same, with `retention.ms` (`None`: the broker's default).
    pub fn with_retention_ms(mut self, retention_ms: Option<i64>) -> TopicSpec {
        self.retention_ms = retention_ms;
        self
    }

    /// The same, compacted or not.
    pub fn with_compaction(mut self, compacted: bool) -> TopicSpec {
        self.compacted = compacted;
        self
    }

    /// The dead-letter twin: `<name>.dlq`, same partitions and replicas, kept forever.
    pub fn dlq(&self) -> TopicSpec {
        TopicSpec {
            name: dlq_topic(&self.name),
            partitions: self.partitions,
            replication_factor: self.replication_factor,
            retention_ms: Some(-1),
            compacted: false,
        }
    }

    /// The platform's topics: the three domain topics (keyed by aggregate id,
    /// [`DEFAULT_DOMAIN_PARTITIONS`] partitions each) and `ledger.blocks`
    /// (keyed by height, ONE partition: the chain has a single total order),
    /// all kept forever (Kafka is the system of record), each followed by its
    /// `.dlq` twin. One replica: raise it with
    /// [`with_replication_factor`](Self::with_replication_factor) for a cluster.
    pub fn platform_defaults() -> Vec<TopicSpec> {
        let mut specs = Vec::new();
        for name in topics::DOMAIN_TOPICS {
            let spec = TopicSpec::new(name, DEFAULT_DOMAIN_PARTITIONS);
            specs.push(spec.dlq());
            specs.push(spec);
        }
        let blocks = TopicSpec::new(topics::LEDGER_BLOCKS, 1);
        specs.push(blocks.dlq());
        specs.push(blocks);
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        specs
    }

    /// Checks the name and the numbers.
    pub fn validate(&self) -> Result<(), BusError> {
        validate_topic_name(&self.name)?;
        if self.partitions < 1 {
            return Err(BusError::Config {
                reason: format!(
                    "topic {} needs at least 1 partition, got {}",
                    self.name, self.partitions
                ),
            });
        }
        if self.replication_factor < 1 {
            return Err(BusError::Config {
                reason: format!(
                    "topic {} needs a replication factor of at least 1, got {}",
                    self.name, self.replication_factor
                ),
            });
        }
        if let Some(ms) = self.retention_ms
            && ms < -1
        {
            return Err(BusError::Config {
                reason: format!(
                    "topic {} has retention.ms {ms}: use -1 for forever or a positive number",
                    self.name
                ),
            });
        }
        Ok(())
    }
}

/// Longest topic name Kafka accepts.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Checks Kafka's topic naming rules: 1 to 249 characters from `[A-Za-z0-9._-]`,
/// and not `.` or `..`. (These rules also keep a name safe as a directory name
/// for the embedded bus.)
pub fn validate_topic_name(topic: &str) -> Result<(), BusError> {
    let reason = if topic.is_empty() {
        Some("it is empty")
    } else if topic.len() > MAX_TOPIC_NAME_LEN {
        Some("it is longer than 249 characters")
    } else if topic == "." || topic == ".." {
        Some("it cannot be \".\" or \"..\"")
    } else if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some("only ASCII letters, digits, '.', '_' and '-' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(BusError::InvalidTopicName {
            topic: topic.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_defaults_cover_the_four_topics_and_their_dlqs() {
        let names: Vec<_> = TopicSpec::platform_defaults()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(
            names,
            [
                "ledger.blocks",
                "ledger.blocks.dlq",
                "registry.events",
                "registry.events.dlq",
                "settlement.events",
                "settlement.events.dlq",
                "shipment.events",
                "shipment.events.dlq",
            ]
        );
        for spec in TopicSpec::platform_defaults() {
            spec.validate().unwrap();
            if spec.name.starts_with("ledger.blocks") {
                assert_eq!(spec.partitions, 1);
            }
        }
    }

    #[test]
    fn names_follow_kafka_rules() {
        for ok in ["a", "registry.events", "A_b-9.dlq", &"x".repeat(249)] {
            validate_topic_name(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "é", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(TopicSpec::new("t", 0).validate().is_err());
        assert!(
            TopicSpec::new("t", 1)
                .with_replication_factor(0)
                .validate()
                .is_err()
        );
        assert!(
            TopicSpec::new("t", 1)
                .with_retention_ms(Some(-2))
                .validate()
                .is_err()
        );
    }
}
