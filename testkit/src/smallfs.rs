//! A small filesystem of its own for a test (a tmpfs of a given size, so a
//! data dir on it can fill up), unmounted on drop. Mounting needs root;
//! [`SmallFs::mount`] says why it could not, and [`SmallFs::required`]
//! applies the skip-or-fail rule of the real-etcd tests (skip locally, fail
//! under `CI`).

use std::path::Path;
use std::process::Command;

pub struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    /// A tmpfs of `mib` MiB on a new temporary directory.
    pub fn mount(mib: u64) -> Result<SmallFs, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallFs { dir })
    }

    /// [`SmallFs::mount`], or None after printing SKIPPED when it cannot
    /// be mounted here; under `CI` that is a failure.
    pub fn required(mib: u64, test: &str) -> Option<SmallFs> {
        match SmallFs::mount(mib) {
            Ok(fs) => Some(fs),
            Err(e) if std::env::var_os("CI").is_some() => {
                panic!("{test} needs a tmpfs (run as root): {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED {test}: no tmpfs ({e})");
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // lazily: a process still holding a file there must not keep the
        // mount (and its memory) past the test
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
