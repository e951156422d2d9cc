//! Topic administration and metadata on Kafka: idempotent topic creation
//! (an existing topic is fine), partition counts and high watermarks.
//!
//! Metadata calls are blocking librdkafka calls: callers run them on the
//! blocking pool. After creating topics we wait until the metadata shows them
//! with their partitions, so a publish or subscribe right after
//! `ensure_topics` finds them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::Client;
use rdkafka::types::RDKafkaErrorCode;

use crate::deadline::deadline_after;
use crate::error::BusError;
use crate::topic::TopicSpec;

use super::context::BusContext;

/// Creates the topics of `specs` that do not exist (all validated already).
pub(crate) async fn create_topics(
    admin: &AdminClient<BusContext>,
    specs: &[TopicSpec],
    timeout: Duration,
) -> Result<Vec<String>, BusError> {
    let settings: Vec<(String, Option<String>, &'static str)> = specs
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.retention_ms.map(|ms| ms.to_string()),
                if s.compacted { "compact" } else { "delete" },
            )
        })
        .collect();
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .zip(&settings)
        .map(|(spec, (_, retention, cleanup))| {
            let mut topic = NewTopic::new(
                &spec.name,
                spec.partitions,
                TopicReplication::Fixed(i32::from(spec.replication_factor)),
            )
            .set("cleanup.policy", cleanup);
            if let Some(retention) = retention {
                topic = topic.set("retention.ms", retention);
            }
            topic
        })
        .collect();
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let results = admin
        .create_topics(new_topics.iter(), &options)
        .await
        .map_err(|e| BusError::kafka("create topics", None, e))?;
    let mut existing = Vec::new();
    for result in results {
        match result {
            Ok(name) => tracing::info!(topic = %name, "Topic created"),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => existing.push(name),
            Err((name, code)) => {
                return Err(BusError::CreateTopic {
                    topic: name,
                    reason: code.to_string(),
                });
            }
        }
    }
    Ok(existing)
}

/// The partition count of `topic` (blocking).
pub(crate) fn partition_count<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<i32, BusError> {
    let metadata = client
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| BusError::kafka("fetch metadata", Some(topic), e))?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(BusError::UnknownTopic {
            topic: topic.to_owned(),
        });
    };
    if let Some(error) = found.error() {
        let code = RDKafkaErrorCode::from(error);
        return Err(match code {
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                BusError::UnknownTopic {
                    topic: topic.to_owned(),
                }
            }
            other => BusError::kafka(
                "fetch metadata",
                Some(topic),
                rdkafka::error::KafkaError::MetadataFetch(other),
            ),
        });
    }
    if found.partitions().is_empty() {
        return Err(BusError::UnknownTopic {
            topic: topic.to_owned(),
        });
    }
    Ok(i32::try_from(found.partitions().len()).unwrap_or(i32::MAX))
}

/// Waits (blocking) until every topic in `names` shows in the metadata with
/// partitions; returns their counts.
pub(crate) fn await_topics<C: ClientContext>(
    client: &Client<C>,
    names: &[String],
    timeout: Duration,
) -> Result<BTreeMap<String, i32>, BusError> {
    let deadline = deadline_after(timeout);
    let mut counts = BTreeMap::new();
    for name in names {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match partition_count(client, name, left.max(Duration::from_millis(100))) {
                Ok(n) => {
                    counts.insert(name.clone(), n);
                    break;
                }
                Err(error) if Instant::now() >= deadline => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    Ok(counts)
}

/// The low and high watermarks of every partition of `topic` (blocking).
pub(crate) fn watermarks<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<BTreeMap<i32, (i64, i64)>, BusError> {
    let partitions = partition_count(client, topic, timeout)?;
    (0..partitions)
        .map(|p| {
            client
                .fetch_watermarks(topic, p, timeout)
                .map(|w| (p, w))
                .map_err(|e| BusError::kafka("fetch watermarks", Some(topic), e))
        })
        .collect()
}
