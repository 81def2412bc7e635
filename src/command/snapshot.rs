//! `snapshot status <filename>` and `snapshot restore <filename>`: etcdutl's
//! offline commands, run natively on `etcd_format`. Unlike etcdctl 3.5
//! they print no deprecation banner. Like etcdctl they never read
//! `ETCDCTL_*` variables (no client is built), so `-w` comes from the
//! command line only. `snapshot save` is in `snapshot_save.rs`.

use std::io;
use std::path::PathBuf;

use etcd_format::restore::{self, RestoreConfig, RestoreError};

use super::Ctx;
use crate::error::{CtlError, Result};
use crate::flags::{Bool, Int, Text};
use crate::global;

const STATUS_LONG: &str = "When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are hash, revision, total keys, total size.

oxctl keeps this command (etcdctl 3.5 moved it to etcdutl) and prints no
deprecation notice. Like etcdctl, it ignores ETCDCTL_* variables.";

const RESTORE_LONG: &str =
    "oxctl keeps this command (etcdctl 3.5 moved it to etcdutl) and prints no
deprecation notice. An existing data directory is refused, even an empty
one, and nothing is written unless the restore completes. Like etcdctl,
it ignores ETCDCTL_* variables.";

// `status` and `restore` are etcdutl's in etcdctl 3.5; oxctl keeps them as
// first-class commands: no deprecation banner, and the short help drops
// etcdctl's `[deprecated]` marker (the description says so).
#[derive(clap::Subcommand, Debug)]
pub enum SnapshotCmd {
    /// Stores an etcd node backend snapshot to a given file
    #[command(override_usage = "save <filename>")]
    Save,
    /// Gets backend snapshot status of a given file
    #[command(long_about = STATUS_LONG, override_usage = "status <filename>")]
    Status,
    /// Restores an etcd member snapshot to an etcd directory
    #[command(long_about = RESTORE_LONG, override_usage = "restore <filename> [options]")]
    Restore(RestoreArgs),
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// Path to the data directory
    #[arg(long = "data-dir", id = "data-dir", default_value = "")]
    pub data_dir: Text,
    /// Path to the WAL directory (use --data-dir if none given)
    #[arg(long = "wal-dir", id = "wal-dir", default_value = "")]
    pub wal_dir: Text,
    /// Initial cluster configuration for restore bootstrap
    #[arg(
        long = "initial-cluster",
        id = "initial-cluster",
        default_value = "default=http://localhost:2380"
    )]
    pub initial_cluster: Text,
    /// Initial cluster token for the etcd cluster during restore bootstrap
    #[arg(
        long = "initial-cluster-token",
        id = "initial-cluster-token",
        default_value = "etcd-cluster"
    )]
    pub initial_cluster_token: Text,
    /// List of this member's peer URLs to advertise to the rest of the cluster
    #[arg(
        long = "initial-advertise-peer-urls",
        id = "initial-advertise-peer-urls",
        default_value = "http://localhost:2380"
    )]
    pub initial_advertise_peer_urls: Text,
    /// Human-readable name for this member
    #[arg(long, default_value = "default")]
    pub name: Text,
    /// Ignore snapshot integrity hash value (required if copied from data directory)
    #[arg(
        long = "skip-hash-check",
        id = "skip-hash-check",
        default_value = "false"
    )]
    pub skip_hash_check: Bool,
    // Not in etcdctl 3.5.1; as in later etcdutl releases.
    /// Schedule a compaction at the latest revision of the restored data (needed with --bump-revision)
    #[arg(
        long = "mark-compacted",
        id = "mark-compacted",
        default_value = "false"
    )]
    pub mark_compacted: Bool,
    /// Raise the latest revision of the restored data by this much (needs --mark-compacted)
    #[arg(long = "bump-revision", id = "bump-revision", default_value = "0")]
    pub bump_revision: Int,
}

/// Go's text for an OS error (`syscall.Errno.Error()`): the C library's
/// message with a lower-case first letter, without Rust's `(os error N)`.
pub fn errno_text(e: &io::Error) -> String {
    let s = match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code).to_string(),
        None => return e.to_string(),
    };
    let s = match s.rfind(" (os error ") {
        Some(i) => &s[..i],
        None => s.as_str(),
    };
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Go's `*os.PathError` text: `op path: reason`.
pub fn path_error(op: &str, path: &str, e: &io::Error) -> String {
    format!("{op} {path}: {}", errno_text(e))
}

/// Reads a whole snapshot file, failing like etcdutl (`stat` first).
fn read_file(path: &str) -> Result<Vec<u8>> {
    std::fs::metadata(path).map_err(|e| CtlError::General(path_error("stat", path, &e)))?;
    /// Linux's EISDIR: reading (not opening) a directory fails.
    const EISDIR: i32 = 21;
    std::fs::read(path).map_err(|e| {
        let op = match e.raw_os_error() {
            Some(EISDIR) => "read",
            _ => "open",
        };
        CtlError::General(path_error(op, path, &e))
    })
}

pub fn status(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() != 1 {
        return Err(CtlError::BadArgs(
            "snapshot status requires exactly one argument".into(),
        ));
    }
    // The writer is checked before the file is read (`-w yaml` → exit 4).
    let printer = global::printer_from(&ctx.flags.get())?;
    let bytes = read_file(&ctx.args[0])?;
    let st = etcd_format::snapshot::status(&bytes).map_err(|e| CtlError::General(e.to_string()))?;
    printer.snapshot_status(&mut ctx.w, &st)
}

/// The restore settings from the flags. Operator rule: any existing data
/// dir is refused, even an empty one (etcdutl 3.5 accepts an empty one).
fn restore_config(ctx: &Ctx) -> Result<RestoreConfig> {
    let f: RestoreArgs = ctx.flags.get();
    let dir = |v: &Text| (!v.is_empty()).then(|| PathBuf::from(&v.0));
    let bump = *f.bump_revision;
    if bump < 0 {
        return Err(CtlError::BadArgs(format!(
            "invalid argument \"{bump}\" for \"--bump-revision\" flag: must not be negative"
        )));
    }
    Ok(RestoreConfig {
        data_dir: dir(&f.data_dir),
        wal_dir: dir(&f.wal_dir),
        name: f.name.0,
        initial_cluster: f.initial_cluster.0,
        initial_cluster_token: f.initial_cluster_token.0,
        initial_advertise_peer_urls: f.initial_advertise_peer_urls.0,
        skip_hash_check: *f.skip_hash_check,
        mark_compacted: *f.mark_compacted,
        bump_revision: bump as u64,
        refuse_existing_dir: true,
    })
}

fn restore_error(e: RestoreError) -> CtlError {
    CtlError::General(e.to_string())
}

/// Prints nothing on success. The cluster settings and the data dir are
/// checked before the snapshot is read, in etcdutl's order; the restore
/// itself writes into a temporary sibling and renames it into place, so a
/// failure leaves nothing behind.
pub fn restore(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() != 1 {
        return Err(CtlError::BadArgs(
            "snapshot restore requires exactly one argument".into(),
        ));
    }
    let cfg = restore_config(ctx)?;
    restore::plan_members(&cfg).map_err(restore_error)?;
    let data_dir = cfg.data_dir();
    if std::fs::symlink_metadata(&data_dir).is_ok() {
        return Err(restore_error(RestoreError::DataDirExists(data_dir)));
    }
    let path = &ctx.args[0];
    // open it here for etcdutl's error text; restore_file then reads the
    // snapshot a page at a time rather than whole
    std::fs::File::open(path).map_err(|e| CtlError::General(path_error("open", path, &e)))?;
    restore::restore_file(std::path::Path::new(path), &cfg).map_err(restore_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_like_go() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(
            path_error("open", "/x/y.part", &e),
            "open /x/y.part: no such file or directory"
        );
        assert_eq!(
            errno_text(&io::Error::from_raw_os_error(13)),
            "permission denied"
        );
        assert_eq!(
            errno_text(&io::Error::from_raw_os_error(28)),
            "no space left on device"
        );
    }
}
