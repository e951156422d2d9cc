//! A member of a Kafka consumer group, over a `BaseConsumer` polled on the
//! blocking pool.
//!
//! Invariants:
//! - offsets are never committed or stored automatically; [`commit`] commits
//!   synchronously, and only for partitions in the current assignment
//!   (positions of partitions revoked in a rebalance are skipped and logged:
//!   committing them would fail, or worse, rewind the new owner);
//! - the assignment changes only inside a poll (librdkafka runs the rebalance
//!   callback from the poll call), so nothing is revoked between a poll and
//!   the commit that follows it;
//! - a cancelled `poll_batch` leaves its blocking poll in `pending`, and the
//!   next call takes its records: nothing fetched is skipped;
//! - `close` leaves the group within the request timeout; dropping never
//!   blocks (the client is destroyed on a thread of its own).
//!
//! [`commit`]: GroupConsumer::commit

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use tokio::task::JoinHandle;

use crate::bus::{GroupConsumer, TopicPartition};
use crate::error::BusError;
use crate::record::{Position, Record};

use super::context::BusContext;
use super::detach::drop_on_own_thread;
use super::poll::poll_blocking;

/// A member of a Kafka consumer group.
pub(crate) struct KafkaGroupConsumer {
    /// `None` once closed. Destroying it leaves the group (librdkafka's
    /// consumer close), so it is only ever dropped off the caller's thread.
    consumer: Option<Arc<BaseConsumer<BusContext>>>,
    group: String,
    /// A poll started by a call that was cancelled; its records come first.
    pending: Option<JoinHandle<Result<Vec<Record>, BusError>>>,
    /// Bound of commits and of leaving the group.
    request_timeout: Duration,
}

impl std::fmt::Debug for KafkaGroupConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaGroupConsumer")
            .field("group", &self.group)
            .field("closed", &self.consumer.is_none())
            .finish_non_exhaustive()
    }
}

fn fatal(error: &KafkaError) -> bool {
    matches!(error, KafkaError::MessageConsumptionFatal(_))
}

impl KafkaGroupConsumer {
    /// Wraps a consumer already subscribed to its topics.
    pub(crate) fn new(
        consumer: BaseConsumer<BusContext>,
        group: &str,
        request_timeout: Duration,
    ) -> KafkaGroupConsumer {
        KafkaGroupConsumer {
            consumer: Some(Arc::new(consumer)),
            group: group.to_owned(),
            pending: None,
            request_timeout,
        }
    }

    fn handle(&self) -> Result<Arc<BaseConsumer<BusContext>>, BusError> {
        self.consumer
            .as_ref()
            .map(Arc::clone)
            .ok_or(BusError::Closed)
    }

    /// Runs `f` on the blocking pool, bounded by the request timeout.
    async fn blocking<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&BaseConsumer<BusContext>) -> Result<T, BusError> + Send + 'static,
    ) -> Result<T, BusError> {
        let consumer = self.handle()?;
        let task = tokio::task::spawn_blocking(move || f(&consumer));
        match tokio::time::timeout(self.request_timeout, task).await {
            Ok(joined) => joined.map_err(|e| BusError::task(operation, e))?,
            Err(_) => Err(BusError::Timeout {
                operation: format!("kafka {operation} of group {}", self.group),
                timeout: self.request_timeout,
            }),
        }
    }
}

fn assigned(consumer: &BaseConsumer<BusContext>) -> Result<BTreeSet<TopicPartition>, BusError> {
    let list = consumer
        .assignment()
        .map_err(|e| BusError::kafka("read assignment", None, e))?;
    Ok(list
        .elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect())
}

#[async_trait]
impl GroupConsumer for KafkaGroupConsumer {
    async fn poll_batch(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>, BusError> {
        let consumer = self.handle()?;
        let handle = self.pending.get_or_insert_with(|| {
            tokio::task::spawn_blocking(move || poll_blocking(&consumer, max, timeout, fatal))
        });
        let joined = handle.await;
        self.pending = None;
        joined.map_err(|e| BusError::task("poll", e))?
    }

    async fn commit(&mut self, handled: &[Position]) -> Result<Vec<Position>, BusError> {
        self.handle()?;
        let mut highest: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for p in handled {
            let e = highest
                .entry((p.topic.clone(), p.partition))
                .or_insert(p.offset);
            *e = (*e).max(p.offset);
        }
        if highest.is_empty() {
            return Ok(Vec::new());
        }
        let group = self.group.clone();
        self.blocking("commit", move |consumer| {
            let owned = assigned(consumer)?;
            let mut list = TopicPartitionList::new();
            let mut committed = Vec::new();
            for ((topic, partition), offset) in highest {
                if !owned.contains(&(topic.clone(), partition)) {
                    tracing::warn!(
                        %group, %topic, partition, offset,
                        "Commit skipped: the partition is no longer assigned to this consumer"
                    );
                    continue;
                }
                list.add_partition_offset(
                    &topic,
                    partition,
                    Offset::Offset(offset.saturating_add(1)),
                )
                .map_err(|e| BusError::kafka("commit", Some(&topic), e))?;
                committed.push(Position {
                    topic,
                    partition,
                    offset,
                });
            }
            if committed.is_empty() {
                return Ok(committed);
            }
            consumer
                .commit(&list, CommitMode::Sync)
                .map_err(|e| BusError::kafka("commit", None, e))?;
            Ok(committed)
        })
        .await
    }

    async fn assignment(&self) -> Result<Vec<TopicPartition>, BusError> {
        let consumer = self.handle()?;
        Ok(assigned(&consumer)?.into_iter().collect())
    }

    async fn close(&mut self) -> Result<(), BusError> {
        let Some(consumer) = self.consumer.take() else {
            return Ok(());
        };
        if let Some(pending) = self.pending.take() {
            // Its records are dropped unhandled and uncommitted: redelivered.
            let _ = pending.await;
        }
        // Destroying the consumer closes it: revokes, leaves the group and
        // waits for that. Bounded here; past the bound it finishes alone.
        let group = self.group.clone();
        let task = tokio::task::spawn_blocking(move || {
            drop(consumer);
            tracing::debug!(%group, "Consumer left its group");
        });
        match tokio::time::timeout(self.request_timeout, task).await {
            Ok(joined) => joined.map_err(|e| BusError::task("close", e)),
            Err(_) => Err(BusError::Timeout {
                operation: format!("kafka leave group {}", self.group),
                timeout: self.request_timeout,
            }),
        }
    }
}

impl Drop for KafkaGroupConsumer {
    fn drop(&mut self) {
        if let Some(consumer) = self.consumer.take() {
            drop_on_own_thread(consumer, "group-consumer");
        }
    }
}
