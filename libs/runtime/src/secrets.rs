//! Writing secrets (signing keys, API key tables) to disk: owner-only
//! permissions, atomic replacement, and never overwriting one by accident.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

fn context(what: String) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Writes `contents` to `path` readable by the owner only (0600 on Unix),
/// through a temporary file renamed into place so a reader never sees half a
/// file. Refuses to replace an existing file unless `overwrite`.
pub fn write_secret(path: &Path, contents: &[u8], overwrite: bool) -> io::Result<()> {
    if !overwrite && path.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} already exists (pass --force to replace it)",
                path.display()
            ),
        ));
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(context(format!("create directory {}", dir.display())))?;
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a file path", path.display()),
        )
    })?;
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
        .map_err(context(format!("create {}", tmp.display())))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(context(format!("write {}", tmp.display())))?;
    fs::rename(&tmp, path).map_err(context(format!("move {} into place", path.display())))
}
