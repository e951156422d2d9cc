//! The low and high watermarks of a topic's partitions, checked by reading.
//!
//! The high watermark a broker lists (ListOffsets "latest") should be one
//! past the last record. tansu 0.6 lists one past the BASE offset of the last
//! batch instead, which is too low whenever that batch holds several records.
//! So after listing, we read from `listed high - 1`: on a standard broker that
//! is the last record (confirming the listed value); on such a broker it is
//! the start of the last batch, whose records tell the real end. The answer
//! is the larger of the two. Blocking; bounded by `timeout`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::client::Client;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::deadline::deadline_after;
use crate::error::BusError;

use super::admin;
use super::config::KafkaConfig;
use super::context::BusContext;
use super::detach::DropOffThread;

/// Longest wait for the last records when checking the listed high watermarks.
const PROBE_WAIT: Duration = Duration::from_secs(2);

/// `(low, high)` per partition of `topic`, the high watermark checked by reading.
pub(crate) fn watermarks<C: ClientContext>(
    client: &Client<C>,
    config: &KafkaConfig,
    topic: &str,
    timeout: Duration,
) -> Result<BTreeMap<i32, (i64, i64)>, BusError> {
    let mut marks = admin::watermarks(client, topic, timeout)?;
    let probe: Vec<(i32, i64)> = marks
        .iter()
        .filter(|(_, (low, high))| high > low)
        .map(|(p, (_, high))| (*p, high - 1))
        .collect();
    if probe.is_empty() {
        return Ok(marks);
    }
    let consumer: BaseConsumer<BusContext> = BaseConsumer::from_config_and_context(
        &config.reader(),
        BusContext::consumer("", 0, timeout),
    )
    .map_err(|e| BusError::kafka("create watermark probe", Some(topic), e))?;
    let consumer = DropOffThread::new(consumer, "watermark-probe");
    let mut list = TopicPartitionList::new();
    for (p, offset) in &probe {
        list.add_partition_offset(topic, *p, Offset::Offset(*offset))
            .map_err(|e| BusError::kafka("assign watermark probe", Some(topic), e))?;
    }
    consumer
        .assign(&list)
        .map_err(|e| BusError::kafka("assign watermark probe", Some(topic), e))?;
    let mut waiting: BTreeSet<i32> = probe.iter().map(|(p, _)| *p).collect();
    let deadline = deadline_after(timeout.min(PROBE_WAIT));
    loop {
        let wait = if waiting.is_empty() {
            // Everything answered: drain what is already fetched, then stop.
            Duration::ZERO
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        match consumer.poll(wait) {
            Some(Ok(message)) => {
                let p = message.partition();
                waiting.remove(&p);
                if let Some((_, high)) = marks.get_mut(&p) {
                    *high = (*high).max(message.offset() + 1);
                }
            }
            Some(Err(error)) => {
                tracing::debug!(%error, topic, "Watermark probe error");
            }
            None if waiting.is_empty() || Instant::now() >= deadline => break,
            None => {}
        }
    }
    if !waiting.is_empty() {
        tracing::debug!(topic, partitions = ?waiting, "Watermark probe got no record; keeping the listed value");
    }
    Ok(marks)
}
