//! Dropping librdkafka handles off the caller's thread.
//!
//! Destroying a librdkafka client can block for long when the broker is gone
//! (rust-rdkafka #509/#611: a group consumer's drop polls until the group is
//! left, which never happens without a broker). A [`DropOffThread`] hands its
//! value to a short-lived thread of its own when dropped, so dropping a bus,
//! consumer or reader never blocks an async task; at worst that thread lingers.

use std::ops::Deref;

/// Owns a value and drops it on a thread of its own.
pub(crate) struct DropOffThread<T: Send + 'static> {
    /// `Some` from construction until `drop`.
    value: Option<T>,
    /// What it is, for the thread's name and the log.
    what: &'static str,
}

impl<T: Send + 'static> DropOffThread<T> {
    /// Wraps `value`.
    pub(crate) fn new(value: T, what: &'static str) -> DropOffThread<T> {
        DropOffThread {
            value: Some(value),
            what,
        }
    }
}

impl<T: Send + 'static> std::fmt::Debug for DropOffThread<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DropOffThread")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Deref for DropOffThread<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // Cannot fail: `value` is only taken in `drop`, after which no
        // reference to `self` exists.
        self.value
            .as_ref()
            .expect("DropOffThread value is present until drop")
    }
}

impl<T: Send + 'static> Drop for DropOffThread<T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            drop_on_own_thread(value, self.what);
        }
    }
}

/// Drops `value` on a new thread (inline if no thread can be spawned).
pub(crate) fn drop_on_own_thread<T: Send + 'static>(value: T, what: &'static str) {
    {
        let spawned = std::thread::Builder::new()
            .name(format!("drop-{what}"))
            .spawn(move || {
                drop(value);
                tracing::trace!(what, "Kafka client destroyed");
            });
        if let Err(error) = spawned {
            // The closure (and the value) was dropped inline by the failed spawn.
            tracing::warn!(%error, what, "Could not spawn a thread to drop a Kafka client");
        }
    }
}
