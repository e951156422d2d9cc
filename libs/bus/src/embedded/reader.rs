//! Reading an embedded topic from explicit positions, without a group.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::bus::PartitionReader;
use crate::deadline::tokio_deadline_after;
use crate::error::BusError;
use crate::record::Record;

use super::topics::TopicLog;
use super::{read_partitions, wait_for_change};

/// A reader of some partitions of one topic.
#[derive(Debug)]
pub(crate) struct EmbeddedReader {
    topic: Arc<TopicLog>,
    /// Next offset to read, per partition read.
    positions: BTreeMap<i32, i64>,
    /// Rotates the partition read first, so none starves.
    next_first: usize,
}

impl EmbeddedReader {
    /// A reader of `topic` from `start` (already validated by the caller).
    pub(crate) fn new(topic: Arc<TopicLog>, start: BTreeMap<i32, i64>) -> EmbeddedReader {
        EmbeddedReader {
            topic,
            positions: start,
            next_first: 0,
        }
    }
}

#[async_trait]
impl PartitionReader for EmbeddedReader {
    async fn poll_batch(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>, BusError> {
        let deadline = tokio_deadline_after(timeout);
        loop {
            let mut watches = vec![self.topic.watch_appends()];
            let mut plan: Vec<_> = self
                .positions
                .iter()
                .map(|(p, from)| (Arc::clone(&self.topic), *p, *from))
                .collect();
            if !plan.is_empty() {
                let first = self.next_first % plan.len();
                plan.rotate_left(first);
                self.next_first = self.next_first.wrapping_add(1);
            }
            let records = read_partitions(plan, max).await?;
            if !records.is_empty() {
                for r in &records {
                    self.positions
                        .insert(r.partition, r.offset.saturating_add(1));
                }
                return Ok(records);
            }
            if !wait_for_change(&mut watches, deadline).await {
                return Ok(Vec::new());
            }
        }
    }

    fn positions(&self) -> BTreeMap<i32, i64> {
        self.positions.clone()
    }
}
