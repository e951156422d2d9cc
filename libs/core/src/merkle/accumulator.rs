//! An append-only Merkle accumulator (a compact range starting at leaf 0): the
//! current root of a growing log in O(log n) memory.
//!
//! It keeps the *frontier*: the roots of the perfect subtrees along the right
//! edge of the tree, one for each set bit of the size, largest (leftmost)
//! first. Appending a leaf merges equal-height subtrees like a binary counter
//! carrying; the root is the right-to-left fold of the frontier.
//!
//! Invariant: `frontier.len() == size.count_ones()`, and `frontier[j]` is the
//! perfect node over the j-th block of the binary decomposition of `size`.

use super::hash::{EMPTY_ROOT, Hash, node_hash};
use super::store::NodeId;

/// Why an accumulator could not be built or grown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccumulatorError {
    /// A frontier must hold one hash per set bit of the size.
    #[error("a tree of size {size} has a frontier of {want} hashes, got {got}")]
    FrontierLength {
        /// The claimed tree size.
        size: u64,
        /// `size.count_ones()`.
        want: usize,
        /// Hashes supplied.
        got: usize,
    },
    /// The tree already holds `u64::MAX` leaves.
    #[error("tree is full at {0} leaves")]
    Full(u64),
}

/// The O(log n) state of an append-only RFC 9162 tree. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MerkleAccumulator {
    /// Number of leaves appended so far.
    size: u64,
    /// Perfect-subtree roots along the right edge, largest first; exactly
    /// `size.count_ones()` of them.
    frontier: Vec<Hash>,
}

impl MerkleAccumulator {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resumes from a saved frontier (as returned by [`frontier`](Self::frontier)).
    pub fn from_frontier(size: u64, frontier: Vec<Hash>) -> Result<Self, AccumulatorError> {
        let want = size.count_ones() as usize;
        if frontier.len() != want {
            return Err(AccumulatorError::FrontierLength {
                size,
                want,
                got: frontier.len(),
            });
        }
        Ok(MerkleAccumulator { size, frontier })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Roots of the perfect subtrees along the right edge, largest first.
    pub fn frontier(&self) -> &[Hash] {
        &self.frontier
    }

    /// Node ids of the [`frontier`](Self::frontier) hashes, in the same order.
    pub fn frontier_ids(&self) -> Vec<NodeId> {
        let mut ids = Vec::with_capacity(self.frontier.len());
        super::tree::push_range_nodes(0, self.size, &mut ids);
        ids
    }

    /// Appends a leaf hash.
    pub fn append(&mut self, leaf_hash: Hash) -> Result<(), AccumulatorError> {
        self.append_with(leaf_hash, |_, _| {})
    }

    /// Appends a leaf hash and reports every perfect node it completes (the
    /// leaf itself first, then each merged parent, bottom-up) to `completed`.
    pub fn append_with(
        &mut self,
        leaf_hash: Hash,
        mut completed: impl FnMut(NodeId, &Hash),
    ) -> Result<(), AccumulatorError> {
        let index = self.size;
        let new_size = index.checked_add(1).ok_or(AccumulatorError::Full(index))?;
        completed(NodeId::leaf(index), &leaf_hash);
        // Each trailing one bit of `index` is a left sibling waiting on the
        // frontier; the invariant guarantees that many entries are there.
        let merges = index.trailing_ones() as usize;
        let keep = self.frontier.len().saturating_sub(merges);
        let mut hash = leaf_hash;
        for (below, left) in self.frontier.drain(keep..).rev().enumerate() {
            hash = node_hash(&left, &hash);
            let level = below + 1;
            // level <= 63: `index` has at most 63 trailing ones here, as
            // index == u64::MAX was refused above.
            completed(NodeId::new(level as u8, index >> level), &hash);
        }
        self.frontier.push(hash);
        self.size = new_size;
        Ok(())
    }

    /// The current root (the empty-tree hash when no leaf was appended).
    pub fn root(&self) -> Hash {
        fold_right(&self.frontier)
    }
}

/// Right-to-left fold of perfect-subtree roots: the MTH of their union.
pub(crate) fn fold_right(hashes: &[Hash]) -> Hash {
    let mut iter = hashes.iter().rev();
    match iter.next() {
        None => EMPTY_ROOT,
        Some(last) => iter.fold(*last, |right, left| node_hash(left, &right)),
    }
}
