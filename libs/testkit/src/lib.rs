//! Test support shared by the workspace's tests (a dev-dependency only).
//!
//! Tests talk to the real infrastructure `scripts/infra.sh up` starts: a
//! Kafka-protocol broker and Redis, at the addresses below unless the
//! environment says otherwise. They isolate themselves with unique topic,
//! group and key-prefix names so they run in parallel on one broker and one
//! Redis. Fault tests that must kill a broker start a [`PrivateBroker`] of
//! their own instead of touching the shared one.
//!
//! Besides: [`require_broker`] and [`require_redis`] (fail, never skip, when
//! the infrastructure is down), [`init_telemetry`] (logs the harness
//! captures), [`ApiKeyFile`] (a key table with fresh keys),
//! [`ChildProcess`] / [`CommandOutput`] (processes a test starts or runs),
//! [`assert_checked_in`] (generated files kept in the repository),
//! [`assert_problem`] (RFC 9457 answers), [`flush_namespace`] (a test's
//! Redis keys, gone), [`Browser`] (Chromium with playwright) and [`zbar`]
//! (an independent QR decoder).

pub mod api_keys;
pub mod assertions;
pub mod browser;
pub mod checked_in;
pub mod process;
pub mod qr;
pub mod telemetry;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use api_keys::ApiKeyFile;
pub use assertions::{assert_problem, flush_namespace};
pub use browser::Browser;
pub use checked_in::assert_checked_in;
pub use process::{ChildProcess, CommandOutput, field};
pub use qr::zbar;
pub use telemetry::init_telemetry;

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

/// Whether something accepts TCP connections at `address` (`host:port`, or
/// a `redis://host:port/` URL) within 2 s.
pub fn is_reachable(address: &str) -> bool {
    socket_address(address)
        .is_ok_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
}

/// Fails (never skips) when `address` does not accept connections, naming
/// `what` and saying how to start it.
#[track_caller]
pub fn require_reachable(what: &str, address: &str) {
    let addr = socket_address(address)
        .unwrap_or_else(|e| panic!("{what} address {address} is not host:port ({e})"));
    if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err() {
        panic!("{what} is not reachable at {address}: {INFRA_HINT}");
    }
}

/// Fails (never skips) when the Kafka broker is down; returns its address.
#[track_caller]
pub fn require_broker() -> String {
    let brokers = kafka_brokers();
    require_reachable("the Kafka broker", &brokers);
    brokers
}

/// Fails (never skips) when Redis is down; returns its URL.
#[track_caller]
pub fn require_redis() -> String {
    let url = redis_url();
    require_reachable("Redis", &url);
    url
}

fn socket_address(address: &str) -> Result<SocketAddr, std::net::AddrParseError> {
    address
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
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
    /// The broker process (killed when dropped); `None` after [`kill`](Self::kill).
    child: Option<ChildProcess>,
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
            child.kill();
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
        self.child = Some(ChildProcess::from_child(child));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_listens_on_a_free_port() {
        let address = format!("127.0.0.1:{}", free_port());
        assert!(!is_reachable(&address));
        assert!(!is_reachable(&format!("redis://{address}/")));
        assert!(!is_reachable("not an address"));
    }

    #[test]
    fn a_listener_is_reachable() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        assert!(is_reachable(&address));
        require_reachable("the listener", &format!("redis://{address}"));
    }

    #[test]
    #[should_panic(expected = "scripts/infra.sh up")]
    fn an_unreachable_requirement_says_how_to_start_it() {
        require_reachable("the thing", &format!("127.0.0.1:{}", free_port()));
    }
}
