//! The embedded store on disk: one JSON file per namespace, replaced
//! atomically.
//!
//! A snapshot is written to `{file}.tmp`, fsync'd, renamed over the file, and
//! the directory is fsync'd, so after a crash the file is either the previous
//! snapshot or the new one, never a torn mix. Deadlines are saved as Unix
//! milliseconds (wall clock) and turned back into monotonic instants on load;
//! whatever expired while the store was down is dropped.
//!
//! Projection values are bytes and are saved in base64.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::state::{Expiring, Idempotency, State};
use crate::error::StoreError;
use crate::namespace::Namespace;
use crate::versioned::Versioned;

/// The format written; a file of another format is refused.
const FORMAT: u32 = 1;

/// The file a namespace is snapshotted to: its segments joined by `.`
/// (segments hold no `.`, so distinct namespaces get distinct files).
pub(crate) fn path_for(data_dir: &Path, namespace: &Namespace) -> PathBuf {
    let name: Vec<&str> = namespace.segments().collect();
    data_dir.join(format!("{}.snapshot.json", name.join(".")))
}

/// The temporary file a snapshot is written to before the rename.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    format: u32,
    namespace: String,
    saved_at_unix_ms: u64,
    projections: Vec<SavedProjection>,
    indexes: Vec<SavedIndex>,
    idempotency: Vec<SavedIdempotency>,
    nonces: Vec<SavedNonce>,
    rate_limits: Vec<SavedRateLimit>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedProjection {
    key: String,
    version: u64,
    /// Base64.
    value: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedIndex {
    name: String,
    /// `(score, member)` in listing order.
    entries: Vec<(u64, String)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedIdempotency {
    key: String,
    /// Base64 of the response; absent while in flight.
    response: Option<String>,
    expires_at_unix_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedNonce {
    scope: String,
    nonce: String,
    expires_at_unix_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedRateLimit {
    principal: String,
    count: u64,
    expires_at_unix_ms: u64,
}

/// The wall clock in Unix milliseconds (0 if the clock is before 1970).
fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Pairs the monotonic and wall clocks at one moment, to convert deadlines.
#[derive(Debug, Clone, Copy)]
struct Clocks {
    now: Instant,
    unix_ms: u64,
}

impl Clocks {
    fn now() -> Self {
        Clocks {
            now: Instant::now(),
            unix_ms: unix_ms_now(),
        }
    }

    /// A deadline as Unix milliseconds, rounded up.
    fn to_unix(self, deadline: Instant) -> u64 {
        let left = deadline.saturating_duration_since(self.now);
        let left_ms = u64::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
        self.unix_ms.saturating_add(left_ms)
    }

    /// Unix milliseconds as a deadline; `None` if already passed or too far
    /// away to represent.
    fn to_deadline(self, unix_ms: u64) -> Option<Instant> {
        let left = unix_ms.checked_sub(self.unix_ms).filter(|ms| *ms > 0)?;
        self.now.checked_add(Duration::from_millis(left))
    }
}

/// Serializes `state` (the caller holds its lock).
pub(crate) fn encode(state: &State, namespace: &Namespace) -> Result<Vec<u8>, serde_json::Error> {
    let clocks = Clocks::now();
    let snapshot = Snapshot {
        format: FORMAT,
        namespace: namespace.to_string(),
        saved_at_unix_ms: clocks.unix_ms,
        projections: state
            .projections
            .iter()
            .map(|(key, v)| SavedProjection {
                key: key.clone(),
                version: v.version,
                value: BASE64.encode(&v.value),
            })
            .collect(),
        indexes: state
            .indexes
            .iter()
            .map(|(name, index)| SavedIndex {
                name: name.clone(),
                entries: index.ordered.iter().cloned().collect(),
            })
            .collect(),
        idempotency: state
            .idempotency
            .iter()
            .filter(|(_, e)| clocks.now < e.deadline)
            .map(|(key, e)| SavedIdempotency {
                key: key.clone(),
                response: match &e.value {
                    Idempotency::InFlight => None,
                    Idempotency::Completed(response) => Some(BASE64.encode(response)),
                },
                expires_at_unix_ms: clocks.to_unix(e.deadline),
            })
            .collect(),
        nonces: state
            .nonces
            .iter()
            .filter(|(_, deadline)| clocks.now < **deadline)
            .map(|((scope, nonce), deadline)| SavedNonce {
                scope: scope.clone(),
                nonce: nonce.clone(),
                expires_at_unix_ms: clocks.to_unix(*deadline),
            })
            .collect(),
        rate_limits: state
            .rate_limits
            .iter()
            .filter(|(_, e)| clocks.now < e.deadline)
            .map(|(principal, e)| SavedRateLimit {
                principal: principal.clone(),
                count: e.value,
                expires_at_unix_ms: clocks.to_unix(e.deadline),
            })
            .collect(),
    };
    serde_json::to_vec(&snapshot)
}

/// Rebuilds a state from a snapshot's bytes.
pub(crate) fn decode(
    bytes: &[u8],
    path: &Path,
    namespace: &Namespace,
) -> Result<State, StoreError> {
    let corrupt = |reason: String| StoreError::SnapshotCorrupt {
        path: path.to_owned(),
        reason,
    };
    let snapshot: Snapshot =
        serde_json::from_slice(bytes).map_err(|err| corrupt(format!("not a snapshot: {err}")))?;
    if snapshot.format != FORMAT {
        return Err(corrupt(format!(
            "format {} is not the supported {FORMAT}",
            snapshot.format
        )));
    }
    if snapshot.namespace != namespace.as_str() {
        return Err(corrupt(format!(
            "holds namespace {:?}, not {:?}",
            snapshot.namespace,
            namespace.as_str()
        )));
    }
    let clocks = Clocks::now();
    let mut state = State::default();
    for p in snapshot.projections {
        if p.version == 0 {
            return Err(corrupt(format!("projection {:?} has version 0", p.key)));
        }
        let value = BASE64
            .decode(&p.value)
            .map_err(|err| corrupt(format!("projection {:?}: {err}", p.key)))?;
        state.projections.insert(
            p.key,
            Versioned {
                version: p.version,
                value,
            },
        );
    }
    for index in snapshot.indexes {
        let entries = state.indexes.entry(index.name.clone()).or_default();
        for (score, member) in index.entries {
            if !entries.add(&member, score) {
                return Err(corrupt(format!(
                    "index {:?} lists {member:?} twice",
                    index.name
                )));
            }
        }
        if entries.scores.is_empty() {
            state.indexes.remove(&index.name);
        }
    }
    for i in snapshot.idempotency {
        let Some(deadline) = clocks.to_deadline(i.expires_at_unix_ms) else {
            continue;
        };
        let value = match i.response {
            None => Idempotency::InFlight,
            Some(response) => Idempotency::Completed(
                BASE64
                    .decode(&response)
                    .map_err(|err| corrupt(format!("idempotency key {:?}: {err}", i.key)))?,
            ),
        };
        state
            .idempotency
            .insert(i.key, Expiring { value, deadline });
    }
    for n in snapshot.nonces {
        if let Some(deadline) = clocks.to_deadline(n.expires_at_unix_ms) {
            state.nonces.insert((n.scope, n.nonce), deadline);
        }
    }
    for r in snapshot.rate_limits {
        if let Some(deadline) = clocks.to_deadline(r.expires_at_unix_ms) {
            state.rate_limits.insert(
                r.principal,
                Expiring {
                    value: r.count,
                    deadline,
                },
            );
        }
    }
    Ok(state)
}

/// Reads the snapshot at `path`; `None` if there is none. Removes a temporary
/// file left by a crash mid-write (the snapshot beside it is intact).
pub(crate) fn read(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    let temp = temp_path(path);
    match fs::remove_file(&temp) {
        Ok(()) => tracing::warn!(path = %temp.display(), "Removed a half-written store snapshot"),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(StoreError::Snapshot {
                op: "remove",
                path: temp,
                source,
            });
        }
    }
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Snapshot {
            op: "read",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Replaces the file at `path` with `bytes` atomically and durably.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io = |op: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Snapshot { op, path, source }
    };
    let temp = temp_path(path);
    let mut file = File::create(&temp).map_err(io("create", &temp))?;
    file.write_all(bytes).map_err(io("write", &temp))?;
    file.sync_all().map_err(io("sync", &temp))?;
    drop(file);
    fs::rename(&temp, path).map_err(io("rename", path))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync directory", dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_survive_the_round_trip_through_unix_time() {
        let clocks = Clocks::now();
        let deadline = clocks.now + Duration::from_millis(1500);
        let unix = clocks.to_unix(deadline);
        assert_eq!(unix, clocks.unix_ms + 1500);
        assert_eq!(clocks.to_deadline(unix), Some(deadline));
        assert_eq!(clocks.to_deadline(clocks.unix_ms), None);
        assert_eq!(clocks.to_deadline(0), None);
        // A far-future value from a tampered file must not panic.
        let _ = clocks.to_deadline(u64::MAX);
    }

    #[test]
    fn file_names_keep_namespaces_apart() {
        let dir = Path::new("/data");
        let parent = Namespace::parse("tc:x:").unwrap();
        let child = Namespace::parse("tc:x:c:").unwrap();
        let underscored = Namespace::parse("tc:x_c:").unwrap();
        let a = path_for(dir, &parent);
        let b = path_for(dir, &child);
        let c = path_for(dir, &underscored);
        assert_eq!(a, Path::new("/data/tc.x.snapshot.json"));
        assert!(a != b && b != c && a != c);
    }

    #[test]
    fn a_corrupt_snapshot_is_refused_with_its_path() {
        let ns = Namespace::service("t").unwrap();
        let path = Path::new("/data/t.snapshot.json");
        for bytes in [
            &b"not json"[..],
            br#"{"format":2,"namespace":"tc:t:","saved_at_unix_ms":0,"projections":[],"indexes":[],"idempotency":[],"nonces":[],"rate_limits":[]}"#,
            br#"{"format":1,"namespace":"tc:u:","saved_at_unix_ms":0,"projections":[],"indexes":[],"idempotency":[],"nonces":[],"rate_limits":[]}"#,
            br#"{"format":1,"namespace":"tc:t:","saved_at_unix_ms":0,"projections":[{"key":"k","version":1,"value":"!"}],"indexes":[],"idempotency":[],"nonces":[],"rate_limits":[]}"#,
        ] {
            let err = decode(bytes, path, &ns).unwrap_err();
            assert!(
                matches!(&err, StoreError::SnapshotCorrupt { path: p, .. } if p == path),
                "{err}"
            );
        }
    }
}
