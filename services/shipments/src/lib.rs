//! The shipments service: manufacturers create shipments of serialised
//! items (each with an SSCC-18 label whose QR code holds
//! `{base}/00/{sscc}`); carriers register their phones' ed25519 keys; the
//! phones sign a scan at pickup, hand-over, checkpoints and delivery, and
//! the service checks it against the custody state machine before
//! publishing it.
//!
//! A library plus a thin `main`, so tests and the all-in-one embedded mode
//! start it in-process with [`Application::build`].
//!
//! # Invariants
//!
//! - Kafka is the system of record: every change is an event on
//!   `shipment.events` (`device.registered`, `device.revoked`,
//!   `shipment.created`, `scan.recorded`, `shipment.delivered`,
//!   `shipment.exception`), acknowledged by the broker before the API
//!   answers success; the store holds a projection of it and of
//!   `registry.events`, rebuilt from offset 0 when lost ([`projection`]).
//! - A scan is checked in a fixed order and refused with the failed check
//!   named ([`ingest`]); a refused scan publishes nothing and leaves no
//!   trace (its nonce is released).
//! - Scans of one shipment are serialised (a lease lock), so two phones
//!   cannot both move it from the same state.
//! - Every 4xx is RFC 9457 problem+json ([`error`]); no input makes a
//!   handler panic or answer 500.
//!
//! # Modules
//!
//! [`domain`] (pure: state machine, scan format and signature, EPCIS,
//! SSCC, events), [`settings`], [`startup`], [`routes`], [`ingest`] (the
//! scan pipeline), [`projection`], [`state`], [`error`], [`label`]
//! (printable labels), [`metrics`], [`openapi`].

pub mod domain;
pub mod error;
pub mod ingest;
pub mod label;
pub mod metrics;
pub mod openapi;
pub mod projection;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;

pub use error::{ScanRefusal, ShipmentsError};
pub use projection::ShipmentsProjector;
pub use settings::ShipmentsSettings;
pub use startup::{Application, StartupError};

/// The store namespace of the service (`tc:shipments:`) is built from this name.
pub const SERVICE_NAME: &str = "shipments";
