//! Where the binaries are. One rule for real etcd:
//!
//! - etcd 3.5.1 (`etcd`, `etcdctl`, `etcdutl`): the directory named by
//!   `ETCD_BIN_DIR` when it is set and not empty, else `.ci/etcd/v3.5.1`
//!   under the workspace root (what `.ci/install-etcd.sh` installs);
//! - etcd 3.4 (Debian's 3.4.23): `/usr/bin`;
//! - `oxcd` and `oxctl`: `target/<profile>/`, next to the `deps/` directory
//!   holding the running test binary (`cargo build --workspace --bins`).
//!
//! Missing real etcd skips a test with a loud SKIPPED line, except when `CI`
//! is set (not empty), where it fails: CI never skips silently.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable that overrides the etcd 3.5.1 directory.
pub const ETCD_BIN_DIR: &str = "ETCD_BIN_DIR";

/// The workspace root (the directory of the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives one level below the workspace root")
        .to_path_buf()
}

/// The directory holding real etcd 3.5.1.
pub fn etcd_bin_dir() -> PathBuf {
    match std::env::var_os(ETCD_BIN_DIR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join(".ci/etcd/v3.5.1"),
    }
}

/// Real etcd 3.5.1's server.
pub fn etcd() -> PathBuf {
    etcd_bin_dir().join("etcd")
}

/// Real etcd 3.5.1's client.
pub fn etcdctl() -> PathBuf {
    etcd_bin_dir().join("etcdctl")
}

/// Real etcd 3.5.1's offline tool.
pub fn etcdutl() -> PathBuf {
    etcd_bin_dir().join("etcdutl")
}

/// The directory of real etcd 3.4 (Debian's package).
pub const ETCD34_DIR: &str = "/usr/bin";

/// Real etcd 3.4's server.
pub fn etcd34() -> PathBuf {
    Path::new(ETCD34_DIR).join("etcd")
}

/// Real etcd 3.4's client.
pub fn etcdctl34() -> PathBuf {
    Path::new(ETCD34_DIR).join("etcdctl")
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Fails under CI, else prints a loud SKIPPED line for `test`.
fn missing(test: &str, what: &str) {
    if in_ci() {
        panic!("{what}; CI must run .ci/install-etcd.sh before the tests ({test})");
    }
    eprintln!(
        "\n=====================================================================\n\
         SKIPPED {test}: {what}\n\
         run .ci/install-etcd.sh (the 3.5.1 directory can be overridden with {ETCD_BIN_DIR})\n\
         =====================================================================\n"
    );
}

/// True when real etcd 3.5.1 (`etcd`, `etcdctl`, `etcdutl`) is installed.
/// When it is not: fails with `CI` set, else prints SKIPPED and returns
/// false, so the caller returns early.
pub fn etcd_available(test: &str) -> bool {
    let absent: Vec<PathBuf> = [etcd(), etcdctl(), etcdutl()]
        .into_iter()
        .filter(|p| !p.is_file())
        .collect();
    if absent.is_empty() {
        return true;
    }
    missing(
        test,
        &format!("real etcd 3.5.1 is not installed (looked for {absent:?})"),
    );
    false
}

/// True when `/usr/bin/etcd` is etcd 3.4 (the same skip-or-fail rule).
pub fn etcd34_available(test: &str) -> bool {
    let ok = Command::new(etcd34())
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("3.4."))
        .unwrap_or(false);
    if !ok {
        missing(test, &format!("{} is not etcd 3.4", etcd34().display()));
    }
    ok
}

/// A binary built from this workspace: `target/<profile>/<name>`. Panics
/// with the command to run when it is not built; warns when its sources
/// (`src_dir` under the workspace root) are newer.
fn built(name: &str, src_dir: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe of the test binary");
    let profile_dir = exe
        .parent() // target/<profile>/deps
        .and_then(Path::parent) // target/<profile>
        .expect("test binary is expected at target/<profile>/deps/<test>");
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        panic!(
            "{name} binary not found at {}: build it first: cargo build --workspace --bins",
            bin.display()
        );
    }
    warn_if_stale(&bin, &workspace_root().join(src_dir));
    bin
}

fn warn_if_stale(bin: &Path, src: &Path) {
    fn newest(dir: &Path) -> Option<std::time::SystemTime> {
        let mut best = None;
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let path = entry.path();
            let t = if path.is_dir() {
                newest(&path)
            } else {
                entry.metadata().ok()?.modified().ok()
            };
            best = best.max(t);
        }
        best
    }
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok();
    if let (Some(src_time), Some(built)) = (newest(src), built) {
        if src_time > built {
            eprintln!(
                "WARNING: {} is older than {}; run `cargo build --workspace --bins`",
                bin.display(),
                src.display()
            );
        }
    }
}

/// The built `oxcd` server.
pub fn oxcd() -> PathBuf {
    built("oxcd", "server/src")
}

/// The built `oxctl` client.
pub fn oxctl() -> PathBuf {
    built("oxctl", "src")
}

/// Which server implementation a test starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Real etcd 3.5.1 ([`etcd`]).
    Etcd,
    /// The built `oxcd` ([`oxcd`]).
    Oxcd,
}

impl Kind {
    /// `"etcd"` or `"oxcd"`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Etcd => "etcd",
            Kind::Oxcd => "oxcd",
        }
    }

    /// The server binary.
    pub fn binary(self) -> PathBuf {
        match self {
            Kind::Etcd => etcd(),
            Kind::Oxcd => oxcd(),
        }
    }

    /// True when the binary can run: always for oxcd, [`etcd_available`]
    /// for real etcd.
    pub fn available(self, test: &str) -> bool {
        match self {
            Kind::Etcd => etcd_available(test),
            Kind::Oxcd => true,
        }
    }
}
