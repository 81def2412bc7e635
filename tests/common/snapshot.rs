//! Helpers of the snapshot suites (`snapshot.rs`, `snapshot_failures.rs`):
//! running oxctl, populating a server with keys in several states, saving,
//! restoring and booting a snapshot, and comparing what is served.

// Each suite uses a part of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use super::common::{self, Output, Server, ServerKind};
use serde_json::Value;

pub(crate) const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/etcd-format/tests/fixtures/snapshot.db"
);

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) fn oxctl(endpoint: Option<&str>, args: &[&str]) -> Output {
    common::run(&testkit::bins::oxctl(), endpoint, args, None, &[])
}

/// Asserts success and returns stdout.
pub(crate) fn ok(out: Output, what: &str) -> String {
    assert_eq!(
        out.code,
        0,
        "{what} failed: stdout {:?} stderr {:?}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Asserts a clean failure: the exit code, `Error: …` on stderr (checked
/// against `stderr_starts`), no panic.
pub(crate) fn fails(out: &Output, code: i32, stderr_starts: &str, what: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.code, code, "exit code of {what}: stderr {err:?}");
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.starts_with(stderr_starts),
        "stderr of {what}: {err:?} should end with a line starting {stderr_starts:?}"
    );
    assert!(!err.contains("panic"), "{what} panicked: {err}");
}

/// Keys in several states: versions, a deleted key, a lease, odd bytes.
pub(crate) fn populate(srv: &Server) {
    let ep = srv.endpoint();
    for args in [
        &["put", "a", "1"][..],
        &["put", "a", "2"],
        &["put", "b/x", "y z\t\"q\""],
        &["put", "d", "gone"],
        &["del", "d"],
        &["put", "--", "-dash", "é✓"],
    ] {
        ok(oxctl(Some(&ep), args), &format!("{args:?}"));
    }
    let granted = ok(oxctl(Some(&ep), &["lease", "grant", "600"]), "lease grant");
    let id = granted
        .split_whitespace()
        .nth(1)
        .expect("lease id")
        .to_string();
    ok(
        oxctl(Some(&ep), &["put", "c", "leased", &format!("--lease={id}")]),
        "put --lease",
    );
    // a lease with a negative ID (etcd grants one when asked): its key
    // sorts last in the snapshot's lease bucket
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut lc =
            oxcd_proto::etcdserverpb::lease_client::LeaseClient::connect(format!("http://{ep}"))
                .await
                .expect("connect");
        let g = oxcd_proto::etcdserverpb::LeaseGrantRequest { ttl: 600, id: -7 };
        lc.lease_grant(g).await.expect("lease grant -7");
    });
}

/// `get "" --prefix -w json`, with the raft term (election timing) left
/// out: revision, IDs, count and every key-value are compared.
pub(crate) fn kvs(srv: &Server) -> Value {
    let out = oxctl(
        Some(&srv.endpoint()),
        &["get", "", "--prefix", "-w", "json"],
    );
    let mut v: Value =
        serde_json::from_str(&ok(out, "get --prefix")).expect("get -w json output is json");
    v["header"]
        .as_object_mut()
        .expect("header")
        .remove("raft_term");
    v
}

/// What [`populate`] leaves: four live keys, one of them leased.
pub(crate) fn check_populated(v: &Value) {
    assert_eq!(v["count"], 4, "keys before the snapshot: {v}");
    let leased = v["kvs"]
        .as_array()
        .expect("kvs")
        .iter()
        .filter(|kv| kv["lease"].as_i64().unwrap_or(0) != 0);
    assert_eq!(leased.count(), 1, "leased keys before the snapshot: {v}");
}

/// `oxctl snapshot status` must print what `etcdutl snapshot status` does,
/// for every writer, without a deprecation banner.
pub(crate) fn assert_status_matches(file: &Path) {
    for w in ["simple", "json", "table", "fields"] {
        let ours = oxctl(None, &["snapshot", "status", s(file), "-w", w]);
        let theirs = common::run(
            &testkit::bins::etcdutl(),
            None,
            &["snapshot", "status", s(file), "-w", w],
            None,
            &[],
        );
        assert_eq!(theirs.code, 0, "etcdutl status: {}", text(&theirs.stderr));
        assert_eq!(
            (text(&ours.stdout), ours.code),
            (text(&theirs.stdout), 0),
            "snapshot status -w {w} of {}",
            file.display()
        );
        assert_eq!(text(&ours.stderr), "", "stderr of snapshot status -w {w}");
    }
}

/// `oxctl snapshot save` of `srv` into `file`: etcdctl's stdout line, a
/// private file, no `.part` left.
pub(crate) fn save(srv: &Server, file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let out = oxctl(Some(&srv.endpoint()), &["snapshot", "save", s(file)]);
    assert_eq!(
        ok(out, "snapshot save"),
        format!("Snapshot saved at {}\n", file.display())
    );
    let mode = std::fs::metadata(file)
        .expect("saved file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode of the saved file");
    assert!(!part(file).exists(), ".part left behind");
    let bytes = std::fs::read(file).expect("read snapshot");
    etcd_format::snapshot::verify_trailer(&bytes).expect("saved file has a valid trailer");
}

pub(crate) fn part(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}.part", file.display()))
}

pub(crate) fn oxctl_restore(file: &Path, dir: &Path) {
    let out = oxctl(
        None,
        &["snapshot", "restore", s(file), "--data-dir", s(dir)],
    );
    assert_eq!(ok(out, "snapshot restore"), "", "restore prints nothing");
}

/// Boots `kind` on a restored data dir and compares its keys.
pub(crate) fn boot_and_compare(kind: ServerKind, dir: &Path, before: &Value, what: &str) {
    let srv = Server::start_on(kind, dir, &[]);
    assert_eq!(&kvs(&srv), before, "{what}: keys served by {}", kind.name());
}

/// source → `oxctl snapshot save` → `oxctl snapshot restore` → real etcd
/// and oxcd, each on its own restored copy.
pub(crate) fn round_trip(test: &str, source: ServerKind) -> Option<(tempfile::TempDir, PathBuf)> {
    if !testkit::bins::etcd_available(test) {
        return None;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("snap.db");
    let before = {
        let srv = Server::start(source, &[]);
        populate(&srv);
        save(&srv, &file);
        kvs(&srv)
    };
    check_populated(&before);
    assert_status_matches(&file);
    for kind in [ServerKind::Etcd, ServerKind::Oxcd] {
        let dir = work.path().join(format!("restored-for-{}", kind.name()));
        oxctl_restore(&file, &dir);
        boot_and_compare(kind, &dir, &before, test);
    }
    Some((work, file))
}

/// Names in `dir`, sorted.
pub(crate) fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
