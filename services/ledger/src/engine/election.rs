//! Which ledger instance writes: the member of consumer group
//! `<writer_group>` that owns partition 0 of the one-partition election
//! topic. Kafka's group protocol gives that partition to exactly one live
//! member and moves it when the member leaves or stops heartbeating (after
//! the session timeout), so a standby takes over from a dead writer by
//! itself. The election is a lease, not a guarantee: a paused writer may
//! still believe it owns the partition, which is why blocks are fenced by
//! the first-valid-block rule (see [`crate::engine`]), not by the election.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracechain_bus::{ConsumerOptions, EventBus, GroupConsumer};

/// How often a member polls (and so heartbeats and learns of rebalances).
const POLL: Duration = Duration::from_millis(200);

/// Takes part in the election until `stop`; `elected` says whether this
/// instance owns the writer partition. Leaves the group cleanly on stop, so
/// a standby takes over at once.
pub async fn run(
    bus: Arc<dyn EventBus>,
    topic: String,
    group: String,
    options: ConsumerOptions,
    elected: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let mut pause = Duration::from_millis(200);
    while !stop.is_cancelled() {
        match bus.subscribe(&group, &[&topic], options.clone()).await {
            Ok(mut member) => {
                pause = Duration::from_millis(200);
                let outcome = take_part(member.as_mut(), &topic, &elected, &stop).await;
                elected.send_replace(false);
                if let Err(error) = member.close().await {
                    tracing::debug!(%error, "Leaving the writer election failed");
                }
                match outcome {
                    Ok(()) => return,
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
    elected: &watch::Sender<bool>,
    stop: &CancellationToken,
) -> Result<(), tracechain_bus::BusError> {
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
    }
    Ok(())
}
