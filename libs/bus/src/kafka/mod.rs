//! The Kafka bus: [`EventBus`] over rdkafka (bundled librdkafka), for any
//! Apache Kafka compatible cluster.
//!
//! - one idempotent producer (`acks=all`, `murmur2_random`) shared by every
//!   publish; a publish resolves on the broker's acknowledgement, and a
//!   publish stream (`stream`) yields each record's position on it;
//! - one admin client for topic creation;
//! - one `BaseConsumer` per group member or reader, polled on the blocking
//!   pool (see `poll` for why not a `StreamConsumer`);
//! - every broker round trip is bounded ([`KafkaConfig::request_timeout`],
//!   [`KafkaConfig::delivery_timeout`]), and clients are destroyed off the
//!   caller's thread, so nothing hangs when the broker is gone.
//!
//! Connecting is lazy: [`KafkaBus::connect`] does not reach the broker (a
//! service starts while the broker is down, and reports not-ready through
//! [`EventBus::ping`] until it is back).

mod admin;
mod config;
mod consumer;
mod context;
mod detach;
mod offsets;
mod poll;
mod producer;
mod reader;
mod stream;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use rdkafka::admin::AdminClient;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tracechain_domain::Envelope;

use crate::bus::{ConsumerOptions, EventBus, GroupConsumer, PartitionReader, StreamEvent};
use crate::error::{BatchFailure, BusError};
use crate::headers::Headers;
use crate::outgoing::{EncodedBatch, OutgoingRecord, WireRecord};
use crate::record::Position;
use crate::topic::{TopicSpec, validate_topic_name};

pub use self::config::KafkaConfig;
use self::consumer::KafkaGroupConsumer;
use self::context::BusContext;
use self::detach::DropOffThread;
use self::reader::KafkaReader;

/// The bus over a Kafka cluster. Cheap to clone (clones share the clients).
#[derive(Debug, Clone)]
pub struct KafkaBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: KafkaConfig,
    /// The producer in use and its generation; replaced after a failed
    /// publish (see [`Inner::replace_producer`]).
    producer: RwLock<(u64, Arc<SharedProducer>)>,
    /// The generation of `producer`, written under its write lock: publish
    /// streams check it for every record they send without taking the lock.
    generation: AtomicU64,
    admin: DropOffThread<AdminClient<BusContext>>,
}

type SharedProducer = DropOffThread<FutureProducer<BusContext>>;

fn new_producer(config: &KafkaConfig) -> Result<SharedProducer, BusError> {
    let producer: FutureProducer<BusContext> =
        FutureProducer::from_config_and_context(&config.producer(), BusContext::default())
            .map_err(|e| BusError::kafka("create producer", None, e))?;
    Ok(DropOffThread::new(producer, "producer"))
}

impl Inner {
    /// The producer in use, with its generation.
    fn producer(&self) -> (u64, Arc<SharedProducer>) {
        let guard = self.producer.read().unwrap_or_else(PoisonError::into_inner);
        (guard.0, Arc::clone(&guard.1))
    }

    /// The generation of the producer in use.
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Replaces the producer of `generation` with a fresh one (a new
    /// producer id), unless another caller already did.
    ///
    /// Why: after a publish fails (the broker was gone, a delivery timed
    /// out), the idempotent producer's sequence numbers have moved past what
    /// the broker stored. A conforming broker answers with an error that
    /// librdkafka recovers from by bumping the epoch (KIP-360); tansu 0.6.0
    /// with `sqlite://` storage panics instead and stops serving. A fresh
    /// producer starts a new sequence, which every broker accepts. Records
    /// still in flight on the old producer finish or fail on their own; the
    /// old client is destroyed off-thread once the last of them is done.
    fn replace_producer(&self, generation: u64) {
        if self.generation() != generation {
            // Replaced already (creating a producer starts threads: not
            // done for nothing).
            return;
        }
        let fresh = match new_producer(&self.config) {
            Ok(fresh) => fresh,
            Err(error) => {
                tracing::warn!(%error, "Cannot create a fresh producer; keeping the old one");
                return;
            }
        };
        let mut guard = self
            .producer
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if guard.0 == generation {
            *guard = (generation + 1, Arc::new(fresh));
            self.generation.store(generation + 1, Ordering::Release);
            tracing::info!(
                generation = generation + 1,
                "Replaced the producer after a failed publish"
            );
        }
    }
}

impl KafkaBus {
    /// Creates the clients for `config` (without reaching the broker).
    pub fn connect(config: KafkaConfig) -> Result<KafkaBus, BusError> {
        config.validate()?;
        let producer = new_producer(&config)?;
        let admin: AdminClient<BusContext> =
            AdminClient::from_config_and_context(&config.admin(), BusContext::default())
                .map_err(|e| BusError::kafka("create admin client", None, e))?;
        tracing::info!(brokers = %config.brokers, client_id = %config.client_id, "Kafka bus created");
        Ok(KafkaBus {
            inner: Arc::new(Inner {
                config,
                producer: RwLock::new((0, Arc::new(producer))),
                generation: AtomicU64::new(0),
                admin: DropOffThread::new(admin, "admin"),
            }),
        })
    }

    /// The configuration it was created with.
    pub fn config(&self) -> &KafkaConfig {
        &self.inner.config
    }

    /// Runs a blocking librdkafka call on the blocking pool, bounded by the
    /// request timeout (plus a margin for the call's own timeout to fire first).
    async fn blocking<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&Inner) -> Result<T, BusError> + Send + 'static,
    ) -> Result<T, BusError> {
        let inner = Arc::clone(&self.inner);
        let bound = self
            .inner
            .config
            .request_timeout
            .saturating_mul(2)
            .saturating_add(Duration::from_secs(1));
        let task = tokio::task::spawn_blocking(move || f(&inner));
        match tokio::time::timeout(bound, task).await {
            Ok(joined) => joined.map_err(|e| BusError::task(operation, e))?,
            Err(_) => Err(BusError::Timeout {
                operation: format!("kafka {operation}"),
                timeout: bound,
            }),
        }
    }

    async fn send(
        &self,
        topic: &str,
        records: impl ExactSizeIterator<Item = WireRecord<'_>> + Send,
    ) -> Result<Vec<Position>, BusError> {
        validate_topic_name(topic)?;
        let (generation, producer) = self.inner.producer();
        let outcomes = producer::send_all(
            &producer,
            topic,
            records,
            self.inner.config.delivery_timeout,
        )
        .await;
        drop(producer);
        if outcomes.iter().any(Result::is_err) {
            self.inner.replace_producer(generation);
        }
        let total = outcomes.len();
        let mut positions = Vec::with_capacity(total);
        let mut failures = Vec::new();
        for (index, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                Ok((partition, offset)) => positions.push(Position {
                    topic: topic.to_owned(),
                    partition,
                    offset,
                }),
                Err(error) => failures.push((index, error)),
            }
        }
        if failures.is_empty() {
            return Ok(positions);
        }
        if total == 1
            && let Some((_, error)) = failures.pop()
        {
            return Err(error);
        }
        let failures = failures
            .into_iter()
            .map(|(index, error)| BatchFailure {
                index,
                reason: match error {
                    BusError::Publish { reason, .. } => reason,
                    other => other.to_string(),
                },
            })
            .collect();
        Err(BusError::Batch {
            topic: topic.to_owned(),
            total,
            failures,
        })
    }

    async fn send_one(&self, topic: &str, record: OutgoingRecord) -> Result<Position, BusError> {
        let mut positions = self.send(topic, std::iter::once(record.wire())).await?;
        positions.pop().ok_or_else(|| BusError::Publish {
            topic: topic.to_owned(),
            partition: None,
            reason: "no delivery report".to_owned(),
        })
    }
}

#[async_trait]
impl EventBus for KafkaBus {
    async fn ensure_topics(&self, specs: &[TopicSpec]) -> Result<(), BusError> {
        for spec in specs {
            spec.validate()?;
        }
        if specs.is_empty() {
            return Ok(());
        }
        let timeout = self.inner.config.request_timeout;
        let existing = tokio::time::timeout(
            timeout.saturating_mul(2),
            admin::create_topics(&self.inner.admin, specs, timeout),
        )
        .await
        .map_err(|_| BusError::Timeout {
            operation: "kafka create topics".to_owned(),
            timeout: timeout.saturating_mul(2),
        })??;
        let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let counts = self
            .blocking("await topics", move |inner| {
                admin::await_topics(inner.producer().1.client(), &names, timeout)
            })
            .await?;
        for spec in specs {
            let count = counts.get(&spec.name).copied().unwrap_or_default();
            if existing.contains(&spec.name) && count != spec.partitions {
                tracing::warn!(
                    topic = %spec.name, existing = count, wanted = spec.partitions,
                    "Topic exists with another partition count; left unchanged"
                );
            }
        }
        Ok(())
    }

    async fn publish(
        &self,
        topic: &str,
        key: &[u8],
        envelope: &Envelope,
    ) -> Result<Position, BusError> {
        let record = OutgoingRecord::from_envelope(topic, key, envelope)?;
        self.send_one(topic, record).await
    }

    async fn publish_batch(
        &self,
        topic: &str,
        events: &[(Vec<u8>, Envelope)],
    ) -> Result<Vec<Position>, BusError> {
        let batch = EncodedBatch::encode(topic, events)?;
        self.send(topic, batch.records()).await
    }

    fn publish_stream<'a>(
        &'a self,
        topic: &'a str,
        events: BoxStream<'a, StreamEvent<'a>>,
        window: usize,
    ) -> BoxStream<'a, Result<Position, BusError>> {
        Box::pin(stream::PublishStream::new(
            &self.inner,
            topic,
            events,
            window,
        ))
    }

    async fn publish_raw(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        headers: Headers,
        payload: &[u8],
    ) -> Result<Position, BusError> {
        self.send_one(topic, OutgoingRecord::raw(key, headers, payload))
            .await
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
        options: ConsumerOptions,
    ) -> Result<Box<dyn GroupConsumer>, BusError> {
        if group.is_empty() {
            return Err(BusError::Config {
                reason: "a consumer group needs a non-empty name".to_owned(),
            });
        }
        if topics.is_empty() {
            return Err(BusError::Config {
                reason: format!("consumer group {group} subscribes to no topic"),
            });
        }
        for topic in topics {
            validate_topic_name(topic)?;
        }
        let config = self.inner.config.group_consumer(group, &options);
        let group_name = group.to_owned();
        let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        let timeout = self.inner.config.request_timeout;
        let lookback = self.inner.config.resume_lookback();
        let consumer = self
            .blocking("subscribe", move |inner| {
                for topic in &topics {
                    admin::partition_count(inner.producer().1.client(), topic, timeout)?;
                }
                let context = BusContext::consumer(&group_name, lookback, timeout);
                let consumer: BaseConsumer<BusContext> =
                    BaseConsumer::from_config_and_context(&config, context)
                        .map_err(|e| BusError::kafka("create consumer", None, e))?;
                let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                consumer
                    .subscribe(&names)
                    .map_err(|e| BusError::kafka("subscribe", None, e))?;
                Ok(consumer)
            })
            .await?;
        Ok(Box::new(KafkaGroupConsumer::new(consumer, group, timeout)))
    }

    async fn reader(
        &self,
        topic: &str,
        start: &BTreeMap<i32, i64>,
    ) -> Result<Box<dyn PartitionReader>, BusError> {
        validate_topic_name(topic)?;
        let config = self.inner.config.reader();
        let topic_name = topic.to_owned();
        let positions = start.clone();
        let timeout = self.inner.config.request_timeout;
        let lookback = self.inner.config.resume_lookback();
        let consumer = self
            .blocking("assign reader", move |inner| {
                let marks = offsets::watermarks(
                    inner.producer().1.client(),
                    &inner.config,
                    &topic_name,
                    timeout,
                )?;
                let context = BusContext::consumer("", lookback, timeout);
                let mut list = TopicPartitionList::new();
                for (p, offset) in &positions {
                    let Some((low, high)) = marks.get(p).copied() else {
                        return Err(BusError::UnknownPartition {
                            topic: topic_name.clone(),
                            partition: *p,
                            partitions: i32::try_from(marks.len()).unwrap_or(i32::MAX),
                        });
                    };
                    if *offset < low || *offset > high {
                        return Err(BusError::OffsetOutOfRange {
                            topic: topic_name.clone(),
                            partition: *p,
                            offset: *offset,
                            low,
                            high,
                        });
                    }
                    let fetch_from = context.resume_at(&topic_name, *p, *offset, low);
                    list.add_partition_offset(&topic_name, *p, Offset::Offset(fetch_from))
                        .map_err(|e| BusError::kafka("assign", Some(&topic_name), e))?;
                }
                let consumer: BaseConsumer<BusContext> =
                    BaseConsumer::from_config_and_context(&config, context)
                        .map_err(|e| BusError::kafka("create reader", Some(&topic_name), e))?;
                consumer
                    .assign(&list)
                    .map_err(|e| BusError::kafka("assign", Some(&topic_name), e))?;
                Ok(consumer)
            })
            .await?;
        Ok(Box::new(KafkaReader::new(consumer, start.clone())))
    }

    async fn end_offsets(&self, topic: &str) -> Result<BTreeMap<i32, i64>, BusError> {
        validate_topic_name(topic)?;
        let topic = topic.to_owned();
        let timeout = self.inner.config.request_timeout;
        self.blocking("fetch end offsets", move |inner| {
            let marks =
                offsets::watermarks(inner.producer().1.client(), &inner.config, &topic, timeout)?;
            Ok(marks.into_iter().map(|(p, (_, high))| (p, high)).collect())
        })
        .await
    }

    async fn partition_count(&self, topic: &str) -> Result<i32, BusError> {
        validate_topic_name(topic)?;
        let topic = topic.to_owned();
        let timeout = self.inner.config.request_timeout;
        self.blocking("fetch partition count", move |inner| {
            admin::partition_count(inner.producer().1.client(), &topic, timeout)
        })
        .await
    }

    async fn flush(&self, timeout: Duration) -> Result<(), BusError> {
        let task = {
            let inner = Arc::clone(&self.inner);
            tokio::task::spawn_blocking(move || inner.producer().1.flush(timeout))
        };
        match tokio::time::timeout(timeout.saturating_add(Duration::from_secs(1)), task).await {
            Ok(joined) => joined
                .map_err(|e| BusError::task("flush", e))?
                .map_err(|e| BusError::kafka("flush", None, e)),
            Err(_) => Err(BusError::Timeout {
                operation: "kafka flush".to_owned(),
                timeout,
            }),
        }
    }

    async fn ping(&self, timeout: Duration) -> Result<(), BusError> {
        let task = {
            let inner = Arc::clone(&self.inner);
            tokio::task::spawn_blocking(move || {
                inner
                    .producer()
                    .1
                    .client()
                    .fetch_metadata(None, timeout)
                    .map(|_| ())
                    .map_err(|e| BusError::kafka("fetch metadata", None, e))
            })
        };
        match tokio::time::timeout(timeout.saturating_add(Duration::from_secs(1)), task).await {
            Ok(joined) => joined.map_err(|e| BusError::task("ping", e))?,
            Err(_) => Err(BusError::Timeout {
                operation: "kafka ping".to_owned(),
                timeout,
            }),
        }
    }
}
