//! Key rotation and refusing a corrupted store at start-up.

use std::time::Duration;

use tracechain_chain::{ChainVerifier, KeyRing};
use tracechain_core::{SigningKey, VerifyingKey};
use tracechain_ledger::{Application, StartupError};

use crate::common::{Ledger, Shared, event, fast_blocks, kafka_bus, publish};

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_key_signs_new_blocks_and_old_blocks_stay_verifiable() {
    let shared = Shared::new();
    let bus = kafka_bus();
    let ledger = Ledger::spawn(shared.settings("a", fast_blocks())).await;
    let old_events: Vec<_> = (0..150)
        .map(|n| event("product.registered", "acme", n))
        .collect();
    publish(bus.as_ref(), &shared.names, &old_events).await;
    ledger.wait_for_size(150, Duration::from_secs(60)).await;
    ledger.stop().await;

    // Rotate: a new signing key; the old public key stays trusted.
    let mut settings = shared.settings("a", fast_blocks());
    let old_key = std::fs::read_to_string(&settings.chain.signing_key_file).unwrap();
    let old_key = SigningKey::from_pkcs8_pem(&old_key).unwrap();
    let old_public = shared.dir.path().join("old-key.pub.pem");
    std::fs::write(
        &old_public,
        old_key.verifying_key().to_public_key_pem().unwrap(),
    )
    .unwrap();
    let new_key = SigningKey::generate();
    let new_file = shared.dir.path().join("new-key.pem");
    std::fs::write(&new_file, new_key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    settings.chain.signing_key_file = new_file;
    settings.chain.create_signing_key = false;
    settings.chain.previous_public_key_files = vec![old_public];
    let ledger = Ledger::spawn(settings).await;
    let new_events: Vec<_> = (150..300)
        .map(|n| event("product.registered", "acme", n))
        .collect();
    publish(bus.as_ref(), &shared.names, &new_events).await;
    ledger.wait_for_size(300, Duration::from_secs(60)).await;

    let keys = ledger.public_keys().await;
    let listed: Vec<(String, bool)> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["key_id"].as_str().unwrap().to_owned(),
                k["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (new_key.key_id().to_string(), true),
            (old_key.key_id().to_string(), false)
        ]
    );
    let ring = KeyRing::new(
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| VerifyingKey::from_base64(k["public_key"].as_str().unwrap()).unwrap()),
    );
    let mut verifier = ChainVerifier::from_genesis(shared.names.origin.clone(), ring);
    let head = ledger.store.head().unwrap();
    let mut signers = Vec::new();
    for h in 0..=head.header.height {
        let block = ledger.store.block(h).unwrap().unwrap();
        verifier.apply(&block).unwrap();
        signers.push(block.header().key_id);
    }
    assert_eq!(signers.first(), Some(&old_key.key_id()));
    assert_eq!(signers.last(), Some(&new_key.key_id()));
    ledger.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ledger_refuses_to_start_on_a_corrupted_store() {
    let shared = Shared::new();
    let bus = kafka_bus();
    let ledger = Ledger::spawn(shared.settings("a", fast_blocks())).await;
    let events: Vec<_> = (0..300)
        .map(|n| event("product.registered", "acme", n))
        .collect();
    publish(bus.as_ref(), &shared.names, &events).await;
    ledger.wait_for_size(300, Duration::from_secs(60)).await;
    ledger.stop().await;

    let segment = shared.dir.path().join("a/blocks/seg-00000000.tcb");
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();
    let error = Application::build(shared.settings("a", fast_blocks()), kafka_bus())
        .await
        .expect_err("a corrupted store must not be served");
    assert!(matches!(error, StartupError::Store(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("block store is corrupted: block "),
        "{message}"
    );

    // Nothing was repaired behind our back.
    assert_eq!(std::fs::read(&segment).unwrap(), bytes);
}
