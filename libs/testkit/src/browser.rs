//! Browser tests: Debian's Chromium driven by Python playwright, found
//! (or the test fails — a browser test is never skipped) and run as a child
//! process with a deadline.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::ChildProcess;

/// What to tell a reader when the browser tools are missing.
pub const BROWSER_HINT: &str = "run .ci/run, which installs Debian's chromium \
     (apt-get install chromium) and Python playwright (python3 -m pip install \
     playwright==1.65.2); never `playwright install`";

/// Debian's chromium and Python playwright, found or the test fails.
#[derive(Debug, Clone)]
pub struct Browser {
    /// The chromium binary.
    pub chromium: PathBuf,
    /// The python3 that imports playwright.
    pub python: String,
}

impl Browser {
    /// Finds the tools; panics with [`BROWSER_HINT`] when one is missing
    /// (a browser test is never skipped).
    pub fn find() -> Browser {
        let chromium = PathBuf::from(
            std::env::var("TRACECHAIN_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
        );
        assert!(
            chromium.exists(),
            "{} is missing: {BROWSER_HINT}",
            chromium.display()
        );
        let python = std::env::var("TRACECHAIN_PYTHON").unwrap_or_else(|_| "python3".into());
        let probe = Command::new(&python)
            .args(["-c", "import playwright.sync_api"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match probe {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "{python} cannot import playwright ({}): {BROWSER_HINT}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(error) => panic!("cannot run {python} ({error}): {BROWSER_HINT}"),
        }
        Browser { chromium, python }
    }

    /// Runs `script` with `args`, stdout and stderr to files in `dir`, killed
    /// after `within`. Returns the exit status and what it printed.
    pub async fn run(
        &self,
        script: &Path,
        args: &[String],
        dir: &Path,
        within: Duration,
    ) -> (ExitStatus, String, String) {
        let stdout_path = dir.join("browser.stdout");
        let stderr_path = dir.join("browser.stderr");
        let mut child = ChildProcess::spawn(
            Command::new(&self.python)
                .arg(script)
                .args(args)
                .arg("--chromium")
                .arg(&self.chromium)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&stdout_path).unwrap())
                .stderr(std::fs::File::create(&stderr_path).unwrap()),
        );
        let until = Instant::now() + within;
        let status = loop {
            if let Some(status) = child.try_wait() {
                break status;
            }
            if Instant::now() >= until {
                // Our own child, by its handle: nothing else is touched.
                child.kill();
                panic!(
                    "the browser script ran over {within:?}; stderr:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        (
            status,
            std::fs::read_to_string(&stdout_path).unwrap_or_default(),
            std::fs::read_to_string(&stderr_path).unwrap_or_default(),
        )
    }
}
