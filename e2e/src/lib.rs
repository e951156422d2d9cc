//! Whole-system tests live in `e2e/tests/`; they share the workspace's test
//! support in `tracechain-testkit`.

pub use tracechain_testkit::{kafka_brokers, redis_url, unique_name};
