//! The [`Projector`] trait: how one service turns events into store state.

use async_trait::async_trait;
use tracechain_domain::Envelope;
use tracechain_store::{StateStore, StoreError};

/// Why an event could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The store failed; applying again later may succeed.
    #[error("store failed while applying the event")]
    Store(#[from] StoreError),
    /// The event cannot be applied, ever (e.g. a payload that does not match
    /// its type's schema). The event is dead-lettered by the live consumer
    /// and skipped, with a warning, by a rebuild.
    #[error("event cannot be applied: {0}")]
    Invalid(String),
}

impl ProjectionError {
    /// Whether a retry might succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProjectionError::Store(_))
    }
}

/// One service's projection: which topics it reads and what each event
/// writes. The live consumer and [`rebuild`](crate::rebuild) call the same
/// [`apply`](Projector::apply), so a rebuilt store equals the live one.
#[async_trait]
pub trait Projector: Send + Sync + 'static {
    /// A stable name: it names the consumer group and the bookkeeping keys.
    /// Lowercase letters, digits and `-`.
    fn name(&self) -> &str;

    /// The topics this projection is derived from.
    fn topics(&self) -> Vec<String>;

    /// Applies one event. Must be idempotent: the same event may be applied
    /// more than once (at-least-once delivery, a crash between apply and the
    /// position write). Unknown event types should be ignored, not refused,
    /// so older services keep working when newer producers add types.
    ///
    /// Services also call it right after the bus acknowledged an event they
    /// published, so a client reads its own write at once; the live consumer
    /// applies the same event again later, harmlessly.
    async fn apply(
        &self,
        store: &dyn StateStore,
        envelope: &Envelope,
    ) -> Result<(), ProjectionError>;
}
