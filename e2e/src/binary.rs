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

/// `cargo build -p tracechain --bin tracechain` in the profile this test
/// was built with; the path cargo reports for the executable.
fn build() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args([
            "build",
            "--locked",
            "-p",
            "tracechain",
            "--bin",
            "tracechain",
        ])
        .arg("--message-format=json-render-diagnostics");
    if !cfg!(debug_assertions) {
        command.arg("--release");
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
