//! Integration tests of the registry: the real application on port 0
//! against the real Kafka-protocol broker and Redis (`scripts/infra.sh up`),
//! each test with its own topic, consumer group and Redis prefix; plus one
//! smoke test on the embedded bus and store.

mod auth;
mod embedded;
mod helpers;
mod idempotency;
mod infra_down;
mod items;
mod labels;
mod lots;
mod openapi;
mod products;
mod qr;
mod rebuild;
mod resolver;
mod validation;
