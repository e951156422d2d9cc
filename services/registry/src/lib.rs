//! The registry service: manufacturers register products (GTIN-14), lots
//! and serialised items; each item gets a GS1 Digital Link URI
//! (`{base}/01/{gtin}/10/{lot}/21/{serial}`) printed as a QR code; anyone
//! scanning one reaches the public resolver.
//!
//! A library plus a thin `main`, so that tests and the all-in-one embedded
//! mode start it in-process with [`Application::build`].
//!
//! # Invariants
//!
//! - Kafka is the system of record. Every change is an event on the
//!   registry topic (`product.registered`, `lot.created`,
//!   `items.serialized`, `lot.recalled`), published and acknowledged by the
//!   broker before the API answers success; the store holds a projection of
//!   the topic ([`projection`]) that is rebuilt from offset 0 when lost.
//! - Nothing is half-written: validation, authorisation, uniqueness checks
//!   and claims happen before the publish; a failed publish releases what
//!   was claimed and answers 503.
//! - A GTIN is unique across tenants (claimed with compare-and-set before
//!   its event is published); a serial is unique within its GTIN (writes to
//!   one product are serialised by a lease lock, and checked against the
//!   projection).
//! - Every 4xx is RFC 9457 problem+json naming what is wrong ([`error`]);
//!   no input makes a handler panic or answer 500.
//!
//! # Modules
//!
//! [`settings`] (typed configuration), [`startup`] (build, run, stop),
//! [`routes`] (one file per resource), [`domain`] (requests → commands →
//! events), [`projection`] (events → store), [`state`] (shared handler
//! state), [`idempotency`] (`Idempotency-Key`), [`error`] (errors → HTTP),
//! [`openapi`] (the generated document), [`metrics`] (counters), [`labels`]
//! (label sheets), [`html`] (the resolver's page), [`cache`] (the resolver's
//! cache). QR codes come from `tracechain-qr`, the product lock from
//! `tracechain_store::LeaseLock`.

pub mod cache;
pub mod domain;
pub mod error;
pub mod html;
pub mod idempotency;
pub mod labels;
pub mod metrics;
pub mod openapi;
pub mod projection;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;

pub use error::RegistryError;
pub use projection::RegistryProjector;
pub use settings::RegistrySettings;
pub use startup::{Application, StartupError};

/// The store namespace of the registry (`tc:registry:`) is built from this name.
pub const SERVICE_NAME: &str = "registry";
