//! Whole-system tests: the platform's processes, started from the built
//! `tracechain` binary, against the real Kafka-protocol broker and Redis.
//! The tests live in `e2e/tests/`; this library is what they share: the
//! binary ([`tracechain`]), one service process ([`ServiceProcess`]), the
//! distributed deployment ([`Deployment`]), `tracechain up`
//! ([`embedded::Up`]) and the users' calls ([`client`]).

pub mod binary;
pub mod cli;
pub mod client;
pub mod deployment;
pub mod embedded;
pub mod load;
pub mod process;

pub use binary::{tracechain, workspace_root};
pub use deployment::{Deployment, Keys, Options};
pub use process::ServiceProcess;
pub use tracechain_testkit::{kafka_brokers, redis_url, unique_name};
