//! The seed's backup line, `etcdctl --endpoints=$ENDPOINTS snapshot save
//! snapshot.db`, on its https cluster: etcdctl 3.5 refuses several
//! endpoints, oxctl saves from the leader and names it on stderr, and
//! after the leader dies, from the new one.

use super::cluster::{start, Cluster, How};
use super::common::ServerKind;
use std::time::{Duration, Instant};

/// Runs oxctl's save of all endpoints; returns the endpoint it chose.
fn save(c: &Cluster, file: &std::path::Path) -> String {
    let tls = c.tls.as_ref().expect("a TLS cluster");
    let mut args = tls.flags();
    args.push(format!("--endpoints={}", c.endpoints()));
    args.push("--dial-timeout=1s".into());
    args.extend(["snapshot".into(), "save".into(), file.display().to_string()]);
    let out = testkit::run(&testkit::bins::oxctl(), &args, None, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.code, 0, "stderr: {stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("Snapshot saved at {}\n", file.display())
    );
    let line = stderr
        .lines()
        .find(|l| l.contains("\"msg\":\"chose the endpoint to save from\""))
        .unwrap_or_else(|| panic!("no choice on stderr: {stderr}"));
    assert!(line.contains("\"reason\":\"leader\""), "{line}");
    let ep = line
        .split("\"endpoint\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no endpoint in {line}"));
    let status = testkit::run(
        &testkit::bins::oxctl(),
        &["snapshot", "status", &file.display().to_string()],
        None,
        &[],
    );
    assert_eq!(status.code, 0, "snapshot status of the saved file");
    ep.to_string()
}

fn several_endpoints(kind: ServerKind) {
    let _serial = super::serial();
    let mut c = start(kind, How::Tls);
    let dir = tempfile::tempdir().expect("tempdir");
    let chose = save(&c, &dir.path().join("first.db"));
    assert_eq!(chose, c.members[0].client_url(), "m1 leads");
    c.kill(0);
    let deadline = Instant::now() + Duration::from_secs(20);
    // the others still name m1 until they elect another
    let leader = loop {
        match c.leader_term() {
            Some((i, _)) if i != 0 => break i,
            _ => {}
        }
        assert!(Instant::now() < deadline, "no new leader after m1 died");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_ne!(leader, 0);
    let chose = save(&c, &dir.path().join("second.db"));
    assert_eq!(chose, c.members[leader].client_url(), "the new leader");
}

#[test]
fn oxcd_snapshot_save_several_endpoints() {
    if !testkit::bins::etcd_available("oxcd_snapshot_save_several_endpoints") {
        return;
    }
    several_endpoints(ServerKind::Oxcd);
}

#[test]
fn etcd_snapshot_save_several_endpoints() {
    if !testkit::bins::etcd_available("etcd_snapshot_save_several_endpoints") {
        return;
    }
    several_endpoints(ServerKind::Etcd);
}
