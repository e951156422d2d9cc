//! Test support shared by the workspace's tests (a dev-dependency only).
//!
//! Tests talk to the real infrastructure `scripts/infra.sh up` starts: a
//! Kafka-protocol broker and Redis, at the addresses below unless the
//! environment says otherwise. They isolate themselves with unique topic,
//! group and key-prefix names so they run in parallel on one broker and one
//! Redis. Fault tests that must kill a broker start a [`PrivateBroker`] of
//! their own instead of touching the shared one.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to tell a reader when the infrastructure is missing.
pub const INFRA_HINT: &str =
    "run `scripts/infra.sh up` (tests against the real broker and Redis are never skipped)";

/// Kafka bootstrap servers (`KAFKA_BROKERS`, default `127.0.0.1:9092`).
pub fn kafka_brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// Redis URL (`TRACECHAIN_REDIS_URL`, default `redis://127.0.0.1:6379`).
pub fn redis_url() -> String {
    std::env::var("TRACECHAIN_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A name no other test run uses: `<prefix>-<uuidv7>`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    // Binding port 0 cannot fail on a machine with a loopback interface.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

/// The tansu binary: `$CARGO_HOME/bin/tansu` when present, else from `PATH`.
pub fn tansu_binary() -> PathBuf {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    match home.map(|h| h.join("bin").join("tansu")) {
        Ok(path) if path.exists() => path,
        _ => PathBuf::from("tansu"),
    }
}

/// A tansu broker process of the test's own, killed on drop.
#[derive(Debug)]
pub struct PrivateBroker {
    /// The broker process; `None` after [`kill`](Self::kill).
    child: Option<Child>,
    /// The port it listens on (kept across restarts).
    port: u16,
    /// The storage engine URL (`memory://…` or `sqlite://tansu.db`).
    storage: String,
    /// The working directory (tansu resolves `sqlite://` paths against it).
    dir: Option<PathBuf>,
}

impl PrivateBroker {
    /// Starts a broker on a free port with in-memory storage and waits until
    /// it accepts connections.
    pub fn start() -> PrivateBroker {
        Self::start_on(free_port())
    }

    /// Starts a broker on `port` with in-memory storage (its data dies
    /// with it), and waits until it accepts connections.
    pub fn start_on(port: u16) -> PrivateBroker {
        let mut broker = PrivateBroker {
            child: None,
            port,
            storage: "memory://tansu/".to_owned(),
            dir: None,
        };
        broker.restart();
        broker
    }

    /// Starts a broker on `port` whose data survives its restarts: SQLite in
    /// `dir` (tansu resolves `sqlite://` paths against its working directory).
    pub fn start_persistent(port: u16, dir: &Path) -> PrivateBroker {
        let mut broker = PrivateBroker {
            child: None,
            port,
            storage: "sqlite://tansu.db".to_owned(),
            dir: Some(dir.to_owned()),
        };
        broker.restart();
        broker
    }

    /// `host:port` for clients.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same port and storage.
    pub fn restart(&mut self) {
        self.kill();
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut command = Command::new(tansu_binary());
        command
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", &self.storage])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
            // Keep the broker's own account of what happened beside its data.
            if let Ok(log) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("tansu.log"))
            {
                command.stderr(log);
            }
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tansu ({e}): {INFRA_HINT}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "private tansu did not listen on {} within 20 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.kill();
    }
}
