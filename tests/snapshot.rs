//! `oxctl snapshot save|status|restore` end to end: snapshots taken from
//! oxcd and from real etcd 3.5.1, restored by oxctl (or real etcdutl, or
//! with a bumped revision), booted by real etcd and by oxcd, and the keys
//! compared with what the source served; `snapshot status` compared with
//! real etcdutl. The failure paths are in `snapshot_failures.rs`.
//!
//! Run: `cargo build -p oxctl -p oxcd && cargo test -p oxctl --test snapshot`.

mod common;
#[path = "common/snapshot.rs"]
mod helpers;

use std::path::Path;

use common::{Server, ServerKind};
use helpers::*;

#[test]
fn oxcd_snapshot_restored_by_oxctl_boots_etcd_and_oxcd() {
    round_trip(
        "oxcd_snapshot_restored_by_oxctl_boots_etcd_and_oxcd",
        ServerKind::Oxcd,
    );
}

#[test]
fn etcd_snapshot_restored_by_oxctl_boots_etcd_and_oxcd() {
    let test = "etcd_snapshot_restored_by_oxctl_boots_etcd_and_oxcd";
    let Some((work, _)) = round_trip(test, ServerKind::Etcd) else {
        return;
    };
    // A file saved by the real etcdctl: same status output.
    let srv = Server::start(ServerKind::Etcd, &[]);
    populate(&srv);
    let file = work.path().join("by-etcdctl.db");
    let out = common::run(
        &testkit::bins::etcdctl(),
        Some(&srv.endpoint()),
        &["snapshot", "save", s(&file)],
        None,
        &[],
    );
    ok(out, "etcdctl snapshot save");
    assert_status_matches(&file);
    assert_status_matches(Path::new(FIXTURE));
}

#[test]
fn oxcd_snapshot_restored_by_etcdutl_boots_etcd() {
    let test = "oxcd_snapshot_restored_by_etcdutl_boots_etcd";
    if !testkit::bins::etcd_available(test) {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("snap.db");
    let before = {
        let srv = Server::start(ServerKind::Oxcd, &[]);
        populate(&srv);
        save(&srv, &file);
        kvs(&srv)
    };
    check_populated(&before);
    let dir = work.path().join("restored");
    let out = common::run(
        &testkit::bins::etcdutl(),
        None,
        &["snapshot", "restore", s(&file), "--data-dir", s(&dir)],
        None,
        &[],
    );
    ok(out, "etcdutl snapshot restore");
    boot_and_compare(ServerKind::Etcd, &dir, &before, test);
}

#[test]
fn restore_with_bumped_revision_boots_etcd() {
    if !testkit::bins::etcd_available("restore_with_bumped_revision_boots_etcd") {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    // Not oxcd yet: its import (server/src/import.rs) takes only the
    // finished compaction from `meta`, not the scheduled one etcd
    // completes on boot, so it still serves the revisions below the bump.
    let dir = work.path().join("bumped");
    let args = [
        "--bump-revision=100",
        "--mark-compacted",
        "--data-dir",
        s(&dir),
    ];
    let out = oxctl(
        None,
        &[&["snapshot", "restore", FIXTURE][..], &args].concat(),
    );
    assert_eq!(ok(out, "restore --bump-revision"), "");
    let srv = Server::start_on(ServerKind::Etcd, &dir, &[]);
    let v = kvs(&srv);
    assert_eq!(v["header"]["revision"], 168, "{v}");
    let out = oxctl(Some(&srv.endpoint()), &["get", "k", "--rev=100"]);
    let want = "Error: etcdserver: mvcc: required revision has been compacted";
    fails(&out, 1, want, "get below the bumped revision");
}
