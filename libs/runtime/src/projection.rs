//! Keeping a service's projection current for as long as it runs: wait
//! for the topics, make the store hold a complete projection (rebuilding
//! from offset 0 when not), mark it ready, consume; after any failure,
//! start over with backoff (200 ms doubling to 10 s).
//!
//! Invariant: the projection counts as ready only while the runner knows
//! the store holds it complete, so `/readyz` never reports ready over a
//! half-rebuilt store, and the [`ServingGate`] answers data routes 503
//! while a rebuild is under way (after a `FLUSHALL`, say). A projection not
//! loaded yet because the broker is down is not partial: the store answers
//! what it holds, and writes fail on the bus.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracechain_bus::ConsumerOptions;
use tracechain_http::problem::ErrorChain;
use tracechain_http::{ReadinessCheck, ServingGate, check_fn};
use tracechain_projection::{ProjectionRunner, Projector, RunnerOptions};

use crate::infra::Infrastructure;
use crate::settings::BusSettings;
use crate::topics::TopicsReady;

/// Starts keeping `projector`'s projection current on `infra` (consumer
/// group session from `bus`, the store's marker checked every
/// `marker_check_interval`), until `stop`. Returns the task, the
/// `projection` readiness check (failing while the projection is not
/// complete) and the gate that closes the data routes while it rebuilds.
pub fn start_projection(
    infra: &Infrastructure,
    projector: Arc<dyn Projector>,
    bus: &BusSettings,
    marker_check_interval: Duration,
    stop: CancellationToken,
) -> (JoinHandle<()>, Arc<dyn ReadinessCheck>, ServingGate) {
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
    let complete = runner.completeness();
    let gate = ServingGate::closed_while(runner.rebuilding());
    let task = tokio::spawn(keep_projection_current(runner, infra.topics.clone(), stop));
    let check = check_fn("projection", move || {
        let ready = complete.load(Ordering::Acquire);
        async move {
            if ready {
                Ok(())
            } else {
                Err("the projection is not complete: loading or rebuilding".into())
            }
        }
    });
    (task, check, gate)
}

/// Runs `runner` until `stop`; see the [module docs](self).
pub async fn keep_projection_current(
    runner: ProjectionRunner,
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
