//! Polling a librdkafka consumer into owned [`Record`]s.
//!
//! Consumers are `BaseConsumer`s polled by the bus itself on the blocking
//! pool, not `StreamConsumer`s: with a `StreamConsumer` the stream can stall
//! after manual commits (rust-rdkafka #848), and its rebalance callbacks run
//! on a background task; here the rebalance callbacks run inside our own
//! poll, exactly when the bus's "commit before poll" rule expects them.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers as _, Message};

use crate::deadline::deadline_after;
use crate::error::BusError;
use crate::headers::Headers;
use crate::record::Record;

use super::context::BusContext;

/// An owned copy of `message`. A header with a null value gets an empty one.
pub(crate) fn to_record(message: &BorrowedMessage<'_>) -> Record {
    let headers = message
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| {
                    (
                        h.key.to_owned(),
                        h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Record {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        headers: Headers::from(headers),
        payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        timestamp_ms: message.timestamp().to_millis(),
    }
}

/// Up to `max` records: waits up to `timeout` for the first, then takes only
/// what is already fetched. Records below their partition's floor are
/// dropped (see `context`). Errors for which `is_fatal` holds end the poll
/// (when no record was taken yet); others are logged and polling goes on.
pub(crate) fn poll_blocking(
    consumer: &BaseConsumer<BusContext>,
    max: usize,
    timeout: Duration,
    is_fatal: fn(&KafkaError) -> bool,
) -> Result<Vec<Record>, BusError> {
    let deadline = deadline_after(timeout);
    let mut out = Vec::new();
    while out.len() < max {
        let wait = if out.is_empty() {
            deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::ZERO
        };
        match consumer.poll(wait) {
            Some(Ok(message)) => {
                if consumer
                    .context()
                    .admit(message.topic(), message.partition(), message.offset())
                {
                    out.push(to_record(&message));
                }
            }
            Some(Err(error)) if is_fatal(&error) && out.is_empty() => {
                return Err(BusError::kafka("consume", None, error));
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "Kafka consume error");
                if !out.is_empty() || Instant::now() >= deadline {
                    break;
                }
            }
            None => {
                if !out.is_empty() || Instant::now() >= deadline {
                    break;
                }
            }
        }
    }
    Ok(out)
}
