//! Why a block could not be built, decoded or verified.

/// A block that cannot be encoded or decoded, or a header whose fields are invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// The header is malformed or its fields disagree.
    #[error("invalid block header: {0}")]
    Header(String),
    /// The binary record is malformed.
    #[error("malformed block record: {0}")]
    Record(String),
    /// Signing the header or the checkpoint failed.
    #[error("cannot sign the block: {0}")]
    Sign(String),
}

/// How a block fails to extend a verified chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The block is not the next height: a duplicate of an earlier height,
    /// or one after a gap.
    #[error("block {height}: expected height {expected}")]
    Height {
        /// The block's height.
        height: u64,
        /// The height the chain expects next.
        expected: u64,
    },
    /// The block does not link to the verified head.
    #[error("block {height}: prev_hash {got} is not the hash of block {}'s header ({want})", height.saturating_sub(1))]
    PrevHash {
        /// The block's height.
        height: u64,
        /// The block's `prev_hash`.
        got: String,
        /// The hash of the verified head.
        want: String,
    },
    /// The block is invalid in itself: signature, key, root, checkpoint or layout.
    #[error("block {height}: {reason}")]
    Invalid {
        /// The block's height.
        height: u64,
        /// What is wrong.
        reason: String,
    },
}

impl ChainError {
    /// The height of the block that failed.
    pub fn height(&self) -> u64 {
        match self {
            ChainError::Height { height, .. }
            | ChainError::PrevHash { height, .. }
            | ChainError::Invalid { height, .. } => *height,
        }
    }
}
