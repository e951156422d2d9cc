//! The event bus of tracechain: publish acknowledged events and consume them
//! as a group, over Kafka ([`KafkaBus`]) or the embedded on-disk twin
//! ([`EmbeddedBus`]) — the same service code runs on both.
//!
//! - [`EventBus`], [`GroupConsumer`], [`PartitionReader`]: the interfaces
//!   (see [`bus`] for the contract both implementations keep), and
//!   [`StreamEvent`], what a publish stream takes;
//! - [`Record`], [`Position`], [`Headers`]: what travels;
//! - [`TopicSpec`]: topics created at start-up;
//! - [`run_consumer`]: the one consumer loop (decode, handle, retry,
//!   dead-letter, commit before polling again, graceful stop);
//! - [`murmur2`]: Kafka's Java partitioner, shared by both buses.
//!
//! An envelope travels as its RFC 8785 canonical bytes, so the ledger hashes
//! exactly what was published; its id, type and schema version, the content
//! type and the publisher's W3C `traceparent` travel in [`headers`].

pub mod bus;
pub mod consumer_loop;
mod deadline;
pub mod embedded;
mod error;
pub mod headers;
pub mod kafka;
pub mod murmur2;
mod outgoing;
mod record;
pub mod topic;

pub use bus::{
    ConsumerOptions, EventBus, GroupConsumer, PartitionReader, StreamEvent, TopicPartition,
};
pub use consumer_loop::{
    BoxError, ConsumerMetrics, ConsumerStats, Handler, HandlerError, LoopOptions, RetryPolicy,
    run_consumer, run_consumer_with,
};
pub use embedded::{EmbeddedBus, EmbeddedOptions};
pub use error::{BatchFailure, BusError};
pub use headers::Headers;
pub use kafka::{KafkaBus, KafkaConfig};
pub use record::{DecodeError, Position, Record};
pub use topic::{TopicSpec, dlq_topic};
