//! Store throughput, printed beside its limit measured in the same run: Redis
//! operations per second through [`RedisStore`] next to a bare pipelined
//! loop and bare concurrent commands on one redis-rs connection, and the same
//! operations through [`EmbeddedStore`].
//!
//! `cargo bench -p tracechain-store --bench store` (Redis must run:
//! `scripts/infra.sh up`; `TRACECHAIN_REDIS_URL` overrides the address,
//! `STORE_BENCH_OPS` the operation count, default 100 000).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tracechain_store::{EmbeddedStore, Namespace, RedisConfig, RedisStore, StateStore};

/// Operations in flight at once, as many concurrent requests would issue them.
const CONCURRENCY: usize = 64;
/// Commands per pipeline in the bare pipelined loop, keys per `get_many`.
const BATCH: usize = 1000;
/// Value size in bytes, like a small projection.
const VALUE: usize = 300;

fn report(name: &str, ops: usize, elapsed: Duration) {
    let rate = ops as f64 / elapsed.as_secs_f64();
    println!("{name:<48} {ops:>8} ops in {elapsed:>10.3?}  {rate:>12.0} ops/s");
}

/// Runs `op(i)` for i in 0..ops on CONCURRENCY tasks and reports the rate.
async fn concurrent<F, Fut>(name: &str, ops: usize, op: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for worker in 0..CONCURRENCY {
        let op = Arc::clone(&op);
        tasks.spawn(async move {
            let mut i = worker;
            while i < ops {
                op(i).await;
                i += CONCURRENCY;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a benchmark task panicked");
    }
    report(name, ops, started.elapsed());
}

async fn bench_store(label: &str, store: Arc<dyn StateStore>, ops: usize) {
    let value = Arc::new(vec![b'x'; VALUE]);
    {
        let (store, value) = (Arc::clone(&store), Arc::clone(&value));
        concurrent(&format!("{label} put"), ops, move |i| {
            let (store, value) = (Arc::clone(&store), Arc::clone(&value));
            async move {
                store.put(&format!("p{i}"), &value).await.expect("put");
            }
        })
        .await;
    }
    {
        let store = Arc::clone(&store);
        concurrent(&format!("{label} get"), ops, move |i| {
            let store = Arc::clone(&store);
            async move {
                store.get(&format!("p{i}")).await.expect("get");
            }
        })
        .await;
    }
    {
        let keys: Vec<String> = (0..ops).map(|i| format!("p{i}")).collect();
        let started = Instant::now();
        for chunk in keys.chunks(BATCH) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            store.get_many(&refs).await.expect("get_many");
        }
        report(
            &format!("{label} get_many ({BATCH} keys/call)"),
            ops,
            started.elapsed(),
        );
    }
    {
        let (store, value) = (Arc::clone(&store), Arc::clone(&value));
        concurrent(
            &format!("{label} compare_and_set (create)"),
            ops,
            move |i| {
                let (store, value) = (Arc::clone(&store), Arc::clone(&value));
                async move {
                    store
                        .compare_and_set(&format!("c{i}"), None, &value)
                        .await
                        .expect("cas");
                }
            },
        )
        .await;
    }
    {
        let store = Arc::clone(&store);
        concurrent(&format!("{label} nonce_first_seen"), ops, move |i| {
            let store = Arc::clone(&store);
            async move {
                store
                    .nonce_first_seen("device", &format!("n{i}"), Duration::from_secs(60))
                    .await
                    .expect("nonce");
            }
        })
        .await;
    }
    {
        let store = Arc::clone(&store);
        concurrent(&format!("{label} rate_limit"), ops, move |i| {
            let store = Arc::clone(&store);
            async move {
                store
                    .rate_limit(
                        &format!("principal-{}", i % 100),
                        1000,
                        Duration::from_secs(60),
                    )
                    .await
                    .expect("rate_limit");
            }
        })
        .await;
    }
    store.clear_namespace().await.expect("clear");
}

async fn bench_bare_redis(url: &str, prefix: &str, ops: usize) {
    let client = redis::Client::open(url).expect("redis url");
    let con = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|err| panic!("redis at {url}: {err}; run `scripts/infra.sh up`"));
    let value = vec![b'x'; VALUE];

    let started = Instant::now();
    for start in (0..ops).step_by(BATCH) {
        let mut pipe = redis::pipe();
        for i in start..(start + BATCH).min(ops) {
            pipe.cmd("HSET")
                .arg(format!("{prefix}bare:{i}"))
                .arg("v")
                .arg(1)
                .arg("d")
                .arg(&value)
                .ignore();
        }
        let mut con = con.clone();
        pipe.query_async::<()>(&mut con).await.expect("pipeline");
    }
    report(
        &format!("bare redis HSET, pipelined ({BATCH}/pipeline)"),
        ops,
        started.elapsed(),
    );

    let prefix_owned = prefix.to_owned();
    let value = Arc::new(value);
    concurrent(
        &format!("bare redis HSET, {CONCURRENCY} in flight"),
        ops,
        move |i| {
            let mut con = con.clone();
            let key = format!("{prefix_owned}bare:{i}");
            let value = Arc::clone(&value);
            async move {
                redis::cmd("HSET")
                    .arg(key)
                    .arg("v")
                    .arg(1)
                    .arg("d")
                    .arg(value.as_slice())
                    .query_async::<()>(&mut con)
                    .await
                    .expect("hset");
            }
        },
    )
    .await;
}

fn main() {
    let ops: usize = std::env::var("STORE_BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let url = std::env::var("TRACECHAIN_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let namespace = Namespace::service("bench")
            .and_then(|ns| ns.child(&id))
            .expect("namespace");
        println!("store throughput, {ops} operations of {VALUE} B values, {CONCURRENCY} concurrent callers");

        bench_bare_redis(&url, namespace.as_str(), ops).await;
        let redis = RedisStore::connect(RedisConfig::new(&url, namespace.clone()))
            .await
            .unwrap_or_else(|err| panic!("{err}; run `scripts/infra.sh up`"));
        bench_store("RedisStore", Arc::new(redis.clone()), ops).await;
        // The bare keys are not in the store's key layout: remove them directly.
        let mut con = client_con(&url).await;
        for start in (0..ops).step_by(BATCH) {
            let keys: Vec<String> = (start..(start + BATCH).min(ops))
                .map(|i| format!("{}bare:{i}", namespace.as_str()))
                .collect();
            redis::cmd("UNLINK")
                .arg(keys)
                .query_async::<()>(&mut con)
                .await
                .expect("unlink");
        }

        let dir = tempfile::tempdir().expect("temp dir");
        let embedded = EmbeddedStore::open(dir.path(), namespace.clone())
            .await
            .expect("embedded store");
        let embedded: Arc<dyn StateStore> = Arc::new(embedded);
        bench_store("EmbeddedStore", Arc::clone(&embedded), ops).await;
        let value = vec![b'x'; VALUE];
        for i in 0..ops {
            embedded.put(&format!("p{i}"), &value).await.expect("put");
        }
        let started = Instant::now();
        embedded.flush().await.expect("snapshot");
        report(
            "EmbeddedStore snapshot (projections written)",
            ops,
            started.elapsed(),
        );
        embedded.close().await.expect("close");
    });
}

async fn client_con(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection")
}
