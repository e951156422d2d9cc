//! Helpers shared by the whole-system tests in `e2e/tests/`.
//!
//! The tests talk to the real infrastructure that `scripts/infra.sh up`
//! starts: a Kafka-protocol broker and Redis. Their addresses come from the
//! same environment variables the services read, with the local defaults.

/// Kafka bootstrap servers for tests (`TRACECHAIN_KAFKA_BROKERS`, default `127.0.0.1:9092`).
pub fn kafka_brokers() -> String {
    std::env::var("TRACECHAIN_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// Redis URL for tests (`TRACECHAIN_REDIS_URL`, default `redis://127.0.0.1:6379`).
pub fn redis_url() -> String {
    std::env::var("TRACECHAIN_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A name no other test run uses, so tests share one broker and one Redis in parallel.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}
