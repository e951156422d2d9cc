//! Reading a Kafka topic from explicit positions: a `BaseConsumer` without a
//! group, assigned the partitions and offsets asked for.
//!
//! `auto.offset.reset=error`: a position the broker no longer (or not yet)
//! holds is an error, never a silent jump to the start or the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tokio::task::JoinHandle;

use crate::bus::PartitionReader;
use crate::error::BusError;
use crate::record::Record;

use super::context::BusContext;
use super::detach::DropOffThread;
use super::poll::poll_blocking;

/// A reader of some partitions of one topic.
#[derive(Debug)]
pub(crate) struct KafkaReader {
    consumer: DropOffThread<Arc<BaseConsumer<BusContext>>>,
    /// Next offset to read, per partition read.
    positions: BTreeMap<i32, i64>,
    /// A poll started by a call that was cancelled; its records come first.
    pending: Option<JoinHandle<Result<Vec<Record>, BusError>>>,
}

fn fatal(error: &KafkaError) -> bool {
    matches!(error, KafkaError::MessageConsumptionFatal(_))
        || matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::AutoOffsetReset)
        )
}

impl KafkaReader {
    /// Wraps a consumer already assigned `positions`.
    pub(crate) fn new(
        consumer: BaseConsumer<BusContext>,
        positions: BTreeMap<i32, i64>,
    ) -> KafkaReader {
        KafkaReader {
            consumer: DropOffThread::new(Arc::new(consumer), "reader"),
            positions,
            pending: None,
        }
    }
}

#[async_trait]
impl PartitionReader for KafkaReader {
    async fn poll_batch(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>, BusError> {
        let consumer = Arc::clone(&self.consumer);
        let handle = self.pending.get_or_insert_with(|| {
            tokio::task::spawn_blocking(move || poll_blocking(&consumer, max, timeout, fatal))
        });
        let joined = handle.await;
        self.pending = None;
        let records = joined.map_err(|e| BusError::task("read", e))??;
        for r in &records {
            self.positions
                .insert(r.partition, r.offset.saturating_add(1));
        }
        Ok(records)
    }

    fn positions(&self) -> BTreeMap<i32, i64> {
        self.positions.clone()
    }
}
