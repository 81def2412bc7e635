//! Helpers shared by the integration tests: the fixture snapshot, real
//! etcd 3.5.1's binaries (through `testkit`) and `etcdutl snapshot status`;
//! `cluster.rs` runs real etcd members on restored data dirs.
#![allow(dead_code)]

pub mod cluster;

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn snapshot_bytes() -> Vec<u8> {
    std::fs::read(fixture("snapshot.db")).expect("fixture snapshot.db")
}

/// (hash, revision, totalKey, totalSize) from etcdutl's JSON.
pub fn parse_status_json(s: &str) -> (u32, i64, u64, u64) {
    let v: serde_json::Value = serde_json::from_str(s.trim()).expect("status json");
    let n = |k: &str| v[k].as_i64().unwrap_or_else(|| panic!("field {k} in {s}"));
    (
        n("hash") as u32,
        n("revision"),
        n("totalKey") as u64,
        n("totalSize") as u64,
    )
}

/// A real etcd 3.5.1 binary (`etcd`, `etcdctl` or `etcdutl`), when installed
/// (`testkit::bins`: `ETCD_BIN_DIR`, else `.ci/etcd/v3.5.1`). Absent, the
/// test is skipped, except under CI where it fails.
pub fn etcd_bin(name: &str) -> Option<PathBuf> {
    let test = std::thread::current().name().unwrap_or("test").to_string();
    testkit::bins::etcd_available(&test).then(|| testkit::bins::etcd_bin_dir().join(name))
}

/// Runs `etcdutl snapshot status -w json` on a file.
pub fn etcdutl_status(etcdutl: &Path, file: &Path) -> (u32, i64, u64, u64) {
    let out = Command::new(etcdutl)
        .args(["snapshot", "status", "-w", "json"])
        .arg(file)
        .output()
        .expect("run etcdutl");
    assert!(
        out.status.success(),
        "etcdutl status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_status_json(&String::from_utf8_lossy(&out.stdout))
}
