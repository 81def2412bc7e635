//! `oxctl snapshot save` against real etcd 3.4 (Debian's 3.4.23): the file
//! it saves reads the same in `oxctl snapshot status` as in real etcdutl,
//! and its restore boots real etcd 3.5.1 serving the same keys.

mod common;

use common::{Server, ServerKind};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use testkit::{Flags, Proc};

fn oxctl(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(testkit::bins::oxctl())
        .args(args)
        .env_remove("ETCDCTL_API")
        .output()
        .expect("run oxctl");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn must(args: &[&str]) -> String {
    let (code, out, err) = oxctl(args);
    assert_eq!(code, 0, "oxctl {args:?}: {err}");
    out
}

fn json_kvs(out: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(out).expect("json");
    v["kvs"].clone()
}

#[test]
fn snapshot_from_etcd_3_4_is_read_and_restored() {
    let test = "snapshot_from_etcd_3_4";
    if !testkit::bins::etcd34_available(test) || !testkit::bins::etcd_available(test) {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let mut flags = Flags::single("default", &dir.path().join("e34"));
    // What etcd 3.4 takes by default: etcd's default member and cluster IDs.
    flags.advertise_peer = Some("http://localhost:2380".into());
    let ep = flags.endpoint();
    let mut etcd = Proc::new("etcd-3.4", &testkit::bins::etcd34(), flags.args(), None);
    etcd.spawn();
    let endpoints = format!("--endpoints={ep}");
    let up = Duration::from_secs(15);
    testkit::wait::poll("etcd 3.4", up, Duration::from_millis(100), || {
        let (code, _, err) = oxctl(&[&endpoints, "--dial-timeout=200ms", "get", "x"]);
        if code == 0 {
            Ok(())
        } else {
            Err(err)
        }
    })
    .unwrap_or_else(|e| panic!("etcd 3.4 did not start: {e}"));
    for (k, v) in [("a", "1"), ("a", "2"), ("b", "x y"), ("gone", "z")] {
        must(&[&endpoints, "put", k, v]);
    }
    must(&[&endpoints, "del", "gone"]);
    let before = json_kvs(&must(&[&endpoints, "get", "", "--prefix", "-w", "json"]));
    let file = dir.path().join("s34.db");
    let f = file.to_string_lossy().to_string();
    let saved = must(&[&endpoints, "snapshot", "save", &f]);
    assert_eq!(saved, format!("Snapshot saved at {f}\n"));
    etcd.kill();

    for w in ["simple", "json", "table"] {
        let ours = must(&["snapshot", "status", &f, "-w", w]);
        let real = Command::new(testkit::bins::etcdutl())
            .args(["snapshot", "status", &f, "-w", w])
            .output()
            .expect("etcdutl");
        assert_eq!(ours, String::from_utf8_lossy(&real.stdout), "status -w {w}");
    }

    let restored = dir.path().join("restored");
    must(&[
        "snapshot",
        "restore",
        &f,
        "--data-dir",
        &restored.to_string_lossy(),
    ]);
    let srv = Server::start_on(ServerKind::Etcd, Path::new(&restored), &[]);
    let after = must(&[
        &format!("--endpoints={}", srv.endpoint()),
        "get",
        "",
        "--prefix",
        "-w",
        "json",
    ]);
    assert_eq!(
        json_kvs(&after),
        before,
        "etcd 3.5.1 serves what etcd 3.4 had"
    );
}
