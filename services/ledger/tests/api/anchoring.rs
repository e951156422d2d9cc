//! Events in, signed blocks and verifiable proofs out.

use std::collections::HashSet;
use std::time::Duration;

use tracechain_chain::{Block, ChainVerifier, KeyRing};
use tracechain_core::{
    Checkpoint, Hash, NoteVerifier, VerifyingKey, verify_consistency, verify_inclusion,
};
use uuid::Uuid;

use crate::common::{Ledger, Shared, anchored_ids, event, fast_blocks, kafka_bus, publish};

#[tokio::test(flavor = "multi_thread")]
async fn published_events_are_anchored_once_in_signed_blocks_with_verifiable_proofs() {
    let shared = Shared::new();
    let ledger = Ledger::spawn(shared.settings("a", fast_blocks())).await;
    let bus = kafka_bus();
    let events: Vec<_> = (0..450)
        .map(|n| event("product.registered", "acme", n))
        .collect();
    publish(bus.as_ref(), &shared.names, &events).await;
    // A producer's duplicate: the same envelope again.
    publish(bus.as_ref(), &shared.names, &events[..10]).await;
    ledger.wait_for_size(450, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let keys = &shared.keys;

    let ids = anchored_ids(&ledger, &keys.auditor).await;
    assert_eq!(ids.len(), 450, "duplicates must not be anchored twice");
    let published: HashSet<Uuid> = events.iter().map(|e| e.id()).collect();
    assert_eq!(ids.iter().copied().collect::<HashSet<_>>(), published);

    // The head, the checkpoint note and the public keys agree.
    let head = ledger.get_json(&keys.carrier, "/v1/head").await;
    assert_eq!(head["tree_size"], 450);
    let key_list = ledger.public_keys().await;
    let vkey = key_list["keys"][0]["note_verifier_key"].as_str().unwrap();
    let public =
        VerifyingKey::from_base64(key_list["keys"][0]["public_key"].as_str().unwrap()).unwrap();
    let note = ledger
        .get(None, "/v1/checkpoint")
        .await
        .text()
        .await
        .unwrap();
    let (checkpoint, _) =
        Checkpoint::open(note.as_bytes(), &[NoteVerifier::parse(vkey).unwrap()]).unwrap();
    assert_eq!(checkpoint.size(), 450);
    assert_eq!(
        checkpoint.root_hash().to_hex(),
        head["root"].as_str().unwrap()
    );

    // Every block verifies from genesis (what a standby does with the topic).
    let mut verifier =
        ChainVerifier::from_genesis(shared.names.origin.clone(), KeyRing::new([public]));
    let height = head["height"].as_u64().unwrap();
    for h in 0..=height {
        let block: Block = ledger.store.block(h).unwrap().unwrap();
        verifier.apply(&block).unwrap();
    }
    assert_eq!(
        verifier.head().unwrap().root.to_hex(),
        head["root"].as_str().unwrap()
    );

    // Inclusion proofs against the latest and an older size, from the API.
    for id in [ids[0], ids[137], ids[449]] {
        let got = ledger
            .get_json(&keys.acme, &format!("/v1/events/{id}"))
            .await;
        assert_eq!(got["event"]["id"], id.to_string());
        let leaf: Hash = got["leaf_hash"].as_str().unwrap().parse().unwrap();
        let index = got["leaf_index"].as_u64().unwrap();
        for size in [None, Some(index + 1)] {
            let query = size.map(|s| format!("?tree_size={s}")).unwrap_or_default();
            let proof = ledger
                .get_json(&keys.acme, &format!("/v1/events/{id}/proof{query}"))
                .await;
            let path: Vec<Hash> = proof["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().parse().unwrap())
                .collect();
            let root: Hash = proof["root"].as_str().unwrap().parse().unwrap();
            let tree_size = proof["tree_size"].as_u64().unwrap();
            verify_inclusion(&leaf, index, tree_size, &path, &root).unwrap();
            if size.is_none() {
                assert_eq!(root.to_hex(), head["root"].as_str().unwrap());
                assert_eq!(proof["checkpoint"].as_str().unwrap(), note);
            }
        }
    }
    let c = ledger
        .get_json(&keys.finance, "/v1/consistency?from=7&to=450")
        .await;
    let path: Vec<Hash> = c["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().parse().unwrap())
        .collect();
    verify_consistency(
        7,
        450,
        &c["from_root"].as_str().unwrap().parse().unwrap(),
        &c["to_root"].as_str().unwrap().parse().unwrap(),
        &path,
    )
    .unwrap();

    // Entitlement: another tenant's carrier does not see the body…
    let hidden = ledger
        .get(Some(&keys.carrier), &format!("/v1/events/{}", ids[0]))
        .await;
    assert_eq!(hidden.status(), 404);
    assert_eq!(hidden.headers()["content-type"], "application/problem+json");
    // …but, like hashes and headers, its proof is for every key.
    let proof = ledger
        .get(Some(&keys.carrier), &format!("/v1/events/{}/proof", ids[0]))
        .await;
    assert_eq!(proof.status(), 200);
    ledger.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_resumes_from_the_last_block_without_loss_or_duplicates() {
    let shared = Shared::new();
    let bus = kafka_bus();
    let first: Vec<_> = (0..300)
        .map(|n| event("product.registered", "acme", n))
        .collect();
    let ledger = Ledger::spawn(shared.settings("a", fast_blocks())).await;
    publish(bus.as_ref(), &shared.names, &first).await;
    ledger.wait_for_size(300, Duration::from_secs(60)).await;
    ledger.stop().await;

    let second: Vec<_> = (300..500)
        .map(|n| event("product.registered", "acme", n))
        .collect();
    publish(bus.as_ref(), &shared.names, &second).await;
    let ledger = Ledger::spawn(shared.settings("a", fast_blocks())).await;
    ledger.wait_for_size(500, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ids = anchored_ids(&ledger, &shared.keys.auditor).await;
    assert_eq!(ids.len(), 500);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 500);
    ledger.stop().await;

    // A second instance with an empty store rebuilds it from the topic.
    let replica = Ledger::spawn(shared.settings("b", fast_blocks())).await;
    replica.wait_for_size(500, Duration::from_secs(60)).await;
    assert_eq!(anchored_ids(&replica, &shared.keys.auditor).await, ids);
    replica.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_parameters_are_precise_problems() {
    let shared = Shared::new();
    let ledger = Ledger::spawn(shared.settings("a", fast_blocks())).await;
    let key = &shared.keys.auditor;
    for (path, status, needle) in [
        ("/v1/blocks/abc", 400, "height"),
        ("/v1/blocks/999", 404, "no block at height 999"),
        ("/v1/blocks?limit=0", 400, "limit"),
        ("/v1/blocks?from=-1", 400, "from"),
        ("/v1/events/not-a-uuid", 400, "event_id"),
        (
            "/v1/events/0190a0a0-0000-7000-8000-000000000000",
            404,
            "no anchored event",
        ),
        ("/v1/consistency", 400, "from"),
        ("/v1/consistency?from=0&to=0", 400, "from"),
        ("/v1/head", 404, "no block yet"),
    ] {
        let response = ledger.get(Some(key), path).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let body = response.text().await.unwrap();
        assert!(body.contains(needle), "{path}: {body}");
    }
    let response = ledger.get(None, "/v1/head").await;
    assert_eq!(response.status(), 401);
    ledger.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn proofs_of_random_events_against_random_checkpoints_verify_and_tampered_ones_do_not() {
    use rand_core::{OsRng, RngCore};

    let shared = Shared::new();
    let ledger = Ledger::spawn(shared.settings("a", fast_blocks())).await;
    let bus = kafka_bus();
    let events: Vec<_> = (0..700)
        .map(|n| event("shipment.created", "acme", n))
        .collect();
    publish(bus.as_ref(), &shared.names, &events).await;
    ledger.wait_for_size(700, Duration::from_secs(60)).await;
    let key = &shared.keys.auditor;
    let keys = ledger.public_keys().await;
    let note_key =
        NoteVerifier::parse(keys["keys"][0]["note_verifier_key"].as_str().unwrap()).unwrap();
    let head = ledger.store.head().unwrap();

    for _ in 0..25 {
        // A random block's signed checkpoint, and a random event inside it.
        let height = OsRng.next_u64() % (head.header.height + 1);
        let block = ledger.get_json(key, &format!("/v1/blocks/{height}")).await;
        let (checkpoint, _) = Checkpoint::open(
            block["checkpoint"].as_str().unwrap().as_bytes(),
            std::slice::from_ref(&note_key),
        )
        .unwrap();
        let size = checkpoint.size();
        let id = events[(OsRng.next_u64() % 700) as usize].id();
        let got = ledger.get_json(key, &format!("/v1/events/{id}")).await;
        let index = got["leaf_index"].as_u64().unwrap();
        let path = format!("/v1/events/{id}/proof?tree_size={size}");
        if index >= size {
            let response = ledger.get(Some(key), &path).await;
            assert_eq!(
                response.status(),
                400,
                "leaf {index} is not in a tree of {size}"
            );
            continue;
        }
        let proof = ledger.get_json(key, &path).await;
        assert_eq!(
            proof["checkpoint"].as_str().unwrap(),
            block["checkpoint"].as_str().unwrap()
        );
        let leaf: Hash = got["leaf_hash"].as_str().unwrap().parse().unwrap();
        let audit: Vec<Hash> = proof["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().parse().unwrap())
            .collect();
        // Verified against the signed checkpoint's root, not the served one.
        verify_inclusion(&leaf, index, size, &audit, checkpoint.root_hash()).unwrap();
        // Any change to the proof fails.
        if let Some(first) = audit.first() {
            let mut bad = audit.clone();
            bad[0] = Hash::from_bytes({
                let mut b = first.to_bytes();
                b[31] ^= 1;
                b
            });
            assert!(verify_inclusion(&leaf, index, size, &bad, checkpoint.root_hash()).is_err());
        }
        assert!(
            verify_inclusion(&leaf, index ^ 1, size, &audit, checkpoint.root_hash()).is_err()
                || size == 1
        );
        let other_leaf = tracechain_core::leaf_hash(b"not the event");
        assert!(
            verify_inclusion(&other_leaf, index, size, &audit, checkpoint.root_hash()).is_err()
        );
    }
    ledger.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn input_records_that_are_not_envelopes_are_skipped_and_counted() {
    let shared = Shared::new();
    let ledger = Ledger::spawn(shared.settings("a", fast_blocks())).await;
    let bus = kafka_bus();
    let before: Vec<_> = (0..20)
        .map(|n| event("product.registered", "acme", n))
        .collect();
    publish(bus.as_ref(), &shared.names, &before).await;
    let topic = &shared.names.inputs[0];
    for garbage in [&b"not json"[..], br#"{"id":"nope"}"#, b""] {
        bus.publish_raw(topic, Some(b"k"), tracechain_bus::Headers::new(), garbage)
            .await
            .unwrap();
    }
    let after: Vec<_> = (20..40)
        .map(|n| event("product.registered", "acme", n))
        .collect();
    publish(bus.as_ref(), &shared.names, &after).await;
    ledger.wait_for_size(40, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let ids = anchored_ids(&ledger, &shared.keys.auditor).await;
    assert_eq!(ids.len(), 40, "only the envelopes are anchored");
    let metrics = ledger.get(None, "/metrics").await.text().await.unwrap();
    let invalid = metrics
        .lines()
        .find(|l| l.starts_with("ledger_events_invalid_total"))
        .unwrap_or_else(|| panic!("no ledger_events_invalid_total in {metrics}"));
    assert!(invalid.ends_with(" 3"), "{invalid}");
    ledger.stop().await;
}
