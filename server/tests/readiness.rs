//! Readiness for systemd (`Type=notify`), against etcd 3.5.1 and oxcd
//! alike: a member started with `NOTIFY_SOCKET` sends `READY=1` to that
//! datagram socket only once it serves clients. The first member of three
//! is started alone, so it cannot publish itself through raft (no quorum)
//! and must stay silent; once the two others start it sends `READY=1`, a
//! put on it succeeds at once, and its log has etcd's two lines around
//! the notification. The unit file in `deploy/systemd` passes
//! `systemd-analyze verify` where that runs.

use oxcd_proto::etcdserverpb::kv_client::KvClient;
use oxcd_proto::etcdserverpb::PutRequest;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};
use testkit::{Flags, Kind, Proc};

const QUIET: Duration = Duration::from_secs(3);
const READY_LIMIT: Duration = Duration::from_secs(30);

fn put(port: u16) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let ch = tonic::transport::Endpoint::from_shared(testkit::url(port))
            .map_err(|e| e.to_string())?
            .timeout(Duration::from_secs(2))
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        KvClient::new(ch)
            .put(PutRequest {
                key: b"ready".to_vec(),
                value: b"yes".to_vec(),
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(|e| e.message().to_string())
    })
}

fn ready_only_once_serving(kind: Kind, name: &str) {
    if !kind.available(name) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind the notify socket");
    let flags = Flags::cluster(3, dir.path(), ".data", "notify-test");
    let procs = |i: usize| Proc::new(&flags[i].name, &kind.binary(), flags[i].args(), None);
    let mut m1 = procs(0).env("NOTIFY_SOCKET", &sock_path.display().to_string());
    m1.spawn();
    sock.set_read_timeout(Some(QUIET)).expect("a read timeout");
    let mut buf = [0u8; 256];
    match sock.recv(&mut buf) {
        Ok(n) => panic!(
            "{name}: a member without quorum notified {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{name}: {e}"
        ),
    }
    let (mut m2, mut m3) = (procs(1), procs(2));
    m2.spawn();
    m3.spawn();
    let started = Instant::now();
    sock.set_read_timeout(Some(READY_LIMIT))
        .expect("a read timeout");
    let n = sock
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("{name}: no notification in {READY_LIMIT:?}: {e}"));
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.lines().any(|l| l == "READY=1"), "{name}: sent {msg:?}");
    put(flags[0].client_port).unwrap_or_else(|e| panic!("{name}: a put right after READY=1: {e}"));
    eprintln!(
        "{name}: READY=1 {:?} after the quorum started",
        started.elapsed()
    );
    let log = m1.log();
    for line in ["notifying init daemon", "successfully notified init daemon"] {
        assert!(log.contains(line), "{name}: no {line:?} in the log");
    }
    for m in [&mut m1, &mut m2, &mut m3] {
        m.kill();
    }
}

#[test]
fn etcd_notifies_readiness_once_serving() {
    ready_only_once_serving(Kind::Etcd, "etcd_notifies_readiness_once_serving");
}

#[test]
fn oxcd_notifies_readiness_once_serving() {
    ready_only_once_serving(Kind::Oxcd, "oxcd_notifies_readiness_once_serving");
}

/// The shipped unit, pointed at the built binary and an empty environment
/// file, passes `systemd-analyze verify` (skipped where it is missing).
#[test]
fn the_systemd_unit_verifies() {
    let Ok(out) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("SKIPPED the_systemd_unit_verifies: no systemd-analyze here");
        return;
    };
    assert!(out.status.success());
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd/oxcd.service");
    let text = std::fs::read_to_string(&unit).expect("read the unit");
    let dir = tempfile::tempdir().expect("temp dir");
    let env = dir.path().join("oxcd.env");
    std::fs::write(&env, "ETCD_NAME=m1\n").expect("write an environment file");
    let text = text
        .replace(
            "/usr/local/bin/oxcd",
            &Kind::Oxcd.binary().display().to_string(),
        )
        .replace("/etc/oxcd/oxcd.env", &env.display().to_string());
    let copy = dir.path().join("oxcd.service");
    std::fs::write(&copy, text).expect("write the unit copy");
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("run systemd-analyze verify");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !said.contains("oxcd.service"),
        "systemd-analyze verify: {said}"
    );
}
