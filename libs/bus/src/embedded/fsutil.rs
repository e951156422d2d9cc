//! Durable file-system steps the embedded bus is built from: a file replaced
//! atomically, and a directory whose new entries are made durable.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::BusError;

/// Makes the entries of directory `dir` (files created, renamed, removed) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), BusError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BusError::io(dir, e))
}

/// Replaces `path` with `bytes` atomically and durably: a reader (or a crash)
/// sees the old content or the new one, never a mix.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BusError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| BusError::io(&tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| BusError::io(&tmp, e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| BusError::io(path, e))?;
    sync_dir(dir)
}

/// Creates directory `dir` (and its parents) and makes it durable in its parent.
pub(crate) fn create_dir_durably(dir: &Path) -> Result<(), BusError> {
    fs::create_dir_all(dir).map_err(|e| BusError::io(dir, e))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}
