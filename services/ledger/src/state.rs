//! What every handler shares.

use std::sync::Arc;

use crate::engine::EngineStatus;
use crate::routes::KeysResponse;
use crate::store::BlockStore;

/// Shared handler state.
#[derive(Debug)]
pub struct LedgerState {
    /// The block store served from.
    pub store: Arc<BlockStore>,
    /// The engine's role and counters.
    pub status: Arc<EngineStatus>,
    /// The public keys, ready to serve.
    pub keys: Arc<KeysResponse>,
}
