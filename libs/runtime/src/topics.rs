//! Creating a service's topics at start-up, in the background, retrying with
//! backoff until the broker takes them — so a service whose broker is down at
//! start runs (not-ready) instead of crash-looping.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracechain_bus::{EventBus, TopicSpec};

/// Whether a service's topics exist yet; shared with its readiness check.
#[derive(Debug, Clone, Default)]
pub struct TopicsReady(Arc<AtomicBool>);

impl TopicsReady {
    /// True once every topic was created or found.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// First and longest wait between attempts.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Ensures `specs` exist, retrying with exponential backoff until it works
/// or `shutdown`; marks `ready` when done.
pub fn ensure_topics_in_background(
    bus: Arc<dyn EventBus>,
    specs: Vec<TopicSpec>,
    ready: TopicsReady,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut wait = FIRST_BACKOFF;
        let mut attempt = 1u32;
        loop {
            match bus.ensure_topics(&specs).await {
                Ok(()) => {
                    ready.set();
                    tracing::info!(topics = specs.len(), attempt, "Topics are set up");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, attempt, ?wait, "Cannot set up topics yet; retrying");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(MAX_BACKOFF);
            attempt = attempt.saturating_add(1);
        }
    })
}
