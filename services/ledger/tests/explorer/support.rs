//! What only `tests/explorer.rs` needs besides the ledger of
//! `tests/common`: publishing a batch into one block (the browser is
//! `tracechain_testkit::Browser`).

use tracechain_bus::{EventBus, TopicSpec};
use tracechain_domain::Envelope;

use crate::common::ChainNames;

/// Publishes `events` in one batch to the first input topic under one key,
/// so they share a partition and arrive together: one block holds them all.
pub(crate) async fn publish_together(bus: &dyn EventBus, names: &ChainNames, events: &[Envelope]) {
    let topic = &names.inputs[0];
    bus.ensure_topics(&[TopicSpec::new(topic, 3)])
        .await
        .unwrap();
    let batch: Vec<(Vec<u8>, Envelope)> = events
        .iter()
        .map(|e| (b"together".to_vec(), e.clone()))
        .collect();
    bus.publish_batch(topic, &batch).await.unwrap();
}
