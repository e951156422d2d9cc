//! Typed settings, layered: the struct's `Default`, then an optional TOML
//! file, then environment variables `TRACECHAIN_<SECTION>__<KEY>` (double
//! underscore between levels, e.g. `TRACECHAIN_BUS__BROKERS`,
//! `TRACECHAIN_HTTP__PORT`). The Helm chart sets exactly these names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracechain_bus::KafkaConfig;

/// Which event bus a process uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    /// A Kafka-protocol cluster (the distributed mode).
    #[default]
    Kafka,
    /// The embedded on-disk log (the all-in-one mode).
    Embedded,
}

/// The `bus` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusSettings {
    /// `kafka` or `embedded`.
    pub kind: BusKind,
    /// Kafka bootstrap servers, comma-separated.
    pub brokers: String,
    /// Kafka client id (shows in broker logs).
    pub client_id: String,
    /// Consumer-group session timeout in milliseconds (short = fast failover).
    pub session_timeout_ms: u64,
    /// How long a publish may wait for the broker's acknowledgement, in ms.
    pub delivery_timeout_ms: u64,
    /// How long the producer waits to fill a batch (`linger.ms`): longer
    /// means fewer, larger produce requests (less broker work per event)
    /// and that much more latency per publish.
    pub linger_ms: u64,
    /// Where the embedded bus keeps its log.
    pub data_dir: PathBuf,
}

impl Default for BusSettings {
    fn default() -> Self {
        BusSettings {
            kind: BusKind::Kafka,
            brokers: "127.0.0.1:9092".to_owned(),
            client_id: "tracechain".to_owned(),
            session_timeout_ms: 10_000,
            delivery_timeout_ms: 30_000,
            linger_ms: 5,
            data_dir: PathBuf::from("data/bus"),
        }
    }
}

impl BusSettings {
    /// The Kafka client configuration these settings describe.
    pub fn kafka_config(&self) -> KafkaConfig {
        let mut config = KafkaConfig::new(&self.brokers);
        config.client_id = self.client_id.clone();
        config.session_timeout = Duration::from_millis(self.session_timeout_ms);
        config.delivery_timeout = Duration::from_millis(self.delivery_timeout_ms);
        config.linger = Duration::from_millis(self.linger_ms);
        config
    }
}

/// Which state store a process uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Redis (the distributed mode).
    #[default]
    Redis,
    /// The embedded in-memory store snapshotted to disk (the all-in-one mode).
    Embedded,
}

/// The `store` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// `redis` or `embedded`.
    pub kind: StoreKind,
    /// Redis URL (`redis://host:port/db`); a password in it is never logged.
    pub url: String,
    /// Where the embedded store keeps its snapshots.
    pub data_dir: PathBuf,
    /// A prefix under the service's namespace (tests use a unique one).
    pub namespace_suffix: Option<String>,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            kind: StoreKind::Redis,
            url: "redis://127.0.0.1:6379".to_owned(),
            data_dir: PathBuf::from("data/store"),
            namespace_suffix: None,
        }
    }
}

/// A setting whose value a service refuses (its `validate`); names the key.
/// Loading can also fail before any service check: see [`SettingsError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting {key} is invalid: {reason}")]
pub struct SettingError {
    /// The dotted key, e.g. `topic.name` or `public_base_url`.
    pub key: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

/// A [`SettingError`] for `key`.
pub fn invalid(key: &'static str, reason: impl Into<String>) -> SettingError {
    SettingError {
        key,
        reason: reason.into(),
    }
}

/// Checks a projection's name (it names a consumer group and store keys):
/// 1 to 64 characters from `a-z`, `0-9` and `-`; the error names
/// `projection.name`.
pub fn validate_projection_name(name: &str) -> Result<(), SettingError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "projection.name",
            "must be 1 to 64 characters from a-z, 0-9 and '-'",
        ))
    }
}

/// Checks a public base URL (a Digital Link base, a service's own address):
/// `http(s)://host[:port][/prefix]` with no query, fragment, whitespace or
/// user information; a trailing `/` is tolerated (callers trim it).
pub fn validate_base_url(url: &str) -> Result<(), String> {
    let url = url.trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} must start with https:// or http://"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if host.contains('@') {
        return Err(format!("{url:?} must not carry user information"));
    }
    if let Some(bad) = url
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '"' | '<' | '>'))
    {
        return Err(format!("{url:?} contains {bad:?}"));
    }
    Ok(())
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The settings file does not exist.
    #[error("settings file {0} does not exist")]
    MissingFile(PathBuf),
    /// A value is missing or has the wrong type (figment names the key and source).
    #[error("invalid settings: {0}")]
    Invalid(#[from] Box<figment::Error>),
}

/// Loads `T`: its `Default`, then `file` (TOML) if given, then environment
/// variables `TRACECHAIN_<SECTION>__<KEY>`.
pub fn load_settings<T>(file: Option<&Path>) -> Result<T, SettingsError>
where
    T: Serialize + DeserializeOwned + Default,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(file) = file {
        if !file.exists() {
            return Err(SettingsError::MissingFile(file.to_owned()));
        }
        figment = figment.merge(Toml::file(file));
    }
    figment = figment.merge(Env::prefixed("TRACECHAIN_").split("__"));
    figment
        .extract()
        .map_err(|e| SettingsError::Invalid(Box::new(e)))
}

#[cfg(test)]
// figment::Jail fixes its closure's error type (figment::Error, which is large).
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(default)]
    struct Example {
        bus: BusSettings,
        store: StoreSettings,
    }

    #[test]
    fn defaults_then_file_then_env() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "svc.toml",
                "[bus]\nbrokers = \"file:9092\"\nkind = \"embedded\"\n",
            )?;
            jail.set_env("TRACECHAIN_BUS__BROKERS", "env:9092");
            jail.set_env("TRACECHAIN_STORE__KIND", "embedded");
            let settings: Example = load_settings(Some(Path::new("svc.toml"))).unwrap();
            assert_eq!(settings.bus.brokers, "env:9092", "env wins over the file");
            assert_eq!(
                settings.bus.kind,
                BusKind::Embedded,
                "the file wins over defaults"
            );
            assert_eq!(settings.store.kind, StoreKind::Embedded);
            assert_eq!(
                settings.store.url, "redis://127.0.0.1:6379",
                "defaults fill the rest"
            );
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_its_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TRACECHAIN_BUS__KIND", "carrier-pigeon");
            let error = load_settings::<Example>(None).unwrap_err().to_string();
            assert!(error.to_lowercase().contains("bus.kind"), "{error}");
            assert!(error.contains("carrier-pigeon"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_refused_value_names_its_key() {
        let error = invalid("topic.name", "must not be empty");
        assert_eq!(error.key, "topic.name");
        assert_eq!(
            error.to_string(),
            "setting topic.name is invalid: must not be empty"
        );
    }

    #[test]
    fn base_url_rules() {
        for ok in [
            "https://id.example.com",
            "https://id.example.com/",
            "http://127.0.0.1:8080/resolver",
        ] {
            validate_base_url(ok).unwrap();
        }
        for bad in [
            "id.example.com",
            "ftp://x",
            "https://",
            "https://a b",
            "https://x?y",
            "https://u:p@x",
        ] {
            assert!(validate_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let error = load_settings::<Example>(Some(Path::new("/nonexistent/x.toml"))).unwrap_err();
        assert!(matches!(error, SettingsError::MissingFile(_)));
    }
}
