//! A member of an embedded consumer group: reads the partitions the group
//! hands it, from the group's committed offsets, and commits what it is told
//! was handled.
//!
//! Each poll first syncs with the group (that is where partitions are given
//! up and taken, see `group`), then reads, and waits — woken by appends and
//! group changes, not by a timer — when there is nothing to read. Positions
//! advance only when a poll returns, so a cancelled poll loses nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::bus::{GroupConsumer, TopicPartition};
use crate::deadline::tokio_deadline_after;
use crate::error::BusError;
use crate::record::{Position, Record};

use super::group::{Group, MemberId};
use super::topics::TopicLog;
use super::{read_partitions, wait_for_change};

/// A member of an embedded consumer group.
#[derive(Debug)]
pub(crate) struct EmbeddedGroupConsumer {
    group: Arc<Group>,
    member: MemberId,
    topics: BTreeMap<String, Arc<TopicLog>>,
    /// Next offset to read of every owned partition.
    positions: BTreeMap<TopicPartition, i64>,
    /// Rotates the partition read first, so none starves.
    next_first: usize,
    closed: bool,
}

impl EmbeddedGroupConsumer {
    /// Joins `group` on `topics`.
    pub(crate) fn join(group: Arc<Group>, topics: Vec<Arc<TopicLog>>) -> EmbeddedGroupConsumer {
        let member = group.join(
            topics
                .iter()
                .map(|t| (t.name.clone(), t.partition_count()))
                .collect(),
        );
        EmbeddedGroupConsumer {
            group,
            member,
            topics: topics.into_iter().map(|t| (t.name.clone(), t)).collect(),
            positions: BTreeMap::new(),
            next_first: 0,
            closed: false,
        }
    }

    fn sync(&mut self) {
        let handover = self.group.sync(self.member);
        for tp in handover.revoked {
            self.positions.remove(&tp);
        }
        for (tp, start) in handover.acquired {
            self.positions.insert(tp, start);
        }
    }
}

#[async_trait]
impl GroupConsumer for EmbeddedGroupConsumer {
    async fn poll_batch(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>, BusError> {
        if self.closed {
            return Err(BusError::Closed);
        }
        let deadline = tokio_deadline_after(timeout);
        loop {
            // Subscribe before looking, so a change in between is not missed.
            let mut watches: Vec<_> = self.topics.values().map(|t| t.watch_appends()).collect();
            watches.push(self.group.watch_changes());
            self.sync();
            let mut plan = Vec::with_capacity(self.positions.len());
            for ((topic, partition), from) in &self.positions {
                if let Some(log) = self.topics.get(topic) {
                    plan.push((Arc::clone(log), *partition, *from));
                }
            }
            if !plan.is_empty() {
                let first = self.next_first % plan.len();
                plan.rotate_left(first);
                self.next_first = self.next_first.wrapping_add(1);
            }
            let records = read_partitions(plan, max).await?;
            if !records.is_empty() {
                for r in &records {
                    self.positions
                        .insert((r.topic.clone(), r.partition), r.offset.saturating_add(1));
                }
                return Ok(records);
            }
            if !wait_for_change(&mut watches, deadline).await {
                return Ok(Vec::new());
            }
        }
    }

    async fn commit(&mut self, handled: &[Position]) -> Result<Vec<Position>, BusError> {
        if self.closed {
            return Err(BusError::Closed);
        }
        let mut highest: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for p in handled {
            let e = highest
                .entry((p.topic.clone(), p.partition))
                .or_insert(p.offset);
            *e = (*e).max(p.offset);
        }
        let next: BTreeMap<_, _> = highest
            .iter()
            .map(|(tp, o)| (tp.clone(), o.saturating_add(1)))
            .collect();
        let group = Arc::clone(&self.group);
        let member = self.member;
        let committed = tokio::task::spawn_blocking(move || group.commit(member, &next))
            .await
            .map_err(|e| BusError::task("commit", e))??;
        Ok(committed
            .into_iter()
            .map(|((topic, partition), next)| Position {
                topic,
                partition,
                offset: next.saturating_sub(1),
            })
            .collect())
    }

    async fn assignment(&self) -> Result<Vec<TopicPartition>, BusError> {
        if self.closed {
            return Err(BusError::Closed);
        }
        Ok(self.group.owned(self.member))
    }

    async fn close(&mut self) -> Result<(), BusError> {
        if !self.closed {
            self.closed = true;
            self.group.leave(self.member);
            tracing::debug!(group = %self.group.name(), member = self.member, "Consumer closed");
        }
        Ok(())
    }
}

impl Drop for EmbeddedGroupConsumer {
    fn drop(&mut self) {
        if !self.closed {
            // A crash: leave without committing; uncommitted records go to
            // whoever takes the partitions.
            self.group.leave(self.member);
        }
    }
}
