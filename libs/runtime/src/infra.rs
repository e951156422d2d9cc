//! The bus and the store a service runs on, chosen by configuration.
//!
//! Invariant: building an [`Infrastructure`] never needs the broker or Redis
//! to be up. Clients connect lazily and reconnect by themselves, so a
//! service started before its dependencies reports not-ready on `/readyz`
//! and becomes ready when they appear — no crash loop.

use std::sync::Arc;
use std::time::Duration;

use tracechain_bus::{BusError, EmbeddedBus, EventBus, KafkaBus};
use tracechain_http::{Readiness, check_fn};
use tracechain_store::{EmbeddedStore, Namespace, RedisConfig, RedisStore, StateStore, StoreError};

use crate::settings::{BusKind, BusSettings, StoreKind, StoreSettings};
use crate::topics::TopicsReady;

/// Why the infrastructure could not be set up (bad configuration or a
/// corrupt embedded data directory; never "the broker is down").
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The bus could not be created.
    #[error("cannot set up the event bus")]
    Bus(#[from] BusError),
    /// The store could not be created.
    #[error("cannot set up the state store")]
    Store(#[from] StoreError),
}

/// The bus and store one service uses, plus whether its topics exist.
#[derive(Clone)]
pub struct Infrastructure {
    /// The event bus (shared by every service of an all-in-one process).
    pub bus: Arc<dyn EventBus>,
    /// The service's state store, under its own namespace.
    pub store: Arc<dyn StateStore>,
    /// Set once the service's topics exist.
    pub topics: TopicsReady,
}

impl std::fmt::Debug for Infrastructure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Infrastructure")
            .field("store_namespace", self.store.namespace())
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

/// How long a readiness probe waits for the bus or the store.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Infrastructure {
    /// An infrastructure from parts (the all-in-one mode shares one bus).
    pub fn new(bus: Arc<dyn EventBus>, store: Arc<dyn StateStore>) -> Self {
        Infrastructure {
            bus,
            store,
            topics: TopicsReady::default(),
        }
    }

    /// Builds the bus and the store the settings name, for the service whose
    /// store keys live under `namespace`. Does not wait for the broker or Redis.
    pub async fn connect(
        bus: &BusSettings,
        store: &StoreSettings,
        namespace: Namespace,
    ) -> Result<Self, RuntimeError> {
        let bus = connect_bus(bus)?;
        let namespace = match &store.namespace_suffix {
            Some(suffix) => namespace.child(suffix)?,
            None => namespace,
        };
        let store: Arc<dyn StateStore> = match store.kind {
            StoreKind::Redis => Arc::new(RedisStore::connect_lazy(RedisConfig::new(
                &store.url, namespace,
            ))?),
            StoreKind::Embedded => Arc::new(EmbeddedStore::open(&store.data_dir, namespace).await?),
        };
        Ok(Infrastructure::new(bus, store))
    }

    /// Readiness checks named `bus`, `store` and `topics`, for `/readyz`.
    pub fn readiness(&self) -> Readiness {
        let bus = Arc::clone(&self.bus);
        let store = Arc::clone(&self.store);
        let topics = self.topics.clone();
        Readiness::new()
            .with_check(check_fn("bus", move || {
                let bus = Arc::clone(&bus);
                async move { bus.ping(PROBE_TIMEOUT).await.map_err(Into::into) }
            }))
            .with_check(check_fn("store", move || {
                let store = Arc::clone(&store);
                async move { store.ping().await.map_err(Into::into) }
            }))
            .with_check(check_fn("topics", move || {
                let topics = topics.clone();
                async move {
                    if topics.is_ready() {
                        Ok(())
                    } else {
                        Err("the service's topics are not set up yet".into())
                    }
                }
            }))
            .with_timeout(PROBE_TIMEOUT + Duration::from_millis(500))
    }
}

/// Builds the bus the settings name (for a service that needs no store,
/// like the ledger). Does not wait for the broker.
pub fn connect_bus(bus: &BusSettings) -> Result<Arc<dyn EventBus>, RuntimeError> {
    Ok(match bus.kind {
        BusKind::Kafka => Arc::new(KafkaBus::connect(bus.kafka_config())?),
        BusKind::Embedded => Arc::new(EmbeddedBus::open(&bus.data_dir)?),
    })
}
