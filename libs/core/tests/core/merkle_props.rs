//! Property tests of the Merkle log against the literal RFC 9162 definitions
//! (`reference`), tamper tests, and robustness on arbitrary input.
//!
//! About changed sizes: an inclusion (or consistency) proof checked against an
//! unchanged root under a *different* claimed size can still verify when that
//! size induces exactly the same hash computation — e.g. leaf 0 with sizes 3
//! and 4 both compute `H(H(leaf, p0), p1)`. That is inherent to RFC 9162: the
//! root is bound to its size by the signed checkpoint, not by the proof. So for
//! size changes the tests assert: verification fails, or the computation on
//! generic inputs is identical for both sizes. Every other change (a proof
//! hash, the leaf, the index, a root, the proof length) must always fail.

use proptest::prelude::*;
use tracechain_core::merkle::{
    AccumulatorError, Hash, MemoryNodeStore, MerkleAccumulator, MerkleLog, ProofError, leaf_hash,
    root_from_inclusion_proof, root_from_leaf_hashes, verify_consistency, verify_inclusion,
};

use super::reference;

fn build(seed: u64, n: usize, chunk: usize) -> (MerkleLog<MemoryNodeStore>, Vec<Hash>) {
    let leaves = reference::leaves(seed, n);
    let mut log = MerkleLog::new(MemoryNodeStore::new());
    for part in leaves.chunks(chunk.max(1)) {
        log.append_batch(part).unwrap();
    }
    (log, leaves)
}

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut bytes = hash.to_bytes();
    bytes[(bit / 8) % 32] ^= 1 << (bit % 8);
    Hash::from_bytes(bytes)
}

fn generic_path(len: usize) -> Vec<Hash> {
    (0..len as u64)
        .map(|i| leaf_hash(&i.to_be_bytes()))
        .collect()
}

/// The root an inclusion proof of `len` generic hashes computes for
/// (`index`, `size`): equal for two claims iff they hash identically.
fn inclusion_shape(index: u64, size: u64, len: usize) -> Result<Hash, ProofError> {
    root_from_inclusion_proof(&leaf_hash(b"generic leaf"), index, size, &generic_path(len))
}

/// The outcome of a consistency check on generic inputs.
fn consistency_shape(old: u64, new: u64, len: usize) -> Result<(), ProofError> {
    let (r1, r2) = (
        leaf_hash(b"generic old root"),
        leaf_hash(b"generic new root"),
    );
    verify_consistency(old, new, &r1, &r2, &generic_path(len))
}

fn arb_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(1 << 63),
        Just((1 << 63) - 1),
        0u64..1024,
        any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Accumulator, bottom-up MTH and the log's root at every size all equal the
    /// recursive MTH definition; reopening the log from its store agrees too.
    #[test]
    fn roots_at_every_size_match_the_definition(seed: u64, n in 1usize..=300, chunk in 1usize..40) {
        let (log, leaves) = build(seed, n, chunk);
        let mut acc = MerkleAccumulator::new();
        for size in 1..=n {
            acc.append(leaves[size - 1]).unwrap();
            let expected = reference::mth(&leaves[..size]);
            prop_assert_eq!(acc.root(), expected);
            prop_assert_eq!(root_from_leaf_hashes(&leaves[..size]), expected);
            prop_assert_eq!(log.root_at(size as u64).unwrap(), expected);
            prop_assert_eq!(acc.frontier_ids().len(), acc.frontier().len());
        }
        prop_assert_eq!(log.root(), acc.root());
        let resumed = MerkleAccumulator::from_frontier(acc.size(), acc.frontier().to_vec()).unwrap();
        prop_assert_eq!(resumed.root(), acc.root());
        let size = log.size();
        let reopened = MerkleLog::open(log.into_store(), size).unwrap();
        prop_assert_eq!(reopened.root(), acc.root());
    }

    /// Every inclusion proof and every consistency proof into a tree equals the
    /// RFC's PATH / PROOF and verifies.
    #[test]
    fn every_proof_of_a_tree_matches_the_definition(seed: u64, n in 1usize..=300) {
        let (log, leaves) = build(seed, n, 7);
        let size = n as u64;
        let root = reference::mth(&leaves);
        for m in 0..n {
            let proof = log.inclusion_proof(m as u64, size).unwrap();
            prop_assert_eq!(&proof.path, &reference::path(m, &leaves));
            prop_assert_eq!(proof.verify(&leaves[m], &root), Ok(()));
        }
        for m in 1..=n {
            let proof = log.consistency_proof(m as u64, size).unwrap();
            prop_assert_eq!(&proof.path, &reference::proof(m, &leaves));
            let old_root = reference::mth(&leaves[..m]);
            prop_assert_eq!(proof.verify(&old_root, &root), Ok(()));
        }
    }

    /// Proofs between arbitrary sizes of a log match the definition.
    #[test]
    fn proofs_between_any_sizes_match_the_definition(
        seed: u64,
        n in 1usize..=300,
        picks in prop::collection::vec((any::<usize>(), any::<usize>()), 16),
    ) {
        let (log, leaves) = build(seed, n, 13);
        for (a, b) in picks {
            let size = 1 + a % n;
            let index = b % size;
            let old = 1 + b % size;
            let tree = &leaves[..size];
            let root = reference::mth(tree);
            let inclusion = log.inclusion_proof(index as u64, size as u64).unwrap();
            prop_assert_eq!(&inclusion.path, &reference::path(index, tree));
            prop_assert_eq!(inclusion.verify(&leaves[index], &root), Ok(()));
            let consistency = log.consistency_proof(old as u64, size as u64).unwrap();
            prop_assert_eq!(&consistency.path, &reference::proof(old, tree));
            prop_assert_eq!(consistency.verify(&reference::mth(&leaves[..old]), &root), Ok(()));
        }
    }

    /// Any change to an inclusion proof's hashes, leaf, index, root or length
    /// fails; a changed size fails unless it hashes identically (module docs).
    #[test]
    fn tampered_inclusion_proofs_fail(seed: u64, n in 1usize..=300, pick: usize, which: usize, bit: usize) {
        let (log, leaves) = build(seed, n, 5);
        let size = 1 + (pick % n) as u64;
        let index = (pick / n) as u64 % size;
        let proof = log.inclusion_proof(index, size).unwrap();
        let root = log.root_at(size).unwrap();
        let leaf = leaves[index as usize];
        let path = &proof.path;
        prop_assert_eq!(verify_inclusion(&leaf, index, size, path, &root), Ok(()));

        if !path.is_empty() {
            let mut bad = path.clone();
            let at = which % bad.len();
            bad[at] = flip(&bad[at], bit);
            prop_assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
            let mut shorter = path.clone();
            shorter.remove(which % path.len());
            prop_assert!(verify_inclusion(&leaf, index, size, &shorter, &root).is_err());
        }
        let mut longer = path.clone();
        longer.insert(which % (path.len() + 1), leaf);
        prop_assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());
        prop_assert!(verify_inclusion(&flip(&leaf, bit), index, size, path, &root).is_err());
        prop_assert!(verify_inclusion(&leaf, index, size, path, &flip(&root, bit)).is_err());
        for other in (0..size + 2).filter(|&i| i != index) {
            prop_assert!(verify_inclusion(&leaf, other, size, path, &root).is_err());
        }
        let shape = inclusion_shape(index, size, path.len());
        for other in (0..2 * size + 3).filter(|&s| s != size) {
            let result = verify_inclusion(&leaf, index, other, path, &root);
            prop_assert!(result.is_err() || inclusion_shape(index, other, path.len()) == shape);
        }
    }

    /// Any change to a consistency proof's hashes, roots or length fails; a
    /// changed size fails unless it hashes identically (module docs).
    #[test]
    fn tampered_consistency_proofs_fail(seed: u64, n in 1usize..=300, pick: usize, which: usize, bit: usize) {
        let (log, _) = build(seed, n, 11);
        let new = 1 + (pick % n) as u64;
        let old = 1 + (pick / n) as u64 % new;
        let proof = log.consistency_proof(old, new).unwrap();
        let (r1, r2) = (log.root_at(old).unwrap(), log.root_at(new).unwrap());
        let path = &proof.path;
        prop_assert_eq!(verify_consistency(old, new, &r1, &r2, path), Ok(()));

        if !path.is_empty() {
            let mut bad = path.clone();
            let at = which % bad.len();
            bad[at] = flip(&bad[at], bit);
            prop_assert!(verify_consistency(old, new, &r1, &r2, &bad).is_err());
            let mut shorter = path.clone();
            shorter.remove(which % path.len());
            prop_assert!(verify_consistency(old, new, &r1, &r2, &shorter).is_err());
        }
        let mut longer = path.clone();
        longer.insert(which % (path.len() + 1), r1);
        prop_assert!(verify_consistency(old, new, &r1, &r2, &longer).is_err());
        prop_assert!(verify_consistency(old, new, &flip(&r1, bit), &r2, path).is_err());
        prop_assert!(verify_consistency(old, new, &r1, &flip(&r2, bit), path).is_err());
        if old != new {
            prop_assert!(verify_consistency(old, new, &r2, &r1, path).is_err());
        }
        let shape = consistency_shape(old, new, path.len());
        for other_old in (0..new + 2).filter(|&s| s != old) {
            let result = verify_consistency(other_old, new, &r1, &r2, path);
            prop_assert!(result.is_err() || consistency_shape(other_old, new, path.len()) == shape);
        }
        for other_new in (0..2 * new + 3).filter(|&s| s != new) {
            let result = verify_consistency(old, other_new, &r1, &r2, path);
            prop_assert!(result.is_err() || consistency_shape(old, other_new, path.len()) == shape);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Verification and log queries on arbitrary numbers never panic.
    #[test]
    fn arbitrary_inputs_never_panic(
        index in arb_u64(),
        size in arb_u64(),
        old in arb_u64(),
        len in 0usize..80,
        seed: u64,
    ) {
        let path = reference::leaves(seed, len);
        let leaf = leaf_hash(&seed.to_le_bytes());
        let _ = verify_inclusion(&leaf, index, size, &path, &leaf);
        let _ = root_from_inclusion_proof(&leaf, index, size, &path);
        let _ = verify_consistency(old, size, &leaf, &leaf, &path);
        let _ = verify_consistency(index, old, &leaf, &leaf, &path);

        let (log, _) = build(seed, 10, 3);
        let _ = log.inclusion_proof(index, size);
        let _ = log.consistency_proof(old, size);
        let _ = log.root_at(size);

        match MerkleAccumulator::from_frontier(size, path) {
            Ok(mut acc) => {
                let _ = acc.root();
                let appended = acc.append(leaf);
                prop_assert_eq!(appended.is_err(), size == u64::MAX);
            }
            Err(error) => {
                let is_frontier_error = matches!(error, AccumulatorError::FrontierLength { .. });
                prop_assert!(is_frontier_error);
            }
        }
    }
}

#[test]
fn full_accumulator_refuses_to_grow() {
    let frontier = reference::leaves(1, 64);
    let mut acc = MerkleAccumulator::from_frontier(u64::MAX, frontier).unwrap();
    assert_eq!(
        acc.append(leaf_hash(b"one too many")),
        Err(AccumulatorError::Full(u64::MAX))
    );
}
