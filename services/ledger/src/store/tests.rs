//! The block store on real files: round trips, proofs, crash leftovers and
//! corruption.

use std::path::Path;

use tempfile::TempDir;
use time::OffsetDateTime;
use tracechain_chain::{Block, ChainVerifier, KeyRing, Positions};
use tracechain_core::{SigningKey, leaf_hash, verify_consistency, verify_inclusion};
use uuid::Uuid;

use super::{BlockStore, StoreError, StoreOptions};

const ORIGIN: &str = "tracechain.test/ledger";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[3; 32])
}

fn options() -> StoreOptions {
    StoreOptions {
        segment_bytes: 4096,
        ..StoreOptions::new(ORIGIN, KeyRing::new([key().verifying_key()]))
    }
}

/// Envelope-shaped events (the store indexes them by `id`).
fn events(n: usize) -> (Vec<Uuid>, Vec<Vec<u8>>) {
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    let bytes = ids
        .iter()
        .map(|id| {
            format!(
                r#"{{"id":"{id}","payload":{{"pad":"{}"}}}}"#,
                "x".repeat(100)
            )
            .into_bytes()
        })
        .collect();
    (ids, bytes)
}

struct Chain {
    writer: ChainVerifier,
    ids: Vec<Uuid>,
}

impl Chain {
    fn new() -> Chain {
        Chain {
            writer: ChainVerifier::from_genesis(ORIGIN, KeyRing::default()),
            ids: Vec::new(),
        }
    }

    fn block(&mut self, n: usize) -> Block {
        let (ids, bytes) = events(n);
        self.ids.extend(ids);
        let positions: Positions = [("t".to_owned(), [(0, self.ids.len() as i64)].into())].into();
        self.writer
            .seal_next(bytes, positions, OffsetDateTime::now_utc(), &key())
            .unwrap()
    }
}

fn open(dir: &Path) -> Result<BlockStore, StoreError> {
    BlockStore::open(dir, &options())
}

#[test]
fn blocks_events_and_proofs_survive_a_reopen() {
    let dir = TempDir::new().unwrap();
    let mut chain = Chain::new();
    let blocks: Vec<Block> = [5, 1, 17, 9].iter().map(|&n| chain.block(n)).collect();
    {
        let store = open(dir.path()).unwrap();
        assert!(store.head().is_none());
        store
            .append(blocks[..2].iter().cloned().zip([10, 11]).collect())
            .unwrap();
        store
            .append(blocks[2..].iter().cloned().zip([14, 15]).collect())
            .unwrap();
    }
    // Small segments: the chain spans several files.
    assert!(
        std::fs::read_dir(dir.path().join("blocks"))
            .unwrap()
            .count()
            > 1
    );
    let store = open(dir.path()).unwrap();
    let head = store.head().unwrap();
    assert_eq!(
        (head.header.height, head.header.tree_size, head.topic_offset),
        (3, 32, 15)
    );
    assert_eq!(store.block(2).unwrap().unwrap(), blocks[2]);
    assert_eq!(
        store.block_head(1).unwrap().unwrap().head.header,
        *blocks[1].header()
    );
    assert!(store.block(4).unwrap().is_none());

    for (i, id) in chain.ids.iter().enumerate() {
        let event = store.event(*id).unwrap().unwrap();
        assert_eq!(event.leaf_index, i as u64);
        assert_eq!(store.height_of_leaf(i as u64).unwrap(), Some(event.height));
        let leaf = leaf_hash(&event.bytes);
        assert_eq!(store.leaf_hash(i as u64).unwrap(), leaf);
        for size in [i as u64 + 1, 32] {
            let proof = store.inclusion_proof(i as u64, size).unwrap();
            let root = store.root_at(size).unwrap();
            verify_inclusion(&leaf, i as u64, size, &proof.path, &root).unwrap();
        }
    }
    assert!(store.event(Uuid::now_v7()).unwrap().is_none());
    let anchored = store
        .anchored_among(&[chain.ids[3], Uuid::now_v7()])
        .unwrap();
    assert_eq!(anchored.into_iter().collect::<Vec<_>>(), vec![chain.ids[3]]);
    for (old, new) in [(1, 32), (5, 6), (6, 23), (23, 32), (32, 32)] {
        let proof = store.consistency_proof(old, new).unwrap();
        verify_consistency(
            old,
            new,
            &store.root_at(old).unwrap(),
            &store.root_at(new).unwrap(),
            &proof.path,
        )
        .unwrap();
    }
    // Every block's root is the stored root at its size.
    for b in &blocks {
        assert_eq!(
            store.root_at(b.header().tree_size).unwrap(),
            b.header().root
        );
    }
    assert!(matches!(
        store.inclusion_proof(0, 33),
        Err(StoreError::OutOfRange(_))
    ));
}

#[test]
fn appends_that_do_not_extend_the_head_are_refused() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path()).unwrap();
    let mut chain = Chain::new();
    let b0 = chain.block(2);
    let b1 = chain.block(2);
    let err = store.append(vec![(b1.clone(), 0)]).unwrap_err();
    assert!(err.to_string().contains("expected height 0"), "{err}");
    store.append(vec![(b0.clone(), 0)]).unwrap();
    let err = store.append(vec![(b0, 1)]).unwrap_err();
    assert!(err.to_string().contains("expected height 1"), "{err}");
    store.append(vec![(b1, 1)]).unwrap();
}

fn last_segment(dir: &Path) -> std::path::PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.pop().unwrap()
}

#[test]
fn a_torn_final_frame_is_cut_off_and_the_rest_is_kept() {
    let dir = TempDir::new().unwrap();
    let mut chain = Chain::new();
    {
        let store = open(dir.path()).unwrap();
        store
            .append(vec![(chain.block(3), 0), (chain.block(3), 1)])
            .unwrap();
    }
    let segment = last_segment(dir.path());
    let before = std::fs::metadata(&segment).unwrap().len();
    // Half a frame: what a crash in the middle of a write leaves.
    let record = chain.block(2).to_record();
    let mut torn = (record.len() as u32).to_be_bytes().to_vec();
    torn.extend_from_slice(&[0; 12]);
    torn.extend_from_slice(&record[..record.len() / 2]);
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(&torn);
    std::fs::write(&segment, bytes).unwrap();

    let store = open(dir.path()).unwrap();
    assert_eq!(store.head().unwrap().header.height, 1);
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), before);
}

#[test]
fn blocks_whose_index_a_crash_lost_are_reindexed() {
    let dir = TempDir::new().unwrap();
    let mut chain = Chain::new();
    {
        let store = open(dir.path()).unwrap();
        store.append(vec![(chain.block(4), 7)]).unwrap();
    }
    let index = dir.path().join("index.redb");
    let saved = std::fs::read(&index).unwrap();
    {
        let store = open(dir.path()).unwrap();
        store
            .append(vec![(chain.block(4), 8), (chain.block(4), 9)])
            .unwrap();
    }
    // The frames are durable, the index commit that covered them is gone.
    std::fs::write(&index, saved).unwrap();
    let store = open(dir.path()).unwrap();
    let head = store.head().unwrap();
    assert_eq!((head.header.height, head.topic_offset), (2, 9));
    assert_eq!(store.event(chain.ids[11]).unwrap().unwrap().leaf_index, 11);
}

#[test]
fn one_changed_byte_anywhere_in_the_segments_stops_the_store_from_opening() {
    let dir = TempDir::new().unwrap();
    let mut chain = Chain::new();
    {
        let store = open(dir.path()).unwrap();
        store
            .append(vec![
                (chain.block(2), 0),
                (chain.block(2), 1),
                (chain.block(2), 2),
            ])
            .unwrap();
    }
    let segment = last_segment(dir.path());
    let original = std::fs::read(&segment).unwrap();
    // Every byte of the first two frames (the last one could be taken for
    // a torn write, which is cut off, not served).
    let first_two = original.len() * 2 / 3;
    for i in (0..first_two).step_by(7) {
        let mut bad = original.clone();
        bad[i] ^= 0x20;
        std::fs::write(&segment, &bad).unwrap();
        let err = open(dir.path()).expect_err(&format!("byte {i} changed, store opened"));
        assert!(matches!(err, StoreError::Corrupt(_)), "byte {i}: {err}");
        assert!(err.to_string().contains("block "), "byte {i}: {err}");
    }
    std::fs::write(&segment, &original).unwrap();
    open(dir.path()).unwrap();
}

#[test]
fn a_store_signed_by_an_unknown_key_does_not_open() {
    let dir = TempDir::new().unwrap();
    let mut chain = Chain::new();
    open(dir.path())
        .unwrap()
        .append(vec![(chain.block(2), 0)])
        .unwrap();
    let other = StoreOptions::new(
        ORIGIN,
        KeyRing::new([SigningKey::from_bytes(&[4; 32]).verifying_key()]),
    );
    let err = BlockStore::open(dir.path(), &other).unwrap_err();
    assert!(
        err.to_string().contains("block 0: signed by unknown key"),
        "{err}"
    );
}
