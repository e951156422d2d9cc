//! Settings of the Kafka bus, and the librdkafka configurations built from them.
//!
//! Fixed choices (not overridable through `extra`, which is applied first):
//! the producer is idempotent with `acks=all` and Java's `murmur2_random`
//! partitioner; group consumers never commit or store offsets on their own
//! and start from the earliest record; readers fail on an out-of-range
//! position instead of jumping elsewhere.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;

use crate::bus::ConsumerOptions;
use crate::error::BusError;

/// How to reach and use the Kafka cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `bootstrap.servers`, e.g. `127.0.0.1:9092`.
    pub brokers: String,
    /// `client.id` prefix, shown in broker logs.
    pub client_id: String,
    /// Default `session.timeout.ms` of group consumers (heartbeats every third
    /// of it). Short joins and failovers need a short one.
    pub session_timeout: Duration,
    /// Longest time a group member may take between two polls before the
    /// group gives its partitions away (`max.poll.interval.ms`); also how long
    /// a rebalance waits for members to rejoin. A consumer loop's slowest
    /// batch must fit in it.
    pub max_poll_interval: Duration,
    /// How long a publish may wait for the broker's acknowledgement
    /// (`message.timeout.ms`), retries included, before it fails.
    pub delivery_timeout: Duration,
    /// Bound of every other broker round trip: metadata, topic creation,
    /// commits, leaving a group.
    pub request_timeout: Duration,
    /// `linger.ms`: how long the producer waits to fill a batch.
    pub linger: Duration,
    /// Most records in one producer batch (`batch.num.messages`), and how far
    /// before a resume position consumers start fetching (0: not at all) —
    /// a guard for brokers that serve a fetch from the first batch starting
    /// at or after the fetch offset (tansu 0.6), which would otherwise skip
    /// the rest of the batch holding a committed offset.
    pub max_batch_records: u32,
    /// More librdkafka properties, applied to every client before the fixed
    /// ones (security settings, tuning).
    pub extra: BTreeMap<String, String>,
}

impl KafkaConfig {
    /// Defaults for `brokers`: 10 s session, 30 s delivery, 10 s requests,
    /// 5 ms linger, batches of at most 1000 records.
    pub fn new(brokers: impl Into<String>) -> KafkaConfig {
        KafkaConfig {
            brokers: brokers.into(),
            client_id: "tracechain".to_owned(),
            session_timeout: Duration::from_secs(10),
            max_poll_interval: Duration::from_secs(300),
            delivery_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            linger: Duration::from_millis(5),
            max_batch_records: 1000,
            extra: BTreeMap::new(),
        }
    }

    /// How many records before a resume position consumers start fetching.
    pub(crate) fn resume_lookback(&self) -> i64 {
        i64::from(self.max_batch_records)
    }

    /// Checks values librdkafka would refuse or misread.
    pub fn validate(&self) -> Result<(), BusError> {
        let fail = |reason: String| Err(BusError::Config { reason });
        if self.brokers.trim().is_empty() {
            return fail("kafka brokers are empty".to_owned());
        }
        if self.session_timeout < Duration::from_millis(3) {
            return fail(format!(
                "kafka session timeout {:?} is too short",
                self.session_timeout
            ));
        }
        if self.delivery_timeout < Duration::from_millis(1) {
            return fail("kafka delivery timeout must be at least 1 ms".to_owned());
        }
        if self.request_timeout < Duration::from_millis(1) {
            return fail("kafka request timeout must be at least 1 ms".to_owned());
        }
        Ok(())
    }

    fn base(&self, role: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (k, v) in &self.extra {
            config.set(k, v);
        }
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", format!("{}-{role}", self.client_id));
        config
    }

    /// The producer's configuration.
    pub(crate) fn producer(&self) -> ClientConfig {
        let mut config = self.base("producer");
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", millis(self.linger))
            .set(
                "batch.num.messages",
                self.max_batch_records.max(1).to_string(),
            )
            .set("message.timeout.ms", millis(self.delivery_timeout))
            .set("request.timeout.ms", millis(self.request_timeout));
        config
    }

    /// The configuration of a member of `group`.
    pub(crate) fn group_consumer(&self, group: &str, options: &ConsumerOptions) -> ClientConfig {
        let session = options.session_timeout.unwrap_or(self.session_timeout);
        let mut config = self.base("consumer");
        for (k, v) in &options.extra {
            config.set(k, v);
        }
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", millis(session))
            .set(
                "heartbeat.interval.ms",
                millis((session / 3).max(Duration::from_millis(1))),
            )
            .set(
                "max.poll.interval.ms",
                millis(self.max_poll_interval.max(session)),
            )
            .set("fetch.wait.max.ms", "100");
        config
    }

    /// The configuration of a reader: out-of-range is an error. It has a
    /// group id of its own (librdkafka wants one) but never joins or commits.
    pub(crate) fn reader(&self) -> ClientConfig {
        let mut config = self.base("reader");
        config
            .set(
                "group.id",
                format!("{}-reader-{}", self.client_id, uuid::Uuid::now_v7()),
            )
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "error")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "100");
        config
    }

    /// The admin client's configuration.
    pub(crate) fn admin(&self) -> ClientConfig {
        self.base("admin")
    }
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_settings_win_over_extra() {
        let mut c = KafkaConfig::new("127.0.0.1:9092");
        c.extra.insert("acks".into(), "1".into());
        c.extra.insert("compression.type".into(), "lz4".into());
        let p = c.producer();
        assert_eq!(p.get("acks"), Some("all"));
        assert_eq!(p.get("enable.idempotence"), Some("true"));
        assert_eq!(p.get("partitioner"), Some("murmur2_random"));
        assert_eq!(p.get("compression.type"), Some("lz4"));
        let g = c.group_consumer(
            "g",
            &ConsumerOptions {
                session_timeout: Some(Duration::from_secs(6)),
                ..ConsumerOptions::default()
            },
        );
        assert_eq!(g.get("session.timeout.ms"), Some("6000"));
        assert_eq!(g.get("heartbeat.interval.ms"), Some("2000"));
        assert_eq!(g.get("enable.auto.commit"), Some("false"));
        assert_eq!(g.get("enable.auto.offset.store"), Some("false"));
        assert!(KafkaConfig::new(" ").validate().is_err());
        c.validate().unwrap();
    }
}
