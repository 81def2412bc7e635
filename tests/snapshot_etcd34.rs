//! `oxctl snapshot save` against real etcd 3.4 (Debian's 3.4.23): the file
//! it saves reads the same in `oxctl snapshot status` as in real etcdutl,
//! and its restore boots real etcd 3.5.1 serving the same keys.

mod common;

use common::{Server, ServerKind};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ETCD34: &str = "/usr/bin/etcd";

/// Kills the child on drop: every test stops what it started.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn etcd34_available() -> bool {
    let ok = Command::new(ETCD34)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("3.4."))
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("{ETCD34} (etcd 3.4) missing; CI must run .ci/install-etcd.sh");
        }
        eprintln!("SKIPPED: {ETCD34} is not etcd 3.4");
    }
    ok
}

fn oxctl(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(common::oxctl_bin())
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
    if !etcd34_available() || !common::real_etcd_available("snapshot_from_etcd_3_4") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let (cp, pp) = (common::free_port(), common::free_port());
    let ep = format!("127.0.0.1:{cp}");
    let child = Command::new(ETCD34)
        .args([
            "--name",
            "default",
            "--data-dir",
            &dir.path().join("e34").to_string_lossy(),
            "--listen-client-urls",
            &format!("http://{ep}"),
            "--advertise-client-urls",
            &format!("http://{ep}"),
            "--listen-peer-urls",
            &format!("http://127.0.0.1:{pp}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start etcd 3.4");
    let mut etcd = Kill(child);
    let endpoints = format!("--endpoints={ep}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while oxctl(&[&endpoints, "--dial-timeout=200ms", "get", "x"]).0 != 0 {
        assert!(Instant::now() < deadline, "etcd 3.4 did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    for (k, v) in [("a", "1"), ("a", "2"), ("b", "x y"), ("gone", "z")] {
        must(&[&endpoints, "put", k, v]);
    }
    must(&[&endpoints, "del", "gone"]);
    let before = json_kvs(&must(&[&endpoints, "get", "", "--prefix", "-w", "json"]));
    let file = dir.path().join("s34.db");
    let f = file.to_string_lossy().to_string();
    let saved = must(&[&endpoints, "snapshot", "save", &f]);
    assert_eq!(saved, format!("Snapshot saved at {f}\n"));
    let _ = etcd.0.kill();
    let _ = etcd.0.wait();

    for w in ["simple", "json", "table"] {
        let ours = must(&["snapshot", "status", &f, "-w", w]);
        let real = Command::new(common::etcd_bin_dir().join("etcdutl"))
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
    let srv = Server::start_on(ServerKind::RealEtcd, Path::new(&restored), &[]);
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
