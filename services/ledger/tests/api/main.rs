//! Integration tests of the ledger: the real application on port 0 against
//! the real Kafka-protocol broker (`scripts/infra.sh up`), each test with
//! its own topics, writer group and data directory.

#[path = "../common/mod.rs"]
mod common;

mod anchoring;
mod keys;
mod openapi;
