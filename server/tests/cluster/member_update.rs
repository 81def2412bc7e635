//! (4) MemberUpdate: to the URL a follower already has (no change), of an
//! unknown ID (refused), and to a new peer URL on which the follower is then
//! restarted; the cluster replicates to it there.

use crate::harness::*;
use crate::rpc::*;
use oxcd_proto::etcdserverpb::{Member as PbMember, MemberUpdateRequest, RangeRequest};
use std::time::{Duration, Instant};
use tonic::{Code, Status};

/// Members sorted by ID.
fn sorted(mut ms: Vec<PbMember>) -> Vec<PbMember> {
    ms.sort_by_key(|m| m.id);
    ms
}

async fn member_update(
    c: &Cluster,
    on: usize,
    id: u64,
    peer: &str,
) -> Result<Vec<PbMember>, Status> {
    let cl = c.members[on].clients().cluster;
    let started = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut cl = cl.clone();
        match cl
            .member_update(MemberUpdateRequest {
                id,
                peer_ur_ls: vec![peer.to_string()],
            })
            .await
        {
            Ok(r) => return Ok(r.into_inner().members),
            Err(e) if transient(&e) && started.elapsed() < RETRY_LIMIT => {
                eprintln!(
                    "MemberUpdate {id:x} on {}: {:?} {:?}; retrying",
                    c.members[on].name,
                    e.code(),
                    e.message()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    }
}

/// (4) MemberUpdate: to the URL a follower already has (no change), of an
/// unknown ID (refused), and to a new peer URL on which the follower is then
/// restarted; the cluster replicates to it there.
pub async fn member_update_scenario(kind: Kind) {
    let mut c = Cluster::start(kind, 3, &[]).await;
    let l = c.leader().await;
    let f = c.followers().await;
    let (f0, f1) = (f[0], f[1]);
    let f0name = c.members[f0].name.clone();
    let f0id = c.members[f0].id;
    let before = sorted(c.member_list(l).await);
    assert_eq!(before.len(), 3, "members: {before:?}");

    // The same URL, through the member itself.
    let same = url(c.members[f0].peer_port);
    let ms = member_update(&c, f0, f0id, &same)
        .await
        .unwrap_or_else(|e| panic!("MemberUpdate of {f0name} to its own URL: {e}"));
    assert_eq!(sorted(ms), before, "members in MemberUpdate's answer");
    for i in 0..3 {
        assert_eq!(
            sorted(c.member_list(i).await),
            before,
            "member list on {} after a no-op MemberUpdate",
            c.members[i].name
        );
    }

    // An unknown ID. etcd 3.5.1: NotFound "etcdserver: member not found"
    // (ErrIDNotFound -> ErrGRPCMemberNotFound).
    let bogus = 0x1234_5678_9abc_def0u64;
    assert!(before.iter().all(|m| m.id != bogus));
    let (_, spare_peer) = c.reserve_ports();
    let e = member_update(&c, l, bogus, &url(spare_peer))
        .await
        .expect_err("MemberUpdate of an unknown ID succeeded");
    eprintln!(
        "member_update ({kind:?}): unknown ID: {:?} {:?}",
        e.code(),
        e.message()
    );
    assert_eq!(
        (e.code(), e.message()),
        (Code::NotFound, "etcdserver: member not found"),
        "MemberUpdate of an unknown ID"
    );
    assert_eq!(sorted(c.member_list(l).await), before);

    // A new peer URL, through the other follower.
    let (_, new_peer) = c.reserve_ports();
    let new_url = url(new_peer);
    let ms = member_update(&c, f1, f0id, &new_url)
        .await
        .unwrap_or_else(|e| panic!("MemberUpdate of {f0name} to {new_url}: {e}"));
    let moved = ms
        .iter()
        .find(|m| m.id == f0id)
        .unwrap_or_else(|| panic!("{f0name} missing from {ms:?}"));
    assert_eq!(moved.peer_ur_ls, vec![new_url.clone()], "answer: {ms:?}");
    for i in [l, f1] {
        let ms = c.member_list(i).await;
        let m = ms.iter().find(|m| m.id == f0id).expect("member");
        assert_eq!(
            m.peer_ur_ls,
            vec![new_url.clone()],
            "{f0name}'s peer URLs on {}",
            c.members[i].name
        );
        assert_eq!(m.name, f0name);
    }

    // Restart the follower on the new URL with its data dir. etcd ignores
    // --initial-cluster once a WAL exists (it is parsed and checked against
    // --initial-advertise-peer-urls only when bootstrapping), so the member
    // keeps the old, now stale, value: etcd 3.5.1 starts and rejoins.
    c.stop(f0).await;
    c.members[f0].set_flag("--listen-peer-urls", &new_url);
    c.members[f0].set_flag("--initial-advertise-peer-urls", &new_url);
    c.members[f0].peer_port = new_peer;
    c.restart(f0);
    let restarted = Instant::now();
    let lp = c.members[l].client_port;
    let f0p = c.members[f0].client_port;
    put_retry(lp, "u/after-move", "moved").await;
    let mut f0cl = clients(f0p, Duration::from_secs(2));
    let mut last: String;
    loop {
        if let Some(st) = c.members[f0].try_exit() {
            panic!(
                "{f0name}, restarted on {new_url} with its data dir, exited with {st}; log:\n{}",
                tail(&c.members[f0].log(), 3000)
            );
        }
        let r = f0cl
            .kv
            .range(RangeRequest {
                key: b"u/after-move".to_vec(),
                serializable: true,
                ..Default::default()
            })
            .await;
        match r {
            Ok(r) => match r.into_inner().kvs.first() {
                Some(kv) if kv.value == b"moved" => break,
                other => last = format!("got {other:?}"),
            },
            Err(e) => last = e.message().to_string(),
        }
        assert!(
            restarted.elapsed() < CATCH_UP_TIMEOUT,
            "u/after-move not readable (serializable) on {f0name} at {new_url} within \
             {CATCH_UP_TIMEOUT:?} of its restart; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "member_update ({kind:?}): {f0name} replicated at {new_url} {:.1?} after its restart",
        restarted.elapsed()
    );
    c.wait_caught_up(f0).await;
    let ms = c.member_list(f0).await;
    let m = ms.iter().find(|m| m.id == f0id).expect("member");
    assert_eq!(m.peer_ur_ls, vec![new_url], "own peer URLs on {f0name}");
    c.put(f0, "u/through-moved", "x").await;
    assert_eq!(c.get(l, "u/through-moved").await.as_deref(), Some("x"));
}
