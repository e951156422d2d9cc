//! Inclusion and consistency proofs, verified exactly as RFC 9162 §2.1.3.2 and
//! §2.1.4.2 prescribe.
//!
//! Before running the RFC algorithms, each verifier checks the proof has the
//! one length its sizes allow, so a wrong-length proof is reported as such
//! (and a huge proof costs nothing). Edge cases:
//! - inclusion: `leaf_index >= tree_size` fails (so every proof in an empty
//!   tree fails); a one-leaf tree has an empty proof and root == leaf hash.
//! - consistency: `size1 > size2` fails; `size1 == size2` needs an empty proof
//!   and equal roots; `size1 == 0` fails — RFC 9162 defines consistency proofs
//!   for `0 < size1` only, and every tree trivially extends the empty one, so
//!   a client holding no checkpoint has nothing to prove.
//!
//! Verification never panics, whatever the sizes (up to `u64::MAX`) or paths.

use serde::{Deserialize, Serialize};

use super::hash::{Hash, node_hash};
use super::tree;

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The proof does not have the one length its sizes allow.
    #[error("proof has {got} hashes where {want} are expected")]
    WrongProofSize {
        /// Hashes in the proof.
        got: usize,
        /// Hashes the sizes call for.
        want: usize,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizesOutOfOrder {
        /// The old (first) size.
        old: u64,
        /// The new (second) size.
        new: u64,
    },
    /// A consistency proof from the empty tree.
    #[error("consistency from an empty tree is not provable: old size must be at least 1")]
    EmptyOldTree,
    /// The path leads to a different root than the one given.
    #[error("proof leads to root {computed}, not to the expected root {expected}")]
    RootMismatch {
        /// Root the proof computes.
        computed: Hash,
        /// Root it was checked against.
        expected: Hash,
    },
    /// The consistency proof does not reproduce the old root.
    #[error("consistency proof leads to old root {computed}, not to {expected}")]
    OldRootMismatch {
        /// Old root the proof computes.
        computed: Hash,
        /// Old root it was checked against.
        expected: Hash,
    },
    /// The consistency proof does not reproduce the new root.
    #[error("consistency proof leads to new root {computed}, not to {expected}")]
    NewRootMismatch {
        /// New root the proof computes.
        computed: Hash,
        /// New root it was checked against.
        expected: Hash,
    },
}

/// Proof that leaf `leaf_index` is in the tree of `tree_size` leaves: the
/// sibling hashes from the leaf up to the root (RFC 9162 §2.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Index of the proven leaf; below `tree_size` in a valid proof.
    pub leaf_index: u64,
    /// Size of the tree whose root the proof leads to.
    pub tree_size: u64,
    /// Sibling hashes, nearest the leaf first.
    pub path: Vec<Hash>,
}

impl InclusionProof {
    /// Checks that `leaf_hash` is at `leaf_index` in the tree with `root`.
    pub fn verify(&self, leaf_hash: &Hash, root: &Hash) -> Result<(), ProofError> {
        verify_inclusion(leaf_hash, self.leaf_index, self.tree_size, &self.path, root)
    }

    /// The root this proof leads to from `leaf_hash`.
    pub fn root(&self, leaf_hash: &Hash) -> Result<Hash, ProofError> {
        root_from_inclusion_proof(leaf_hash, self.leaf_index, self.tree_size, &self.path)
    }
}

/// Proof that the tree of `old_size` leaves is a prefix of the tree of
/// `new_size` leaves (RFC 9162 §2.1.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// Size of the older tree.
    pub old_size: u64,
    /// Size of the newer tree.
    pub new_size: u64,
    /// The proof's hashes, in RFC 9162 order.
    pub path: Vec<Hash>,
}

impl ConsistencyProof {
    /// Checks that `old_root` (of `old_size`) is a prefix of `new_root`.
    pub fn verify(&self, old_root: &Hash, new_root: &Hash) -> Result<(), ProofError> {
        verify_consistency(self.old_size, self.new_size, old_root, new_root, &self.path)
    }
}

/// The root that an inclusion proof leads to from `leaf_hash`
/// (RFC 9162 §2.1.3.2 steps 1–4), after checking the proof length.
pub fn root_from_inclusion_proof(
    leaf_hash: &Hash,
    leaf_index: u64,
    tree_size: u64,
    path: &[Hash],
) -> Result<Hash, ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange {
            index: leaf_index,
            size: tree_size,
        });
    }
    let want = tree::inclusion_proof_len(leaf_index, tree_size);
    if path.len() != want {
        return Err(ProofError::WrongProofSize {
            got: path.len(),
            want,
        });
    }
    // RFC 9162 §2.1.3.2, steps 2–4.
    let (mut f_n, mut s_n) = (leaf_index, tree_size - 1);
    let mut r = *leaf_hash;
    for p in path {
        if s_n == 0 {
            // Unreachable after the length check; kept as the RFC states it.
            return Err(ProofError::WrongProofSize {
                got: path.len(),
                want,
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5: sn must have reached 0 (guaranteed by the length check).
    if s_n != 0 {
        return Err(ProofError::WrongProofSize {
            got: path.len(),
            want,
        });
    }
    Ok(r)
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    leaf_index: u64,
    tree_size: u64,
    path: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion_proof(leaf_hash, leaf_index, tree_size, path)?;
    if computed == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch {
            computed,
            expected: *root,
        })
    }
}

/// Number of hashes in the consistency proof from `old` to `new`, for
/// `0 < old < new`.
fn consistency_proof_len(old: u64, new: u64) -> usize {
    let (inner, border) = tree::decompose_inclusion(old - 1, new);
    // The subtree of 2^shift leaves ending at `old` is shared by both trees;
    // the proof starts at its root, which is root1 itself (and omitted) when
    // old is exactly 2^shift.
    let shift = old.trailing_zeros();
    let seed = usize::from(old != 1u64 << shift);
    // shift < inner whenever old < new; saturate anyway rather than trust it.
    seed + (inner.saturating_sub(shift) + border) as usize
}

/// Verifies a consistency proof between the tree of `size1` leaves with
/// `root1` and the tree of `size2` leaves with `root2` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    path: &[Hash],
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::SizesOutOfOrder {
            old: size1,
            new: size2,
        });
    }
    if size1 == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    if size1 == size2 {
        if !path.is_empty() {
            return Err(ProofError::WrongProofSize {
                got: path.len(),
                want: 0,
            });
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::NewRootMismatch {
                computed: *root1,
                expected: *root2,
            })
        };
    }
    // 0 < size1 < size2 from here on.
    let want = consistency_proof_len(size1, size2);
    if path.len() != want {
        return Err(ProofError::WrongProofSize {
            got: path.len(),
            want,
        });
    }
    // Step 1: an empty path fails (the length check above already refused it,
    // since every proof for 0 < size1 < size2 has at least one hash).
    // Step 2: if size1 is an exact power of 2, prepend root1.
    let first_is_power_of_two = size1.is_power_of_two();
    let mut hashes = std::iter::once(root1)
        .filter(|_| first_is_power_of_two)
        .chain(path.iter());
    let Some(seed) = hashes.next() else {
        return Err(ProofError::WrongProofSize { got: 0, want });
    };
    // Steps 3–4.
    let (mut f_n, mut s_n) = (size1 - 1, size2 - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5.
    let (mut f_r, mut s_r) = (*seed, *seed);
    // Step 6.
    for c in hashes {
        if s_n == 0 {
            return Err(ProofError::WrongProofSize {
                got: path.len(),
                want,
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 7.
    if f_r != *root1 {
        return Err(ProofError::OldRootMismatch {
            computed: f_r,
            expected: *root1,
        });
    }
    if s_r != *root2 {
        return Err(ProofError::NewRootMismatch {
            computed: s_r,
            expected: *root2,
        });
    }
    if s_n != 0 {
        return Err(ProofError::WrongProofSize {
            got: path.len(),
            want,
        });
    }
    Ok(())
}
