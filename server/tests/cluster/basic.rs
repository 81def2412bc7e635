//! Scenarios on a healthy 3-member cluster: linearizable reads on every
//! member, and leadership transfer.

use crate::harness::*;
use oxcd_proto::etcdserverpb::MoveLeaderRequest;
use std::time::Duration;

/// (a) A put on member i is visible to an immediate linearizable get on
/// every member j, for every i.
pub async fn write_anywhere_read_everywhere(kind: Kind) {
    let c = Cluster::start(kind, 3, &[]).await;
    for i in 0..3 {
        let key = format!("a/{i}");
        let value = format!("written on {}", c.members[i].name);
        let rev = c.put(i, &key, &value).await;
        for j in 0..3 {
            let mut cl = c.members[j].clients();
            let r = cl
                .kv
                .range(oxcd_proto::etcdserverpb::RangeRequest {
                    key: key.as_bytes().to_vec(),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("get {key} on {}: {}", c.members[j].name, e.message()))
                .into_inner();
            let got = r.kvs.first().map(|kv| kv.value.clone());
            assert_eq!(
                got.as_deref(),
                Some(value.as_bytes()),
                "{key} put on {} (revision {rev}) is not visible on {}",
                c.members[i].name,
                c.members[j].name
            );
            let hrev = r.header.expect("header").revision;
            assert!(
                hrev >= rev,
                "{} answered at revision {hrev}, before the put's {rev}",
                c.members[j].name
            );
        }
    }
}

async fn move_leader(c: &Cluster, on: usize, target_id: u64) -> Result<(), String> {
    c.members[on]
        .clients()
        .maint
        .move_leader(MoveLeaderRequest { target_id })
        .await
        .map(|_| ())
        .map_err(|e| e.message().to_string())
}

/// (f) MoveLeader: to a follower through the leader; refused by a follower;
/// refused for an ID that is not a member.
pub async fn move_leader_scenario(kind: Kind) {
    let mut c = Cluster::start(kind, 3, &[]).await;
    let l = c.leader().await;
    let f = c.followers().await;
    let (target, other) = (f[0], f[1]);
    let target_id = c.members[target].id;

    // etcd 3.5.1: "etcdserver: not leader" (ErrNotLeader), FailedPrecondition.
    let e = move_leader(&c, other, target_id)
        .await
        .expect_err("MoveLeader on a follower succeeded");
    assert_eq!(e, "etcdserver: not leader", "MoveLeader on a follower");

    // etcd 3.5.1: "etcdserver: bad leader transferee" (ErrBadLeaderTransferee).
    let bogus = 0x1234_5678_9abc_def0u64;
    assert!(c.index_of(bogus).is_none());
    let e = move_leader(&c, l, bogus)
        .await
        .expect_err("MoveLeader to a non-member succeeded");
    assert_eq!(
        e, "etcdserver: bad leader transferee",
        "MoveLeader to a non-member"
    );
    assert_eq!(
        c.leader().await,
        l,
        "a refused MoveLeader changed the leader"
    );

    move_leader(&c, l, target_id)
        .await
        .unwrap_or_else(|e| panic!("MoveLeader to {}: {e}", c.members[target].name));
    // etcd answers once the transfer is done: the old leader already knows.
    let s = c.status(l).await.expect("status of the old leader");
    assert_eq!(
        s.leader, target_id,
        "the old leader does not report the target as leader right after MoveLeader"
    );
    let now = c.leader().await;
    assert_eq!(now, target, "all members agree on the transferee");
    for i in 0..3 {
        let s = c.status(i).await.expect("status");
        assert_eq!(s.leader, target_id, "{} leader", c.members[i].name);
    }
    c.put(other, "f/after-move", "x").await;
    assert_eq!(c.get(l, "f/after-move").await.as_deref(), Some("x"));
    // Move it back, through the new leader, so the transfer works both ways.
    let old_id = c.members[l].id;
    move_leader(&c, target, old_id)
        .await
        .unwrap_or_else(|e| panic!("MoveLeader back to {}: {e}", c.members[l].name));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(c.leader().await, l, "leadership moved back");
}
