//! The registry's typed settings: the struct's defaults, then an optional
//! TOML file, then `TRACECHAIN_<SECTION>__<KEY>` environment variables (see
//! [`tracechain_runtime::load_settings`]), e.g. `TRACECHAIN_PUBLIC_BASE_URL`,
//! `TRACECHAIN_HTTP__PORT`, `TRACECHAIN_BUS__BROKERS`, `TRACECHAIN_TOPIC__NAME`.
//!
//! Invariant: [`RegistrySettings::validate`] has passed before
//! [`crate::Application::build`] uses a value (it calls it itself), so the
//! base URL is an absolute `http(s)` URL without a trailing `/`, the topic
//! name follows Kafka's rules and every limit is within its documented range.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracechain_http::HttpSettings;
/// The error [`RegistrySettings::validate`] returns (shared by every service).
pub use tracechain_runtime::SettingError;
use tracechain_runtime::settings::invalid;
use tracechain_runtime::{BusSettings, StoreSettings, validate_base_url, validate_projection_name};

/// The largest accepted JSON body by default: 1 MiB, so that a batch of
/// 10,000 serials of 20 characters (even with JSON escapes) fits.
pub const DEFAULT_JSON_LIMIT_BYTES: usize = 1024 * 1024;

/// Everything the registry process is configured with.
///
/// Unknown top-level keys are ignored, not refused: every `TRACECHAIN_*`
/// environment variable becomes a key, including ones meant for other parts
/// of the process (`TRACECHAIN_LOG_FORMAT`). Inside a section unknown keys
/// are refused, so a misspelt setting is reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistrySettings {
    /// Where and how the HTTP server listens.
    pub http: HttpSettings,
    /// The event bus (`kafka` or `embedded`).
    pub bus: BusSettings,
    /// The state store (`redis` or `embedded`).
    pub store: StoreSettings,
    /// The API key table (JSON list of `{label, role, tenant, sha256}`); with
    /// none, every authenticated endpoint answers 401 (the public resolver
    /// still works).
    pub api_keys_file: Option<PathBuf>,
    /// The base of every GS1 Digital Link URI the registry issues, e.g.
    /// `https://id.example.com`: scheme, host and an optional path prefix,
    /// without a trailing `/`. QR codes carry `{base}/01/{gtin}/10/{lot}/21/{serial}`.
    pub public_base_url: String,
    /// The topic the registry publishes to and projects from.
    pub topic: TopicSettings,
    /// The projection consumer.
    pub projection: ProjectionSettings,
    /// Request limits.
    pub limits: RegistryLimits,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            http: HttpSettings {
                json_limit_bytes: DEFAULT_JSON_LIMIT_BYTES,
                ..HttpSettings::default()
            },
            bus: BusSettings::default(),
            store: StoreSettings::default(),
            api_keys_file: None,
            public_base_url: "http://localhost:8080".to_owned(),
            topic: TopicSettings::default(),
            projection: ProjectionSettings::default(),
            limits: RegistryLimits::default(),
        }
    }
}

/// The `topic` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicSettings {
    /// The topic name; `registry.events` in production, a unique one per test.
    pub name: String,
    /// Partitions the topic is created with (never changed afterwards).
    pub partitions: i32,
    /// Replicas the topic is created with.
    pub replication_factor: i16,
}

impl Default for TopicSettings {
    fn default() -> Self {
        TopicSettings {
            name: tracechain_domain::topics::REGISTRY_EVENTS.to_owned(),
            partitions: tracechain_bus::topic::DEFAULT_DOMAIN_PARTITIONS,
            replication_factor: 1,
        }
    }
}

/// The `projection` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectionSettings {
    /// The projection's name: it names the consumer group
    /// (`<name>-projection`) and the bookkeeping keys. Lowercase letters,
    /// digits and `-`.
    pub name: String,
    /// How often the consumer checks that the store still holds the
    /// projection (and rebuilds it from offset 0 when not), in ms.
    pub marker_check_interval_ms: u64,
}

impl Default for ProjectionSettings {
    fn default() -> Self {
        ProjectionSettings {
            name: "registry".to_owned(),
            marker_check_interval_ms: 1000,
        }
    }
}

/// The `limits` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryLimits {
    /// Most items serialised by one request (and so carried by one
    /// `items.serialized` event); at most 10,000.
    pub max_items_per_request: usize,
    /// How long a write waits for another write to the same product to finish.
    pub product_lock_wait_ms: u64,
    /// How long a write may hold a product's lock before others may take it
    /// (a crashed writer's lock expires after this); above the bus's
    /// delivery timeout.
    pub product_lock_lease_ms: u64,
    /// How long the first response to an `Idempotency-Key` is kept, in seconds.
    pub idempotency_retention_secs: u64,
    /// Most label sheets in one PDF.
    pub max_sheets_per_pdf: u32,
    /// How long the resolver serves a lot record from memory, in ms (0:
    /// never). A recall shows at once on the replica that records it and
    /// within this time on the others.
    pub resolver_lot_ttl_ms: u64,
    /// Most item records the resolver keeps in memory (items never change
    /// once serialised; 0: none).
    pub resolver_item_cache: usize,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        RegistryLimits {
            max_items_per_request: 10_000,
            product_lock_wait_ms: 10_000,
            product_lock_lease_ms: 60_000,
            idempotency_retention_secs: 24 * 60 * 60,
            max_sheets_per_pdf: 20,
            resolver_lot_ttl_ms: 1000,
            resolver_item_cache: 100_000,
        }
    }
}

impl RegistryLimits {
    /// [`Self::product_lock_wait_ms`] as a duration.
    pub fn product_lock_wait(&self) -> Duration {
        Duration::from_millis(self.product_lock_wait_ms)
    }

    /// [`Self::product_lock_lease_ms`] as a duration.
    pub fn product_lock_lease(&self) -> Duration {
        Duration::from_millis(self.product_lock_lease_ms)
    }

    /// [`Self::idempotency_retention_secs`] as a duration.
    pub fn idempotency_retention(&self) -> Duration {
        Duration::from_secs(self.idempotency_retention_secs)
    }
}

impl RegistrySettings {
    /// Checks every value the registry relies on; names the first bad key.
    pub fn validate(&self) -> Result<(), SettingError> {
        validate_base_url(&self.public_base_url)
            .map_err(|reason| invalid("public_base_url", reason))?;
        tracechain_bus::topic::validate_topic_name(&self.topic.name)
            .map_err(|e| invalid("topic.name", e.to_string()))?;
        if self.topic.partitions < 1 {
            return Err(invalid("topic.partitions", "must be at least 1"));
        }
        if self.topic.replication_factor < 1 {
            return Err(invalid("topic.replication_factor", "must be at least 1"));
        }
        validate_projection_name(&self.projection.name)?;
        if self.projection.marker_check_interval_ms == 0 {
            return Err(invalid(
                "projection.marker_check_interval_ms",
                "must be at least 1",
            ));
        }
        let limits = &self.limits;
        if !(1..=crate::domain::items::MAX_ITEMS_PER_EVENT).contains(&limits.max_items_per_request)
        {
            return Err(invalid(
                "limits.max_items_per_request",
                format!(
                    "must be between 1 and {}",
                    crate::domain::items::MAX_ITEMS_PER_EVENT
                ),
            ));
        }
        if limits.product_lock_lease_ms < 1000 {
            return Err(invalid(
                "limits.product_lock_lease_ms",
                "must be at least 1000",
            ));
        }
        if limits.idempotency_retention_secs == 0 {
            return Err(invalid(
                "limits.idempotency_retention_secs",
                "must be at least 1",
            ));
        }
        if limits.resolver_lot_ttl_ms > 60_000 {
            return Err(invalid(
                "limits.resolver_lot_ttl_ms",
                "must be at most 60000 (a recall must show quickly)",
            ));
        }
        if !(1..=200).contains(&limits.max_sheets_per_pdf) {
            return Err(invalid(
                "limits.max_sheets_per_pdf",
                "must be between 1 and 200",
            ));
        }
        Ok(())
    }

    /// The Digital Link base, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        self.public_base_url.trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        RegistrySettings::default().validate().unwrap();
    }

    #[test]
    fn base_url_is_trimmed() {
        let settings = RegistrySettings {
            public_base_url: "https://id.example.com/".into(),
            ..RegistrySettings::default()
        };
        assert_eq!(settings.base_url(), "https://id.example.com");
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut settings = RegistrySettings::default();
        settings.limits.max_items_per_request = 10_001;
        assert_eq!(
            settings.validate().unwrap_err().key,
            "limits.max_items_per_request"
        );
        let mut settings = RegistrySettings::default();
        settings.projection.name = "Registry".into();
        assert_eq!(settings.validate().unwrap_err().key, "projection.name");
        let mut settings = RegistrySettings::default();
        settings.topic.name = "a b".into();
        assert_eq!(settings.validate().unwrap_err().key, "topic.name");
    }
}
