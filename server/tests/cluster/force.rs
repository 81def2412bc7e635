//! `--force-new-cluster`: the data of one member of a dead three-member
//! cluster is recovered as a one-member cluster, which keeps being one
//! after a restart without the flag, and grows again with `member add`.

use crate::harness::*;
use oxcd_proto::etcdserverpb::MemberAddRequest;
use std::time::Duration;

pub async fn force_new_cluster(kind: Kind) {
    let mut c = Cluster::start(kind, 3, &[]).await;
    for i in 0..20 {
        c.put(i % 3, &format!("k{i:02}"), &format!("v{i}")).await;
    }
    let survivor_id = c.members[0].id;
    let before = c.member_list(0).await;
    assert_eq!(before.len(), 3);
    for i in 0..3 {
        c.stop(i).await;
    }
    // only m1 comes back, forced
    c.members[0].set_switch("--force-new-cluster", true);
    c.restart(0);
    c.wait_leader_among(&[0], Duration::from_secs(20)).await;
    let ms = c.member_list(0).await;
    assert_eq!(ms.len(), 1, "{kind:?}: members after forcing: {ms:?}");
    assert_eq!(ms[0].id, survivor_id, "{kind:?}: the member keeps its ID");
    for i in 0..20 {
        assert_eq!(
            c.get(0, &format!("k{i:02}")).await.as_deref(),
            Some(format!("v{i}").as_str()),
            "{kind:?}: k{i:02} lost"
        );
    }
    c.put(0, "after", "force").await;

    // a plain restart stays a one-member cluster
    c.stop(0).await;
    c.members[0].set_switch("--force-new-cluster", false);
    c.restart(0);
    c.wait_leader_among(&[0], Duration::from_secs(20)).await;
    assert_eq!(
        c.member_list(0).await.len(),
        1,
        "{kind:?}: after a plain restart"
    );
    assert_eq!(c.get(0, "after").await.as_deref(), Some("force"));

    // and grows back with member add
    let ports = c.reserve_ports();
    let peer = url(ports.1);
    let added = eventually("MemberAdd", Duration::from_secs(20), || {
        let mut cl = c.members[0].clients().cluster;
        let peer = peer.clone();
        async move {
            cl.member_add(MemberAddRequest {
                peer_ur_ls: vec![peer],
                is_learner: false,
            })
            .await
            .map(|r| r.into_inner())
            .map_err(|e| e.message().to_string())
        }
    })
    .await;
    let new_id = added.member.expect("the added member").id;
    let ic = format!(
        "{}={},m4={peer}",
        c.members[0].name,
        url(c.members[0].peer_port)
    );
    let m4 = c.add_member_process("m4", ports, &ic, "existing", &[]);
    c.members[m4].id = new_id;
    c.wait_leader_among(&[0, m4], Duration::from_secs(30)).await;
    c.wait_caught_up(m4).await;
    assert_eq!(
        c.get(m4, "k07").await.as_deref(),
        Some("v7"),
        "{kind:?}: the new member's copy"
    );
    assert_eq!(c.member_list(m4).await.len(), 2);
}
