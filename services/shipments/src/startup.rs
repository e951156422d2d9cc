//! [`Application`]: the shipments service built from settings and an
//! already-built [`Infrastructure`] (so the all-in-one mode can share one
//! bus and store among the services), bound to its port (0 picks one), run
//! until told to stop.
//!
//! What `build` starts besides the HTTP server:
//!
//! - topic set-up (`shipment.events`, the registry's topic it reads, and
//!   their `.dlq`s), retried in the background until the broker takes it
//!   (`/readyz` says `topics` until then);
//! - the projection of both topics, rebuilt from offset 0 when the store
//!   lost it (`/readyz` says `projection` until it is complete).
//!
//! Stopping, in order: the HTTP server stops taking requests and lets
//! in-flight scans finish (published and acknowledged); then the consumer
//! commits and leaves its group; then the producer and the store are
//! flushed. The store itself is closed by whoever owns the infrastructure.

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
use tracechain_store::StoreError;

use crate::ingest::KeyCache;
use crate::metrics::ShipmentsMetrics;
use crate::projection::{Families, ShipmentsProjector};
use crate::settings::{SettingError, ShipmentsSettings};
use crate::state::AppState;

/// How long stopping waits for the projection consumer to commit and leave.
const BACKGROUND_STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long stopping waits for the producer to flush.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the service could not start (or its server failed).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is invalid.
    #[error(transparent)]
    Settings(#[from] SettingError),
    /// The API key table could not be loaded.
    #[error(transparent)]
    Keys(#[from] ApiKeyTableError),
    /// The store's families could not be set up.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP server could not bind or failed.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// A running shipments service.
#[derive(Debug)]
pub struct Application {
    server: Server,
    shutdown: CancellationToken,
    background: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    infra: Infrastructure,
}

impl Application {
    /// Builds the service on `infra` and starts serving; returns once the
    /// port is bound.
    pub async fn build(
        settings: ShipmentsSettings,
        infra: Infrastructure,
    ) -> Result<Application, StartupError> {
        settings.validate()?;
        let keys = ApiKeyTable::load_configured(settings.api_keys_file.as_deref())?;
        let issuer = settings.sscc_issuer()?;
        let families = Families::new(Arc::clone(&infra.store))?;
        let projector = Arc::new(ShipmentsProjector::new(
            families.clone(),
            settings.projection.name.clone(),
            settings.topics.shipments.clone(),
            settings.topics.registry.clone(),
            issuer.clone(),
            settings.base_url().to_owned(),
            settings.scans.nonce_retention(),
        ));
        let metrics = Metrics::new();
        let state = web::Data::new(AppState::new(
            families,
            Arc::clone(&infra.bus),
            Arc::clone(&projector),
            &settings,
            issuer,
            ShipmentsMetrics::register(&metrics),
        ));
        let key_cache = web::Data::new(KeyCache::default());
        let shutdown = CancellationToken::new();
        let background = CancellationToken::new();

        let shipments = TopicSpec::new(&settings.topics.shipments, settings.topics.partitions)
            .with_replication_factor(settings.topics.replication_factor);
        // The registry's topic with the registry's own defaults: creating
        // it here only matters when shipments starts first.
        let registry = TopicSpec::new(
            &settings.topics.registry,
            tracechain_bus::topic::DEFAULT_DOMAIN_PARTITIONS,
        )
        .with_replication_factor(settings.topics.replication_factor);
        let topics_task = ensure_topics_in_background(
            Arc::clone(&infra.bus),
            vec![
                shipments.clone(),
                shipments.dlq(),
                registry.clone(),
                registry.dlq(),
            ],
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
                cfg.app_data(state.clone())
                    .app_data(keys.clone())
                    .app_data(key_cache.clone());
                crate::routes::page::configure(cfg);
            },
            shutdown.clone().cancelled_owned(),
        )?;
        tracing::info!(port = server.port(), topic = %settings.topics.shipments, "Shipments started");
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
        tracing::info!("Shipments stopped");
        Ok(result?)
    }
}

/// Runs the service as its own process would: settings from defaults,
/// `config` (TOML), `TRACECHAIN_*` environment variables and `overrides`
/// (`--set`); the bus and
/// store they name; until SIGTERM or Ctrl-C; then the store is closed. The
/// service's `main` and `tracechain serve shipments` both call this.
pub async fn serve(
    config: Option<&std::path::Path>,
    overrides: &[tracechain_runtime::SettingOverride],
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let settings: ShipmentsSettings = tracechain_runtime::load_settings_with(config, overrides)
        .context("loading the shipments settings")?;
    let infra = Infrastructure::connect(
        &settings.bus,
        &settings.store,
        tracechain_store::Namespace::service(crate::SERVICE_NAME)?,
    )
    .await
    .context("setting up the bus and the store")?;
    let app = Application::build(settings, infra.clone())
        .await
        .context("starting the shipments service")?;
    tracechain_runtime::cancel_on_shutdown_signal(app.shutdown_token());
    app.run_until_stopped().await?;
    infra.store.close().await.context("closing the store")?;
    Ok(())
}
