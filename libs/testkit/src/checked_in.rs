//! [`assert_checked_in`]: a generated file kept in the repository (an
//! OpenAPI document, say) must be exactly what the code generates now.

use std::path::Path;

/// Asserts the file at `path` holds exactly `generated`. When the
/// environment variable `update_var` is set, rewrites the file instead, so
/// `{update_var}=1 {rerun}` refreshes it (the failure says so).
#[track_caller]
pub fn assert_checked_in(path: &Path, generated: &str, update_var: &str, rerun: &str) {
    if std::env::var_os(update_var).is_some() {
        std::fs::write(path, generated)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
        return;
    }
    let current = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        current == generated,
        "{} is stale: run `{update_var}=1 {rerun}` and commit it",
        path.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_current_file_passes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        std::fs::write(&path, "{}\n").unwrap();
        assert_checked_in(&path, "{}\n", "TESTKIT_NEVER_SET", "cargo test");
    }

    #[test]
    #[should_panic(expected = "is stale: run `TESTKIT_NEVER_SET=1 cargo test` and commit it")]
    fn a_stale_file_says_how_to_refresh_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        std::fs::write(&path, "{}\n").unwrap();
        assert_checked_in(&path, "{\"a\":1}\n", "TESTKIT_NEVER_SET", "cargo test");
    }
}
