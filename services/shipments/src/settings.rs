//! The shipments service's typed settings: the struct's defaults, then an
//! optional TOML file, then `TRACECHAIN_<SECTION>__<KEY>` environment
//! variables (see [`tracechain_runtime::load_settings`]), e.g.
//! `TRACECHAIN_HTTP__PORT`, `TRACECHAIN_SCANS__MAX_SKEW_SECS`,
//! `TRACECHAIN_SSCC__COMPANY_PREFIX`. The Helm chart uses the same names.
//!
//! Invariant: [`ShipmentsSettings::validate`] has passed before
//! [`crate::Application::build`] uses a value (it calls it itself): the
//! base URL is an absolute `http(s)` URL, topic names follow Kafka's rules,
//! the SSCC prefix issues valid SSCCs, and a scan's nonce is remembered at
//! least as long as the scan itself could be accepted.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracechain_http::HttpSettings;
pub use tracechain_runtime::SettingError;
use tracechain_runtime::settings::invalid;
use tracechain_runtime::{BusSettings, StoreSettings, validate_base_url, validate_projection_name};

use crate::domain::sscc::SsccIssuer;

/// The largest accepted JSON body by default: 1 MiB (a batch of 500
/// offline scans of ~1 KiB each fits with room).
pub const DEFAULT_JSON_LIMIT_BYTES: usize = 1024 * 1024;

/// Everything the shipments process is configured with. Unknown top-level
/// keys are ignored (every `TRACECHAIN_*` variable becomes one); inside a
/// section they are refused, so a misspelt setting is reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShipmentsSettings {
    /// Where and how the HTTP server listens (default port 8082).
    pub http: HttpSettings,
    /// The event bus (`kafka` or `embedded`).
    pub bus: BusSettings,
    /// The state store (`redis` or `embedded`).
    pub store: StoreSettings,
    /// The API key table; with none, every authenticated endpoint answers
    /// 401 (scans, signed by devices, and the label resolver still work).
    pub api_keys_file: Option<PathBuf>,
    /// The base of the label URIs (`{base}/00/{sscc}`): where this service
    /// (or a resolver in front of it) is reachable, without a trailing `/`.
    pub public_base_url: String,
    /// Topics.
    pub topics: TopicSettings,
    /// The projection consumer.
    pub projection: ProjectionSettings,
    /// How SSCCs are issued.
    pub sscc: SsccSettings,
    /// Scan acceptance.
    pub scans: ScanSettings,
    /// Request limits.
    pub limits: ShipmentLimits,
}

impl Default for ShipmentsSettings {
    fn default() -> Self {
        ShipmentsSettings {
            http: HttpSettings {
                port: 8082,
                json_limit_bytes: DEFAULT_JSON_LIMIT_BYTES,
                ..HttpSettings::default()
            },
            bus: BusSettings::default(),
            store: StoreSettings::default(),
            api_keys_file: None,
            public_base_url: "http://localhost:8082".to_owned(),
            topics: TopicSettings::default(),
            projection: ProjectionSettings::default(),
            sscc: SsccSettings::default(),
            scans: ScanSettings::default(),
            limits: ShipmentLimits::default(),
        }
    }
}

/// The `topics` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicSettings {
    /// The topic the service publishes to and projects from.
    pub shipments: String,
    /// Partitions `shipments` is created with (never changed afterwards).
    pub partitions: i32,
    /// Replicas `shipments` is created with.
    pub replication_factor: i16,
    /// The registry's topic, read to learn which items exist and whose
    /// they are (created by the registry; waited for, never created here).
    pub registry: String,
}

impl Default for TopicSettings {
    fn default() -> Self {
        TopicSettings {
            shipments: tracechain_domain::topics::SHIPMENT_EVENTS.to_owned(),
            partitions: tracechain_bus::topic::DEFAULT_DOMAIN_PARTITIONS,
            replication_factor: 1,
            registry: tracechain_domain::topics::REGISTRY_EVENTS.to_owned(),
        }
    }
}

/// The `projection` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectionSettings {
    /// Names the consumer group (`<name>-projection`) and the bookkeeping
    /// keys. Lowercase letters, digits and `-`.
    pub name: String,
    /// How often the consumer checks that the store still holds the
    /// projection (rebuilding from offset 0 when not), in ms.
    pub marker_check_interval_ms: u64,
}

impl Default for ProjectionSettings {
    fn default() -> Self {
        ProjectionSettings {
            name: "shipments".to_owned(),
            marker_check_interval_ms: 1000,
        }
    }
}

/// The `sscc` section: SSCC = extension digit ‖ company prefix ‖ serial
/// reference ‖ check digit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SsccSettings {
    /// The extension digit, 0 to 9.
    pub extension_digit: u8,
    /// The GS1 company prefix, 4 to 12 digits (the platform operator's).
    pub company_prefix: String,
}

impl Default for SsccSettings {
    fn default() -> Self {
        SsccSettings {
            extension_digit: 0,
            company_prefix: "0614141".to_owned(),
        }
    }
}

/// The `scans` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanSettings {
    /// How far a live scan's `scanned_at` may be from the server's clock,
    /// either way, in seconds.
    pub max_skew_secs: u64,
    /// How old a scan sent in an offline batch may be, in seconds.
    pub max_offline_age_secs: u64,
    /// Most scans in one batch.
    pub max_batch: usize,
    /// How long a scan in progress holds its nonce before a retry may take
    /// it (a crashed request's claim expires after this), in ms. Must
    /// exceed `bus.delivery_timeout_ms + bus.session_timeout_ms`: until
    /// then the first attempt may still be published, or not yet applied
    /// by the replica that took over its partitions.
    pub nonce_lease_ms: u64,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            max_skew_secs: 300,
            max_offline_age_secs: 7 * 24 * 3600,
            max_batch: 500,
            nonce_lease_ms: 60_000,
        }
    }
}

impl ScanSettings {
    /// [`Self::max_skew_secs`] as a duration.
    pub fn max_skew(&self) -> Duration {
        Duration::from_secs(self.max_skew_secs)
    }

    /// [`Self::max_offline_age_secs`] as a duration.
    pub fn max_offline_age(&self) -> Duration {
        Duration::from_secs(self.max_offline_age_secs)
    }

    /// How long an accepted scan's nonce is remembered: as long as any scan
    /// with it could still be accepted (the offline age plus the skew a
    /// future-dated scan may have), so a replay is always refused by the
    /// nonce check or, later, by the age check.
    pub fn nonce_retention(&self) -> Duration {
        Duration::from_secs(self.max_offline_age_secs + 2 * self.max_skew_secs)
    }

    /// [`Self::nonce_lease_ms`] as a duration.
    pub fn nonce_lease(&self) -> Duration {
        Duration::from_millis(self.nonce_lease_ms)
    }
}

/// The `limits` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShipmentLimits {
    /// Most items in one shipment.
    pub max_items_per_shipment: usize,
    /// How long a scan waits for another scan of the same shipment, in ms.
    pub shipment_lock_wait_ms: u64,
    /// How long a scan may hold its shipment's lock before another may
    /// take it (a crashed request's lock expires); like the nonce lease,
    /// above `bus.delivery_timeout_ms + bus.session_timeout_ms`.
    pub shipment_lock_lease_ms: u64,
    /// How long the first response to an `Idempotency-Key` is kept, in seconds.
    pub idempotency_retention_secs: u64,
}

impl Default for ShipmentLimits {
    fn default() -> Self {
        ShipmentLimits {
            max_items_per_shipment: 1000,
            shipment_lock_wait_ms: 5_000,
            shipment_lock_lease_ms: 60_000,
            idempotency_retention_secs: 24 * 60 * 60,
        }
    }
}

impl ShipmentsSettings {
    /// Checks every value the service relies on; names the first bad key.
    pub fn validate(&self) -> Result<(), SettingError> {
        validate_base_url(&self.public_base_url)
            .map_err(|reason| invalid("public_base_url", reason))?;
        tracechain_bus::topic::validate_topic_name(&self.topics.shipments)
            .map_err(|e| invalid("topics.shipments", e.to_string()))?;
        tracechain_bus::topic::validate_topic_name(&self.topics.registry)
            .map_err(|e| invalid("topics.registry", e.to_string()))?;
        if self.topics.partitions < 1 {
            return Err(invalid("topics.partitions", "must be at least 1"));
        }
        if self.topics.replication_factor < 1 {
            return Err(invalid("topics.replication_factor", "must be at least 1"));
        }
        validate_projection_name(&self.projection.name)?;
        if self.projection.marker_check_interval_ms == 0 {
            return Err(invalid(
                "projection.marker_check_interval_ms",
                "must be at least 1",
            ));
        }
        if self.sscc.extension_digit > 9 {
            return Err(invalid("sscc.extension_digit", "must be 0 to 9"));
        }
        SsccIssuer::new(self.sscc.extension_digit, &self.sscc.company_prefix)
            .map_err(|e| invalid("sscc.company_prefix", e.to_string()))?;
        let scans = &self.scans;
        if !(1..=86_400).contains(&scans.max_skew_secs) {
            return Err(invalid("scans.max_skew_secs", "must be 1 to 86400"));
        }
        if !(1..=90 * 86_400).contains(&scans.max_offline_age_secs) {
            return Err(invalid(
                "scans.max_offline_age_secs",
                "must be 1 to 7776000 (90 days)",
            ));
        }
        if !(1..=5000).contains(&scans.max_batch) {
            return Err(invalid("scans.max_batch", "must be 1 to 5000"));
        }
        if !(1000..=600_000).contains(&scans.nonce_lease_ms) {
            return Err(invalid("scans.nonce_lease_ms", "must be 1000 to 600000"));
        }
        let limits = &self.limits;
        if !(1..=10_000).contains(&limits.max_items_per_shipment) {
            return Err(invalid(
                "limits.max_items_per_shipment",
                "must be 1 to 10000",
            ));
        }
        if limits.idempotency_retention_secs == 0 {
            return Err(invalid(
                "limits.idempotency_retention_secs",
                "must be at least 1",
            ));
        }
        // A retry, or another scan of the same shipment, must not run
        // while a crashed attempt's event may still be delivered or not
        // yet applied by the replica that took over its partitions.
        let floor = self.bus.delivery_timeout_ms + self.bus.session_timeout_ms;
        let reason = format!(
            "must exceed bus.delivery_timeout_ms + bus.session_timeout_ms ({floor} ms): until then a crashed attempt's event may still be published or not yet applied"
        );
        if scans.nonce_lease_ms <= floor {
            return Err(invalid("scans.nonce_lease_ms", reason));
        }
        if limits.shipment_lock_lease_ms <= floor {
            return Err(invalid("limits.shipment_lock_lease_ms", reason));
        }
        Ok(())
    }

    /// The label URI base, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        self.public_base_url.trim_end_matches('/')
    }

    /// The SSCC issuer (valid once [`Self::validate`] passed).
    pub fn sscc_issuer(&self) -> Result<SsccIssuer, SettingError> {
        SsccIssuer::new(self.sscc.extension_digit, &self.sscc.company_prefix)
            .map_err(|e| invalid("sscc.company_prefix", e.to_string()))
    }

    /// [`ShipmentLimits::shipment_lock_wait_ms`] as a duration.
    pub fn lock_wait(&self) -> Duration {
        Duration::from_millis(self.limits.shipment_lock_wait_ms)
    }

    /// [`ShipmentLimits::shipment_lock_lease_ms`] as a duration.
    pub fn lock_lease(&self) -> Duration {
        Duration::from_millis(self.limits.shipment_lock_lease_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        ShipmentsSettings::default().validate().unwrap();
    }

    #[test]
    fn bad_values_name_their_key() {
        type Change = Box<dyn Fn(&mut ShipmentsSettings)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "public_base_url",
                Box::new(|s| s.public_base_url = "x".into()),
            ),
            (
                "topics.shipments",
                Box::new(|s| s.topics.shipments = "a b".into()),
            ),
            (
                "sscc.company_prefix",
                Box::new(|s| s.sscc.company_prefix = "12".into()),
            ),
            (
                "sscc.extension_digit",
                Box::new(|s| s.sscc.extension_digit = 10),
            ),
            (
                "scans.max_skew_secs",
                Box::new(|s| s.scans.max_skew_secs = 0),
            ),
            ("scans.max_batch", Box::new(|s| s.scans.max_batch = 0)),
            (
                "scans.nonce_lease_ms",
                Box::new(|s| s.scans.nonce_lease_ms = 40_000),
            ),
            (
                "limits.shipment_lock_lease_ms",
                Box::new(|s| {
                    s.scans.nonce_lease_ms = 120_000;
                    s.bus.delivery_timeout_ms = 55_000;
                }),
            ),
            (
                "projection.name",
                Box::new(|s| s.projection.name = "Ship".into()),
            ),
        ];
        for (key, change) in cases {
            let mut settings = ShipmentsSettings::default();
            change(&mut settings);
            assert_eq!(settings.validate().unwrap_err().key, key);
        }
    }

    #[test]
    fn a_nonce_outlives_every_scan_that_could_carry_it() {
        let scans = ScanSettings::default();
        assert!(scans.nonce_retention() > scans.max_offline_age() + scans.max_skew());
    }
}
