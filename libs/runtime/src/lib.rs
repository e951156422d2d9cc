//! The process around a service: everything a registry, shipments, ledger
//! or settlement process needs that is not its own domain.
//!
//! - [`settings`]: typed settings layered from defaults, an optional file and
//!   `TRACECHAIN_<SECTION>__<KEY>` environment variables — the same names the
//!   Helm chart's values use — and [`SettingError`], the one error a
//!   service's `validate` returns;
//! - [`process`]: the `--config <file>` argument, the signals that stop a
//!   service and waiting for its background tasks;
//! - [`infra`]: the bus and the store chosen by configuration (Kafka or the
//!   embedded log; Redis or the embedded store), connected lazily so a
//!   service starts while its broker or Redis is down, reports not-ready and
//!   recovers by itself;
//! - [`topics`]: topic set-up retried with backoff in the background;
//! - [`idempotency`]: `Idempotency-Key` on every POST, one protocol for
//!   every service;
//! - [`paging`]: `?cursor=&limit=` listings over a store index, the same
//!   in every service;
//! - [`projection`]: a service's projection kept current, rebuilt when
//!   lost, with its readiness flag;
//! - [`problems`]: infrastructure failures as 503 problem+json with
//!   `Retry-After`, never a 500 and never a half-done write reported as done.

pub mod idempotency;
pub mod infra;
pub mod paging;
pub mod problems;
pub mod process;
pub mod projection;
pub mod secrets;
pub mod settings;
pub mod topics;

pub use infra::{Infrastructure, RuntimeError, connect_bus};
pub use problems::{bus_problem, store_problem};
pub use process::{
    UsageError, cancel_on_shutdown_signal, config_file_argument, join_background_tasks,
};
pub use projection::{keep_projection_current, start_projection};
pub use settings::{
    BusKind, BusSettings, SettingError, SettingOverride, SettingsError, StoreKind, StoreSettings,
    invalid, load_settings, load_settings_with, validate_base_url, validate_projection_name,
};
pub use topics::{TopicsReady, ensure_topics_in_background};
