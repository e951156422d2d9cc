//! [`MerkleLog`]: an append-only RFC 9162 log over a [`NodeStore`], serving the
//! root at any past size and inclusion and consistency proofs between any
//! sizes.
//!
//! Invariants:
//! - every perfect node of the tree `[0, size)` is in the store, written when
//!   its last leaf was appended (appends write them before the size moves);
//! - the in-memory [`MerkleAccumulator`] always describes exactly those
//!   `size` leaves, so [`MerkleLog::root`] costs no store read;
//! - every query reads O(log n) nodes in one [`NodeStore::get_nodes`] call and
//!   hashes O(log n) times: a proof hash covering an incomplete right-edge
//!   subtree is folded from the perfect nodes under it, never from leaves.
//! - a failed append (store error) leaves the log unchanged.

use super::accumulator::{AccumulatorError, MerkleAccumulator, fold_right};
use super::hash::{EMPTY_ROOT, Hash};
use super::proof::{ConsistencyProof, InclusionProof};
use super::store::{NodeId, NodeStore, StoreError};
use super::tree;

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The node store failed.
    #[error("merkle node store failed")]
    Store(#[from] StoreError),
    /// A tree size beyond what the log holds.
    #[error("tree size {size} is beyond the log's size {log_size}")]
    SizeBeyondLog {
        /// The size asked for.
        size: u64,
        /// The log's size.
        log_size: u64,
    },
    /// A leaf index outside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// Consistency proofs need `1 <= old <= new`.
    #[error("no consistency proof from size {old} to size {new}: need 1 <= old <= new")]
    InvalidConsistencySizes {
        /// The old size.
        old: u64,
        /// The new size.
        new: u64,
    },
    /// The log already holds `u64::MAX` leaves.
    #[error("log is full")]
    Full,
}

impl From<AccumulatorError> for LogError {
    fn from(error: AccumulatorError) -> Self {
        match error {
            AccumulatorError::Full(_) => LogError::Full,
            // from_frontier is only called with ids computed for the size.
            AccumulatorError::FrontierLength { got, want, .. } => {
                LogError::Store(StoreError::ShortRead { want, got })
            }
        }
    }
}

/// An append-only Merkle log. See the module docs.
#[derive(Debug)]
pub struct MerkleLog<S> {
    /// Holds every perfect node of `[0, acc.size())`.
    store: S,
    /// Frontier of the current tree.
    acc: MerkleAccumulator,
}

impl<S: NodeStore> MerkleLog<S> {
    /// A new, empty log over an empty store.
    pub fn new(store: S) -> Self {
        MerkleLog {
            store,
            acc: MerkleAccumulator::new(),
        }
    }

    /// Reopens a log of `size` leaves whose nodes are already in `store`,
    /// reading only the O(log n) frontier nodes.
    pub fn open(store: S, size: u64) -> Result<Self, LogError> {
        let mut ids = Vec::with_capacity(64);
        tree::push_range_nodes(0, size, &mut ids);
        let frontier = read(&store, &ids)?;
        let acc = MerkleAccumulator::from_frontier(size, frontier)?;
        Ok(MerkleLog { store, acc })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.acc.size()
    }

    /// Root of the whole log.
    pub fn root(&self) -> Hash {
        self.acc.root()
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Appends one leaf hash; returns its leaf index.
    pub fn append(&mut self, leaf_hash: Hash) -> Result<u64, LogError> {
        self.append_batch(std::slice::from_ref(&leaf_hash))
    }

    /// Appends leaf hashes in order, writing every node they complete in one
    /// [`NodeStore::put_nodes`] call; returns the index of the first.
    pub fn append_batch(&mut self, leaf_hashes: &[Hash]) -> Result<u64, LogError> {
        let first = self.acc.size();
        let mut acc = self.acc.clone();
        let mut completed = Vec::with_capacity(2 * leaf_hashes.len() + 64);
        for leaf in leaf_hashes {
            acc.append_with(*leaf, |id, hash| completed.push((id, *hash)))?;
        }
        self.store.put_nodes(&completed)?;
        self.acc = acc;
        Ok(first)
    }

    /// Root of the tree of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, LogError> {
        self.check_size(size)?;
        if size == self.size() {
            return Ok(self.root());
        }
        if size == 0 {
            return Ok(EMPTY_ROOT);
        }
        let mut ids = Vec::with_capacity(64);
        tree::push_range_nodes(0, size, &mut ids);
        Ok(fold_right(&read(&self.store, &ids)?))
    }

    /// Inclusion proof of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<InclusionProof, LogError> {
        self.check_size(size)?;
        if index >= size {
            return Err(LogError::IndexOutOfRange { index, size });
        }
        let path = self.range_hashes(&tree::inclusion_ranges(index, size))?;
        Ok(InclusionProof {
            leaf_index: index,
            tree_size: size,
            path,
        })
    }

    /// Consistency proof from the tree of `old` leaves to the tree of `new`
    /// leaves; empty when `old == new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<ConsistencyProof, LogError> {
        self.check_size(new)?;
        if old == 0 || old > new {
            return Err(LogError::InvalidConsistencySizes { old, new });
        }
        let path = if old == new {
            Vec::new()
        } else {
            self.range_hashes(&tree::consistency_ranges(old, new))?
        };
        Ok(ConsistencyProof {
            old_size: old,
            new_size: new,
            path,
        })
    }

    fn check_size(&self, size: u64) -> Result<(), LogError> {
        if size > self.size() {
            return Err(LogError::SizeBeyondLog {
                size,
                log_size: self.size(),
            });
        }
        Ok(())
    }

    /// The Merkle Tree Hash of each aligned range, reading all the perfect
    /// nodes they need in one batch.
    fn range_hashes(&self, ranges: &[(u64, u64)]) -> Result<Vec<Hash>, LogError> {
        let mut ids = Vec::with_capacity(2 * ranges.len() + 64);
        let mut bounds = Vec::with_capacity(ranges.len());
        for &(begin, end) in ranges {
            let start = ids.len();
            tree::push_range_nodes(begin, end, &mut ids);
            bounds.push(start..ids.len());
        }
        let nodes = read(&self.store, &ids)?;
        // `read` checked nodes.len() == ids.len(), so every bound is in range.
        Ok(bounds
            .into_iter()
            .map(|bound| fold_right(&nodes[bound]))
            .collect())
    }
}

/// Reads `ids`, insisting the store returns exactly one hash per id.
fn read<S: NodeStore>(store: &S, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let nodes = store.get_nodes(ids)?;
    if nodes.len() != ids.len() {
        return Err(StoreError::ShortRead {
            want: ids.len(),
            got: nodes.len(),
        });
    }
    Ok(nodes)
}
