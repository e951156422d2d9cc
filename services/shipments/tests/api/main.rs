//! Integration tests of the shipments service: the real application on
//! port 0 against the real Kafka-protocol broker and Redis
//! (`scripts/infra.sh up`), each test with its own topics, consumer group
//! and Redis prefix.

mod batch;
mod devices;
mod helpers;
mod labels;
mod openapi;
mod properties;
mod rebuild;
mod refusals;
mod scans;
mod shipments;
