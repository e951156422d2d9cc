//! Projections: the state a service keeps in its [`StateStore`] (lookups,
//! shipment states, indexes), derived only from events on the bus.
//!
//! Kafka is the system of record; everything in the store can be thrown away
//! and rebuilt from the topics from offset 0. This crate makes that true in
//! code rather than by convention:
//!
//! - a [`Projector`] is the one function from events to store writes; the
//!   live consumer and a rebuild call the same function, so a rebuilt store
//!   equals the live one;
//! - [`ProjectionRunner`] drives a projector from a consumer group, records
//!   per-partition applied positions in the store itself, makes the store
//!   durable before committing offsets (so committed offsets never run ahead
//!   of durable state), and notices when the store lost its state (a Redis
//!   `FLUSHALL`, a lost snapshot) by a marker key, and then rebuilds;
//! - [`rebuild`] replays every partition of every topic from offset 0 up to
//!   the end offsets it found when it started.
//!
//! Invariant: an event at a position at or below the recorded applied
//! position of its partition is skipped; the position is written after the
//! events it covers. A crash between the two re-applies at most one batch,
//! so projectors must be idempotent per event (set, not increment; or guard
//! by event id), which at-least-once delivery demands anyway.

mod positions;
mod projector;
mod rebuild;
mod runner;

pub use positions::AppliedPositions;
pub use projector::{ProjectionError, Projector};
pub use rebuild::{RebuildReport, rebuild};
pub use runner::{ProjectionRunner, RunnerOptions};

pub use tracechain_store::StateStore;
