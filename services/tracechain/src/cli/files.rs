//! Writing secrets to disk: owner-only permissions, atomic replacement, and
//! never overwriting a key by accident.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};

/// Writes `contents` to `path` readable by the owner only (0600 on Unix),
/// through a temporary file renamed into place so a reader never sees half a
/// file. Refuses to replace an existing file unless `overwrite`.
pub(crate) fn write_secret(path: &Path, contents: &[u8], overwrite: bool) -> anyhow::Result<()> {
    if !overwrite && path.exists() {
        bail!(
            "{} already exists (pass --force to replace it)",
            path.display()
        );
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).with_context(|| format!("create directory {}", dir.display()))?;
    let file_name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp", file_name.to_string_lossy()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("create {}", tmp.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("move {} into place", path.display()))?;
    Ok(())
}
