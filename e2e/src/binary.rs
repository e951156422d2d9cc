//! The `tracechain` binary the whole-system tests run as separate processes.
//!
//! Cargo hands a built binary only to its own package's tests
//! (`CARGO_BIN_EXE_*`), so this crate asks cargo for it, once per test
//! process, exactly as `make test` builds it: `cargo test --workspace
//! --no-run --test cli` (the `tracechain` package's CLI test, which makes
//! cargo build the binary) in the tests' profile. The whole workspace is
//! selected so features resolve as in the workspace's test build: after
//! `cargo nextest run --workspace` this is a no-op (a quarter of a second),
//! where `cargo build -p tracechain` would rebuild a dozen crates with other
//! features. When only this crate's tests run, it builds what is missing,
//! so a stale binary is never tested. `TRACECHAIN_BIN` overrides the lookup
//! (a release build, or a binary built elsewhere).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root: this crate lives in `<root>/e2e`.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e crate sits inside the workspace")
}

/// The path of an up-to-date `tracechain` binary; builds it on first use.
pub fn tracechain() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("TRACECHAIN_BIN") {
            return PathBuf::from(path);
        }
        build()
    })
}

/// Builds the binary as the workspace's tests build it, in the profile
/// this test was built with; the path cargo reports for the executable.
fn build() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args([
            "test",
            "--workspace",
            "--no-run",
            "--locked",
            "--test",
            "cli",
        ])
        .arg("--message-format=json-render-diagnostics");
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    // The test runner gives this process the e2e package's own variables
    // (`CARGO_PKG_DESCRIPTION`…). Cargo would take them for a change in what
    // the binary was compiled with (clap's `about` reads one) and rebuild
    // it: strip what describes this test, keep cargo's own settings.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        let describes_this_test = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
            || matches!(
                name.as_str(),
                "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR" | "CARGO_RUSTC_CURRENT_DIR"
            );
        if describes_this_test {
            command.env_remove(&name);
        }
    }
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run cargo to build tracechain: {error}"));
    assert!(
        output.status.success(),
        "building the tracechain binary failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact"
                && message["target"]["name"] == "tracechain"
                && message["target"]["kind"] == serde_json::json!(["bin"])
                && message["profile"]["test"] == false
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported the tracechain executable")
}
