//! `--strict-reconfig-check`: with a member down, adding a voter is
//! refused as unhealthy by default, and accepted with the check off.

use crate::harness::*;
use oxcd_proto::etcdserverpb::MemberAddRequest;
use std::time::Duration;

async fn add_voter(c: &Cluster, on: usize) -> Result<(), String> {
    let mut cl = c.members[on].clients().cluster;
    cl.member_add(MemberAddRequest {
        peer_ur_ls: vec![url(c.reserve_ports().1)],
        is_learner: false,
    })
    .await
    .map(|_| ())
    .map_err(|e| e.message().to_string())
}

async fn with_member_down(kind: Kind, strict: &str) -> (Cluster, usize) {
    let mut c = Cluster::start(kind, 3, &[strict]).await;
    let l = c.leader().await;
    let down = (l + 1) % 3;
    c.kill(down);
    // long enough for the leader to see it gone
    tokio::time::sleep(Duration::from_secs(2)).await;
    (c, l)
}

pub async fn strict_reconfig_check(kind: Kind) {
    let (c, l) = with_member_down(kind, "--strict-reconfig-check=true").await;
    assert_eq!(
        add_voter(&c, l).await,
        Err("etcdserver: unhealthy cluster".to_string()),
        "{kind:?}"
    );
    drop(c);
    let (c, l) = with_member_down(kind, "--strict-reconfig-check=false").await;
    assert_eq!(add_voter(&c, l).await, Ok(()), "{kind:?}");
}
