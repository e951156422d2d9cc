//! The embedded store's memory: plain maps and the rules that the Redis
//! scripts implement, as synchronous methods taking the current time.
//!
//! Everything with a TTL keeps a deadline on tokio's clock and is treated as
//! absent from that instant on (lazy expiry); [`State::sweep`] removes what
//! has expired so that memory does not grow with dead entries.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::time::Duration;

use tokio::time::Instant;

use crate::idempotency::IdempotencyState;
use crate::index::{IndexCursor, IndexEntry, IndexPage};
use crate::rate_limit::RateDecision;
use crate::versioned::{CasOutcome, Versioned};

/// A value that disappears at `deadline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expiring<T> {
    /// The value while alive.
    pub(crate) value: T,
    /// The first instant at which the value is gone.
    pub(crate) deadline: Instant,
}

impl<T> Expiring<T> {
    /// The value, unless it has expired at `now`.
    fn alive(&self, now: Instant) -> Option<&T> {
        (now < self.deadline).then_some(&self.value)
    }
}

/// What an idempotency key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Claimed, not completed.
    InFlight,
    /// Completed with this response.
    Completed(Vec<u8>),
}

/// One sorted index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Index {
    /// Member → score. Invariant: `(score, member)` is in `ordered` exactly
    /// for the pairs in this map.
    pub(crate) scores: BTreeMap<String, u64>,
    /// The entries in listing order.
    pub(crate) ordered: BTreeSet<(u64, String)>,
}

impl Index {
    /// Puts `member` at `score`; true if something changed.
    pub(crate) fn add(&mut self, member: &str, score: u64) -> bool {
        match self.scores.insert(member.to_owned(), score) {
            Some(old) if old == score => false,
            old => {
                if let Some(old) = old {
                    self.ordered.remove(&(old, member.to_owned()));
                }
                self.ordered.insert((score, member.to_owned()));
                true
            }
        }
    }

    /// Removes `member`; true if it was there.
    fn remove(&mut self, member: &str) -> bool {
        match self.scores.remove(member) {
            Some(score) => self.ordered.remove(&(score, member.to_owned())),
            None => false,
        }
    }
}

/// Everything an embedded store holds.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Projections by key.
    pub(crate) projections: BTreeMap<String, Versioned>,
    /// Indexes by name. Invariant: none is empty (an empty index is removed,
    /// as Redis removes an empty sorted set).
    pub(crate) indexes: BTreeMap<String, Index>,
    /// Idempotency records by key.
    pub(crate) idempotency: BTreeMap<String, Expiring<Idempotency>>,
    /// Nonces seen, by (scope, nonce), until their deadline.
    pub(crate) nonces: BTreeMap<(String, String), Instant>,
    /// Rate-limit counters by principal: requests in the window ending at the deadline.
    pub(crate) rate_limits: BTreeMap<String, Expiring<u64>>,
    /// Set once by `close`; from then on every operation is refused.
    pub(crate) closed: bool,
    /// Bumped by every mutation, so the snapshotter knows when it is behind.
    pub(crate) generation: u64,
}

impl State {
    pub(crate) fn get(&self, key: &str) -> Option<Versioned> {
        self.projections.get(key).cloned()
    }

    pub(crate) fn put(&mut self, key: &str, value: &[u8]) -> u64 {
        let version = self.projections.get(key).map_or(1, |v| v.version + 1);
        self.projections.insert(
            key.to_owned(),
            Versioned {
                version,
                value: value.to_vec(),
            },
        );
        version
    }

    pub(crate) fn compare_and_set(
        &mut self,
        key: &str,
        expected: Option<u64>,
        value: &[u8],
    ) -> CasOutcome {
        let current = self.projections.get(key).map(|v| v.version);
        if current != expected {
            return CasOutcome::Conflict { current };
        }
        CasOutcome::Applied(self.put(key, value))
    }

    pub(crate) fn delete(&mut self, key: &str) -> bool {
        self.projections.remove(key).is_some()
    }

    pub(crate) fn index_add(&mut self, index: &str, member: &str, score: u64) -> bool {
        self.indexes
            .entry(index.to_owned())
            .or_default()
            .add(member, score)
    }

    pub(crate) fn index_remove(&mut self, index: &str, member: &str) -> bool {
        let Some(entries) = self.indexes.get_mut(index) else {
            return false;
        };
        let removed = entries.remove(member);
        if entries.scores.is_empty() {
            self.indexes.remove(index);
        }
        removed
    }

    pub(crate) fn index_range(
        &self,
        index: &str,
        after: Option<&IndexCursor>,
        limit: usize,
    ) -> IndexPage {
        let Some(entries) = self.indexes.get(index) else {
            return IndexPage {
                entries: Vec::new(),
                next: None,
            };
        };
        let start = match after {
            Some(cursor) => {
                let IndexEntry { score, member } = cursor.entry();
                Bound::Excluded((score, member))
            }
            None => Bound::Unbounded,
        };
        let mut page: Vec<IndexEntry> = entries
            .ordered
            .range((start, Bound::Unbounded))
            .take(limit + 1)
            .map(|(score, member)| IndexEntry {
                score: *score,
                member: member.clone(),
            })
            .collect();
        let more = page.len() > limit;
        page.truncate(limit);
        IndexPage {
            next: if more {
                page.last().map(IndexCursor::after)
            } else {
                None
            },
            entries: page,
        }
    }

    pub(crate) fn idempotency_begin(
        &mut self,
        key: &str,
        lease: Duration,
        now: Instant,
    ) -> IdempotencyState {
        if let Some(current) = self.idempotency.get(key).and_then(|e| e.alive(now)) {
            return match current {
                Idempotency::InFlight => IdempotencyState::InFlight,
                Idempotency::Completed(response) => IdempotencyState::Completed(response.clone()),
            };
        }
        self.idempotency.insert(
            key.to_owned(),
            Expiring {
                value: Idempotency::InFlight,
                deadline: now + lease,
            },
        );
        IdempotencyState::New
    }

    pub(crate) fn idempotency_complete(
        &mut self,
        key: &str,
        response: &[u8],
        retention: Duration,
        now: Instant,
    ) -> bool {
        let completed = self
            .idempotency
            .get(key)
            .and_then(|e| e.alive(now))
            .is_some_and(|v| matches!(v, Idempotency::Completed(_)));
        if completed {
            return false;
        }
        self.idempotency.insert(
            key.to_owned(),
            Expiring {
                value: Idempotency::Completed(response.to_vec()),
                deadline: now + retention,
            },
        );
        true
    }

    pub(crate) fn idempotency_abandon(&mut self, key: &str, now: Instant) -> bool {
        let in_flight = self
            .idempotency
            .get(key)
            .and_then(|e| e.alive(now))
            .is_some_and(|v| matches!(v, Idempotency::InFlight));
        if in_flight {
            self.idempotency.remove(key);
        }
        in_flight
    }

    pub(crate) fn nonce_first_seen(
        &mut self,
        scope: &str,
        nonce: &str,
        window: Duration,
        now: Instant,
    ) -> bool {
        let id = (scope.to_owned(), nonce.to_owned());
        if self.nonces.get(&id).is_some_and(|deadline| now < *deadline) {
            return false;
        }
        self.nonces.insert(id, now + window);
        true
    }

    pub(crate) fn rate_limit(
        &mut self,
        principal: &str,
        limit: u32,
        window: Duration,
        now: Instant,
    ) -> RateDecision {
        let counter = self
            .rate_limits
            .entry(principal.to_owned())
            .or_insert(Expiring {
                value: 0,
                deadline: now,
            });
        if counter.alive(now).is_none() {
            *counter = Expiring {
                value: 0,
                deadline: now + window,
            };
        }
        counter.value = counter.value.saturating_add(1);
        let left = counter.deadline.saturating_duration_since(now);
        // Whole milliseconds, rounded up, as Redis's PTTL reports them.
        let reset_after = Duration::from_millis(
            u64::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX),
        );
        RateDecision::from_count(counter.value, limit, reset_after)
    }

    /// Removes everything that has expired at `now`; returns how many entries.
    pub(crate) fn sweep(&mut self, now: Instant) -> usize {
        let before = self.idempotency.len() + self.nonces.len() + self.rate_limits.len();
        self.idempotency.retain(|_, e| now < e.deadline);
        self.nonces.retain(|_, deadline| now < *deadline);
        self.rate_limits.retain(|_, e| now < e.deadline);
        before - (self.idempotency.len() + self.nonces.len() + self.rate_limits.len())
    }

    /// Removes everything; returns how many live keys there were, counted as
    /// Redis would (an index is two keys).
    pub(crate) fn clear(&mut self, now: Instant) -> u64 {
        self.sweep(now);
        let keys = self.projections.len()
            + 2 * self.indexes.len()
            + self.idempotency.len()
            + self.nonces.len()
            + self.rate_limits.len();
        self.projections.clear();
        self.indexes.clear();
        self.idempotency.clear();
        self.nonces.clear();
        self.rate_limits.clear();
        u64::try_from(keys).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_moves_a_member_instead_of_duplicating_it() {
        let mut state = State::default();
        assert!(state.index_add("i", "m", 5));
        assert!(!state.index_add("i", "m", 5));
        assert!(state.index_add("i", "m", 1));
        let page = state.index_range("i", None, 10);
        assert_eq!(
            page.entries,
            [IndexEntry {
                score: 1,
                member: "m".into()
            }]
        );
        assert!(state.index_remove("i", "m"));
        assert!(state.indexes.is_empty(), "an empty index is dropped");
    }

    #[test]
    fn expired_entries_read_as_absent_and_are_swept() {
        let mut state = State::default();
        let start = Instant::now();
        let ttl = Duration::from_millis(100);
        assert!(state.nonce_first_seen("s", "n", ttl, start));
        assert!(!state.nonce_first_seen("s", "n", ttl, start + ttl / 2));
        assert_eq!(
            state.idempotency_begin("k", ttl, start),
            IdempotencyState::New
        );
        assert_eq!(state.sweep(start + ttl / 2), 0);
        assert_eq!(state.sweep(start + ttl), 2);
        assert!(state.nonce_first_seen("s", "n", ttl, start + ttl));
    }

    #[test]
    fn rate_limit_reports_whole_milliseconds_rounded_up() {
        let mut state = State::default();
        let start = Instant::now();
        let window = Duration::from_millis(10);
        let first = state.rate_limit("p", 1, window, start);
        assert!(first.allowed);
        assert_eq!(first.reset_after, window);
        let second = state.rate_limit("p", 1, window, start + Duration::from_micros(2500));
        assert!(!second.allowed);
        assert_eq!(second.retry_after, Some(Duration::from_millis(8)));
    }
}
