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
    let settings: Vec<(Option<String>, Option<&'static str>)> =
        specs.iter().map(topic_configs).collect();
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .zip(&settings)
        .map(|(spec, (retention, cleanup))| {
            let mut topic = NewTopic::new(
                &spec.name,
                spec.partitions,
                TopicReplication::Fixed(i32::from(spec.replication_factor)),
            );
            if let Some(cleanup) = cleanup {
                topic = topic.set("cleanup.policy", cleanup);
            }
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

/// The `retention.ms` and `cleanup.policy` a topic is created with.
///
/// A topic kept forever (`retention.ms=-1`, not compacted) states no
/// `cleanup.policy`: Kafka's default, `delete`, has nothing to delete
/// there, and tansu 0.6 reads an explicit `delete` with `retention.ms=-1`
/// as "older than -1 ms" and deletes every record at its next maintenance
/// (its `policy_delete.sql` compares `now - timestamp > retention.ms`).
fn topic_configs(spec: &TopicSpec) -> (Option<String>, Option<&'static str>) {
    let retention = spec.retention_ms.map(|ms| ms.to_string());
    let cleanup = match (spec.compacted, spec.retention_ms) {
        (true, _) => Some("compact"),
        (false, Some(ms)) if ms < 0 => None,
        (false, _) => Some("delete"),
    };
    (retention, cleanup)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_kept_forever_states_no_cleanup_policy() {
        let forever = TopicSpec::new("events", 3);
        assert_eq!(topic_configs(&forever), (Some("-1".to_owned()), None));
        let week = TopicSpec::new("events", 3).with_retention_ms(Some(604_800_000));
        assert_eq!(
            topic_configs(&week),
            (Some("604800000".to_owned()), Some("delete"))
        );
        let default = TopicSpec::new("events", 3).with_retention_ms(None);
        assert_eq!(topic_configs(&default), (None, Some("delete")));
        let compacted = TopicSpec::new("state", 3).with_compaction(true);
        assert_eq!(
            topic_configs(&compacted),
            (Some("-1".to_owned()), Some("compact"))
        );
    }
}
