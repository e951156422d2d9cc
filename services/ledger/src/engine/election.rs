//! Which ledger instance writes: the member of consumer group
//! `<writer_group>` that owns partition 0 of the one-partition election
//! topic. Kafka's group protocol gives that partition to exactly one live
//! member and moves it when the member leaves or stops heartbeating (after
//! the session timeout), so a standby takes over from a dead writer by
//! itself. The election is a lease, not a guarantee: a paused writer may
//! still believe it owns the partition, which is why blocks are fenced by
//! the first-valid-block rule (see [`crate::engine`]), not by the election.
//!
//! A member that owns nothing while the chain has not moved for a while
//! leaves and joins again: a broker can keep assigning the writer partition
//! to a member that was killed (tansu 0.6.0 was seen doing so after many
//! kills in a row), and a new join makes it rebalance. While nothing is
//! anchored at all this costs a rebalance per stall period, nothing more:
//! a change of writer is fenced like any other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracechain_bus::{ConsumerOptions, EventBus, GroupConsumer};

/// How often a member polls (and so heartbeats and learns of rebalances).
const POLL: Duration = Duration::from_millis(200);

/// How the election tells that the chain moves: a reading of its height
/// and how long it may stand still before an unassigned member rejoins.
pub struct Progress {
    height: Box<dyn Fn() -> i64 + Send + Sync>,
    stall: Duration,
}

impl Progress {
    /// `height` reads the chain's height; `stall` is the patience.
    pub fn new(height: impl Fn() -> i64 + Send + Sync + 'static, stall: Duration) -> Progress {
        Progress {
            height: Box::new(height),
            stall,
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("stall", &self.stall)
            .finish_non_exhaustive()
    }
}

/// How taking part ended.
enum Outcome {
    /// Stopped.
    Stopped,
    /// Owned nothing while the chain stood still: join again.
    Rejoin,
}

/// Takes part in the election until `stop`; `elected` says whether this
/// instance owns the writer partition. Leaves the group cleanly on stop, so
/// a standby takes over at once.
pub async fn run(
    bus: Arc<dyn EventBus>,
    topic: String,
    group: String,
    options: ConsumerOptions,
    progress: Progress,
    elected: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let mut pause = Duration::from_millis(200);
    while !stop.is_cancelled() {
        match bus.subscribe(&group, &[&topic], options.clone()).await {
            Ok(mut member) => {
                pause = Duration::from_millis(200);
                let outcome = take_part(member.as_mut(), &topic, &progress, &elected, &stop).await;
                elected.send_replace(false);
                if let Err(error) = member.close().await {
                    tracing::debug!(%error, "Leaving the writer election failed");
                }
                match outcome {
                    Ok(Outcome::Stopped) => return,
                    Ok(Outcome::Rejoin) => {
                        tracing::warn!(
                            stall = ?progress.stall,
                            "No writer partition and no new block for a while; rejoining the election"
                        );
                        continue;
                    }
                    Err(error) => tracing::warn!(%error, "Writer election failed; rejoining"),
                }
            }
            Err(error) => tracing::warn!(%error, "Cannot join the writer election; retrying"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

async fn take_part(
    member: &mut dyn GroupConsumer,
    topic: &str,
    progress: &Progress,
    elected: &watch::Sender<bool>,
    stop: &CancellationToken,
) -> Result<Outcome, tracechain_bus::BusError> {
    let mut height = (progress.height)();
    let mut moved = Instant::now();
    while !stop.is_cancelled() {
        // The election topic carries no records; polling keeps the
        // membership alive and applies rebalances.
        member.poll_batch(1, POLL).await?;
        let owns = member
            .assignment()
            .await?
            .iter()
            .any(|(t, p)| t == topic && *p == 0);
        if *elected.borrow() != owns {
            tracing::info!(writer = owns, "Writer election changed");
            elected.send_replace(owns);
        }
        let now = (progress.height)();
        if now != height || owns {
            height = now;
            moved = Instant::now();
        } else if moved.elapsed() >= progress.stall {
            return Ok(Outcome::Rejoin);
        }
    }
    Ok(Outcome::Stopped)
}
