//! The conformance suite against the embedded store, plus what only it has:
//! snapshots, reopening, closing.

mod conformance;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tempfile::TempDir;
use tracechain_store::{
    EmbeddedConfig, EmbeddedStore, IdempotencyState, Namespace, Projection, StateStore, StoreError,
};

use crate::conformance::Harness;

/// Opens [`EmbeddedStore`]s in one temporary data directory per test.
struct EmbeddedHarness {
    dir: TempDir,
}

async fn embedded_harness() -> EmbeddedHarness {
    EmbeddedHarness {
        dir: tempfile::tempdir().unwrap(),
    }
}

#[async_trait]
impl Harness for EmbeddedHarness {
    async fn open(&self, namespace: Namespace) -> Arc<dyn StateStore> {
        Arc::new(
            EmbeddedStore::open(self.dir.path(), namespace)
                .await
                .unwrap(),
        )
    }
}

conformance::conformance_tests!(embedded_harness());

fn ns(name: &str) -> Namespace {
    Namespace::service(name).unwrap()
}

#[tokio::test]
async fn snapshot_and_reopen_restores_state() {
    let dir = tempfile::tempdir().unwrap();
    let long = Duration::from_secs(3600);
    let store = EmbeddedStore::open(dir.path(), ns("registry"))
        .await
        .unwrap();
    store.put("a", b"one").await.unwrap();
    store.put("a", &[0, 159, 255]).await.unwrap();
    store.put("b", b"").await.unwrap();
    store.index_add("by-maker", "p2", 2).await.unwrap();
    store.index_add("by-maker", "p1", 1).await.unwrap();
    store.idempotency_begin("done", long).await.unwrap();
    store
        .idempotency_complete("done", b"response", long)
        .await
        .unwrap();
    store.idempotency_begin("pending", long).await.unwrap();
    store.nonce_first_seen("device", "n1", long).await.unwrap();
    store.rate_limit("carrier", 2, long).await.unwrap();
    store.close().await.unwrap();
    assert!(store.snapshot_path().exists());

    let store = EmbeddedStore::open(dir.path(), ns("registry"))
        .await
        .unwrap();
    let a = store.get("a").await.unwrap().unwrap();
    assert_eq!((a.version, a.value), (2, vec![0, 159, 255]));
    assert_eq!(store.get("b").await.unwrap().unwrap().value, b"");
    // Versions continue where they were.
    assert_eq!(store.put("a", b"three").await.unwrap(), 3);
    let page = store.index_range("by-maker", None, 10).await.unwrap();
    let members: Vec<&str> = page.entries.iter().map(|e| e.member.as_str()).collect();
    assert_eq!(members, ["p1", "p2"]);
    assert_eq!(
        store.idempotency_begin("done", long).await.unwrap(),
        IdempotencyState::Completed(b"response".to_vec())
    );
    assert_eq!(
        store.idempotency_begin("pending", long).await.unwrap(),
        IdempotencyState::InFlight
    );
    assert!(!store.nonce_first_seen("device", "n1", long).await.unwrap());
    let second = store.rate_limit("carrier", 2, long).await.unwrap();
    assert!(second.allowed);
    assert_eq!(second.remaining, 0);
    assert!(!store.rate_limit("carrier", 2, long).await.unwrap().allowed);
    store.close().await.unwrap();
}

#[tokio::test]
async fn entries_that_expire_while_closed_are_gone_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let short = Duration::from_millis(150);
    let store = EmbeddedStore::open(dir.path(), ns("shipments"))
        .await
        .unwrap();
    store.nonce_first_seen("d", "short", short).await.unwrap();
    store
        .nonce_first_seen("d", "long", Duration::from_secs(60))
        .await
        .unwrap();
    store.idempotency_begin("lease", short).await.unwrap();
    store.close().await.unwrap();
    tokio::time::sleep(short + Duration::from_millis(50)).await;

    let store = EmbeddedStore::open(dir.path(), ns("shipments"))
        .await
        .unwrap();
    assert!(store.nonce_first_seen("d", "short", short).await.unwrap());
    assert!(!store.nonce_first_seen("d", "long", short).await.unwrap());
    assert_eq!(
        store.idempotency_begin("lease", short).await.unwrap(),
        IdempotencyState::New
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn snapshots_are_taken_periodically_without_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmbeddedConfig::new(dir.path(), ns("ledger"));
    config.snapshot_interval = Duration::from_millis(50);
    let store = EmbeddedStore::open_with(config.clone()).await.unwrap();
    store.put("k", b"v").await.unwrap();
    let path = store.snapshot_path().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !path.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no periodic snapshot"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing changed: an explicit snapshot has nothing to write.
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(!store.snapshot().await.unwrap());
    // A crash: dropped without close. The periodic snapshot survives it.
    drop(store);
    let store = EmbeddedStore::open_with(config).await.unwrap();
    assert_eq!(store.get("k").await.unwrap().unwrap().value, b"v");
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_closed_store_refuses_operations() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), ns("settlement"))
        .await
        .unwrap();
    store.put("k", b"v").await.unwrap();
    store.close().await.unwrap();
    store.close().await.unwrap();
    let err = store.get("k").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Closed { op: "get", key } if key == "tc:settlement:k"),
        "{err:?}"
    );
    assert!(store.put("k", b"v").await.is_err());
    assert!(store.ping().await.is_err());
}

#[tokio::test]
async fn a_corrupt_snapshot_is_refused_not_silently_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), ns("registry"))
        .await
        .unwrap();
    store.put("k", b"v").await.unwrap();
    store.close().await.unwrap();
    let path = store.snapshot_path().to_owned();
    std::fs::write(&path, b"{ torn").unwrap();
    let err = EmbeddedStore::open(dir.path(), ns("registry"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::SnapshotCorrupt { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains("registry.snapshot.json"), "{err}");
}

#[tokio::test]
async fn a_half_written_temp_file_is_ignored_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), ns("registry"))
        .await
        .unwrap();
    store.put("k", b"v").await.unwrap();
    store.close().await.unwrap();
    let temp = dir.path().join("tc.registry.snapshot.json.tmp");
    std::fs::write(&temp, b"half a snap").unwrap();
    let store = EmbeddedStore::open(dir.path(), ns("registry"))
        .await
        .unwrap();
    assert_eq!(store.get("k").await.unwrap().unwrap().value, b"v");
    assert!(!temp.exists());
    store.close().await.unwrap();
}

#[tokio::test]
async fn namespaces_sharing_a_directory_keep_separate_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let parent = EmbeddedStore::open(dir.path(), ns("x")).await.unwrap();
    let child = EmbeddedStore::open(dir.path(), ns("x").child("c").unwrap())
        .await
        .unwrap();
    parent.put("k", b"parent").await.unwrap();
    child.put("k", b"child").await.unwrap();
    parent.close().await.unwrap();
    child.close().await.unwrap();
    let child = EmbeddedStore::open(dir.path(), ns("x").child("c").unwrap())
        .await
        .unwrap();
    assert_eq!(child.get("k").await.unwrap().unwrap().value, b"child");
    child.close().await.unwrap();
}

#[tokio::test]
async fn typed_projection_state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(
        EmbeddedStore::open(dir.path(), ns("registry"))
            .await
            .unwrap(),
    );
    let names = Projection::<Vec<String>>::new(Arc::clone(&store), "names").unwrap();
    names
        .put("m1", &vec!["a".into(), "b".into()])
        .await
        .unwrap();
    store.close().await.unwrap();
    let store: Arc<dyn StateStore> = Arc::new(
        EmbeddedStore::open(dir.path(), ns("registry"))
            .await
            .unwrap(),
    );
    let names = Projection::<Vec<String>>::new(Arc::clone(&store), "names").unwrap();
    assert_eq!(names.get("m1").await.unwrap().unwrap().value, ["a", "b"]);
    store.close().await.unwrap();
}

#[tokio::test]
async fn zero_intervals_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmbeddedConfig::new(dir.path(), ns("x"));
    config.sweep_interval = Duration::ZERO;
    let err = EmbeddedStore::open_with(config).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                what: "sweep interval",
                ..
            }
        ),
        "{err:?}"
    );
}
