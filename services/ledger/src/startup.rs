//! [`Application`]: the ledger built from settings and a bus (shared with
//! other services in the all-in-one mode), bound to its port, run until
//! told to stop.
//!
//! `build` loads the signing key (creating it only when
//! `chain.create_signing_key`), opens and checks the block store — refusing
//! to start on a corrupted one — and starts: topic set-up (retried in the
//! background), the writer election, the engine and the HTTP server.
//! `/readyz` reports `bus`, `topics`, `chain` (caught up with the blocks
//! topic) and `store` (not failed).
//!
//! Stopping: HTTP stops taking requests; the engine stops (a writer waits
//! for its blocks in flight and stores the accepted ones); the election
//! member leaves its group so a standby takes over at once; the producer is
//! flushed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracechain_bus::{ConsumerOptions, EventBus, TopicSpec};
use tracechain_chain::KeyRing;
use tracechain_core::{NoteVerifier, SigningKey, VerifyingKey};
use tracechain_http::{
    ApiDocs, ApiKeyTable, ApiKeyTableError, HttpDefaults, Limits, Metrics, Readiness, Server,
    ServerError, check_fn, start_service,
};
use tracechain_runtime::{TopicsReady, ensure_topics_in_background, join_background_tasks};

use crate::engine::{Engine, election};
use crate::routes::{KeyResponse, KeysResponse};
use crate::settings::{LedgerSettings, SettingError};
use crate::state::LedgerState;
use crate::store::{BlockStore, StoreError, StoreOptions};

/// How long stopping waits for the engine and the election to finish.
const BACKGROUND_STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long stopping waits for the producer to flush.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a readiness probe of the bus may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the ledger could not start (or its server failed).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is invalid.
    #[error(transparent)]
    Settings(#[from] SettingError),
    /// A key file could not be read, parsed or created.
    #[error("{path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The API key table could not be loaded.
    #[error(transparent)]
    ApiKeys(#[from] ApiKeyTableError),
    /// The block store could not be opened, or is corrupted.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP server could not bind or failed.
    #[error(transparent)]
    Server(#[from] ServerError),
}

fn key_error(path: &Path, reason: impl std::fmt::Display) -> StartupError {
    StartupError::Key {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Loads the signing key, creating it when allowed and missing.
pub fn load_signing_key(path: &Path, create: bool) -> Result<SigningKey, StartupError> {
    match std::fs::read_to_string(path) {
        Ok(pem) => SigningKey::from_pkcs8_pem(&pem).map_err(|e| key_error(path, e)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && create => {
            let key = SigningKey::generate();
            let pem = key.to_pkcs8_pem().map_err(|e| key_error(path, e))?;
            tracechain_runtime::secrets::write_secret(path, pem.as_bytes(), false)
                .map_err(|e| key_error(path, e))?;
            tracing::info!(path = %path.display(), key_id = %key.key_id(), "Created the ledger's signing key");
            Ok(key)
        }
        Err(error) => Err(key_error(
            path,
            format!("cannot read the signing key: {error}"),
        )),
    }
}

/// The signing key's public key plus every previous one.
fn key_ring(
    settings: &LedgerSettings,
    key: &SigningKey,
) -> Result<(KeyRing, Vec<VerifyingKey>), StartupError> {
    let mut keys = vec![key.verifying_key()];
    for path in &settings.chain.previous_public_key_files {
        let pem = std::fs::read_to_string(path).map_err(|e| key_error(path, e))?;
        keys.push(VerifyingKey::from_public_key_pem(&pem).map_err(|e| key_error(path, e))?);
    }
    Ok((KeyRing::new(keys.iter().copied()), keys))
}

fn keys_response(origin: &str, keys: &[VerifyingKey]) -> Result<KeysResponse, StartupError> {
    let mut out = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let vkey = NoteVerifier::new(origin.to_owned(), *key)
            .map_err(|e| key_error(Path::new("chain.origin"), e))?
            .to_vkey();
        out.push(KeyResponse {
            key_id: key.key_id().to_string(),
            algorithm: "ed25519".to_owned(),
            public_key: key.to_base64(),
            public_key_pem: key.to_public_key_pem().unwrap_or_default(),
            note_verifier_key: vkey,
            current: i == 0,
        });
    }
    Ok(KeysResponse {
        origin: origin.to_owned(),
        keys: out,
    })
}

/// A running ledger.
pub struct Application {
    server: Server,
    shutdown: CancellationToken,
    background: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    bus: Arc<dyn EventBus>,
    store: Arc<BlockStore>,
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.server.port())
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Builds the ledger on `bus` and starts serving; returns once the port
    /// is bound.
    pub async fn build(
        settings: LedgerSettings,
        bus: Arc<dyn EventBus>,
    ) -> Result<Application, StartupError> {
        settings.validate()?;
        let api_keys = ApiKeyTable::load_configured(settings.api_keys_file.as_deref())?;
        let key = load_signing_key(
            &settings.chain.signing_key_file,
            settings.chain.create_signing_key,
        )?;
        let (ring, public_keys) = key_ring(&settings, &key)?;
        let keys = Arc::new(keys_response(&settings.chain.origin, &public_keys)?);
        let store_options = StoreOptions {
            segment_bytes: settings.chain.segment_mib << 20,
            index_cache_bytes: settings.chain.index_cache_mib << 20,
            ..StoreOptions::new(settings.chain.origin.clone(), ring.clone())
        };
        let dir = settings.chain.data_dir.clone();
        let store = tokio::task::spawn_blocking(move || BlockStore::open(&dir, &store_options))
            .await
            .map_err(|e| StoreError::Index(format!("opening the store failed: {e}")))??;
        let store = Arc::new(store);
        tracing::info!(
            dir = %settings.chain.data_dir.display(),
            height = store.head().map(|h| h.header.height),
            tree_size = store.tree_size(),
            key_id = %key.key_id(),
            "Block store checked and opened"
        );

        let engine = Arc::new(Engine::new(
            Arc::clone(&store),
            Arc::clone(&bus),
            settings.engine_config(),
            key,
            ring,
        ));
        let metrics = Metrics::new();
        engine.status().register(&metrics);

        let shutdown = CancellationToken::new();
        let background = CancellationToken::new();
        let topics = TopicsReady::default();
        let mut specs = Vec::new();
        for input in &settings.topics.inputs {
            let spec = TopicSpec::new(input, settings.topics.input_partitions)
                .with_replication_factor(settings.topics.replication_factor);
            specs.push(spec.dlq());
            specs.push(spec);
        }
        for single in [&settings.topics.blocks, &settings.topics.election] {
            specs.push(
                TopicSpec::new(single, 1)
                    .with_replication_factor(settings.topics.replication_factor),
            );
        }
        let topics_task = ensure_topics_in_background(
            Arc::clone(&bus),
            specs,
            topics.clone(),
            background.clone(),
        );

        let (elected_tx, elected_rx) = watch::channel(false);
        let election_task = {
            let bus = Arc::clone(&bus);
            let topics = topics.clone();
            let stop = background.clone();
            let options = ConsumerOptions {
                session_timeout: Some(Duration::from_millis(settings.bus.session_timeout_ms)),
                ..ConsumerOptions::default()
            };
            let (topic, group) = (
                settings.topics.election.clone(),
                settings.topics.writer_group.clone(),
            );
            let status = engine.status();
            let stall = Duration::from_millis(settings.bus.session_timeout_ms.saturating_mul(5));
            let progress = election::Progress::new(move || status.height.get(), stall);
            tokio::spawn(async move {
                if wait_for(&topics, &stop).await {
                    election::run(bus, topic, group, options, progress, elected_tx, stop).await;
                }
            })
        };
        let engine_task = {
            let engine = Arc::clone(&engine);
            let topics = topics.clone();
            let stop = background.clone();
            tokio::spawn(async move {
                if wait_for(&topics, &stop).await {
                    engine.run(elected_rx, stop).await;
                }
            })
        };

        let readiness = readiness(&bus, &topics, &engine);
        let defaults = HttpDefaults {
            limits: Limits::from(&settings.http),
            metrics,
            readiness,
            // The ledger answers from its own block store, never half-loaded.
            gate: Default::default(),
        };
        let state = web::Data::new(LedgerState {
            store: Arc::clone(&store),
            status: engine.status(),
            keys,
        });
        let api_keys = web::Data::new(api_keys);
        let server = start_service(
            &settings.http,
            defaults,
            ApiDocs::new(crate::openapi::openapi()),
            crate::routes::configure,
            move |cfg| {
                cfg.app_data(state.clone()).app_data(api_keys.clone());
                crate::explorer::configure(cfg);
            },
            shutdown.clone().cancelled_owned(),
        )?;
        tracing::info!(port = server.port(), origin = %settings.chain.origin, "Ledger started");
        Ok(Application {
            server,
            shutdown,
            background,
            tasks: vec![topics_task, election_task, engine_task],
            bus,
            store,
            engine,
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

    /// The block store (for tests and the all-in-one process).
    pub fn store(&self) -> Arc<BlockStore> {
        Arc::clone(&self.store)
    }

    /// The engine (for tests).
    pub fn engine(&self) -> Arc<Engine> {
        Arc::clone(&self.engine)
    }

    /// Serves until the shutdown token is cancelled, then stops in order.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let result = self.server.run_until_stopped().await;
        self.shutdown.cancel();
        self.background.cancel();
        join_background_tasks(self.tasks, BACKGROUND_STOP_TIMEOUT).await;
        if let Err(error) = self.bus.flush(FLUSH_TIMEOUT).await {
            tracing::warn!(%error, "Flushing the producer failed");
        }
        tracing::info!("Ledger stopped");
        Ok(result?)
    }
}

/// Waits until the topics are set up; `false` when stopped first.
async fn wait_for(topics: &TopicsReady, stop: &CancellationToken) -> bool {
    while !topics.is_ready() {
        tokio::select! {
            () = stop.cancelled() => return false,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    true
}

fn readiness(bus: &Arc<dyn EventBus>, topics: &TopicsReady, engine: &Arc<Engine>) -> Readiness {
    let bus = Arc::clone(bus);
    let topics = topics.clone();
    let chain = engine.status();
    let store = engine.status();
    Readiness::new()
        .with_check(check_fn("bus", move || {
            let bus = Arc::clone(&bus);
            async move { bus.ping(PROBE_TIMEOUT).await.map_err(Into::into) }
        }))
        .with_check(check_fn("topics", move || {
            let ready = topics.is_ready();
            async move {
                if ready {
                    Ok(())
                } else {
                    Err("the ledger's topics are not set up yet".into())
                }
            }
        }))
        .with_check(check_fn("chain", move || {
            let ready = chain.is_caught_up();
            async move {
                if ready {
                    Ok(())
                } else {
                    Err("the block store has not caught up with the blocks topic yet".into())
                }
            }
        }))
        .with_check(check_fn("store", move || {
            let failed = store.has_failed();
            async move {
                if failed {
                    Err("the block store failed; restart the ledger".into())
                } else {
                    Ok(())
                }
            }
        }))
        .with_timeout(PROBE_TIMEOUT + Duration::from_millis(500))
}

/// Runs the ledger as its own process would: settings from defaults,
/// `config` (TOML) and `TRACECHAIN_*` environment variables; the bus they
/// name; until SIGTERM or Ctrl-C. The ledger's `main` and `tracechain
/// serve ledger` both call this.
pub async fn serve(
    config: Option<&std::path::Path>,
    overrides: &[tracechain_runtime::SettingOverride],
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let settings: LedgerSettings = tracechain_runtime::load_settings_with(config, overrides)
        .context("loading the ledger settings")?;
    let bus = tracechain_runtime::connect_bus(&settings.bus).context("setting up the bus")?;
    let app = Application::build(settings, bus)
        .await
        .context("starting the ledger")?;
    tracechain_runtime::cancel_on_shutdown_signal(app.shutdown_token());
    app.run_until_stopped().await?;
    Ok(())
}
