//! Where the embedded store keeps its snapshot, and how often it works.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::StoreError;
use crate::namespace::Namespace;

/// Settings of an [`EmbeddedStore`](crate::EmbeddedStore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedConfig {
    /// The directory holding the snapshot file (created if missing). Several
    /// namespaces may share it; each has its own file.
    pub data_dir: PathBuf,
    /// The prefix of this store; also names its snapshot file.
    pub namespace: Namespace,
    /// How often the state is snapshotted if it changed. This bounds how much
    /// is lost (and must be replayed from Kafka) after a crash.
    pub snapshot_interval: Duration,
    /// How often expired idempotency keys, nonces and counters are removed
    /// from memory (they read as absent as soon as they expire).
    pub sweep_interval: Duration,
}

impl EmbeddedConfig {
    /// Settings with the defaults: a snapshot every 5 s, a sweep every 30 s.
    pub fn new(data_dir: impl Into<PathBuf>, namespace: Namespace) -> Self {
        EmbeddedConfig {
            data_dir: data_dir.into(),
            namespace,
            snapshot_interval: Duration::from_secs(5),
            sweep_interval: Duration::from_secs(30),
        }
    }

    /// Refuses zero intervals (a timer cannot tick every 0 s).
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        for (what, interval) in [
            ("snapshot interval", self.snapshot_interval),
            ("sweep interval", self.sweep_interval),
        ] {
            if interval.is_zero() {
                return Err(StoreError::invalid(what, "0s", "must be positive"));
            }
        }
        Ok(())
    }
}
