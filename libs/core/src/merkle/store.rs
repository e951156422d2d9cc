//! Where a [`MerkleLog`](super::MerkleLog) keeps its nodes.
//!
//! A store holds *perfect* nodes only: node `(level k, index i)` is the root of
//! the complete subtree over leaves `[i·2^k, (i+1)·2^k)`, and it is written
//! once, when its last leaf arrives, and never changes after. Nodes of a
//! subtree that is still incomplete are never stored; the log derives them from
//! perfect ones. So a store is append-only per level, which suits files and
//! tiles (c2sp.org/tlog-tiles) as well as memory.
//!
//! The trait is synchronous and object-safe (`Box<dyn NodeStore>` works), and
//! its errors carry any backend error as a boxed source.

use std::error::Error as StdError;
use std::fmt;

use super::hash::Hash;

/// Address of a perfect node: the root of leaves `[index·2^level, (index+1)·2^level)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct NodeId {
    /// Height above the leaves; 0 for leaf hashes. At most 63 in any tree
    /// whose size fits a `u64`.
    pub level: u8,
    /// Position among the nodes of this level, left to right.
    pub index: u64,
}

impl NodeId {
    /// The node at `level`, `index`.
    pub const fn new(level: u8, index: u64) -> Self {
        NodeId { level, index }
    }

    /// The leaf hash of leaf `index`.
    pub const fn leaf(index: u64) -> Self {
        NodeId { level: 0, index }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "level {} index {}", self.level, self.index)
    }
}

/// Why a store could not serve or keep nodes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A node that should exist is not in the store.
    #[error("node at {0} is not in the store")]
    Missing(NodeId),
    /// A node was written again with a different hash.
    #[error("node at {0} is already stored with a different hash")]
    Conflict(NodeId),
    /// A write would leave a hole in a level (nodes are appended in order).
    #[error("node at {0} would leave a gap in its level")]
    Gap(NodeId),
    /// The store returned a different number of nodes than asked for.
    #[error("store returned {got} nodes for {want} requested")]
    ShortRead {
        /// Nodes requested.
        want: usize,
        /// Nodes returned.
        got: usize,
    },
    /// The backend (file system, database, …) failed.
    #[error("node store backend failed")]
    Backend(#[source] Box<dyn StdError + Send + Sync + 'static>),
}

/// Storage of the perfect nodes of one log.
pub trait NodeStore {
    /// Reads the hashes of `ids`, in the same order. A node that was never
    /// written is [`StoreError::Missing`].
    fn get_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError>;

    /// Stores newly completed perfect nodes. Within one call, and across calls,
    /// each level's nodes arrive in increasing index order without gaps.
    /// Writing a node again with the same hash is allowed and changes nothing.
    fn put_nodes(&mut self, nodes: &[(NodeId, Hash)]) -> Result<(), StoreError>;
}

impl<S: NodeStore + ?Sized> NodeStore for Box<S> {
    fn get_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        (**self).get_nodes(ids)
    }

    fn put_nodes(&mut self, nodes: &[(NodeId, Hash)]) -> Result<(), StoreError> {
        (**self).put_nodes(nodes)
    }
}

impl<S: NodeStore + ?Sized> NodeStore for &mut S {
    fn get_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        (**self).get_nodes(ids)
    }

    fn put_nodes(&mut self, nodes: &[(NodeId, Hash)]) -> Result<(), StoreError> {
        (**self).put_nodes(nodes)
    }
}

/// A [`NodeStore`] in memory: one vector per level. About 64 bytes per leaf.
#[derive(Debug, Default, Clone)]
pub struct MemoryNodeStore {
    /// `levels[k][i]` is node `(k, i)`; every level is a gap-free prefix.
    levels: Vec<Vec<Hash>>,
}

impl MemoryNodeStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with room for the nodes of `leaves` leaves.
    pub fn with_capacity(leaves: usize) -> Self {
        let mut levels = Vec::new();
        let mut width = leaves;
        while width > 0 {
            levels.push(Vec::with_capacity(width));
            width /= 2;
        }
        MemoryNodeStore { levels }
    }

    /// Number of stored nodes, all levels together.
    pub fn node_count(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }
}

impl NodeStore for MemoryNodeStore {
    fn get_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        ids.iter()
            .map(|&id| {
                usize::try_from(id.index)
                    .ok()
                    .and_then(|index| self.levels.get(usize::from(id.level))?.get(index))
                    .copied()
                    .ok_or(StoreError::Missing(id))
            })
            .collect()
    }

    fn put_nodes(&mut self, nodes: &[(NodeId, Hash)]) -> Result<(), StoreError> {
        for &(id, hash) in nodes {
            let level = usize::from(id.level);
            if self.levels.len() <= level {
                self.levels.resize_with(level + 1, Vec::new);
            }
            let row = &mut self.levels[level];
            let index = usize::try_from(id.index).map_err(|_| StoreError::Gap(id))?;
            match index.cmp(&row.len()) {
                std::cmp::Ordering::Less if row[index] == hash => {}
                std::cmp::Ordering::Less => return Err(StoreError::Conflict(id)),
                std::cmp::Ordering::Equal => row.push(hash),
                std::cmp::Ordering::Greater => return Err(StoreError::Gap(id)),
            }
        }
        Ok(())
    }
}
