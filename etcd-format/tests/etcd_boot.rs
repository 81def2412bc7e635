//! End-to-end: a snapshot produced by our writer is restored by real
//! `etcdutl` and served by real `etcd` 3.5.1 (skipped when the binaries
//! are absent, except under CI).

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use etcd_format::bolt::{BucketData, Reader};
use etcd_format::snapshot;

/// Kills the etcd we started (by its own handle) when the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn etcdctl(bin: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", endpoint, "--command-timeout", "2s"])
        .args(args)
        .output()
        .expect("run etcdctl")
}

#[test]
fn etcd_serves_restored_writer_output() {
    let (Some(etcd), Some(etcdctl_bin), Some(etcdutl)) =
        (etcd_bin("etcd"), etcd_bin("etcdctl"), etcd_bin("etcdutl"))
    else {
        return;
    };
    let bytes = snapshot_bytes();
    let r = Reader::new(&bytes).expect("open");
    let orig = snapshot::status_of(&r).expect("status");
    let mut data = Vec::new();
    for name in r.bucket_names().expect("names") {
        let b = r.bucket(&name).expect("bucket").expect("present");
        let entries = b
            .iter()
            .map(|e| e.map(|e| (e.key.to_vec(), e.value.to_vec())))
            .collect::<Result<Vec<_>, _>>()
            .expect("entries");
        data.push(BucketData::new(name, entries));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let snap = dir.path().join("ours.db");
    std::fs::write(&snap, snapshot::build(&data).expect("build")).expect("write");

    let (cport, pport) = (free_port(), free_port());
    let client = format!("http://127.0.0.1:{cport}");
    let peer = format!("http://127.0.0.1:{pport}");
    let cluster = format!("boot={peer}");
    let data_dir = dir.path().join("boot.etcd");
    let out = Command::new(&etcdutl)
        .args(["snapshot", "restore"])
        .arg(&snap)
        .args(["--name", "boot", "--initial-cluster", &cluster])
        .args(["--initial-advertise-peer-urls", &peer])
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .expect("restore");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let child = Command::new(&etcd)
        .args(["--name", "boot"])
        .arg("--data-dir")
        .arg(&data_dir)
        .args([
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
        ])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .args(["--initial-cluster", &cluster])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start etcd");
    let _guard = Running(child);

    let deadline = Instant::now() + Duration::from_secs(20);
    let got = loop {
        let o = etcdctl(&etcdctl_bin, &client, &["get", "foo"]);
        if o.status.success() {
            break String::from_utf8_lossy(&o.stdout).into_owned();
        }
        assert!(Instant::now() < deadline, "etcd did not come up");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(got, "foo\nbar2\n");
    assert!(etcdctl(&etcdctl_bin, &client, &["get", "foo2"])
        .stdout
        .is_empty());
    let o = etcdctl(
        &etcdctl_bin,
        &client,
        &["get", "key/", "--prefix", "--count-only", "-w", "fields"],
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"Count\" : 60"));
    let o = etcdctl(&etcdctl_bin, &client, &["get", "big", "--print-value-only"]);
    assert_eq!(o.stdout.len(), 6001);
    // The served revision is the snapshot's.
    let o = etcdctl(&etcdctl_bin, &client, &["get", "foo", "-w", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["header"]["revision"].as_i64(), Some(orig.revision));
    // History below the compaction mark is gone, above it is kept.
    let o = etcdctl(&etcdctl_bin, &client, &["get", "foo", "--rev", "3"]);
    assert!(!o.status.success());
    let o = etcdctl(
        &etcdctl_bin,
        &client,
        &["get", "foo2", "--rev", "4", "--print-value-only"],
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "baz\n");
    // Writes work on top of it.
    assert!(etcdctl(&etcdctl_bin, &client, &["put", "after", "restore"])
        .status
        .success());
}
