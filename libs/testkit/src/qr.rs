//! Decoding QR codes the way a phone's scanner would: `zbarimg` (Debian's
//! `zbar-tools`, which `.ci/run` installs), an independent decoder.

use std::collections::BTreeSet;
use std::path::Path;

/// Every QR code `zbarimg` finds in the image at `path`, one text per
/// symbol; fails (never skips) when it finds none or is not installed.
pub fn zbar(path: &Path) -> BTreeSet<String> {
    let output = std::process::Command::new("zbarimg")
        .args(["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"])
        .arg(path)
        .output()
        .expect("zbarimg runs (Debian package zbar-tools; .ci/run installs it)");
    assert!(
        output.status.success(),
        "zbarimg found no code in {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("zbarimg prints UTF-8")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}
