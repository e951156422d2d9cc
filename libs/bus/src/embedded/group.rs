//! Consumer groups of the embedded bus: membership, partition assignment and
//! committed offsets (persisted in `<data dir>/groups/<hex of name>.json`).
//!
//! The protocol mirrors Kafka's eager rebalance:
//! - when a member joins or leaves, a new **target** assignment is computed
//!   (round-robin of each topic's partitions over the members subscribed to
//!   it, in join order);
//! - a member gives up a partition it no longer targets, and takes one it
//!   targets once nobody holds it, only when it **syncs** — at each poll
//!   (and leaving releases everything). So a partition never has two owners,
//!   and a member that commits before polling has committed everything it
//!   handled from a partition before anyone else reads it;
//! - a commit is accepted only for partitions the member owns (others are
//!   skipped and logged), is written atomically and fsync'd before it
//!   returns, and survives a restart; membership does not.
//!
//! A member that is dropped without closing leaves at once (in one process a
//! dropped consumer cannot come back), like a Kafka member whose session
//! expired. There is no `max.poll.interval`: a live member that stops polling
//! keeps its partitions until it is closed or dropped.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::bus::TopicPartition;
use crate::error::BusError;

use super::fsutil;

/// A member's id, unique within the process.
pub(crate) type MemberId = u64;

/// What a member learns when it syncs.
#[derive(Debug, Default)]
pub(crate) struct Handover {
    /// Partitions it gave up.
    pub(crate) revoked: Vec<TopicPartition>,
    /// Partitions it took, with the offset to start from (committed, or 0).
    pub(crate) acquired: Vec<(TopicPartition, i64)>,
}

#[derive(Debug, Default)]
struct GroupState {
    next_member: MemberId,
    /// Live members and the topics (with partition counts) they subscribe to.
    members: BTreeMap<MemberId, Vec<(String, i32)>>,
    /// Who should own each partition.
    target: BTreeMap<TopicPartition, MemberId>,
    /// Who owns each partition now.
    owner: BTreeMap<TopicPartition, MemberId>,
    /// The next offset to read, per partition, as committed.
    committed: BTreeMap<TopicPartition, i64>,
}

impl GroupState {
    fn reassign(&mut self) {
        let mut subscribers: BTreeMap<&str, (i32, Vec<MemberId>)> = BTreeMap::new();
        for (member, topics) in &self.members {
            for (topic, partitions) in topics {
                let entry = subscribers
                    .entry(topic)
                    .or_insert((*partitions, Vec::new()));
                entry.1.push(*member);
            }
        }
        let mut target = BTreeMap::new();
        for (topic, (partitions, members)) in subscribers {
            for p in 0..partitions {
                let i = usize::try_from(p).unwrap_or_default() % members.len().max(1);
                if let Some(member) = members.get(i) {
                    target.insert((topic.to_owned(), p), *member);
                }
            }
        }
        self.target = target;
    }
}

/// `groups/<hex>.json`.
#[derive(Debug, Serialize, Deserialize)]
struct StoredOffsets {
    group: String,
    offsets: Vec<StoredOffset>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredOffset {
    topic: String,
    partition: i32,
    next_offset: i64,
}

/// One consumer group.
#[derive(Debug)]
pub(crate) struct Group {
    name: String,
    path: PathBuf,
    state: Mutex<GroupState>,
    /// Bumped on every membership or ownership change.
    changed: watch::Sender<u64>,
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, GroupState> {
        // Every update is complete before the guard drops; poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The group's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// A receiver that sees the next membership or ownership change.
    pub(crate) fn watch_changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Adds a member subscribed to `topics` (name, partition count).
    pub(crate) fn join(&self, topics: Vec<(String, i32)>) -> MemberId {
        let member = {
            let mut state = self.lock();
            let member = state.next_member;
            state.next_member += 1;
            state.members.insert(member, topics);
            state.reassign();
            member
        };
        tracing::info!(group = %self.name, member, "Member joined; rebalancing");
        self.notify();
        member
    }

    /// Removes `member`, releasing its partitions.
    pub(crate) fn leave(&self, member: MemberId) {
        {
            let mut state = self.lock();
            if state.members.remove(&member).is_none() {
                return;
            }
            state.owner.retain(|_, owner| *owner != member);
            state.reassign();
        }
        tracing::info!(group = %self.name, member, "Member left; rebalancing");
        self.notify();
    }

    /// Gives up the partitions `member` no longer targets and takes the free
    /// ones it targets.
    pub(crate) fn sync(&self, member: MemberId) -> Handover {
        let mut sync = Handover::default();
        {
            let mut state = self.lock();
            let state = &mut *state;
            let target = &state.target;
            state.owner.retain(|tp, owner| {
                let keep = *owner != member || target.get(tp) == Some(&member);
                if !keep {
                    sync.revoked.push(tp.clone());
                }
                keep
            });
            for (tp, who) in &state.target {
                if *who == member && !state.owner.contains_key(tp) {
                    state.owner.insert(tp.clone(), member);
                    let start = state.committed.get(tp).copied().unwrap_or(0);
                    sync.acquired.push((tp.clone(), start));
                }
            }
        }
        if !sync.revoked.is_empty() || !sync.acquired.is_empty() {
            tracing::info!(
                group = %self.name, member, revoked = ?sync.revoked, acquired = ?sync.acquired,
                "Partitions handed over"
            );
            self.notify();
        }
        sync
    }

    /// The partitions `member` owns.
    pub(crate) fn owned(&self, member: MemberId) -> Vec<TopicPartition> {
        self.lock()
            .owner
            .iter()
            .filter(|(_, owner)| **owner == member)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Commits `next_offsets` (partition → next offset to read) for the
    /// partitions `member` owns, durably; returns those committed.
    pub(crate) fn commit(
        &self,
        member: MemberId,
        next_offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<Vec<(TopicPartition, i64)>, BusError> {
        let mut state = self.lock();
        let mut committed = Vec::new();
        for (tp, next) in next_offsets {
            if state.owner.get(tp) == Some(&member) {
                committed.push((tp.clone(), *next));
            } else {
                tracing::warn!(
                    group = %self.name, member, topic = %tp.0, partition = tp.1, next_offset = next,
                    "Commit skipped: the partition is no longer owned by this member"
                );
            }
        }
        if committed.is_empty() {
            return Ok(committed);
        }
        let mut offsets = state.committed.clone();
        offsets.extend(committed.iter().cloned());
        let stored = StoredOffsets {
            group: self.name.clone(),
            offsets: offsets
                .iter()
                .map(|((topic, partition), next_offset)| StoredOffset {
                    topic: topic.clone(),
                    partition: *partition,
                    next_offset: *next_offset,
                })
                .collect(),
        };
        let json = serde_json::to_vec(&stored).map_err(|e| BusError::Config {
            reason: format!("cannot serialize offsets of group {}: {e}", self.name),
        })?;
        fsutil::write_atomically(&self.path, &json)?;
        state.committed = offsets;
        Ok(committed)
    }

    /// The committed next offset of a partition.
    #[cfg(test)]
    pub(crate) fn committed(&self, tp: &TopicPartition) -> Option<i64> {
        self.lock().committed.get(tp).copied()
    }
}

/// Every group of one data directory.
#[derive(Debug)]
pub(crate) struct Groups {
    dir: PathBuf,
    groups: Mutex<HashMap<String, Arc<Group>>>,
}

fn hex(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

impl Groups {
    /// Loads the committed offsets of every group under `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Groups, BusError> {
        fsutil::create_dir_durably(dir)?;
        let mut groups = HashMap::new();
        let entries = fs::read_dir(dir).map_err(|e| BusError::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| BusError::io(dir, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                // An interrupted atomic write: the real file is intact.
                let _ = fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let bytes = fs::read(&path).map_err(|e| BusError::io(&path, e))?;
            let stored: StoredOffsets = serde_json::from_slice(&bytes).map_err(|e| {
                BusError::corrupt(&path, format!("unreadable committed offsets: {e}"))
            })?;
            if format!("{}.json", hex(&stored.group)) != name {
                return Err(BusError::corrupt(
                    &path,
                    format!("file holds offsets of group {:?}", stored.group),
                ));
            }
            let state = GroupState {
                committed: stored
                    .offsets
                    .into_iter()
                    .map(|o| ((o.topic, o.partition), o.next_offset))
                    .collect(),
                ..GroupState::default()
            };
            groups.insert(
                stored.group.clone(),
                Arc::new(Group {
                    name: stored.group,
                    path,
                    state: Mutex::new(state),
                    changed: watch::Sender::new(0),
                }),
            );
        }
        Ok(Groups {
            dir: dir.to_owned(),
            groups: Mutex::new(groups),
        })
    }

    /// The group named `name` (created empty on first use).
    pub(crate) fn get(&self, name: &str) -> Arc<Group> {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(groups.entry(name.to_owned()).or_insert_with(|| {
            Arc::new(Group {
                name: name.to_owned(),
                path: self.dir.join(format!("{}.json", hex(name))),
                state: Mutex::new(GroupState::default()),
                changed: watch::Sender::new(0),
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        ("t".to_owned(), p)
    }

    #[test]
    fn partitions_move_only_when_released_and_commits_need_ownership() {
        let dir = tempfile::tempdir().unwrap();
        let groups = Groups::open(dir.path()).unwrap();
        let g = groups.get("g");
        let a = g.join(vec![("t".into(), 4)]);
        let sync = g.sync(a);
        assert_eq!(sync.acquired.len(), 4);
        let b = g.join(vec![("t".into(), 4)]);
        // b targets partitions 1 and 3 but a still holds them.
        assert!(g.sync(b).acquired.is_empty());
        // a commits partition 1 before its next poll: accepted.
        let offsets = BTreeMap::from([(tp(1), 10)]);
        assert_eq!(g.commit(a, &offsets).unwrap().len(), 1);
        // a syncs (polls): gives up 1 and 3.
        assert_eq!(g.sync(a).revoked, vec![tp(1), tp(3)]);
        // Now a's commit for partition 1 is skipped.
        assert!(
            g.commit(a, &BTreeMap::from([(tp(1), 11)]))
                .unwrap()
                .is_empty()
        );
        let sync = g.sync(b);
        assert_eq!(sync.acquired, vec![(tp(1), 10), (tp(3), 0)]);
        // b leaves: a gets everything back.
        g.leave(b);
        assert_eq!(g.sync(a).acquired.len(), 2);
        assert_eq!(g.owned(a).len(), 4);
        // Committed offsets survive a reopen.
        drop(groups);
        let groups = Groups::open(dir.path()).unwrap();
        assert_eq!(groups.get("g").committed(&tp(1)), Some(10));
        assert_eq!(groups.get("other / name").committed(&tp(1)), None);
    }
}
