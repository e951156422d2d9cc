//! SIGKILL at random points under load: the chain still verifies, and
//! every published event is anchored exactly once.

use std::time::Duration;

use rand_core::{OsRng, RngCore};

use crate::common::{create_inputs, kafka_bus, publish_to_inputs};
use crate::helpers::{Chain, assert_exactly_once, events};

const EVENTS: usize = 20_000;
const KILLS: usize = 10;

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_ledger_at_random_points_loses_nothing_and_anchors_nothing_twice() {
    let chain = Chain::new();
    let bus = kafka_bus();
    create_inputs(bus.as_ref(), &chain.names).await;
    let port = tracechain_testkit::free_port();
    let mut ledger = chain.start("a", port);

    // The load: 20,000 events over about 12 s, in batches of 250.
    let all = events(0, EVENTS);
    let load = {
        let bus = bus.clone();
        let inputs = all.clone();
        let names = chain.names.clone();
        tokio::spawn(async move {
            for batch in inputs.chunks(250) {
                publish_to_inputs(bus.as_ref(), &names, batch).await;
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };

    // Kill it at random moments: while it follows, writes, or stores.
    for kill in 0..KILLS {
        let wait = 700 + OsRng.next_u64() % 2500;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        ledger.kill();
        eprintln!("kill {} after {wait} ms", kill + 1);
        ledger = chain.start("a", port);
    }
    load.await.unwrap();
    ledger
        .wait_for_size(&chain.api_key, EVENTS as u64, Duration::from_secs(120))
        .await;
    ledger.terminate();

    let anchored = chain.verify("a");
    assert_eq!(anchored.len(), EVENTS, "anchored events");
    assert_exactly_once(&anchored, &all);

    // A fresh instance rebuilds the same chain from the topic alone.
    let mut replica = chain.start("b", tracechain_testkit::free_port());
    replica
        .wait_for_size(&chain.api_key, EVENTS as u64, Duration::from_secs(120))
        .await;
    replica.terminate();
    assert_eq!(chain.verify("b"), anchored);
    assert_eq!(
        chain.open_store("b").head().unwrap().hash,
        chain.open_store("a").head().unwrap().hash
    );
}
