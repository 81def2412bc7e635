//! Filesystem side of a restore: directory checks, fsynced writes, WAL
//! preallocation, and the temporary sibling directory renamed into place.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::RestoreError;
use crate::{fileutil, wal};

pub(super) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> RestoreError {
    let path = path.to_path_buf();
    move |source| RestoreError::Io { op, path, source }
}

pub(super) fn check_data_dir(dir: &Path, strict: bool) -> Result<(), RestoreError> {
    if fs::symlink_metadata(dir).is_err() {
        return Ok(());
    }
    if strict {
        return Err(RestoreError::DataDirExists(dir.to_path_buf()));
    }
    match fs::read_dir(dir).map(|mut it| it.next().is_none()) {
        Ok(true) => Ok(()),
        _ => Err(RestoreError::DataDirNotEmpty(dir.to_path_buf())),
    }
}

pub(super) fn mkdir_all(dir: &Path) -> Result<(), RestoreError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err("mkdir", dir))
}

pub(super) fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), RestoreError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_err("create", path))?;
    f.write_all(data).map_err(io_err("write", path))?;
    f.sync_all().map_err(io_err("fsync", path))
}

pub(super) fn write_wal(path: &Path, records: &[u8]) -> Result<(), RestoreError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err("create", path))?;
    fileutil::preallocate(&f, wal::SEGMENT_SIZE_BYTES.max(records.len() as u64))
        .map_err(io_err("preallocate", path))?;
    f.write_all(records).map_err(io_err("write", path))?;
    f.sync_all().map_err(io_err("fsync", path))
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), RestoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync", dir))
}

/// A temporary sibling of a target directory, removed on drop unless
/// committed (renamed onto the target).
pub(super) struct TempDir {
    pub(super) path: PathBuf,
    done: bool,
}

impl TempDir {
    pub(super) fn new(target: &Path) -> Result<TempDir, RestoreError> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        mkdir_all(&parent)?;
        let base = target
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into());
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!(".{base}.restore-{}-{seq}", std::process::id()));
        if fs::symlink_metadata(&path).is_ok() {
            fs::remove_dir_all(&path).map_err(io_err("remove", &path))?;
        }
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(io_err("mkdir", &path))?;
        Ok(TempDir { path, done: false })
    }

    /// Renames the directory onto `target`. When `target` is an existing
    /// empty directory that cannot be replaced (a mount point, say), the
    /// entries are moved into it instead (`member` is the only entry of a
    /// data dir, so that is still a single rename).
    pub(super) fn commit(mut self, target: &Path) -> Result<(), RestoreError> {
        if let Err(e) = fs::rename(&self.path, target) {
            let empty_dir = fs::read_dir(target).is_ok_and(|mut it| it.next().is_none());
            if !empty_dir {
                return Err(io_err("rename", target)(e));
            }
            for entry in fs::read_dir(&self.path).map_err(io_err("read", &self.path))? {
                let entry = entry.map_err(io_err("read", &self.path))?;
                let to = target.join(entry.file_name());
                fs::rename(entry.path(), &to).map_err(io_err("rename", &to))?;
            }
            sync_dir(target)?;
            return Ok(());
        }
        self.done = true;
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        sync_dir(parent)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
