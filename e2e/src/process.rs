//! One service of the platform as an operating-system process of its own:
//! started from the `tracechain` binary with its environment, killed
//! (SIGKILL) or stopped (SIGTERM) by the test, and started again on the
//! same port with the same environment, as an orchestrator would.
//!
//! Readiness is asked with a plain HTTP/1.1 request over `std::net`, so
//! these calls work from blocking tests and from inside a Tokio runtime.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use tracechain_testkit::ChildProcess;

/// A service process the test controls.
#[derive(Debug)]
pub struct ServiceProcess {
    /// What it is, for messages and its log file's name.
    name: String,
    /// The arguments after the binary (`serve registry`, `up …`).
    args: Vec<String>,
    /// Its environment, applied at every start.
    envs: Vec<(String, String)>,
    /// Where its output goes (appended across restarts).
    log: PathBuf,
    /// The readiness URLs: every one must answer 200 on `/readyz`.
    ready: Vec<String>,
    /// Running, or `None` after a kill or stop.
    process: Option<ChildProcess>,
}

impl ServiceProcess {
    /// Describes a process (not started yet): `tracechain <args>` with
    /// `envs`, output appended to `<log_dir>/<name>.log`, ready when each
    /// of `ready` (base URLs) answers 200 on `/readyz`.
    pub fn new(
        name: &str,
        args: &[&str],
        envs: Vec<(String, String)>,
        log_dir: &Path,
        ready: Vec<String>,
    ) -> ServiceProcess {
        ServiceProcess {
            name: name.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            envs,
            log: log_dir.join(format!("{name}.log")),
            ready,
            process: None,
        }
    }

    /// Starts it (it must not be running) without waiting.
    pub fn spawn(&mut self) {
        assert!(self.process.is_none(), "{} is already running", self.name);
        let mut command = Command::new(crate::tracechain());
        command.args(&self.args);
        for (key, value) in &self.envs {
            command.env(key, value);
        }
        self.process = Some(ChildProcess::spawn_logged(&mut command, &self.log));
    }

    /// Starts it and waits until it is ready.
    pub fn start(&mut self) {
        self.spawn();
        self.wait_ready(Duration::from_secs(90));
    }

    /// Waits up to `within` for every readiness URL to answer 200; panics
    /// with the log when it does not, or when the process exits.
    pub fn wait_ready(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        for url in self.ready.clone() {
            while http_status(&url, "/readyz") != Some(200) {
                if let Some(status) = self.process.as_mut().and_then(ChildProcess::try_wait) {
                    panic!(
                        "{} exited with {status} before it was ready; log:\n{}",
                        self.name,
                        self.log_text()
                    );
                }
                assert!(
                    Instant::now() < deadline,
                    "{} not ready within {within:?}; log:\n{}",
                    self.name,
                    self.log_text()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// SIGKILL: no chance to flush, commit or say goodbye.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// SIGTERM and wait for the exit; the status it exited with.
    pub fn stop(&mut self) -> ExitStatus {
        let mut process = self
            .process
            .take()
            .unwrap_or_else(|| panic!("{} is not running", self.name));
        process.signal("TERM");
        process
            .wait_for_exit(Duration::from_secs(60))
            .unwrap_or_else(|| panic!("{} did not stop within 60 s of SIGTERM", self.name))
    }

    /// Starts it again after a kill or stop, and waits until it is ready.
    pub fn restart(&mut self) {
        self.kill();
        self.start();
    }

    /// The operating system's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ChildProcess::id)
    }

    /// Everything it printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

/// The status code of `GET <base><path>`, or `None` without an answer.
pub fn http_status(base: &str, path: &str) -> Option<u16> {
    let authority = base.strip_prefix("http://")?.trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
