//! The one consumer loop every service runs, written once over the bus traits.
//!
//! Per batch: poll → for each record, in order: decode (undecodable → dead
//! letter at once) → [`Handler::handle`]; a transient error is retried with
//! exponential backoff up to `max_attempts` calls, then dead-lettered; a
//! permanent error is dead-lettered at once → commit the batch → poll again.
//!
//! Invariants:
//! - **At least once**: a record's position is committed only after its
//!   handler succeeded or its dead letter was acknowledged by the bus.
//! - **Commit before poll**: handled records are committed before the next
//!   poll, and partitions move between group members only at a poll, so a
//!   rebalance never hands another member an event this one committed.
//! - **Consumption goes on** past a poison record: it lands in `<topic>.dlq`
//!   (same key, same payload, the original headers plus `tc-dlq-*` headers
//!   saying why, from where and after how many attempts).
//! - **Graceful stop**: on `shutdown` the record in hand is finished (a retry
//!   wait is cut short and that record left uncommitted), what was handled
//!   is committed, and the consumer leaves its group.
//!
//! Every outcome is logged and counted together ([`ConsumerMetrics`]).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use tracechain_domain::Envelope;
use tracing::Instrument;

use crate::bus::{EventBus, GroupConsumer};
use crate::error::BusError;
use crate::headers;
use crate::record::{Position, Record};
use crate::topic::dlq_topic;

/// A boxed error a handler returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a handler did not handle an event.
#[derive(Debug)]
pub enum HandlerError {
    /// Might succeed if tried again (a store is down, a timeout): retried
    /// with backoff, then dead-lettered.
    Transient(BoxError),
    /// Will never succeed (invalid content, a broken invariant): dead-lettered at once.
    Permanent(BoxError),
}

impl HandlerError {
    /// A transient error.
    pub fn transient(error: impl Into<BoxError>) -> HandlerError {
        HandlerError::Transient(error.into())
    }

    /// A permanent error.
    pub fn permanent(error: impl Into<BoxError>) -> HandlerError {
        HandlerError::Permanent(error.into())
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Transient(e) => write!(f, "transient error: {e}"),
            HandlerError::Permanent(e) => write!(f, "permanent error: {e}"),
        }
    }
}

impl std::error::Error for HandlerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HandlerError::Transient(e) | HandlerError::Permanent(e) => Some(e.as_ref()),
        }
    }
}

/// What a service does with each event. Must be idempotent: delivery is at
/// least once.
#[async_trait]
pub trait Handler: Send + Sync {
    /// Handles one decoded event. Runs inside a span whose parent is the
    /// publisher's trace (from the record's `traceparent`).
    async fn handle(&self, record: &Record, envelope: &Envelope) -> Result<(), HandlerError>;

    /// Called after a batch was handled and before its positions are
    /// committed: the place to make what the handler wrote durable (persist
    /// positions, flush a store), so committed offsets never run ahead of
    /// durable state. An error skips this commit only: consumption goes on,
    /// and a later batch's commit covers these positions too, so a handler
    /// must retry at its next call whatever it failed to make durable. If no
    /// later commit succeeds, the records are redelivered after a restart or
    /// rebalance, which the handler's idempotency absorbs.
    async fn before_commit(&self, handled: &[Position]) -> Result<(), HandlerError> {
        let _ = handled;
        Ok(())
    }
}

/// How transient errors are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Handler calls before a record is dead-lettered (at least 1).
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub initial_backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Counters of one consumer loop (or several sharing it), readable while it runs.
///
/// Exported as `tracechain_bus_<name>_total` by whoever scrapes them.
#[derive(Debug, Default)]
pub struct ConsumerMetrics {
    /// Records returned by polls.
    pub records_polled: AtomicU64,
    /// Events whose handler succeeded.
    pub events_handled: AtomicU64,
    /// Handler calls retried after a transient error.
    pub handler_retries: AtomicU64,
    /// Records written to a dead-letter topic.
    pub dead_lettered: AtomicU64,
    /// Records that could not be decoded as envelopes (also dead-lettered).
    pub undecodable: AtomicU64,
    /// Dead-letter publishes that failed (and were retried).
    pub dead_letter_failures: AtomicU64,
    /// Successful commits.
    pub commits: AtomicU64,
    /// Commits that failed (the records will be redelivered).
    pub commit_failures: AtomicU64,
    /// Polls that failed.
    pub poll_failures: AtomicU64,
}

/// A copy of [`ConsumerMetrics`] at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// See [`ConsumerMetrics::records_polled`].
    pub records_polled: u64,
    /// See [`ConsumerMetrics::events_handled`].
    pub events_handled: u64,
    /// See [`ConsumerMetrics::handler_retries`].
    pub handler_retries: u64,
    /// See [`ConsumerMetrics::dead_lettered`].
    pub dead_lettered: u64,
    /// See [`ConsumerMetrics::undecodable`].
    pub undecodable: u64,
    /// See [`ConsumerMetrics::dead_letter_failures`].
    pub dead_letter_failures: u64,
    /// See [`ConsumerMetrics::commits`].
    pub commits: u64,
    /// See [`ConsumerMetrics::commit_failures`].
    pub commit_failures: u64,
    /// See [`ConsumerMetrics::poll_failures`].
    pub poll_failures: u64,
}

impl ConsumerMetrics {
    /// The current values.
    pub fn snapshot(&self) -> ConsumerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ConsumerStats {
            records_polled: get(&self.records_polled),
            events_handled: get(&self.events_handled),
            handler_retries: get(&self.handler_retries),
            dead_lettered: get(&self.dead_lettered),
            undecodable: get(&self.undecodable),
            dead_letter_failures: get(&self.dead_letter_failures),
            commits: get(&self.commits),
            commit_failures: get(&self.commit_failures),
            poll_failures: get(&self.poll_failures),
        }
    }
}

fn count(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Settings of [`run_consumer_with`].
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// Retries of transient handler errors.
    pub retry: RetryPolicy,
    /// Most records per poll (and so per commit).
    pub batch_size: usize,
    /// Longest wait for records in one poll.
    pub poll_timeout: Duration,
    /// Where the loop counts what it does.
    pub metrics: Arc<ConsumerMetrics>,
}

impl Default for LoopOptions {
    fn default() -> Self {
        LoopOptions {
            retry: RetryPolicy::default(),
            batch_size: 500,
            poll_timeout: Duration::from_millis(500),
            metrics: Arc::default(),
        }
    }
}

/// Runs `handler` over `consumer` until `shutdown`, dead-lettering through
/// `dlq_bus`, with default batch size and poll timeout. See the module docs.
pub async fn run_consumer<H: Handler>(
    consumer: Box<dyn GroupConsumer>,
    dlq_bus: Arc<dyn EventBus>,
    handler: H,
    retry: RetryPolicy,
    shutdown: CancellationToken,
) -> Result<ConsumerStats, BusError> {
    let options = LoopOptions {
        retry,
        ..LoopOptions::default()
    };
    run_consumer_with(consumer, dlq_bus, handler, options, shutdown).await
}

/// [`run_consumer`] with every setting given. Returns the counters at the
/// end; fails only when the consumer is unusable or cannot close.
pub async fn run_consumer_with<H: Handler>(
    mut consumer: Box<dyn GroupConsumer>,
    dlq_bus: Arc<dyn EventBus>,
    handler: H,
    options: LoopOptions,
    shutdown: CancellationToken,
) -> Result<ConsumerStats, BusError> {
    let ctx = LoopContext {
        dlq_bus,
        handler,
        options,
        shutdown,
    };
    let result = ctx.run(consumer.as_mut()).await;
    let closed = consumer.close().await;
    let stats = ctx.options.metrics.snapshot();
    tracing::info!(?stats, "Consumer loop stopped");
    result?;
    closed?;
    Ok(stats)
}

/// What became of one record.
enum Outcome {
    /// Handled or dead-lettered: its position may be committed.
    Done,
    /// Shutdown came first: not handled, must not be committed.
    Interrupted,
}

struct LoopContext<H> {
    dlq_bus: Arc<dyn EventBus>,
    handler: H,
    options: LoopOptions,
    shutdown: CancellationToken,
}

impl<H: Handler> LoopContext<H> {
    fn metrics(&self) -> &ConsumerMetrics {
        &self.options.metrics
    }

    async fn run(&self, consumer: &mut dyn GroupConsumer) -> Result<(), BusError> {
        let mut poll_failures_in_a_row = 0u32;
        while !self.shutdown.is_cancelled() {
            let polled = tokio::select! {
                polled = consumer.poll_batch(self.options.batch_size, self.options.poll_timeout) => polled,
                () = self.shutdown.cancelled() => break,
            };
            let batch = match polled {
                Ok(batch) => {
                    poll_failures_in_a_row = 0;
                    batch
                }
                Err(BusError::Closed) => return Err(BusError::Closed),
                Err(error) => {
                    count(&self.metrics().poll_failures, 1);
                    poll_failures_in_a_row = poll_failures_in_a_row.saturating_add(1);
                    let wait = self.options.retry.backoff(poll_failures_in_a_row);
                    tracing::warn!(%error, ?wait, "Poll failed; retrying");
                    self.sleep_unless_shutdown(wait).await;
                    continue;
                }
            };
            if batch.is_empty() {
                continue;
            }
            count(&self.metrics().records_polled, batch.len() as u64);
            let mut handled = Vec::with_capacity(batch.len());
            for record in &batch {
                if self.shutdown.is_cancelled() {
                    break;
                }
                match self.process(record).await {
                    Outcome::Done => handled.push(record.position()),
                    Outcome::Interrupted => break,
                }
            }
            self.commit(consumer, &handled).await;
        }
        Ok(())
    }

    async fn commit(&self, consumer: &mut dyn GroupConsumer, handled: &[Position]) {
        if handled.is_empty() {
            return;
        }
        if let Err(error) = self.handler.before_commit(handled).await {
            count(&self.metrics().commit_failures, 1);
            tracing::warn!(%error, "Handler could not make the batch durable; not committing, the records will be redelivered");
            return;
        }
        match consumer.commit(handled).await {
            Ok(committed) => {
                count(&self.metrics().commits, 1);
                tracing::debug!(partitions = committed.len(), "Committed handled records");
            }
            Err(error) => {
                count(&self.metrics().commit_failures, 1);
                tracing::warn!(%error, "Commit failed; the records will be redelivered");
            }
        }
    }

    async fn process(&self, record: &Record) -> Outcome {
        let envelope = match record.envelope() {
            Ok(envelope) => envelope,
            Err(error) => {
                count(&self.metrics().undecodable, 1);
                tracing::warn!(
                    %error, topic = %record.topic, partition = record.partition,
                    offset = record.offset, "Undecodable record"
                );
                return self
                    .dead_letter(record, DlqReason::Undecodable, &error.to_string(), 0)
                    .await;
            }
        };
        let span = tracing::info_span!(
            "handle_event",
            topic = %record.topic,
            partition = record.partition,
            offset = record.offset,
            event_id = %envelope.id(),
            event_type = %envelope.event_type().as_str(),
        );
        record.headers.set_trace_parent_of(&span);
        let max_attempts = self.options.retry.max_attempts.max(1);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = self
                .handler
                .handle(record, &envelope)
                .instrument(span.clone())
                .await;
            match result {
                Ok(()) => {
                    count(&self.metrics().events_handled, 1);
                    return Outcome::Done;
                }
                Err(HandlerError::Permanent(error)) => {
                    tracing::warn!(parent: &span, %error, attempt, "Handler failed permanently");
                    return self
                        .dead_letter(record, DlqReason::Permanent, &error.to_string(), attempt)
                        .await;
                }
                Err(HandlerError::Transient(error)) if attempt >= max_attempts => {
                    tracing::warn!(parent: &span, %error, attempt, "Handler failed; retries exhausted");
                    return self
                        .dead_letter(
                            record,
                            DlqReason::RetriesExhausted,
                            &error.to_string(),
                            attempt,
                        )
                        .await;
                }
                Err(HandlerError::Transient(error)) => {
                    count(&self.metrics().handler_retries, 1);
                    let wait = self.options.retry.backoff(attempt);
                    tracing::info!(parent: &span, %error, attempt, ?wait, "Handler failed; retrying");
                    if !self.sleep_unless_shutdown(wait).await {
                        return Outcome::Interrupted;
                    }
                }
            }
        }
    }

    /// Publishes `record` to its dead-letter topic, retrying until the bus
    /// acknowledges it; `Interrupted` if shutdown comes first.
    async fn dead_letter(
        &self,
        record: &Record,
        reason: DlqReason,
        error: &str,
        attempts: u32,
    ) -> Outcome {
        let topic = dlq_topic(&record.topic);
        let mut headers = record.headers.clone();
        headers.insert(headers::DLQ_ERROR, error);
        headers.insert(headers::DLQ_REASON, reason.as_str());
        headers.insert(headers::DLQ_SOURCE_TOPIC, record.topic.as_str());
        headers.insert(headers::DLQ_SOURCE_PARTITION, record.partition.to_string());
        headers.insert(headers::DLQ_SOURCE_OFFSET, record.offset.to_string());
        headers.insert(headers::DLQ_ATTEMPTS, attempts.to_string());
        let mut failures = 0u32;
        loop {
            let published = self
                .dlq_bus
                .publish_raw(
                    &topic,
                    record.key.as_deref(),
                    headers.clone(),
                    &record.payload,
                )
                .await;
            match published {
                Ok(position) => {
                    count(&self.metrics().dead_lettered, 1);
                    tracing::warn!(
                        source_topic = %record.topic, source_partition = record.partition,
                        source_offset = record.offset, dlq_partition = position.partition,
                        dlq_offset = position.offset, reason = reason.as_str(), attempts,
                        error, "Record dead-lettered"
                    );
                    return Outcome::Done;
                }
                Err(publish_error) => {
                    count(&self.metrics().dead_letter_failures, 1);
                    failures = failures.saturating_add(1);
                    let wait = self.options.retry.backoff(failures);
                    tracing::error!(
                        error = %publish_error, dlq_topic = %topic, ?wait,
                        "Dead-letter publish failed; retrying"
                    );
                    if !self.sleep_unless_shutdown(wait).await {
                        return Outcome::Interrupted;
                    }
                }
            }
        }
    }

    /// Sleeps `wait`; `false` if shutdown came first.
    async fn sleep_unless_shutdown(&self, wait: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            () = self.shutdown.cancelled() => false,
        }
    }
}

/// Why a record was dead-lettered (the `tc-dlq-reason` header).
#[derive(Debug, Clone, Copy)]
enum DlqReason {
    Undecodable,
    Permanent,
    RetriesExhausted,
}

impl DlqReason {
    fn as_str(self) -> &'static str {
        match self {
            DlqReason::Undecodable => "undecodable",
            DlqReason::Permanent => "permanent",
            DlqReason::RetriesExhausted => "retries-exhausted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        let waits: Vec<_> = (1..=6).map(|a| policy.backoff(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn handler_error_says_its_kind() {
        assert_eq!(
            HandlerError::transient("store down").to_string(),
            "transient error: store down"
        );
        assert_eq!(
            HandlerError::permanent("bad").to_string(),
            "permanent error: bad"
        );
    }
}
