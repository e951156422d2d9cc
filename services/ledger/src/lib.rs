//! The ledger service: orders every event of the platform into signed,
//! hash-chained blocks of one RFC 6962/9162 Merkle log, and serves blocks,
//! proofs, checkpoints and keys that anyone can verify without trusting it.
//!
//! A library plus a thin `main`, so that tests and the all-in-one mode
//! start it in-process with [`Application::build`].
//!
//! # Modules
//!
//! [`engine`] (follow the chain, elect a writer, write blocks — the
//! invariants of anchoring live there), [`store`] (the block store and its
//! checks), [`routes`] (the API), [`explorer`] (the web page), [`settings`],
//! [`startup`], [`error`] (errors → HTTP), [`openapi`], [`state`].

pub mod engine;
pub mod error;
pub mod explorer;
pub mod openapi;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
pub mod store;

pub use error::LedgerError;
pub use settings::LedgerSettings;
pub use startup::{Application, StartupError};

/// The service's name (telemetry, logs).
pub const SERVICE_NAME: &str = "ledger";
