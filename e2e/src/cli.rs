//! The operator's and newcomer's commands, run as they would run them:
//! `tracechain demo` and `tracechain verify`, from the built binary.

use std::path::Path;
use std::process::Command;

use crate::deployment::Urls;

/// Runs `tracechain demo` against `urls` with `extra` arguments (keys,
/// ledger key, data dir) writing to `out`; panics unless it succeeds and
/// prints every step. What it printed.
pub fn demo(urls: &Urls, extra: &[&std::ffi::OsStr], out: &Path) -> String {
    let output = Command::new(crate::tracechain())
        .arg("demo")
        .args(["--registry", &urls.registry])
        .args(["--shipments", &urls.shipments])
        .args(["--ledger", &urls.ledger])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .expect("tracechain demo runs");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "demo failed: {printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for step in [
        "1. ",
        "2. ",
        "3. ",
        "4. ",
        "5. ",
        "6. ",
        "pickup    accepted",
        "handover  accepted",
        "delivery  accepted",
        "verified:",
        "done:",
    ] {
        assert!(printed.contains(step), "{step:?} in {printed}");
    }
    printed
}

/// The shipment `tracechain demo` delivered, from what it printed.
pub fn demo_shipment(printed: &str) -> String {
    printed
        .lines()
        .find_map(|l| l.strip_prefix("done: the delivery of shipment "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the demo names its shipment")
        .to_owned()
}

/// `tracechain verify url <ledger>` from genesis trusting only
/// `public_key`; panics unless the whole chain verifies. Its report.
pub fn verify_url(ledger: &str, api_key: &str, public_key: &str) -> String {
    let output = Command::new(crate::tracechain())
        .args([
            "verify",
            "url",
            ledger,
            "--api-key",
            api_key,
            "--key",
            public_key,
        ])
        .output()
        .expect("tracechain verify runs");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "verify url failed: {report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    report
}
