//! Membership changes through the Cluster API: add a learner and promote it,
//! remove the leader and a follower.

use crate::harness::*;
use oxcd_proto::etcdserverpb::{MemberAddRequest, MemberPromoteRequest, MemberRemoveRequest};
use std::future::Future;
use std::time::{Duration, Instant};

/// etcd's ErrLearnerNotReady: the learner's log is not yet within 90% of the
/// leader's.
const NOT_IN_SYNC: &str =
    "etcdserver: can only promote a learner member which is in sync with leader";

/// etcd's ErrUnhealthy: not every voter has been connected for 5 s.
const UNHEALTHY: &str = "etcdserver: unhealthy cluster";

/// Retries a reconfiguration while etcd answers [`UNHEALTHY`]: with the
/// strict reconfig check (on by default) etcd 3.5.1 refuses MemberAdd and
/// MemberRemove until every voter has been connected to the leader for 5 s
/// (`HealthInterval`), and a fresh cluster is younger than that. Returns the
/// response and how many times it was refused.
async fn while_unhealthy<T, F, Fut>(what: &str, mut f: F) -> (T, usize)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let started = Instant::now();
    let mut refused = 0;
    loop {
        match f().await {
            Ok(r) => return (r.into_inner(), refused),
            Err(e) if e.message() == UNHEALTHY && started.elapsed() < CATCH_UP_TIMEOUT => {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{what}: {}", e.message()),
        }
    }
}

/// (d) MemberAdd as learner, start the 4th process with
/// `--initial-cluster-state existing`, promote it once in sync: 4 voters, and
/// the new member serves linearizable reads.
pub async fn add_learner_and_promote(kind: Kind) {
    let mut c = Cluster::start(kind, 3, &[]).await;
    c.put(0, "d/before", "1").await;
    let l = c.leader().await;
    let ports = c.reserve_ports();
    let peer = url(ports.1);
    let started = Instant::now();
    let (resp, unhealthy) = while_unhealthy("MemberAdd learner", || {
        let mut cl = c.members[l].clients().cluster;
        let peer = peer.clone();
        async move {
            cl.member_add(MemberAddRequest {
                peer_ur_ls: vec![peer],
                is_learner: true,
            })
            .await
        }
    })
    .await;
    eprintln!(
        "add_learner_and_promote ({kind:?}): MemberAdd answered {UNHEALTHY:?} {unhealthy} \
         times, then succeeded {:.1?} after the cluster was ready",
        started.elapsed()
    );
    let added = resp.member.expect("MemberAdd returns the member");
    assert!(added.is_learner, "added member is not a learner: {added:?}");
    assert_eq!(added.peer_ur_ls, vec![peer.clone()]);
    assert!(added.name.is_empty(), "unstarted member has a name");
    assert_eq!(
        resp.members.len(),
        4,
        "members after add: {:?}",
        resp.members
    );

    // etcdctl member add prints ETCD_INITIAL_CLUSTER built like this: every
    // member's peer URLs under its name, the new one under the given name.
    let ic = resp
        .members
        .iter()
        .flat_map(|m| {
            let name = if m.id == added.id {
                "m4".to_string()
            } else {
                m.name.clone()
            };
            m.peer_ur_ls
                .iter()
                .map(move |u| format!("{name}={u}"))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .join(",");
    let m4 = c.add_member_process("m4", ports, &ic, "existing", &[]);
    c.members[m4].id = added.id;

    let started = Instant::now();
    let mut not_in_sync = 0;
    let mut other_errors = Vec::new();
    loop {
        let r = c.members[l]
            .clients()
            .cluster
            .member_promote(MemberPromoteRequest { id: added.id })
            .await;
        match r {
            Ok(r) => {
                let ms = r.into_inner().members;
                assert_eq!(ms.len(), 4, "members after promote: {ms:?}");
                break;
            }
            Err(e) if e.message() == NOT_IN_SYNC => not_in_sync += 1,
            Err(e) => {
                if other_errors.last() != Some(&e.message().to_string()) {
                    other_errors.push(e.message().to_string());
                }
            }
        }
        if let Some(st) = c.members[m4].try_exit() {
            panic!("m4 exited with {st}");
        }
        assert!(
            started.elapsed() < CATCH_UP_TIMEOUT,
            "MemberPromote did not succeed within {CATCH_UP_TIMEOUT:?}; \
             {not_in_sync} x {NOT_IN_SYNC:?}, other errors: {other_errors:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "add_learner_and_promote ({kind:?}): promoted after {:.1?}, {not_in_sync} answers \
         {NOT_IN_SYNC:?}, other errors: {other_errors:?}",
        started.elapsed()
    );
    // etcd 3.5.1 answers with exactly this while the learner lags; any other
    // error during the wait is unexpected.
    assert!(
        other_errors.is_empty(),
        "unexpected errors: {other_errors:?}"
    );

    c.wait_ready().await;
    for i in 0..4 {
        let ms = c.member_list(i).await;
        assert_eq!(ms.len(), 4, "member list on {}: {ms:?}", c.members[i].name);
        assert!(
            ms.iter().all(|m| !m.is_learner),
            "a learner remains in {ms:?}"
        );
        let names: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
        assert!(names.contains(&"m4"), "m4 not named in {names:?}");
    }
    assert_eq!(c.get(m4, "d/before").await.as_deref(), Some("1"));
    c.put(m4, "d/after", "2").await;
    for i in 0..4 {
        assert_eq!(c.get(i, "d/after").await.as_deref(), Some("2"));
    }
    c.wait_caught_up(m4).await;
}

async fn remove(c: &Cluster, on: usize, id: u64) -> Vec<oxcd_proto::etcdserverpb::Member> {
    let (r, refused) = while_unhealthy(&format!("MemberRemove {id:x}"), || {
        let mut cl = c.members[on].clients().cluster;
        async move { cl.member_remove(MemberRemoveRequest { id }).await }
    })
    .await;
    if refused > 0 {
        eprintln!("MemberRemove {id:x}: refused {refused} times with {UNHEALTHY:?}");
    }
    r.members
}

/// (e) Remove the leader of 3: it exits, the other two elect a leader and
/// take writes. Then remove a follower of the remaining 2: it exits, and the
/// last member takes writes alone.
pub async fn member_remove(kind: Kind) {
    let mut c = Cluster::start(kind, 3, &[]).await;
    c.put(0, "e/before", "1").await;

    let l = c.leader().await;
    let lname = c.members[l].name.clone();
    let ms = remove(&c, l, c.members[l].id).await;
    assert_eq!(ms.len(), 2, "members after removing the leader: {ms:?}");
    let rest: Vec<usize> = (0..3).filter(|&i| i != l).collect();
    let t = Instant::now();
    let nl = c.wait_leader_among(&rest, ELECTION_TIMEOUT).await;
    eprintln!(
        "member_remove ({kind:?}): removed leader {lname}; {} leads after {:.1?}",
        c.members[nl].name,
        t.elapsed()
    );
    let st = c.members[l].wait_exit(EXIT_TIMEOUT).await;
    let st = st.unwrap_or_else(|| {
        panic!(
            "removed leader {lname} still runs after {EXIT_TIMEOUT:?}; log:\n{}",
            tail(&c.members[l].log(), 3000)
        )
    });
    eprintln!("member_remove ({kind:?}): {lname} exited with {st}");
    assert_removed_log(&c, l, st);
    for &i in &rest {
        c.put(i, &format!("e/on-{}", c.members[i].name), "x").await;
    }

    let f = *rest.iter().find(|&&i| i != nl).expect("a follower");
    let fname = c.members[f].name.clone();
    let ms = remove(&c, nl, c.members[f].id).await;
    assert_eq!(ms.len(), 1, "members after removing {fname}: {ms:?}");
    let st = c.members[f].wait_exit(EXIT_TIMEOUT).await;
    let st = st.unwrap_or_else(|| {
        panic!(
            "removed follower {fname} still runs after {EXIT_TIMEOUT:?}; log:\n{}",
            tail(&c.members[f].log(), 3000)
        )
    });
    eprintln!("member_remove ({kind:?}): {fname} exited with {st}");
    assert_removed_log(&c, f, st);
    assert_eq!(c.wait_leader_among(&[nl], ELECTION_TIMEOUT).await, nl);
    c.put(nl, "e/alone", "y").await;
    assert_eq!(c.get(nl, "e/before").await.as_deref(), Some("1"));
    let ms = c.member_list(nl).await;
    assert_eq!(ms.len(), 1, "member list: {ms:?}");
    assert_eq!(ms[0].id, c.members[nl].id);
}

/// The removed member says why it stopped. etcd 3.5.1 logs (server.go)
/// "the member has been permanently removed from the cluster".
/// It exits by itself, with status 0 in etcd 3.5.1's case.
fn assert_removed_log(c: &Cluster, i: usize, st: std::process::ExitStatus) {
    assert!(
        st.code().is_some(),
        "removed {} was killed by a signal: {st}",
        c.members[i].name
    );
    if c.kind == Kind::Etcd {
        assert!(
            st.success(),
            "removed {} exited with {st}",
            c.members[i].name
        );
    }
    let log = c.members[i].log();
    assert!(
        log.contains("permanently removed"),
        "{} does not say it was removed; log:\n{}",
        c.members[i].name,
        tail(&log, 3000)
    );
}
