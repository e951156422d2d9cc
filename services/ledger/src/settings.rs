//! The ledger's typed settings: defaults, then an optional TOML file, then
//! `TRACECHAIN_<SECTION>__<KEY>` environment variables (see
//! [`tracechain_runtime::load_settings`]), e.g. `TRACECHAIN_CHAIN__ORIGIN`,
//! `TRACECHAIN_CHAIN__SIGNING_KEY_FILE`, `TRACECHAIN_BLOCKS__MAX_EVENTS`.
//!
//! Invariant: [`LedgerSettings::validate`] has passed before
//! [`crate::Application::build`] uses a value (it calls it itself).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracechain_http::HttpSettings;
use tracechain_runtime::BusSettings;
/// The error [`LedgerSettings::validate`] returns (shared by every service).
pub use tracechain_runtime::SettingError;
use tracechain_runtime::settings::invalid;

use crate::engine::EngineConfig;

/// Everything the ledger process is configured with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LedgerSettings {
    /// Where and how the HTTP server listens.
    pub http: HttpSettings,
    /// The event bus (`kafka` or `embedded`).
    pub bus: BusSettings,
    /// The API key table; with none, every authenticated endpoint answers 401.
    pub api_keys_file: Option<PathBuf>,
    /// The chain: identity, keys, store.
    pub chain: ChainSettings,
    /// The topics read and written.
    pub topics: TopicSettings,
    /// When blocks are cut.
    pub blocks: BlockSettings,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        LedgerSettings {
            http: HttpSettings {
                port: 8083,
                ..HttpSettings::default()
            },
            bus: BusSettings::default(),
            api_keys_file: None,
            chain: ChainSettings::default(),
            topics: TopicSettings::default(),
            blocks: BlockSettings::default(),
        }
    }
}

/// The `chain` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChainSettings {
    /// The log's identity: the `origin` of every header and the first line
    /// of every checkpoint (a schema-less URL, e.g. `ledger.example.com/supply`).
    pub origin: String,
    /// The block store's directory.
    pub data_dir: PathBuf,
    /// The ed25519 signing key (PKCS#8 PEM, as `tracechain key generate`
    /// writes it). A Kubernetes secret mounted as a file in production.
    pub signing_key_file: PathBuf,
    /// Create the signing key file when it does not exist (the embedded mode
    /// does; in production the key comes from a secret and a missing file is
    /// an error).
    pub create_signing_key: bool,
    /// Public keys (SPKI PEM files) of earlier signing keys: blocks they
    /// signed stay verifiable after a rotation.
    pub previous_public_key_files: Vec<PathBuf>,
    /// Memory the block index may use as cache, in MiB.
    pub index_cache_mib: usize,
    /// Start a new block file past this size, in MiB.
    pub segment_mib: u64,
}

impl Default for ChainSettings {
    fn default() -> Self {
        ChainSettings {
            origin: "tracechain.local/ledger".to_owned(),
            data_dir: PathBuf::from("data/ledger"),
            signing_key_file: PathBuf::from("data/ledger/signing-key.pem"),
            create_signing_key: false,
            previous_public_key_files: Vec::new(),
            index_cache_mib: 64,
            segment_mib: 256,
        }
    }
}

/// The `topics` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicSettings {
    /// Topics whose events are anchored.
    pub inputs: Vec<String>,
    /// Partitions an input topic is created with when the ledger is the
    /// first to need it.
    pub input_partitions: i32,
    /// The chain's topic (one partition).
    pub blocks: String,
    /// The election topic (one partition, no records).
    pub election: String,
    /// The consumer group the ledger instances elect their writer in.
    pub writer_group: String,
    /// Replicas topics are created with.
    pub replication_factor: i16,
}

impl Default for TopicSettings {
    fn default() -> Self {
        use tracechain_domain::topics;
        TopicSettings {
            inputs: vec![
                topics::REGISTRY_EVENTS.to_owned(),
                topics::SHIPMENT_EVENTS.to_owned(),
                topics::SETTLEMENT_EVENTS.to_owned(),
            ],
            input_partitions: tracechain_bus::topic::DEFAULT_DOMAIN_PARTITIONS,
            blocks: topics::LEDGER_BLOCKS.to_owned(),
            election: "ledger.writer".to_owned(),
            writer_group: "ledger-writer".to_owned(),
            replication_factor: 1,
        }
    }
}

/// The `blocks` section: a block is cut at whichever limit comes first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlockSettings {
    /// Most events in a block.
    pub max_events: usize,
    /// Most bytes of events in a block. A block travels as one Kafka record,
    /// so with its header it must stay under the broker's `message.max.bytes`
    /// (1,000,012 by default on every Kafka): hence 900,000.
    pub max_bytes: usize,
    /// Longest an event waits for its block, in ms.
    pub max_wait_ms: u64,
    /// Blocks awaiting the broker's acknowledgement at once.
    pub max_in_flight: usize,
}

impl Default for BlockSettings {
    fn default() -> Self {
        BlockSettings {
            max_events: 1000,
            max_bytes: 900_000,
            max_wait_ms: 200,
            max_in_flight: 4,
        }
    }
}

impl LedgerSettings {
    /// Checks every value the ledger relies on; names the first bad key.
    pub fn validate(&self) -> Result<(), SettingError> {
        let origin = &self.chain.origin;
        if origin.is_empty() || origin.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid(
                "chain.origin",
                "must be non-empty, without spaces or control characters",
            ));
        }
        if self.topics.inputs.is_empty() {
            return Err(invalid("topics.inputs", "name at least one topic"));
        }
        let named = self
            .topics
            .inputs
            .iter()
            .map(|t| ("topics.inputs", t))
            .chain([
                ("topics.blocks", &self.topics.blocks),
                ("topics.election", &self.topics.election),
            ]);
        for (key, topic) in named {
            tracechain_bus::topic::validate_topic_name(topic)
                .map_err(|e| invalid(key, e.to_string()))?;
        }
        if self.topics.inputs.contains(&self.topics.blocks) {
            return Err(invalid(
                "topics.inputs",
                "must not contain the blocks topic",
            ));
        }
        if self.topics.writer_group.is_empty() {
            return Err(invalid("topics.writer_group", "must not be empty"));
        }
        if self.topics.input_partitions < 1 {
            return Err(invalid("topics.input_partitions", "must be at least 1"));
        }
        if self.topics.replication_factor < 1 {
            return Err(invalid("topics.replication_factor", "must be at least 1"));
        }
        if !(1..=tracechain_chain::MAX_BLOCK_EVENTS).contains(&self.blocks.max_events) {
            return Err(invalid("blocks.max_events", "must be 1 to 1048576"));
        }
        if !(1024..=64 << 20).contains(&self.blocks.max_bytes) {
            return Err(invalid("blocks.max_bytes", "must be 1 KiB to 64 MiB"));
        }
        if !(1..=60_000).contains(&self.blocks.max_wait_ms) {
            return Err(invalid("blocks.max_wait_ms", "must be 1 to 60000"));
        }
        if !(1..=64).contains(&self.blocks.max_in_flight) {
            return Err(invalid("blocks.max_in_flight", "must be 1 to 64"));
        }
        if !(1..=4096).contains(&self.chain.index_cache_mib) {
            return Err(invalid("chain.index_cache_mib", "must be 1 to 4096"));
        }
        if !(1..=4096).contains(&self.chain.segment_mib) {
            return Err(invalid("chain.segment_mib", "must be 1 to 4096"));
        }
        Ok(())
    }

    /// The engine's configuration.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            origin: self.chain.origin.clone(),
            blocks_topic: self.topics.blocks.clone(),
            input_topics: self.topics.inputs.clone(),
            block_max_events: self.blocks.max_events,
            block_max_bytes: self.blocks.max_bytes,
            block_max_wait: Duration::from_millis(self.blocks.max_wait_ms),
            max_blocks_in_flight: self.blocks.max_in_flight,
        }
    }
}
