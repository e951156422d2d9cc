//! Keeping a service's projection current for as long as it runs: wait
//! for the topics, make the store hold a complete projection (rebuilding
//! from offset 0 when not), mark it ready, consume; after any failure,
//! start over with backoff (200 ms doubling to 10 s).
//!
//! Invariant: `ready` is set only once the store holds a complete
//! projection, so `/readyz` never reports ready over a half-rebuilt store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracechain_http::problem::ErrorChain;
use tracechain_projection::ProjectionRunner;

use crate::topics::TopicsReady;

/// Runs `runner` until `stop`; see the [module docs](self).
pub async fn keep_projection_current(
    runner: ProjectionRunner,
    ready: Arc<AtomicBool>,
    topics: TopicsReady,
    stop: CancellationToken,
) {
    let mut pause = Duration::from_millis(200);
    loop {
        if stop.is_cancelled() {
            return;
        }
        if !topics.is_ready() {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(50)) => continue,
            }
        }
        match runner.ensure_complete().await {
            Ok(report) => {
                if let Some(report) = report {
                    tracing::info!(
                        applied = report.applied,
                        "Projection rebuilt from the topics"
                    );
                }
                ready.store(true, Ordering::Release);
                match runner.clone().run(stop.clone()).await {
                    Ok(stats) => {
                        tracing::info!(?stats, "Projection consumer stopped");
                        if stop.is_cancelled() {
                            return;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %ErrorChain(&error), "Projection consumer failed; restarting");
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "Projection could not be loaded; retrying");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}
