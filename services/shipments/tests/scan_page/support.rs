//! What only `tests/scan_page.rs` needs besides the API harness and
//! `tracechain_testkit::Browser`: turning a label PNG into the fake
//! camera's y4m video.

use std::path::Path;
use std::process::{Command, Stdio};

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
