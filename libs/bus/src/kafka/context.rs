//! The librdkafka client context: forwards librdkafka's logs and errors to
//! `tracing` (rdkafka's default writes to the `log` crate), runs group
//! rebalances, and keeps each consumed partition's **floor**.
//!
//! The floor of a partition is the lowest offset the consumer may still
//! deliver: the position it was asked to start from, then one past the last
//! record delivered. Records below it are dropped. It exists because a
//! broker may serve a fetch with whole batches starting at or AFTER the
//! fetch offset: tansu 0.6 does, so a fetch from an offset in the middle of
//! a batch (any committed offset, or a ledger position) would silently skip
//! the rest of that batch. A consumer therefore starts `resume_lookback`
//! records before the wanted position (a batch holds at most that many
//! records, see `KafkaConfig::max_batch_records`) and drops what lies below
//! the floor. On a standard broker this only re-reads a few records on
//! assignment; it also drops duplicates a broker might send.
//!
//! No commit happens in a rebalance callback: the bus's rule is that callers
//! commit what they handled before polling again, and revocations are only
//! ever delivered inside a poll, so there is nothing left to commit then.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset};

/// Floors per topic, then per partition.
type Floors = HashMap<String, HashMap<i32, i64>>;

/// Context of every client the Kafka bus creates.
#[derive(Debug, Default)]
pub(crate) struct BusContext {
    /// The consumer group, for log lines; empty for other clients.
    group: String,
    /// How many records before a resume position fetching starts (0: none).
    lookback: i64,
    /// Bound of the committed-offsets lookup during a rebalance.
    request_timeout: Duration,
    /// See the module docs.
    floors: Mutex<Floors>,
}

fn partitions(list: &TopicPartitionList) -> Vec<(String, i32)> {
    list.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl BusContext {
    /// The context of a consumer (group member or reader).
    pub(crate) fn consumer(group: &str, lookback: i64, request_timeout: Duration) -> BusContext {
        BusContext {
            group: group.to_owned(),
            lookback: lookback.max(0),
            request_timeout,
            floors: Mutex::default(),
        }
    }

    fn floors(&self) -> MutexGuard<'_, Floors> {
        // Updates are single inserts and removes; poisoning is ignored.
        self.floors.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a record at `offset` may be delivered; if so, the floor moves past it.
    pub(crate) fn admit(&self, topic: &str, partition: i32, offset: i64) -> bool {
        let mut floors = self.floors();
        let floor = floors
            .entry(topic.to_owned())
            .or_default()
            .entry(partition)
            .or_insert(offset);
        if offset < *floor {
            return false;
        }
        *floor = offset.saturating_add(1);
        true
    }

    /// Where to start fetching to resume at `position`, and records the floor.
    pub(crate) fn resume_at(&self, topic: &str, partition: i32, position: i64, low: i64) -> i64 {
        self.floors()
            .entry(topic.to_owned())
            .or_default()
            .insert(partition, position);
        position.saturating_sub(self.lookback).max(low).max(0)
    }

    fn forget(&self, list: &TopicPartitionList) {
        let mut floors = self.floors();
        for (topic, partition) in partitions(list) {
            if let Some(by_partition) = floors.get_mut(&topic) {
                by_partition.remove(&partition);
            }
        }
    }

    /// Sets the fetch offsets of newly assigned partitions to their committed
    /// offsets minus the lookback (see the module docs).
    fn rewind_to_committed(&self, consumer: &BaseConsumer<Self>, list: &mut TopicPartitionList) {
        self.forget(list);
        if self.lookback == 0 {
            return;
        }
        let committed = match consumer.committed_offsets(list.clone(), self.request_timeout) {
            Ok(committed) => committed,
            Err(error) => {
                tracing::warn!(
                    group = %self.group, %error,
                    "Committed offsets unavailable; resuming without lookback"
                );
                return;
            }
        };
        for e in committed.elements() {
            if let Offset::Offset(position) = e.offset() {
                let start = self.resume_at(e.topic(), e.partition(), position, 0);
                if let Err(error) =
                    list.set_partition_offset(e.topic(), e.partition(), Offset::Offset(start))
                {
                    tracing::warn!(group = %self.group, %error, "Cannot set a resume offset");
                }
            }
        }
    }
}

impl ClientContext for BusContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility = fac, "{log_message}");
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", facility = fac, "{log_message}");
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility = fac, "{log_message}");
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", facility = fac, "{log_message}");
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", %error, reason, group = %self.group, "Kafka client error");
    }
}

impl ConsumerContext for BusContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        list: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                tracing::info!(group = %self.group, partitions = ?partitions(list), "Partitions assigned");
                self.rewind_to_committed(consumer, list);
                if cooperative {
                    consumer.incremental_assign(list)
                } else {
                    consumer.assign(list)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(group = %self.group, partitions = ?partitions(list), "Partitions revoked");
                self.forget(list);
                if cooperative {
                    consumer.incremental_unassign(list)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::warn!(group = %self.group, error = ?other, "Rebalance failed; unassigning");
                self.floors().clear();
                consumer.unassign()
            }
        };
        if let Err(error) = result {
            tracing::warn!(group = %self.group, %error, "Applying a rebalance failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_drop_records_below_the_resume_position_and_duplicates() {
        let ctx = BusContext::consumer("g", 1000, Duration::from_secs(1));
        assert_eq!(ctx.resume_at("t", 0, 1500, 0), 500);
        assert_eq!(ctx.resume_at("t", 1, 10, 0), 0);
        assert_eq!(ctx.resume_at("t", 2, 10, 7), 7);
        assert!(!ctx.admit("t", 0, 1499));
        assert!(ctx.admit("t", 0, 1500));
        assert!(!ctx.admit("t", 0, 1500), "a duplicate is dropped");
        assert!(ctx.admit("t", 0, 1502), "gaps are fine");
        assert!(ctx.admit("other", 3, 0), "no floor: anything goes");
    }
}
