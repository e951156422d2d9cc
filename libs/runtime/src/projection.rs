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

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracechain_bus::ConsumerOptions;
use tracechain_http::problem::ErrorChain;
use tracechain_http::{ReadinessCheck, check_fn};
use tracechain_projection::{ProjectionRunner, Projector, RunnerOptions};

use crate::infra::Infrastructure;
use crate::settings::BusSettings;
use crate::topics::TopicsReady;

/// Starts keeping `projector`'s projection current on `infra` (consumer
/// group session from `bus`, the store's marker checked every
/// `marker_check_interval`), until `stop`. Returns the task and the
/// `projection` readiness check, failing until the projection is complete.
pub fn start_projection(
    infra: &Infrastructure,
    projector: Arc<dyn Projector>,
    bus: &BusSettings,
    marker_check_interval: Duration,
    stop: CancellationToken,
) -> (JoinHandle<()>, Arc<dyn ReadinessCheck>) {
    let ready = Arc::new(AtomicBool::new(false));
    let runner = ProjectionRunner::new(
        Arc::clone(&infra.bus),
        Arc::clone(&infra.store),
        projector,
        RunnerOptions {
            consumer: ConsumerOptions {
                session_timeout: Some(Duration::from_millis(bus.session_timeout_ms)),
                ..ConsumerOptions::default()
            },
            marker_check_interval,
            ..RunnerOptions::default()
        },
    );
    let task = tokio::spawn(keep_projection_current(
        runner,
        Arc::clone(&ready),
        infra.topics.clone(),
        stop,
    ));
    let check = check_fn("projection", move || {
        let ready = ready.load(Ordering::Acquire);
        async move {
            if ready {
                Ok(())
            } else {
                Err("the projection is not loaded yet".into())
            }
        }
    });
    (task, check)
}

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
