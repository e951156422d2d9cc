//! Building and verifying chains: what a verifier accepts and what it refuses.

use proptest::prelude::*;
use time::OffsetDateTime;
use tracechain_core::{Hash, SigningKey, root_from_leaf_hashes, verify_inclusion};

use crate::{Block, ChainError, ChainVerifier, KeyRing, Positions, RecordHead};

const ORIGIN: &str = "tracechain.test/ledger";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn events(from: usize, n: usize) -> Vec<Vec<u8>> {
    (from..from + n)
        .map(|i| format!(r#"{{"id":"event-{i}","payload":{{"n":{i}}}}}"#).into_bytes())
        .collect()
}

fn positions(next: i64) -> Positions {
    [("shipment.events".to_owned(), [(0, next), (1, 0)].into())].into()
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap()
}

/// A chain of `sizes.len()` blocks signed by `key(1)`.
fn chain(sizes: &[usize]) -> Vec<Block> {
    let mut writer = ChainVerifier::from_genesis(ORIGIN, KeyRing::default());
    let mut next = 0;
    sizes
        .iter()
        .map(|&n| {
            let block = writer
                .seal_next(
                    events(next, n),
                    positions(next as i64 + n as i64),
                    t0(),
                    &key(1),
                )
                .unwrap();
            next += n;
            block
        })
        .collect()
}

fn verifier() -> ChainVerifier {
    ChainVerifier::from_genesis(ORIGIN, KeyRing::new([key(1).verifying_key()]))
}

#[test]
fn a_built_chain_verifies_and_commits_to_the_rfc_root() {
    let blocks = chain(&[3, 1, 7]);
    let mut v = verifier();
    for block in &blocks {
        let decoded = Block::from_record(&block.to_record()).unwrap();
        assert_eq!(&decoded, block);
        v.apply(&decoded).unwrap();
    }
    let head = v.head().unwrap();
    assert_eq!((head.height, head.tree_size), (2, 11));
    let leaves: Vec<Hash> = blocks.iter().flat_map(Block::leaf_hashes).collect();
    assert_eq!(head.root, root_from_leaf_hashes(&leaves));
    assert_eq!(blocks[1].header().prev_hash, blocks[0].hash());
    assert_eq!(blocks[2].header().first_leaf, 4);
    // The checkpoint is a C2SP note any tlog tool can read.
    assert!(blocks[2].checkpoint().starts_with(&format!(
        "{ORIGIN}\n11\n{}\n\n— {ORIGIN} ",
        head.root.to_base64()
    )));
}

#[test]
fn every_single_byte_change_is_refused() {
    let blocks = chain(&[2, 3]);
    let record = blocks[1].to_record();
    for i in 0..record.len() {
        for flip in [0x01u8, 0x80] {
            let mut bad = record.clone();
            bad[i] ^= flip;
            let mut v = verifier();
            v.apply(&blocks[0]).unwrap();
            let outcome = Block::from_record(&bad).map(|b| v.apply(&b).map(|_| ()));
            assert!(
                !matches!(outcome, Ok(Ok(()))),
                "flipping bit {flip:#x} of byte {i} went unnoticed"
            );
        }
    }
}

#[test]
fn refusals_name_the_block_and_leave_the_head_unchanged() {
    let blocks = chain(&[2, 2, 2]);
    let mut v = verifier();
    v.apply(&blocks[0]).unwrap();
    let head = v.head().cloned();

    assert!(matches!(
        v.apply(&blocks[2]),
        Err(ChainError::Height {
            height: 2,
            expected: 1
        })
    ));
    assert!(matches!(
        v.apply(&blocks[0]),
        Err(ChainError::Height {
            height: 0,
            expected: 1
        })
    ));
    // A block from another chain at the right height does not link.
    let mut other = ChainVerifier::from_genesis(ORIGIN, KeyRing::default());
    other
        .seal_next(events(100, 2), positions(2), t0(), &key(1))
        .unwrap();
    let stranger = other
        .seal_next(events(200, 2), positions(4), t0(), &key(1))
        .unwrap();
    let err = v.apply(&stranger).unwrap_err();
    assert!(
        matches!(err, ChainError::PrevHash { height: 1, .. }),
        "{err}"
    );
    // Signed by a key the verifier does not trust.
    let mut rogue = ChainVerifier::from_genesis(ORIGIN, KeyRing::default());
    let forged = rogue
        .seal_next(events(0, 2), positions(2), t0(), &key(9))
        .unwrap();
    let err = verifier().apply(&forged).unwrap_err().to_string();
    assert!(err.starts_with("block 0: signed by unknown key"), "{err}");
    assert_eq!(v.head().cloned(), head);
    v.apply(&blocks[1]).unwrap();
}

#[test]
fn a_rotated_key_keeps_old_blocks_verifiable() {
    let mut writer = ChainVerifier::from_genesis(ORIGIN, KeyRing::default());
    let a = writer
        .seal_next(events(0, 2), positions(2), t0(), &key(1))
        .unwrap();
    let b = writer
        .seal_next(events(2, 2), positions(4), t0(), &key(2))
        .unwrap();
    assert_ne!(a.header().key_id, b.header().key_id);
    let mut v = ChainVerifier::from_genesis(
        ORIGIN,
        KeyRing::new([key(1).verifying_key(), key(2).verifying_key()]),
    );
    v.apply(&a).unwrap();
    v.apply(&b).unwrap();
    // Without the old key, the old block is refused.
    let mut only_new = ChainVerifier::from_genesis(ORIGIN, KeyRing::new([key(2).verifying_key()]));
    assert!(only_new.apply(&a).is_err());
}

#[test]
fn resuming_from_a_trusted_block_needs_a_frontier_that_folds_to_its_root() {
    let blocks = chain(&[3, 4, 5]);
    let mut full = verifier();
    full.apply(&blocks[0]).unwrap();
    full.apply(&blocks[1]).unwrap();
    let frontier = full.frontier().to_vec();
    let keys = KeyRing::new([key(1).verifying_key()]);

    let mut resumed =
        ChainVerifier::resume_after(ORIGIN, keys.clone(), &blocks[1], frontier.clone()).unwrap();
    resumed.apply(&blocks[2]).unwrap();
    full.apply(&blocks[2]).unwrap();
    assert_eq!(resumed.head(), full.head());

    let mut wrong = frontier;
    wrong[0] = Hash::from_bytes([0xee; 32]);
    let err = ChainVerifier::resume_after(ORIGIN, keys, &blocks[1], wrong).unwrap_err();
    assert!(err.to_string().contains("folds to"), "{err}");
}

#[test]
fn malformed_records_are_refused_with_a_reason() {
    let record = chain(&[2])[0].to_record();
    let cases: [(&[u8], &str); 4] = [
        (b"", "truncated in magic"),
        (b"TCB2rest", "bad magic"),
        (&record[..record.len() - 1], "truncated in event 1"),
        (
            &[record.as_slice(), b"x"].concat(),
            "1 bytes after the last event",
        ),
    ];
    for (bytes, want) in cases {
        let err = Block::from_record(bytes).unwrap_err().to_string();
        assert!(err.contains(want), "{want}: {err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any chain verifies, and a proof of any leaf built from the leaves
    /// verifies against the head's root.
    #[test]
    fn random_chains_verify(sizes in prop::collection::vec(1usize..40, 1..8), pick in any::<prop::sample::Index>()) {
        let blocks = chain(&sizes);
        let mut v = verifier();
        for b in &blocks {
            v.apply(b).unwrap();
        }
        let leaves: Vec<Hash> = blocks.iter().flat_map(Block::leaf_hashes).collect();
        let head = v.head().unwrap();
        prop_assert_eq!(head.tree_size as usize, leaves.len());
        let index = pick.index(leaves.len());
        let mut log = tracechain_core::MerkleLog::new(tracechain_core::MemoryNodeStore::new());
        log.append_batch(&leaves).unwrap();
        let proof = log.inclusion_proof(index as u64, head.tree_size).unwrap();
        prop_assert!(verify_inclusion(&leaves[index], index as u64, head.tree_size, &proof.path, &head.root).is_ok());
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Block::from_record(&bytes);
        let mut with_magic = b"TCB1".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = Block::from_record(&with_magic);
    }
}

/// The head part of `block`, as a reader of a ledger's API rebuilds it.
fn head_of(block: &Block) -> RecordHead {
    RecordHead::decode(&block.to_record()).unwrap()
}

#[test]
fn apply_leaves_accepts_what_apply_accepts_and_reaches_the_same_head() {
    let blocks = chain(&[3, 1, 7, 2]);
    let mut with_events = verifier();
    let mut with_leaves = verifier();
    for block in &blocks {
        let head = head_of(block);
        let from_events = with_events.apply(block).unwrap().clone();
        let from_leaves = with_leaves
            .apply_leaves(&head, &block.leaf_hashes())
            .unwrap()
            .clone();
        assert_eq!(from_events, from_leaves);
        assert_eq!(with_events.frontier(), with_leaves.frontier());
    }
    // The head built from API-style parts is the decoded one.
    let last = &blocks[3];
    let parts = RecordHead::from_parts(
        last.header_bytes().to_vec(),
        *last.signature(),
        last.checkpoint().to_owned(),
    )
    .unwrap();
    assert_eq!(parts, head_of(last));
}

#[test]
fn apply_leaves_refuses_wrong_leaves_and_changes_nothing() {
    let blocks = chain(&[2, 3]);
    let mut v = verifier();
    v.apply(&blocks[0]).unwrap();
    let before = (v.head().cloned(), v.frontier().to_vec());
    let head = head_of(&blocks[1]);
    let leaves = blocks[1].leaf_hashes();

    let err = v.apply_leaves(&head, &leaves[..2]).unwrap_err();
    assert_eq!(err.height(), 1);
    assert!(
        err.to_string()
            .contains("counts 3 events but 2 leaf hashes were given"),
        "{err}"
    );

    let mut changed = leaves.clone();
    changed[1] = Hash::from_bytes([0x42; 32]);
    let err = v.apply_leaves(&head, &changed).unwrap_err().to_string();
    assert!(
        err.starts_with("block 1: root recomputed from the leaf hashes is"),
        "{err}"
    );

    let mut swapped = leaves.clone();
    swapped.swap(0, 2);
    assert!(v.apply_leaves(&head, &swapped).is_err());

    assert_eq!((v.head().cloned(), v.frontier().to_vec()), before);
    v.apply_leaves(&head, &leaves).unwrap();
}

#[test]
fn apply_leaves_refuses_a_header_that_is_not_the_signed_bytes() {
    let blocks = chain(&[2, 3]);
    let mut v = verifier();
    v.apply(&blocks[0]).unwrap();
    // A hand-built head whose parsed header claims a different root than
    // the bytes the signature covers.
    let mut forged = head_of(&blocks[1]);
    forged.header.root = Hash::from_bytes([0x11; 32]);
    let err = v
        .apply_leaves(&forged, &blocks[1].leaf_hashes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not the signed header bytes"), "{err}");
    // Non-canonical bytes are refused when building a head from parts.
    let pretty = serde_json::to_vec_pretty(blocks[1].header()).unwrap();
    assert!(RecordHead::from_parts(pretty, *blocks[1].signature(), String::new()).is_err());
}

#[test]
fn apply_leaves_checks_the_signature_and_the_checkpoint() {
    let blocks = chain(&[2, 3]);
    let mut v = verifier();
    v.apply(&blocks[0]).unwrap();
    let leaves = blocks[1].leaf_hashes();

    let mut bad_signature = head_of(&blocks[1]);
    let mut bytes = bad_signature.signature.to_bytes();
    bytes[5] ^= 1;
    bad_signature.signature = tracechain_core::Signature::from_bytes(&bytes);
    let err = v
        .apply_leaves(&bad_signature, &leaves)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("block 1: header signature"), "{err}");

    // Block 0's checkpoint is signed, but for another tree.
    let mut other_checkpoint = head_of(&blocks[1]);
    other_checkpoint.checkpoint = blocks[0].checkpoint().to_owned();
    let err = v
        .apply_leaves(&other_checkpoint, &leaves)
        .unwrap_err()
        .to_string();
    assert!(err.contains("checkpoint commits to 2 leaves"), "{err}");
    v.apply_leaves(&head_of(&blocks[1]), &leaves).unwrap();
}

#[test]
fn resuming_from_a_head_part_equals_resuming_from_the_block() {
    let blocks = chain(&[3, 4, 5]);
    let mut full = verifier();
    full.apply(&blocks[0]).unwrap();
    full.apply(&blocks[1]).unwrap();
    let frontier = full.frontier().to_vec();
    let keys = KeyRing::new([key(1).verifying_key()]);

    let mut from_head =
        ChainVerifier::resume_after_head(ORIGIN, keys.clone(), &head_of(&blocks[1]), frontier)
            .unwrap();
    from_head
        .apply_leaves(&head_of(&blocks[2]), &blocks[2].leaf_hashes())
        .unwrap();
    full.apply(&blocks[2]).unwrap();
    assert_eq!(from_head.head(), full.head());

    // An untrusted key cannot be resumed from.
    let err = ChainVerifier::resume_after_head(
        ORIGIN,
        KeyRing::new([key(2).verifying_key()]),
        &head_of(&blocks[1]),
        Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown key"), "{err}");
}
