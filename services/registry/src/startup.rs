//! [`Application`]: the registry built from settings and an already-built
//! [`Infrastructure`] (so the all-in-one mode can share one bus among the
//! services), bound to its port (0 picks one), run until told to stop.
//!
//! What `build` starts besides the HTTP server:
//!
//! - topic set-up (`{topic}` and `{topic}.dlq`), retried in the background
//!   until the broker takes it (`/readyz` says `topics` until then);
//! - the projection: it waits for the topics, makes sure the store holds a
//!   complete projection (rebuilding from offset 0 when not; `/readyz`
//!   says `projection` until then), then consumes the topic as group
//!   `<projection.name>-projection`; on failure it starts over with backoff.
//!
//! Stopping, in order (the shutdown token, or [`Application::shutdown_token`]):
//! the HTTP server stops taking requests and lets in-flight ones finish
//! (their events are published and acknowledged); then the consumer
//! finishes its batch, commits and leaves its group; then the producer is
//! flushed and the store flushed. The store itself is closed by whoever
//! owns the infrastructure (`main`, or the all-in-one process).

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracechain_bus::TopicSpec;
use tracechain_http::{
    ApiDocs, ApiKeyTable, ApiKeyTableError, HttpDefaults, Limits, Metrics, Server, ServerError,
    start_service,
};
use tracechain_projection::Projector;
use tracechain_runtime::{
    Infrastructure, ensure_topics_in_background, join_background_tasks, start_projection,
};

use crate::cache::ResolverCache;
use crate::metrics::RegistryMetrics;
use crate::projection::RegistryProjector;
use crate::settings::{RegistrySettings, SettingError};
use crate::state::AppState;

/// How long stopping waits for the projection consumer to commit and leave.
const BACKGROUND_STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Most lot records the resolver keeps in memory.
const RESOLVER_LOT_CAPACITY: usize = 100_000;
/// How long stopping waits for the producer to flush.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the registry could not start (or its server failed).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is invalid.
    #[error(transparent)]
    Settings(#[from] SettingError),
    /// The API key table could not be loaded.
    #[error(transparent)]
    Keys(#[from] ApiKeyTableError),
    /// The HTTP server could not bind or failed.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// A running registry: HTTP server, topic set-up and projection consumer.
#[derive(Debug)]
pub struct Application {
    /// The HTTP server.
    server: Server,
    /// Cancelled to stop the whole application.
    shutdown: CancellationToken,
    /// Cancelled (after HTTP stopped) to stop the background tasks.
    background: CancellationToken,
    /// Topic set-up and projection tasks.
    tasks: Vec<JoinHandle<()>>,
    /// The bus and store (flushed on stop).
    infra: Infrastructure,
}

impl Application {
    /// Builds the registry on `infra` and starts serving; returns once the
    /// port is bound.
    pub async fn build(
        settings: RegistrySettings,
        infra: Infrastructure,
    ) -> Result<Application, StartupError> {
        settings.validate()?;
        let keys = ApiKeyTable::load_configured(settings.api_keys_file.as_deref())?;
        let cache = Arc::new(ResolverCache::new(
            settings.limits.resolver_item_cache,
            Duration::from_millis(settings.limits.resolver_lot_ttl_ms),
            RESOLVER_LOT_CAPACITY,
        ));
        let projector = Arc::new(
            RegistryProjector::new(
                settings.projection.name.clone(),
                settings.topic.name.clone(),
            )
            .with_cache(Arc::clone(&cache)),
        );
        let metrics = Metrics::new();
        let state = web::Data::new(AppState::new(
            Arc::clone(&infra.store),
            Arc::clone(&infra.bus),
            Arc::clone(&projector),
            &settings,
            RegistryMetrics::register(&metrics),
            cache,
        ));
        let shutdown = CancellationToken::new();
        let background = CancellationToken::new();

        let spec = TopicSpec::new(&settings.topic.name, settings.topic.partitions)
            .with_replication_factor(settings.topic.replication_factor);
        let topics_task = ensure_topics_in_background(
            Arc::clone(&infra.bus),
            vec![spec.clone(), spec.dlq()],
            infra.topics.clone(),
            background.clone(),
        );

        let (projection_task, projection_check, gate) = start_projection(
            &infra,
            projector as Arc<dyn Projector>,
            &settings.bus,
            Duration::from_millis(settings.projection.marker_check_interval_ms),
            background.clone(),
        );

        let readiness = infra.readiness().with_check(projection_check);
        let defaults = HttpDefaults {
            limits: Limits::from(&settings.http),
            metrics,
            readiness,
            gate,
        };
        let keys = web::Data::new(keys);
        let server = start_service(
            &settings.http,
            defaults,
            ApiDocs::new(crate::openapi::openapi()),
            crate::routes::configure,
            move |cfg| {
                cfg.app_data(state.clone()).app_data(keys.clone());
            },
            shutdown.clone().cancelled_owned(),
        )?;
        tracing::info!(port = server.port(), topic = %settings.topic.name, "Registry started");
        Ok(Application {
            server,
            shutdown,
            background,
            tasks: vec![topics_task, projection_task],
            infra,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Cancel it to stop the application gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then stops in order
    /// (see the [module docs](self)).
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let result = self.server.run_until_stopped().await;
        self.shutdown.cancel();
        self.background.cancel();
        join_background_tasks(self.tasks, BACKGROUND_STOP_TIMEOUT).await;
        if let Err(error) = self.infra.bus.flush(FLUSH_TIMEOUT).await {
            tracing::warn!(%error, "Flushing the producer failed");
        }
        if let Err(error) = self.infra.store.flush().await {
            tracing::warn!(%error, "Flushing the store failed");
        }
        tracing::info!("Registry stopped");
        Ok(result?)
    }
}

/// Runs the service as its own process would: settings from defaults,
/// `config` (TOML), `TRACECHAIN_*` environment variables and `overrides`
/// (`--set`); the bus and
/// store they name; until SIGTERM or Ctrl-C; then the store is closed. The
/// service's `main` and `tracechain serve registry` both call this.
pub async fn serve(
    config: Option<&std::path::Path>,
    overrides: &[tracechain_runtime::SettingOverride],
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let settings: RegistrySettings = tracechain_runtime::load_settings_with(config, overrides)
        .context("loading the registry settings")?;
    let infra = Infrastructure::connect(
        &settings.bus,
        &settings.store,
        tracechain_store::Namespace::service(crate::SERVICE_NAME)?,
    )
    .await
    .context("setting up the bus and the store")?;
    let app = Application::build(settings, infra.clone())
        .await
        .context("starting the registry")?;
    tracechain_runtime::cancel_on_shutdown_signal(app.shutdown_token());
    app.run_until_stopped().await?;
    infra.store.close().await.context("closing the store")?;
    Ok(())
}
