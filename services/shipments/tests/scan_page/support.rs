//! What only `tests/scan_page.rs` needs besides the API harness: finding
//! and running the browser (Debian's Chromium driven by Python playwright)
//! and turning a label PNG into the fake camera's y4m video.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tracechain_testkit::ChildProcess;

/// What to tell a reader when the browser tools are missing.
pub(crate) const BROWSER_HINT: &str = "run .ci/run, which installs Debian's chromium \
     (apt-get install chromium) and Python playwright (python3 -m pip install \
     playwright==1.65.2); never `playwright install`";

/// Debian's chromium and Python playwright, found or the test fails.
pub(crate) struct Browser {
    /// The chromium binary.
    pub(crate) chromium: PathBuf,
    /// The python3 that imports playwright.
    pub(crate) python: String,
}

impl Browser {
    /// Finds the tools; panics with [`BROWSER_HINT`] when one is missing
    /// (a browser test is never skipped).
    pub(crate) fn find() -> Browser {
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
    pub(crate) async fn run(
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

/// Whether `program` can be run (it answers `-version`/`--version`).
fn runs(program: &str, flag: &str) -> bool {
    Command::new(program)
        .arg(flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Turns the label PNG at `png` into the camera video `y4m` with
/// `tests/browser/make_qr_video.sh` (the label scaled to fit 640×480 on
/// white), then checks that a frame of it still decodes to `uri` (with
/// `zbarimg` when it is installed). Fails, never skips, without ffmpeg.
pub(crate) fn label_video(png: &Path, y4m: &Path, uri: &str) {
    assert!(
        runs("ffmpeg", "-version"),
        "ffmpeg is missing: the scan page test turns the label into the fake \
         camera's y4m video with it (apt-get install ffmpeg; .ci/run installs it)"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/make_qr_video.sh");
    let out = Command::new("sh")
        .arg(&script)
        .arg(png)
        .arg(y4m)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make_qr_video.sh failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let header = std::fs::read(y4m).unwrap();
    let first_line = header.split(|b| *b == b'\n').next().unwrap_or_default();
    let first_line = String::from_utf8_lossy(first_line);
    assert!(
        first_line.starts_with("YUV4MPEG2 W640 H480 "),
        "a 640x480 y4m: {first_line}"
    );

    if !runs("zbarimg", "--version") {
        eprintln!("scan_page: zbarimg is missing; the video's frame is not decoded here");
        return;
    }
    // The first frame, as the camera shows it, still holds the label URI.
    let frame = y4m.with_extension("frame.png");
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(y4m)
        .args(["-frames:v", "1"])
        .arg(&frame)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg could not take a frame of the video: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("zbarimg")
        .args(["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"])
        .arg(&frame)
        .output()
        .unwrap();
    let decoded = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        decoded
            .lines()
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>(),
        [uri],
        "a frame of the camera video decodes to the label URI (zbarimg: {})",
        String::from_utf8_lossy(&out.stderr)
    );
}
