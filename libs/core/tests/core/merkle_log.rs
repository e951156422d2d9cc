//! Known-answer tests of the Merkle log: the 8-leaf tree used by
//! transparency-dev/merkle and Certificate Transparency, with its published
//! roots and proofs written in as facts.

use tracechain_core::merkle::{
    ConsistencyProof, EMPTY_ROOT, Hash, LogError, MemoryNodeStore, MerkleAccumulator, MerkleLog,
    NodeId, NodeStore, ProofError, StoreError, leaf_hash, root_from_leaf_hashes,
    verify_consistency, verify_inclusion,
};

fn h(hex: &str) -> Hash {
    Hash::from_hex(hex).unwrap()
}

/// Leaf data of the 8-leaf reference tree (hex).
const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Roots of the first 1..=8 leaves of the reference tree.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn reference_log() -> MerkleLog<MemoryNodeStore> {
    let mut log = MerkleLog::new(MemoryNodeStore::new());
    for data in LEAVES {
        log.append(leaf_hash(&hex::decode(data).unwrap())).unwrap();
    }
    log
}

#[test]
fn empty_tree() {
    let log = MerkleLog::new(MemoryNodeStore::new());
    assert_eq!(log.root(), EMPTY_ROOT);
    assert_eq!(
        EMPTY_ROOT,
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    assert_eq!(log.root_at(0).unwrap(), EMPTY_ROOT);
    assert!(matches!(
        log.inclusion_proof(0, 0),
        Err(LogError::IndexOutOfRange { .. })
    ));
}

#[test]
fn roots_of_every_prefix_match_the_published_ones() {
    let log = reference_log();
    let leaves: Vec<Hash> = LEAVES
        .iter()
        .map(|d| leaf_hash(&hex::decode(d).unwrap()))
        .collect();
    let mut acc = MerkleAccumulator::new();
    for (size, root) in (1..=8).zip(ROOTS) {
        acc.append(leaves[size - 1]).unwrap();
        assert_eq!(log.root_at(size as u64).unwrap(), h(root), "size {size}");
        assert_eq!(acc.root(), h(root), "accumulator at size {size}");
        assert_eq!(
            root_from_leaf_hashes(&leaves[..size]),
            h(root),
            "mth at size {size}"
        );
    }
    assert_eq!(
        log.root().to_hex(),
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    );
}

#[test]
fn published_inclusion_proofs() {
    let log = reference_log();
    // (leaf index, tree size, path) as published by transparency-dev/merkle.
    let cases: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (index, size, path) in cases {
        let expected: Vec<Hash> = path.iter().map(|p| h(p)).collect();
        let proof = log.inclusion_proof(index, size).unwrap();
        assert_eq!(proof.path, expected, "index {index} size {size}");
        let leaf = leaf_hash(&hex::decode(LEAVES[index as usize]).unwrap());
        let root = h(ROOTS[size as usize - 1]);
        verify_inclusion(&leaf, index, size, &proof.path, &root).unwrap();
        proof.verify(&leaf, &root).unwrap();
    }
}

#[test]
fn published_consistency_proofs() {
    let log = reference_log();
    let cases: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (old, new, path) in cases {
        let expected: Vec<Hash> = path.iter().map(|p| h(p)).collect();
        let proof = log.consistency_proof(old, new).unwrap();
        assert_eq!(
            proof,
            ConsistencyProof {
                old_size: old,
                new_size: new,
                path: expected
            }
        );
        let (r1, r2) = (h(ROOTS[old as usize - 1]), h(ROOTS[new as usize - 1]));
        verify_consistency(old, new, &r1, &r2, &proof.path).unwrap();
    }
}

#[test]
fn consistency_edge_cases() {
    let (r1, r2) = (h(ROOTS[0]), h(ROOTS[1]));
    assert_eq!(
        verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]),
        Err(ProofError::EmptyOldTree)
    );
    assert_eq!(
        verify_consistency(0, 5, &EMPTY_ROOT, &r2, &[]),
        Err(ProofError::EmptyOldTree)
    );
    assert_eq!(
        verify_consistency(2, 1, &r1, &r2, &[]),
        Err(ProofError::SizesOutOfOrder { old: 2, new: 1 })
    );
    assert_eq!(verify_consistency(1, 1, &r1, &r1, &[]), Ok(()));
    assert!(verify_consistency(1, 1, &r1, &r2, &[]).is_err());
    assert_eq!(
        verify_consistency(1, 1, &r1, &r1, &[r1]),
        Err(ProofError::WrongProofSize { got: 1, want: 0 })
    );
    assert_eq!(
        verify_consistency(1, 2, &r1, &r2, &[]),
        Err(ProofError::WrongProofSize { got: 0, want: 1 })
    );
    let log = reference_log();
    assert!(matches!(
        log.consistency_proof(0, 3),
        Err(LogError::InvalidConsistencySizes { .. })
    ));
    assert!(matches!(
        log.consistency_proof(4, 3),
        Err(LogError::InvalidConsistencySizes { .. })
    ));
    assert!(matches!(
        log.consistency_proof(1, 9),
        Err(LogError::SizeBeyondLog { .. })
    ));
    assert!(matches!(
        log.inclusion_proof(8, 8),
        Err(LogError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        log.root_at(9),
        Err(LogError::SizeBeyondLog { .. })
    ));
}

#[test]
fn inclusion_edge_cases_at_the_u64_limit() {
    let leaf = leaf_hash(b"x");
    // Correct lengths at the extremes must not overflow any shift.
    let path63 = vec![leaf; 63];
    let path64 = vec![leaf; 64];
    assert!(matches!(
        verify_inclusion(&leaf, u64::MAX - 1, u64::MAX, &path63, &leaf),
        Err(ProofError::RootMismatch { .. })
    ));
    assert!(matches!(
        verify_inclusion(&leaf, 0, u64::MAX, &path64, &leaf),
        Err(ProofError::RootMismatch { .. })
    ));
    assert!(matches!(
        verify_inclusion(&leaf, u64::MAX, u64::MAX, &[], &leaf),
        Err(ProofError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        verify_inclusion(&leaf, 1 << 63, u64::MAX, &path64, &leaf),
        Err(ProofError::WrongProofSize { .. } | ProofError::RootMismatch { .. })
    ));
    let _ = verify_consistency(u64::MAX - 1, u64::MAX, &leaf, &leaf, &path64);
    let _ = verify_consistency(1 << 63, u64::MAX, &leaf, &leaf, &path64);
    let _ = verify_consistency(1, u64::MAX, &leaf, &leaf, &path64);
}

#[test]
fn reopening_reads_only_the_frontier() {
    let log = reference_log();
    let root = log.root();
    let store = log.into_store();
    let reopened = MerkleLog::open(store, 8).unwrap();
    assert_eq!(reopened.root(), root);
    let store = reopened.into_store();
    let at_five = MerkleLog::open(store.clone(), 5).unwrap();
    assert_eq!(at_five.root(), h(ROOTS[4]));
    assert!(matches!(
        MerkleLog::open(store, 9),
        Err(LogError::Store(StoreError::Missing(_)))
    ));
}

/// A store that fails every write: the log must stay unchanged.
#[derive(Debug, Default)]
struct FailingStore(MemoryNodeStore);

impl NodeStore for FailingStore {
    fn get_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        self.0.get_nodes(ids)
    }
    fn put_nodes(&mut self, _nodes: &[(NodeId, Hash)]) -> Result<(), StoreError> {
        Err(StoreError::Backend("disk full".into()))
    }
}

#[test]
fn failed_append_leaves_the_log_unchanged() {
    let mut log = MerkleLog::new(FailingStore::default());
    let error = log.append(leaf_hash(b"a")).unwrap_err();
    assert!(matches!(error, LogError::Store(StoreError::Backend(_))));
    assert_eq!(log.size(), 0);
    assert_eq!(log.root(), EMPTY_ROOT);
    // Boxed trait objects work as stores too.
    let mut boxed: MerkleLog<Box<dyn NodeStore>> = MerkleLog::new(Box::new(MemoryNodeStore::new()));
    boxed
        .append_batch(&[leaf_hash(b"a"), leaf_hash(b"b")])
        .unwrap();
    assert_eq!(boxed.size(), 2);
}

#[test]
fn memory_store_refuses_conflicts_and_gaps() {
    let mut store = MemoryNodeStore::new();
    let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
    store.put_nodes(&[(NodeId::leaf(0), a)]).unwrap();
    store.put_nodes(&[(NodeId::leaf(0), a)]).unwrap();
    assert!(matches!(
        store.put_nodes(&[(NodeId::leaf(0), b)]),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.put_nodes(&[(NodeId::leaf(2), b)]),
        Err(StoreError::Gap(_))
    ));
    assert!(matches!(
        store.get_nodes(&[NodeId::new(3, 0)]),
        Err(StoreError::Missing(_))
    ));
}
