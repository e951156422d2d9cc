//! Following `ledger.blocks`: append every accepted block to the store.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracechain_chain::{Block, ChainError};

use super::{CaughtUp, Engine, EngineError};

/// Records read per poll (blocks are up to ~1 MB each).
const POLL_RECORDS: usize = 32;
/// How long a poll waits for a record.
const POLL_WAIT: Duration = Duration::from_millis(200);

impl Engine {
    /// Reads the blocks topic from the stored head onwards, storing what is
    /// accepted; returns once this instance is elected and has read the
    /// whole topic (`None` when stopped first).
    pub(crate) async fn follow(
        &self,
        elected: &watch::Receiver<bool>,
        stop: &CancellationToken,
    ) -> Result<Option<CaughtUp>, EngineError> {
        let topic = self.config.blocks_topic.as_str();
        let mut verifier = self.verifier_at_head()?;
        let start = self.store.head().map_or(0, |h| h.topic_offset + 1);
        let mut reader = self
            .bus
            .reader(topic, &BTreeMap::from([(0, start)]))
            .await?;
        loop {
            if stop.is_cancelled() {
                return Ok(None);
            }
            let records = reader.poll_batch(POLL_RECORDS, POLL_WAIT).await?;
            let mut accepted = Vec::new();
            for record in records {
                let block = match Block::from_record(&record.payload) {
                    Ok(block) => block,
                    Err(error) => {
                        self.status.blocks_ignored.inc();
                        tracing::warn!(offset = record.offset, %error, "Ignoring an undecodable record in the blocks topic");
                        continue;
                    }
                };
                match verifier.apply(&block) {
                    Ok(_) => accepted.push((block, record.offset)),
                    Err(error) => {
                        self.status.blocks_ignored.inc();
                        match error {
                            // A block that lost its height to an earlier one:
                            // what a fenced writer leaves behind.
                            ChainError::Height { .. } | ChainError::PrevHash { .. } => {
                                tracing::info!(offset = record.offset, %error, "Ignoring a block that is not first at its height");
                            }
                            _ => {
                                tracing::warn!(offset = record.offset, %error, "Ignoring an invalid block");
                            }
                        }
                    }
                }
            }
            if !accepted.is_empty() {
                let count = accepted.len() as u64;
                let store = std::sync::Arc::clone(&self.store);
                tokio::task::spawn_blocking(move || store.append(accepted))
                    .await
                    .map_err(|e| EngineError::Resume(format!("store task failed: {e}")))??;
                self.status.blocks_followed.inc_by(count);
                if let Some(head) = self.store.head() {
                    self.status.height.set(head.header.height as i64);
                }
            }
            let read_to = reader.positions().get(&0).copied().unwrap_or(start);
            let end = self
                .bus
                .end_offsets(topic)
                .await?
                .get(&0)
                .copied()
                .unwrap_or(0);
            if read_to >= end {
                self.status
                    .caught_up
                    .store(true, std::sync::atomic::Ordering::Release);
                if *elected.borrow() {
                    return Ok(Some(CaughtUp {
                        verifier,
                        next_offset: read_to.max(end),
                    }));
                }
            }
        }
    }
}
