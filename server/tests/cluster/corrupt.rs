//! The corruption checks: a follower whose store was changed behind raft's
//! back is refused at start by `--experimental-initial-corrupt-check`, and
//! found by the leader's `--experimental-corrupt-check-time`, which raises
//! CORRUPT and stops writes (oxcd only: real etcd's bbolt file cannot be
//! edited from here).

use crate::harness::*;
use oxcd_proto::etcdserverpb::{
    alarm_request::AlarmAction, AlarmRequest, AlarmType, HashRequest, PutRequest,
};
use prost::Message as _;
use redb::ReadableTable;
use std::time::Duration;

/// Changes the value of the newest record in a stopped member's store.
fn tamper(data_dir: &std::path::Path) {
    let path = data_dir.join("member/snap/oxcd.redb");
    let db = redb::Database::open(&path).expect("open the store");
    let w = db.begin_write().expect("write txn");
    {
        let mut t = w.open_table(oxcd::backend::KEY).expect("key table");
        let (k, v) = {
            let last = t.last().expect("read").expect("a record");
            (last.0.value().to_vec(), last.1.value().to_vec())
        };
        let mut kv = oxcd_proto::mvccpb::KeyValue::decode(v.as_slice()).expect("a KeyValue");
        kv.value = b"tampered".to_vec();
        t.insert(k.as_slice(), kv.encode_to_vec().as_slice())
            .expect("write");
    }
    w.commit().expect("commit");
}

pub async fn corrupt_follower_is_found(kind: Kind) {
    let mut c = Cluster::start(kind, 3, &["--experimental-corrupt-check-time=1s"]).await;
    for i in 0..10 {
        c.put(0, &format!("k{i}"), "v").await;
    }
    // Maintenance.Hash agrees on every member while their stores do
    let l = c.leader().await;
    for i in 0..3 {
        c.wait_caught_up(i).await;
    }
    let mut hashes = Vec::new();
    for i in 0..3 {
        let h = c.members[i]
            .clients()
            .maint
            .hash(HashRequest {})
            .await
            .expect("Hash")
            .into_inner();
        hashes.push((h.hash, h.header.map(|h| h.revision)));
    }
    assert!(hashes.iter().all(|h| *h == hashes[l]), "{hashes:?}");
    let f = c.followers().await[0];
    let id = c.members[f].id;
    c.stop(f).await;
    tamper(&c.members[f].data_dir);

    // refused at start with the initial check
    c.members[f].set_switch("--experimental-initial-corrupt-check", true);
    c.restart(f);
    let st = c.members[f]
        .wait_exit(Duration::from_secs(30))
        .await
        .expect("the tampered member exits");
    assert!(!st.success(), "it started");
    let log = c.members[f].log();
    let err = testkit::logged_error(&log).unwrap_or_default();
    assert_eq!(
        err,
        format!("{id:x} found data inconsistency with peers"),
        "{log}"
    );

    // without it, the leader's periodic check finds it
    c.members[f].set_switch("--experimental-initial-corrupt-check", false);
    c.restart(f);
    let l = c.leader().await;
    let this = &c;
    eventually(
        "a CORRUPT alarm for the follower",
        Duration::from_secs(30),
        || async move {
            let mut cl = this.members[l].clients();
            let r = cl
                .maint
                .alarm(AlarmRequest {
                    action: AlarmAction::Get as i32,
                    ..Default::default()
                })
                .await
                .map_err(|e| e.message().to_string())?
                .into_inner();
            if r.alarms
                .iter()
                .any(|a| a.member_id == id && a.alarm == AlarmType::Corrupt as i32)
            {
                Ok(())
            } else {
                Err(format!("alarms {:?}", r.alarms))
            }
        },
    )
    .await;
    let err = c.members[l]
        .clients()
        .kv
        .put(PutRequest {
            key: b"after".to_vec(),
            value: b"x".to_vec(),
            ..Default::default()
        })
        .await
        .expect_err("writes are refused");
    assert_eq!(err.message(), "etcdserver: corrupt cluster");
    assert_eq!(err.code(), tonic::Code::DataLoss);
}
