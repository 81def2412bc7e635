//! End-to-end: a snapshot produced by our writer is restored by real
//! `etcdutl` and served by real `etcd` 3.5.1 (skipped when the binaries
//! are absent, except under CI).

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;
use testkit::{Flags, Proc};

use common::*;
use etcd_format::bolt::{BucketData, Reader};
use etcd_format::snapshot;

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

    let data_dir = dir.path().join("boot.etcd");
    let flags = Flags::single("boot", &data_dir);
    let (client, peer) = (flags.client_url(), flags.peer_url());
    let cluster = format!("boot={peer}");
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

    // SIGKILLed when the test ends, its log printed if it fails.
    let mut server = Proc::new("etcd", &etcd, flags.args(), None);
    server.spawn();

    let up = Duration::from_secs(20);
    let got = testkit::wait::poll("etcd", up, Duration::from_millis(200), || {
        let o = etcdctl(&etcdctl_bin, &client, &["get", "foo"]);
        if o.status.success() {
            Ok(String::from_utf8_lossy(&o.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        }
    })
    .unwrap_or_else(|e| panic!("etcd did not come up: {e}"));
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
