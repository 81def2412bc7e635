//! `--auto-compaction-mode periodic` with a short retention: real etcd
//! 3.5.1 and oxcd both compact on their own, to a revision one retention
//! old, so that an old revision becomes unreadable without anybody asking.

mod common;

use common::{ClientKind, Server, ServerKind};
use std::time::{Duration, Instant};

#[test]
fn periodic_compaction_runs_on_its_own() {
    if !testkit::bins::etcd_available("periodic_compaction_runs_on_its_own") {
        return;
    }
    for kind in [ServerKind::Etcd, ServerKind::Oxcd] {
        let s = Server::start(
            kind,
            &[
                "--auto-compaction-mode=periodic",
                "--auto-compaction-retention=2s",
            ],
        );
        for v in ["1", "2", "3"] {
            assert_eq!(
                s.ctl(ClientKind::RealEtcdctl, &["put", "a", v]).code,
                0,
                "{kind:?}"
            );
        }
        // revision 2 held a=1; once a retention has passed since it was the
        // newest, it is compacted away
        let started = Instant::now();
        let compacted = loop {
            let out = s.ctl(ClientKind::RealEtcdctl, &["get", "a", "--rev=2"]);
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            if err.contains("required revision has been compacted") {
                break true;
            }
            if started.elapsed() > Duration::from_secs(20) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        assert!(compacted, "{kind:?}: revision 2 was never compacted");
        // the newest revision stays readable
        let out = s.ctl(ClientKind::RealEtcdctl, &["get", "a"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a\n3\n", "{kind:?}");
    }
}
