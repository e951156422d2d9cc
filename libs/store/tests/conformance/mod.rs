//! The `StateStore` conformance suite, written once and run against every
//! implementation (`tests/redis.rs`, `tests/embedded.rs`).
//!
//! Each scenario is a generic async function over a [`Harness`], which opens
//! stores; [`conformance_tests!`] turns every scenario into a `#[tokio::test]`
//! for one harness. Every test works under its own namespace
//! (`tc:conformance:{uuid v7}:…`), so tests run in parallel on one Redis, and
//! clears what it opened when it passes.
//!
//! TTL scenarios use sub-second TTLs and sleep only just past them.

#![allow(unreachable_pub, dead_code)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tracechain_store::{
    CasOutcome, IdempotencyState, IndexCursor, IndexEntry, LeaseError, LeaseLock, MAX_KEY_LEN,
    MAX_PAGE_LIMIT, Namespace, Projection, StateStore, StoreError, Versioned,
};

/// The TTL used by expiry scenarios.
pub const TTL: Duration = Duration::from_millis(800);
/// How long past a deadline a scenario sleeps before checking expiry.
pub const MARGIN: Duration = Duration::from_millis(60);

/// Opens stores of one implementation.
#[async_trait]
pub trait Harness: Send + Sync + 'static {
    /// Opens a store on `namespace`.
    async fn open(&self, namespace: Namespace) -> Arc<dyn StateStore>;
}

/// One test's stores, under one unique root namespace.
pub struct Ctx<H> {
    /// The implementation under test.
    pub harness: H,
    /// `tc:conformance:{uuid v7}:`.
    pub root: Namespace,
    /// Everything opened, cleared by [`Ctx::finish`].
    opened: Mutex<Vec<Arc<dyn StateStore>>>,
}

impl<H: Harness> Ctx<H> {
    pub fn new(harness: H) -> Self {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let root = Namespace::service("conformance")
            .and_then(|ns| ns.child(&id))
            .expect("a uuid is a valid namespace segment");
        Ctx {
            harness,
            root,
            opened: Mutex::new(Vec::new()),
        }
    }

    /// A store on the root namespace.
    pub async fn store(&self) -> Arc<dyn StateStore> {
        self.open(self.root.clone()).await
    }

    /// A store on `root` + the given child segments.
    pub async fn store_in(&self, path: &[&str]) -> Arc<dyn StateStore> {
        let mut ns = self.root.clone();
        for segment in path {
            ns = ns.child(segment).expect("valid segment");
        }
        self.open(ns).await
    }

    pub async fn open(&self, namespace: Namespace) -> Arc<dyn StateStore> {
        let store = self.harness.open(namespace).await;
        self.opened.lock().await.push(Arc::clone(&store));
        store
    }

    /// Clears and closes every store opened (the test passed).
    pub async fn finish(self) {
        for store in self.opened.lock().await.drain(..) {
            match store.clear_namespace().await {
                Ok(_) | Err(StoreError::Closed { .. }) => {}
                Err(err) => panic!("clearing {} failed: {err}", store.namespace()),
            }
            store.close().await.expect("close");
        }
    }
}

/// Generates one `#[tokio::test]` per scenario for a harness built by `$make`.
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance::conformance_tests!(@each $make;
            projections_get_put_and_versions,
            get_many_answers_in_order_with_gaps,
            compare_and_set_creates_applies_and_conflicts,
            compare_and_set_concurrent_increments_apply_exactly_n,
            compare_and_set_concurrent_creates_have_one_winner,
            typed_projection_round_trips_and_updates,
            keys_with_any_characters_stay_distinct,
            index_pagination_returns_every_member_once,
            idempotency_first_result_wins,
            idempotency_abandon_allows_a_retry,
            idempotency_lease_and_retention_expire,
            lease_lock_excludes_until_released,
            lease_lock_waiter_gets_it_on_release,
            lease_lock_expired_lease_is_taken_over,
            lease_lock_dropped_is_released,
            lease_lock_serialises_concurrent_holders,
            lease_lock_refuses_completed_and_invalid_keys,
            nonce_replay_refused_within_window_then_accepted,
            rate_limit_allows_exactly_limit_per_window,
            rate_limit_is_atomic_under_concurrency,
            namespaces_isolate,
            clear_namespace_removes_only_its_namespace,
            invalid_input_is_refused,
            ping_answers,
        );
    };
    (@each $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let ctx = $crate::conformance::Ctx::new($make.await);
                $crate::conformance::$name(&ctx).await;
                ctx.finish().await;
            }
        )+
    };
}
pub(crate) use conformance_tests;

fn applied(outcome: CasOutcome) -> u64 {
    match outcome {
        CasOutcome::Applied(v) => v,
        other => panic!("expected Applied, got {other:?}"),
    }
}

// --- projections ---------------------------------------------------------------

pub async fn projections_get_put_and_versions<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    assert_eq!(store.get("product:1").await.unwrap(), None);
    assert_eq!(store.put("product:1", b"one").await.unwrap(), 1);
    assert_eq!(store.put("product:1", b"two").await.unwrap(), 2);
    assert_eq!(
        store.get("product:1").await.unwrap(),
        Some(Versioned {
            version: 2,
            value: b"two".to_vec()
        })
    );

    // Values are bytes: every byte value and the empty value round trip.
    let all_bytes: Vec<u8> = (0..=255).collect();
    assert_eq!(store.put("bytes", &all_bytes).await.unwrap(), 1);
    assert_eq!(store.get("bytes").await.unwrap().unwrap().value, all_bytes);
    assert_eq!(store.put("empty", b"").await.unwrap(), 1);
    assert_eq!(
        store.get("empty").await.unwrap(),
        Some(Versioned {
            version: 1,
            value: Vec::new()
        })
    );

    // Delete removes, and the version starts over.
    assert!(store.delete("product:1").await.unwrap());
    assert!(!store.delete("product:1").await.unwrap());
    assert_eq!(store.get("product:1").await.unwrap(), None);
    assert_eq!(store.put("product:1", b"again").await.unwrap(), 1);
}

pub async fn get_many_answers_in_order_with_gaps<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    store.put("a", b"A").await.unwrap();
    store.put("c", b"C").await.unwrap();
    store.put("c", b"C2").await.unwrap();
    let got = store.get_many(&["a", "b", "c", "a"]).await.unwrap();
    let got: Vec<Option<(u64, Vec<u8>)>> = got
        .into_iter()
        .map(|v| v.map(|v| (v.version, v.value)))
        .collect();
    assert_eq!(
        got,
        [
            Some((1, b"A".to_vec())),
            None,
            Some((2, b"C2".to_vec())),
            Some((1, b"A".to_vec()))
        ]
    );
    assert!(store.get_many(&[]).await.unwrap().is_empty());

    // More keys than one pipeline chunk, every other one present.
    let keys: Vec<String> = (0..1300).map(|i| format!("k{i:05}")).collect();
    for key in keys.iter().step_by(2) {
        store.put(key, key.as_bytes()).await.unwrap();
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let got = store.get_many(&refs).await.unwrap();
    assert_eq!(got.len(), keys.len());
    for (i, (key, value)) in keys.iter().zip(&got).enumerate() {
        if i % 2 == 0 {
            assert_eq!(value.as_ref().unwrap().value, key.as_bytes(), "{key}");
        } else {
            assert_eq!(value, &None, "{key}");
        }
    }
}

pub async fn compare_and_set_creates_applies_and_conflicts<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    // Create-if-absent.
    assert_eq!(
        store.compare_and_set("k", None, b"v1").await.unwrap(),
        CasOutcome::Applied(1)
    );
    assert_eq!(
        store.compare_and_set("k", None, b"x").await.unwrap(),
        CasOutcome::Conflict { current: Some(1) }
    );
    // Expected version.
    assert_eq!(
        store.compare_and_set("k", Some(1), b"v2").await.unwrap(),
        CasOutcome::Applied(2)
    );
    assert_eq!(
        store.compare_and_set("k", Some(1), b"x").await.unwrap(),
        CasOutcome::Conflict { current: Some(2) }
    );
    assert_eq!(
        store.compare_and_set("k", Some(3), b"x").await.unwrap(),
        CasOutcome::Conflict { current: Some(2) }
    );
    // A conflict wrote nothing.
    assert_eq!(store.get("k").await.unwrap().unwrap().value, b"v2");
    // An absent key conflicts with any expected version.
    assert_eq!(
        store
            .compare_and_set("absent", Some(1), b"x")
            .await
            .unwrap(),
        CasOutcome::Conflict { current: None }
    );
    assert_eq!(store.get("absent").await.unwrap(), None);
    // CAS and put share one version counter.
    assert_eq!(store.put("k", b"v3").await.unwrap(), 3);
    assert!(
        store
            .compare_and_set("k", Some(3), b"v4")
            .await
            .unwrap()
            .is_applied()
    );
}

pub async fn compare_and_set_concurrent_increments_apply_exactly_n<H: Harness>(ctx: &Ctx<H>) {
    const TASKS: usize = 24;
    let store = ctx.store().await;
    assert_eq!(store.put("counter", b"0").await.unwrap(), 1);
    let conflicts = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..TASKS {
        let store = Arc::clone(&store);
        let conflicts = Arc::clone(&conflicts);
        tasks.spawn(async move {
            loop {
                let current = store.get("counter").await.unwrap().unwrap();
                let n: u64 = std::str::from_utf8(&current.value)
                    .unwrap()
                    .parse()
                    .unwrap();
                let next = (n + 1).to_string();
                match store
                    .compare_and_set("counter", Some(current.version), next.as_bytes())
                    .await
                    .unwrap()
                {
                    CasOutcome::Applied(version) => return version,
                    CasOutcome::Conflict { current } => {
                        assert!(current.is_some());
                        conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    let mut versions = BTreeSet::new();
    while let Some(version) = tasks.join_next().await {
        assert!(versions.insert(version.unwrap()), "a version applied twice");
    }
    // Each task applied exactly once, each at a distinct version.
    assert_eq!(versions, (2..=TASKS as u64 + 1).collect());
    let last = store.get("counter").await.unwrap().unwrap();
    assert_eq!(last.value, TASKS.to_string().as_bytes());
    assert_eq!(last.version, TASKS as u64 + 1);
    eprintln!(
        "{TASKS} concurrent CAS increments: {} conflicts retried",
        conflicts.load(Ordering::Relaxed)
    );
}

pub async fn compare_and_set_concurrent_creates_have_one_winner<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    let mut tasks = JoinSet::new();
    for i in 0..16u8 {
        let store = Arc::clone(&store);
        tasks.spawn(async move { (i, store.compare_and_set("once", None, &[i]).await.unwrap()) });
    }
    let mut winners = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (i, outcome) = result.unwrap();
        match outcome {
            CasOutcome::Applied(1) => winners.push(i),
            CasOutcome::Conflict { current: Some(1) } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        store.get("once").await.unwrap().unwrap().value,
        [winners[0]]
    );
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Product {
    gtin: String,
    name: String,
    scans: u32,
}

pub async fn typed_projection_round_trips_and_updates<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    let products = Projection::<Product>::new(Arc::clone(&store), "product").unwrap();
    assert!(Projection::<Product>::new(Arc::clone(&store), "a:b").is_err());
    assert!(Projection::<Product>::new(Arc::clone(&store), "").is_err());
    let p = Product {
        gtin: "09506000134352".into(),
        name: "Widget ✓".into(),
        scans: 0,
    };
    assert_eq!(products.get("1").await.unwrap(), None);
    assert_eq!(products.put("1", &p).await.unwrap(), 1);
    // Stored as JSON at `{name}:{id}`.
    let raw = store.get("product:1").await.unwrap().unwrap();
    assert_eq!(serde_json::from_slice::<Product>(&raw.value).unwrap(), p);
    assert_eq!(
        products.get("1").await.unwrap(),
        Some(Versioned {
            version: 1,
            value: p.clone()
        })
    );
    let renamed = Product {
        name: "Gadget".into(),
        ..p.clone()
    };
    assert_eq!(
        products
            .compare_and_set("1", Some(1), &renamed)
            .await
            .unwrap(),
        CasOutcome::Applied(2)
    );
    assert_eq!(
        products.compare_and_set("1", Some(1), &p).await.unwrap(),
        CasOutcome::Conflict { current: Some(2) }
    );
    let many = products.get_many(&["1", "2"]).await.unwrap();
    assert_eq!(many[0].as_ref().unwrap().value, renamed);
    assert_eq!(many[1], None);

    // Concurrent read-modify-writes lose nothing.
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let products = products.clone();
        tasks.spawn(async move {
            products
                .update("1", |current| {
                    current.map(|c| Product {
                        scans: c.scans + 1,
                        ..c.clone()
                    })
                })
                .await
                .unwrap()
        });
    }
    while let Some(done) = tasks.join_next().await {
        assert!(done.unwrap().is_some());
    }
    let after = products.get("1").await.unwrap().unwrap();
    assert_eq!(after.value.scans, 8);
    assert_eq!(after.version, 10);
    // `None` from the closure writes nothing; an absent id can be created.
    let unchanged = products.update("1", |_| None).await.unwrap().unwrap();
    assert_eq!(unchanged.version, 10);
    let created = products
        .update("2", |current| {
            assert!(current.is_none());
            Some(p.clone())
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.version, 1);

    // Bytes that are not the type's JSON are a codec error naming the key.
    store.put("product:bad", b"not json").await.unwrap();
    let err = products.get("bad").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Codec { op: "decode", key, .. } if key == "product:bad"),
        "{err:?}"
    );
    assert!(products.delete("2").await.unwrap());
}

pub async fn keys_with_any_characters_stay_distinct<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    let keys = [
        "a:b",
        "a",
        "*",
        "[a-z]?",
        "#p:x",
        " spaced key ",
        "ü🚚",
        "line\nbreak",
        "back\\slash",
    ];
    for key in keys {
        assert_eq!(store.put(key, key.as_bytes()).await.unwrap(), 1, "{key:?}");
    }
    for key in keys {
        assert_eq!(
            store.get(key).await.unwrap().unwrap().value,
            key.as_bytes(),
            "{key:?}"
        );
    }
    let longest = "k".repeat(MAX_KEY_LEN);
    assert_eq!(store.put(&longest, b"v").await.unwrap(), 1);
}

// --- indexes -------------------------------------------------------------------

pub async fn index_pagination_returns_every_member_once<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;

    // Empty index: one empty last page.
    let empty = store.index_range("none", None, 10).await.unwrap();
    assert!(empty.entries.is_empty());
    assert_eq!(empty.next, None);

    // 300 members with many ties, then moves and removals.
    let mut expected = BTreeSet::new();
    for i in 0..300u64 {
        let member = format!("manufacturer-7/product-{i:03}");
        let score = if i == 0 { u64::MAX } else { i % 13 };
        assert!(store.index_add("products", &member, score).await.unwrap());
        expected.insert((score, member));
    }
    // Re-adding at the same score changes nothing.
    assert!(
        !store
            .index_add("products", "manufacturer-7/product-005", 5)
            .await
            .unwrap()
    );
    // Moving a member re-files it; it is not duplicated.
    for i in (0..300u64).step_by(10) {
        let member = format!("manufacturer-7/product-{i:03}");
        let old = if i == 0 { u64::MAX } else { i % 13 };
        assert!(
            store
                .index_add("products", &member, 1000 + i)
                .await
                .unwrap()
        );
        expected.remove(&(old, member.clone()));
        expected.insert((1000 + i, member));
    }
    for i in (3..300u64).step_by(17) {
        let member = format!("manufacturer-7/product-{i:03}");
        assert!(store.index_remove("products", &member).await.unwrap());
        expected.retain(|(_, m)| m != &member);
    }
    assert!(
        !store
            .index_remove("products", "manufacturer-7/product-003")
            .await
            .unwrap()
    );
    assert!(!store.index_remove("products", "never-there").await.unwrap());

    // Walk by cursor, passing it through its text form as an HTTP client would.
    let mut seen = Vec::new();
    let mut cursor: Option<IndexCursor> = None;
    let mut pages = 0;
    loop {
        let page = store
            .index_range("products", cursor.as_ref(), 7)
            .await
            .unwrap();
        pages += 1;
        assert!(page.entries.len() <= 7);
        seen.extend(page.entries.iter().map(|e| (e.score, e.member.clone())));
        match page.next {
            Some(next) => {
                assert_eq!(page.entries.len(), 7, "only a last page may be short");
                cursor = Some(IndexCursor::parse(next.as_str()).unwrap());
            }
            None => break,
        }
    }
    let expected: Vec<(u64, String)> = expected.into_iter().collect();
    assert_eq!(
        seen, expected,
        "every member once, in (score, member) order"
    );
    assert_eq!(pages, expected.len().div_ceil(7));

    // A page exactly as long as the rest of the index has no next page.
    let exact = store.index_range("small", None, 3).await.unwrap();
    assert!(exact.entries.is_empty());
    for (i, m) in ["x", "y", "z"].iter().enumerate() {
        store.index_add("small", m, i as u64).await.unwrap();
    }
    let exact = store.index_range("small", None, 3).await.unwrap();
    assert_eq!(exact.entries.len(), 3);
    assert_eq!(exact.next, None);
    let first = store.index_range("small", None, 2).await.unwrap();
    assert_eq!(
        first.entries,
        [
            IndexEntry {
                score: 0,
                member: "x".into()
            },
            IndexEntry {
                score: 1,
                member: "y".into()
            }
        ]
    );
    // A member added behind the cursor is not seen; one ahead is.
    store.index_add("small", "a", 0).await.unwrap();
    store.index_add("small", "zz", 9).await.unwrap();
    let rest = store
        .index_range("small", first.next.as_ref(), MAX_PAGE_LIMIT)
        .await
        .unwrap();
    let rest: Vec<&str> = rest.entries.iter().map(|e| e.member.as_str()).collect();
    assert_eq!(rest, ["z", "zz"]);
    // A cursor whose member was removed still resumes at the right place.
    store.index_remove("small", "y").await.unwrap();
    let rest = store
        .index_range("small", first.next.as_ref(), 10)
        .await
        .unwrap();
    assert_eq!(rest.entries.len(), 2);
}

// --- idempotency ---------------------------------------------------------------

pub async fn idempotency_first_result_wins<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    let lease = Duration::from_secs(30);
    let day = Duration::from_secs(86_400);
    let (a, b) = tokio::join!(
        store.idempotency_begin("req-1", lease),
        store.idempotency_begin("req-1", lease)
    );
    let mut states = [a.unwrap(), b.unwrap()];
    states.sort_by_key(|s| matches!(s, IdempotencyState::InFlight));
    assert_eq!(states, [IdempotencyState::New, IdempotencyState::InFlight]);

    assert!(
        store
            .idempotency_complete("req-1", b"201 first", day)
            .await
            .unwrap()
    );
    // A second completion never replaces the first.
    assert!(
        !store
            .idempotency_complete("req-1", b"201 second", day)
            .await
            .unwrap()
    );
    let (a, b) = tokio::join!(
        store.idempotency_begin("req-1", lease),
        store.idempotency_begin("req-1", lease)
    );
    for state in [a.unwrap(), b.unwrap()] {
        assert_eq!(state, IdempotencyState::Completed(b"201 first".to_vec()));
    }
    // Binary and empty responses are kept exactly.
    assert_eq!(
        store.idempotency_begin("req-2", lease).await.unwrap(),
        IdempotencyState::New
    );
    store.idempotency_complete("req-2", b"", day).await.unwrap();
    assert_eq!(
        store.idempotency_begin("req-2", lease).await.unwrap(),
        IdempotencyState::Completed(Vec::new())
    );
    assert_eq!(
        store.idempotency_begin("req-3", lease).await.unwrap(),
        IdempotencyState::New
    );
    let binary = [b'p', 0, 255, b'c'];
    store
        .idempotency_complete("req-3", &binary, day)
        .await
        .unwrap();
    assert_eq!(
        store.idempotency_begin("req-3", lease).await.unwrap(),
        IdempotencyState::Completed(binary.to_vec())
    );

    // Many concurrent first requests: exactly one owner.
    let mut tasks = JoinSet::new();
    for _ in 0..12 {
        let store = Arc::clone(&store);
        tasks.spawn(async move { store.idempotency_begin("req-4", lease).await.unwrap() });
    }
    let mut owners = 0;
    while let Some(state) = tasks.join_next().await {
        match state.unwrap() {
            IdempotencyState::New => owners += 1,
            IdempotencyState::InFlight => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(owners, 1);
}

pub async fn idempotency_abandon_allows_a_retry<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    let lease = Duration::from_secs(30);
    assert_eq!(
        store.idempotency_begin("req", lease).await.unwrap(),
        IdempotencyState::New
    );
    // The work failed: release the key so the client's retry is handled.
    assert!(store.idempotency_abandon("req").await.unwrap());
    assert!(!store.idempotency_abandon("req").await.unwrap());
    assert_eq!(
        store.idempotency_begin("req", lease).await.unwrap(),
        IdempotencyState::New
    );
    store
        .idempotency_complete("req", b"ok", Duration::from_secs(60))
        .await
        .unwrap();
    // A completed key is not abandoned.
    assert!(!store.idempotency_abandon("req").await.unwrap());
    assert_eq!(
        store.idempotency_begin("req", lease).await.unwrap(),
        IdempotencyState::Completed(b"ok".to_vec())
    );
    assert!(!store.idempotency_abandon("never-begun").await.unwrap());
}

pub async fn idempotency_lease_and_retention_expire<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    // An owner that died: its lease runs out and the key is free again.
    assert_eq!(
        store.idempotency_begin("lease", TTL).await.unwrap(),
        IdempotencyState::New
    );
    assert_eq!(
        store.idempotency_begin("lease", TTL).await.unwrap(),
        IdempotencyState::InFlight
    );
    // A stored result lives for its retention.
    assert_eq!(
        store.idempotency_begin("kept", TTL).await.unwrap(),
        IdempotencyState::New
    );
    store.idempotency_complete("kept", b"r", TTL).await.unwrap();
    tokio::time::sleep(TTL + MARGIN).await;
    assert_eq!(
        store.idempotency_begin("lease", TTL).await.unwrap(),
        IdempotencyState::New
    );
    assert_eq!(
        store.idempotency_begin("kept", TTL).await.unwrap(),
        IdempotencyState::New
    );
}

// --- nonces --------------------------------------------------------------------

pub async fn nonce_replay_refused_within_window_then_accepted<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    let first_seen = std::time::Instant::now();
    assert!(
        store
            .nonce_first_seen("device-1", "n-1", TTL)
            .await
            .unwrap()
    );
    assert!(
        !store
            .nonce_first_seen("device-1", "n-1", TTL)
            .await
            .unwrap()
    );
    // Other nonces and other scopes are independent.
    assert!(
        store
            .nonce_first_seen("device-1", "n-2", TTL)
            .await
            .unwrap()
    );
    assert!(
        store
            .nonce_first_seen("device-2", "n-1", TTL)
            .await
            .unwrap()
    );
    // Scopes and nonces containing the separator do not bleed into each other.
    assert!(store.nonce_first_seen("a:b", "c", TTL).await.unwrap());
    assert!(store.nonce_first_seen("a", "b:c", TTL).await.unwrap());
    // A replay does not extend the window (checked only if this machine was
    // not so slow that the window already passed).
    tokio::time::sleep(TTL / 2).await;
    let replay = store
        .nonce_first_seen("device-1", "n-1", TTL)
        .await
        .unwrap();
    if first_seen.elapsed() < TTL {
        assert!(!replay, "a replay within the window was accepted");
    }
    tokio::time::sleep(TTL / 2 + MARGIN).await;
    assert!(
        store
            .nonce_first_seen("device-1", "n-1", TTL)
            .await
            .unwrap()
    );
    assert!(
        !store
            .nonce_first_seen("device-1", "n-1", TTL)
            .await
            .unwrap()
    );
}

// --- rate limits ---------------------------------------------------------------

pub async fn rate_limit_allows_exactly_limit_per_window<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    let window = Duration::from_secs(1);
    for i in 1..=5u32 {
        let d = store.rate_limit("carrier-9", 5, window).await.unwrap();
        assert!(d.allowed, "request {i}");
        assert_eq!(d.limit, 5);
        assert_eq!(d.remaining, 5 - i);
        assert_eq!(d.retry_after, None);
        assert!(d.reset_after <= window && d.reset_after > Duration::ZERO);
    }
    let refused = store.rate_limit("carrier-9", 5, window).await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 0);
    let retry_after = refused.retry_after.expect("a refusal says when to retry");
    assert!(
        retry_after > Duration::ZERO && retry_after <= window,
        "{retry_after:?}"
    );
    // Other principals have their own budget.
    assert!(
        store
            .rate_limit("carrier-10", 5, window)
            .await
            .unwrap()
            .allowed
    );
    // After retry_after the window has closed and a new one opens.
    tokio::time::sleep(retry_after + MARGIN).await;
    let again = store.rate_limit("carrier-9", 5, window).await.unwrap();
    assert!(again.allowed);
    assert_eq!(again.remaining, 4);
}

pub async fn rate_limit_is_atomic_under_concurrency<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    let mut tasks = JoinSet::new();
    for _ in 0..40 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            store
                .rate_limit("burst", 7, Duration::from_secs(30))
                .await
                .unwrap()
        });
    }
    let mut allowed = 0;
    let mut remaining = BTreeSet::new();
    while let Some(decision) = tasks.join_next().await {
        let decision = decision.unwrap();
        if decision.allowed {
            allowed += 1;
            assert!(remaining.insert(decision.remaining), "a count was shared");
        }
    }
    assert_eq!(allowed, 7);
    assert_eq!(remaining, (0..7).collect());
}

// --- lease locks ---------------------------------------------------------------

/// A lease far longer than any scenario, so only a release frees the lock.
const LONG_LEASE: Duration = Duration::from_secs(30);

async fn lock(
    store: &Arc<dyn StateStore>,
    key: &str,
    lease: Duration,
    wait: Duration,
) -> Result<LeaseLock, LeaseError> {
    LeaseLock::acquire(Arc::clone(store), key.to_owned(), lease, wait).await
}

fn assert_busy(result: Result<LeaseLock, LeaseError>, key: &str) {
    match result {
        Err(LeaseError::Busy { key: got, .. }) => assert_eq!(got, key),
        other => panic!("expected Busy({key}), got {other:?}"),
    }
}

pub async fn lease_lock_excludes_until_released<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    let first = lock(&store, "lock", LONG_LEASE, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(first.key(), "lock");
    // A zero wait tries once.
    assert_busy(
        lock(&store, "lock", LONG_LEASE, Duration::ZERO).await,
        "lock",
    );
    // A second taker waits (backing off), then gives up well before the lease.
    let wait = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let busy = lock(&store, "lock", LONG_LEASE, wait).await;
    let elapsed = started.elapsed();
    assert_busy(busy, "lock");
    assert!(
        elapsed >= Duration::from_millis(150) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    // Another key is another lock.
    let other = lock(&store, "other", LONG_LEASE, Duration::ZERO)
        .await
        .unwrap();
    // Released: the next taker gets it at once.
    first.release().await;
    let second = lock(&store, "lock", LONG_LEASE, Duration::ZERO)
        .await
        .unwrap();
    assert_busy(
        lock(&store, "lock", LONG_LEASE, Duration::ZERO).await,
        "lock",
    );
    second.release().await;
    other.release().await;
}

pub async fn lease_lock_waiter_gets_it_on_release<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    let first = lock(&store, "lock", LONG_LEASE, Duration::ZERO)
        .await
        .unwrap();
    let waiter = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let lock = lock(&store, "lock", LONG_LEASE, Duration::from_secs(10)).await;
            (lock, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    first.release().await;
    let (second, elapsed) = waiter.await.unwrap();
    let second = second.unwrap();
    assert!(
        elapsed >= Duration::from_millis(100) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    second.release().await;
}

pub async fn lease_lock_expired_lease_is_taken_over<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    let dead = lock(&store, "lock", TTL, Duration::ZERO).await.unwrap();
    // The holder's process dies: nothing releases the lock.
    std::mem::forget(dead);
    assert_busy(lock(&store, "lock", TTL, Duration::ZERO).await, "lock");
    let started = std::time::Instant::now();
    let next = lock(&store, "lock", LONG_LEASE, 3 * TTL).await.unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed < 3 * TTL, "{elapsed:?}");
    next.release().await;
}

pub async fn lease_lock_dropped_is_released<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    let cancelled = lock(&store, "lock", LONG_LEASE, Duration::ZERO)
        .await
        .unwrap();
    // A cancelled request drops its lock: it is released in the background,
    // long before the lease would expire.
    drop(cancelled);
    let next = lock(&store, "lock", LONG_LEASE, Duration::from_secs(5))
        .await
        .unwrap();
    // Released explicitly, dropping does nothing more.
    next.release().await;
    let last = lock(&store, "lock", LONG_LEASE, Duration::ZERO)
        .await
        .unwrap();
    last.release().await;
}

pub async fn lease_lock_serialises_concurrent_holders<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    let inside = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = Arc::clone(&store);
        let inside = Arc::clone(&inside);
        tasks.spawn(async move {
            let held = lock(&store, "lock", LONG_LEASE, Duration::from_secs(20))
                .await
                .unwrap();
            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
            tokio::time::sleep(Duration::from_millis(10)).await;
            inside.fetch_sub(1, Ordering::SeqCst);
            held.release().await;
        });
    }
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
        done += 1;
    }
    assert_eq!(done, 8);
}

pub async fn lease_lock_refuses_completed_and_invalid_keys<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    assert_eq!(
        store.idempotency_begin("done", LONG_LEASE).await.unwrap(),
        IdempotencyState::New
    );
    store
        .idempotency_complete("done", b"r", LONG_LEASE)
        .await
        .unwrap();
    match lock(&store, "done", LONG_LEASE, Duration::from_secs(1)).await {
        Err(LeaseError::Corrupt { key }) => assert_eq!(key, "done"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    for (key, lease, what) in [
        ("", LONG_LEASE, "idempotency key"),
        ("k", Duration::ZERO, "lease"),
    ] {
        match lock(&store, key, lease, Duration::ZERO).await {
            Err(LeaseError::Store(StoreError::InvalidInput { what: got, .. })) => {
                assert_eq!(got, what)
            }
            other => panic!("expected InvalidInput({what}), got {other:?}"),
        }
    }
}

// --- namespaces ----------------------------------------------------------------

pub async fn namespaces_isolate<H: Harness>(ctx: &Ctx<H>) {
    let a = ctx.store_in(&["a"]).await;
    let b = ctx.store_in(&["b"]).await;
    assert_ne!(a.namespace(), b.namespace());
    a.put("same", b"in a").await.unwrap();
    b.put("same", b"in b").await.unwrap();
    b.put("same", b"in b again").await.unwrap();
    assert_eq!(
        a.get("same").await.unwrap(),
        Some(Versioned {
            version: 1,
            value: b"in a".to_vec()
        })
    );
    assert_eq!(b.get("same").await.unwrap().unwrap().version, 2);
    let lease = Duration::from_secs(30);
    assert_eq!(
        a.idempotency_begin("k", lease).await.unwrap(),
        IdempotencyState::New
    );
    assert_eq!(
        b.idempotency_begin("k", lease).await.unwrap(),
        IdempotencyState::New
    );
    assert!(a.nonce_first_seen("s", "n", lease).await.unwrap());
    assert!(b.nonce_first_seen("s", "n", lease).await.unwrap());
    assert!(a.rate_limit("p", 1, lease).await.unwrap().allowed);
    assert!(b.rate_limit("p", 1, lease).await.unwrap().allowed);
    a.index_add("i", "only-in-a", 1).await.unwrap();
    assert!(
        b.index_range("i", None, 10)
            .await
            .unwrap()
            .entries
            .is_empty()
    );
}

/// Puts one of everything in `store`.
async fn fill(store: &dyn StateStore, tag: &str) {
    let long = Duration::from_secs(60);
    for key in ["k", "*", "[k]", "#p:k", tag] {
        store.put(key, tag.as_bytes()).await.unwrap();
    }
    store.index_add("i", tag, 1).await.unwrap();
    store.idempotency_begin("idem", long).await.unwrap();
    store
        .idempotency_complete("idem", tag.as_bytes(), long)
        .await
        .unwrap();
    store
        .nonce_first_seen("scope", "nonce", long)
        .await
        .unwrap();
    store.rate_limit("principal", 1, long).await.unwrap();
}

/// Asserts that `fill(store, tag)` is all there.
async fn assert_filled(store: &dyn StateStore, tag: &str) {
    let long = Duration::from_secs(60);
    for key in ["k", "*", "[k]", "#p:k", tag] {
        assert_eq!(
            store.get(key).await.unwrap().map(|v| v.value),
            Some(tag.as_bytes().to_vec()),
            "{key} in {}",
            store.namespace()
        );
    }
    assert_eq!(
        store
            .index_range("i", None, 10)
            .await
            .unwrap()
            .entries
            .len(),
        1
    );
    assert_eq!(
        store.idempotency_begin("idem", long).await.unwrap(),
        IdempotencyState::Completed(tag.as_bytes().to_vec())
    );
    assert!(
        !store
            .nonce_first_seen("scope", "nonce", long)
            .await
            .unwrap()
    );
    assert!(
        !store
            .rate_limit("principal", 1, long)
            .await
            .unwrap()
            .allowed
    );
}

pub async fn clear_namespace_removes_only_its_namespace<H: Harness>(ctx: &Ctx<H>) {
    let parent = ctx.store_in(&["p"]).await;
    let child = ctx.store_in(&["p", "c"]).await;
    let sibling = ctx.store_in(&["q"]).await;
    fill(parent.as_ref(), "parent").await;
    fill(child.as_ref(), "child").await;
    fill(sibling.as_ref(), "sibling").await;

    let removed = parent.clear_namespace().await.unwrap();
    assert!(removed >= 10, "removed {removed}");
    assert_eq!(parent.clear_namespace().await.unwrap(), 0);

    let long = Duration::from_secs(60);
    for key in ["k", "*", "[k]", "#p:k", "parent"] {
        assert_eq!(parent.get(key).await.unwrap(), None, "{key}");
    }
    assert!(
        parent
            .index_range("i", None, 10)
            .await
            .unwrap()
            .entries
            .is_empty()
    );
    assert_eq!(
        parent.idempotency_begin("idem", long).await.unwrap(),
        IdempotencyState::New
    );
    assert!(
        parent
            .nonce_first_seen("scope", "nonce", long)
            .await
            .unwrap()
    );
    assert!(
        parent
            .rate_limit("principal", 1, long)
            .await
            .unwrap()
            .allowed
    );
    assert_eq!(parent.put("k", b"new").await.unwrap(), 1);

    // A child namespace (its prefix extends the parent's) and a sibling survive.
    assert_filled(child.as_ref(), "child").await;
    assert_filled(sibling.as_ref(), "sibling").await;
}

// --- input and health ----------------------------------------------------------

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::InvalidInput { what: got, .. }) => assert_eq!(got, what),
        other => panic!("expected InvalidInput({what}), got {other:?}"),
    }
}

pub async fn invalid_input_is_refused<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    let too_long = "k".repeat(MAX_KEY_LEN + 1);
    let ttl = Duration::from_secs(1);
    assert_invalid(store.get("").await, "key");
    assert_invalid(store.put(&too_long, b"v").await, "key");
    assert_invalid(store.compare_and_set("", None, b"v").await, "key");
    assert_invalid(store.get_many(&["ok", ""]).await, "key");
    assert_invalid(store.delete("").await, "key");
    assert_invalid(store.index_add("", "m", 1).await, "index");
    assert_invalid(store.index_add("i", "", 1).await, "member");
    assert_invalid(store.index_range("i", None, 0).await, "limit");
    assert_invalid(
        store.index_range("i", None, MAX_PAGE_LIMIT + 1).await,
        "limit",
    );
    assert_invalid(store.idempotency_begin("", ttl).await, "idempotency key");
    assert_invalid(store.idempotency_begin("k", Duration::ZERO).await, "lease");
    assert_invalid(
        store.idempotency_complete("k", b"", Duration::MAX).await,
        "retention",
    );
    assert_invalid(store.nonce_first_seen("", "n", ttl).await, "nonce scope");
    assert_invalid(store.nonce_first_seen("s", "", ttl).await, "nonce");
    assert_invalid(
        store.nonce_first_seen("s", "n", Duration::ZERO).await,
        "window",
    );
    assert_invalid(store.rate_limit("p", 0, ttl).await, "limit");
    assert_invalid(store.rate_limit("", 1, ttl).await, "principal");
    assert_invalid(store.rate_limit("p", 1, Duration::ZERO).await, "window");
    assert_invalid(IndexCursor::parse("garbage"), "cursor");
    // Nothing was written by the refused calls.
    assert!(store.get("ok").await.unwrap().is_none());
    assert!(store.idempotency_begin("k", ttl).await.unwrap() == IdempotencyState::New);
}

pub async fn ping_answers<H: Harness>(ctx: &Ctx<H>) {
    let store = ctx.store().await;
    store.ping().await.unwrap();
    store.flush().await.unwrap();
}
