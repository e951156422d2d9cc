//! Publishing on Kafka: hand records to the idempotent producer and wait for
//! every delivery report.
//!
//! A record counts as published only when its delivery report says the
//! broker acknowledged it (`acks=all`); a report of failure, a full queue
//! that does not drain within the delivery timeout, or a producer dropped
//! before reporting are failures. Records of one call are enqueued in order,
//! and the idempotent producer keeps that order per partition across retries.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures::FutureExt;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use crate::deadline::deadline_after;
use crate::outgoing::WireRecord;

use super::context::BusContext;

/// The outcome of one record: `(partition, offset)` or why it failed.
pub(crate) type Delivery = Result<(i32, i64), String>;

fn headers_of(record: &WireRecord<'_>) -> OwnedHeaders {
    record.fold_headers(
        OwnedHeaders::new_with_capacity(record.header_count()),
        |hs, key, value| {
            hs.insert(Header {
                key,
                value: Some(value),
            })
        },
    )
}

fn report(result: Result<OwnedDeliveryResult, futures::channel::oneshot::Canceled>) -> Delivery {
    match result {
        Ok(Ok(delivery)) => Ok((delivery.partition, delivery.offset)),
        Ok(Err((error, _message))) => Err(error.to_string()),
        Err(_) => Err("the producer was dropped before reporting delivery".to_owned()),
    }
}

/// How long after the delivery timeout a missing report counts as a failure.
const REPORT_GRACE: Duration = Duration::from_millis(500);

/// The delivery report of `future`, or a failure if none came by `until`.
async fn report_by(
    until: Instant,
    mut future: DeliveryFuture,
    delivery_timeout: Duration,
) -> Delivery {
    // Most reports of a batch are in by the time they are awaited: those
    // need no timer.
    if let Some(result) = (&mut future).now_or_never() {
        return report(result);
    }
    match tokio::time::timeout_at(until.into(), future).await {
        Ok(result) => report(result),
        Err(_) => Err(format!(
            "not acknowledged within the delivery timeout of {delivery_timeout:?}"
        )),
    }
}

/// Publishes `records` to `topic` and waits for all their delivery reports;
/// one outcome per record, in input order.
pub(crate) async fn send_all(
    producer: &FutureProducer<BusContext>,
    topic: &str,
    records: impl ExactSizeIterator<Item = WireRecord<'_>>,
    delivery_timeout: Duration,
) -> Vec<Delivery> {
    let deadline = deadline_after(delivery_timeout);
    // librdkafka enforces `message.timeout.ms` itself, but reports late
    // (seconds after it) when the broker is gone; past this bound a record
    // is reported as failed. It may still be written later: publishing is
    // at least once, and consumers deduplicate by event id.
    let bound = delivery_timeout.saturating_add(REPORT_GRACE);
    let count = records.len();
    let mut outcomes: Vec<Option<Delivery>> = vec![None; count];
    // Sized once: growing it record by record reallocates a buffer of up to
    // tens of kilobytes several times per call, and each large allocation
    // makes glibc's malloc consolidate every small free chunk.
    let mut in_flight: VecDeque<(usize, Instant, DeliveryFuture)> = VecDeque::with_capacity(count);
    for (i, record) in records.enumerate() {
        let mut to_send = FutureRecord::to(topic)
            .payload(record.payload)
            .headers(headers_of(&record));
        if let Some(key) = record.key {
            to_send = to_send.key(key);
        }
        loop {
            match producer.send_result(to_send) {
                Ok(future) => {
                    in_flight.push_back((i, deadline_after(bound), future));
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if Instant::now() < deadline =>
                {
                    to_send = back;
                    // Make room: wait for the oldest delivery of this call,
                    // or briefly when the queue is full of others' records.
                    match in_flight.pop_front() {
                        Some((j, until, future)) => {
                            outcomes[j] = Some(report_by(until, future, delivery_timeout).await);
                        }
                        None => tokio::time::sleep(Duration::from_millis(2)).await,
                    }
                }
                Err((error, _)) => {
                    outcomes[i] = Some(Err(error.to_string()));
                    break;
                }
            }
        }
    }
    for (j, until, future) in in_flight {
        outcomes[j] = Some(report_by(until, future, delivery_timeout).await);
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err("no delivery report".to_owned())))
        .collect()
}
