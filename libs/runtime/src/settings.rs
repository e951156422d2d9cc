//! Typed settings, layered: the struct's `Default`, then an optional TOML
//! file, then environment variables `TRACECHAIN_<SECTION>__<KEY>` (double
//! underscore between levels, e.g. `TRACECHAIN_BUS__BROKERS`,
//! `TRACECHAIN_HTTP__PORT`), then command-line overrides `--set
//! <section>.<key>=<value>` ([`SettingOverride`]). One name per setting
//! everywhere: `http.port` in a file's `[http]` table, in
//! `TRACECHAIN_HTTP__PORT`, in `--set http.port=8081` and in the Helm values.

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

/// One `--set <section>.<key>=<value>`: the value is read as a TOML value
/// (`8081`, `true`, `["a", "b"]`, `"text"`), and as a plain string when it
/// is not one, so `--set bus.brokers=kafka:9092` needs no quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingOverride {
    /// `key = value` as one line of TOML (dotted key).
    line: String,
}

impl std::str::FromStr for SettingOverride {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?} is not <section>.<key>=<value>"))?;
        let key = key.trim();
        let well_formed = !key.is_empty()
            && key.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            });
        if !well_formed {
            return Err(format!(
                "{key:?} is not a setting name: dot-separated lowercase words, as in http.port"
            ));
        }
        let as_toml = format!("{key} = {value}");
        let line = if Figment::from(Toml::string(&as_toml))
            .extract::<figment::value::Dict>()
            .is_ok()
        {
            as_toml
        } else {
            let quoted: String = value
                .chars()
                .flat_map(|c| match c {
                    '"' => vec!['\\', '"'],
                    '\\' => vec!['\\', '\\'],
                    c if c.is_control() => format!("\\u{:04x}", u32::from(c)).chars().collect(),
                    c => vec![c],
                })
                .collect();
            format!("{key} = \"{quoted}\"")
        };
        Ok(SettingOverride { line })
    }
}

/// Loads `T`: its `Default`, then `file` (TOML) if given, then environment
/// variables `TRACECHAIN_<SECTION>__<KEY>`.
pub fn load_settings<T>(file: Option<&Path>) -> Result<T, SettingsError>
where
    T: Serialize + DeserializeOwned + Default,
{
    load_settings_with(file, &[])
}

/// [`load_settings`], then `overrides` on top (the command line's `--set`).
pub fn load_settings_with<T>(
    file: Option<&Path>,
    overrides: &[SettingOverride],
) -> Result<T, SettingsError>
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
    for setting in overrides {
        figment = figment.merge(Toml::string(&setting.line));
    }
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
    fn overrides_win_over_env_and_read_toml_or_text() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TRACECHAIN_BUS__BROKERS", "env:9092");
            let overrides: Vec<SettingOverride> = [
                "bus.brokers=flag:9092",
                "store.kind=embedded",
                "bus.session_timeout_ms=6000",
            ]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
            let settings: Example = load_settings_with(None, &overrides).unwrap();
            assert_eq!(settings.bus.brokers, "flag:9092", "a flag wins over env");
            assert_eq!(
                settings.store.kind,
                StoreKind::Embedded,
                "bare text is a string"
            );
            assert_eq!(
                settings.bus.session_timeout_ms, 6000,
                "a number is a number"
            );
            Ok(())
        });
    }

    #[test]
    fn a_malformed_override_is_refused_naming_it() {
        for bad in [
            "no-equals-sign",
            "=value",
            "Bus.brokers=x",
            "bus..brokers=x",
            "bus brokers=x",
        ] {
            assert!(bad.parse::<SettingOverride>().is_err(), "{bad}");
        }
        let quoted: SettingOverride = r#"store.url=redis://h:1/?a="b""#.parse().unwrap();
        assert_eq!(quoted.line, r#"store.url = "redis://h:1/?a=\"b\"""#);
    }

    #[test]
    fn an_override_of_an_unknown_key_is_refused() {
        let overrides = ["bus.no_such_key=1".parse::<SettingOverride>().unwrap()];
        assert!(load_settings_with::<Example>(None, &overrides).is_err());
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
