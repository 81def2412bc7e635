//! (5) 2000 puts of 1 KiB, half deleted again, a compaction, and Defragment
//! on every member: all succeed, HashKV agrees everywhere, and the cluster
//! still takes writes.

use crate::harness::*;
use crate::rpc::*;
use oxcd_proto::etcdserverpb::{
    CompactionRequest, DefragmentRequest, DeleteRangeRequest, RangeRequest, StatusResponse,
};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn status_retry(c: &Cluster, i: usize) -> StatusResponse {
    let cl = c.members[i].clients();
    retry(
        &format!("Status on {}", c.members[i].name),
        RETRY_LIMIT,
        || {
            let mut cl = cl.clone();
            async move {
                cl.maint
                    .status(oxcd_proto::etcdserverpb::StatusRequest {})
                    .await
                    .map(|r| r.into_inner())
            }
        },
    )
    .await
}

/// Runs `f(n)` for n in 0..count on `tasks` concurrent tasks.
async fn parallel<F, Fut>(count: usize, tasks: usize, f: F)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let next = next.clone();
            let f = f.clone();
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        return;
                    }
                    f(n).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task");
    }
}

/// (5) 2000 puts of 1 KiB, half deleted again, a compaction, and Defragment
/// on every member: all succeed, HashKV agrees everywhere, and the cluster
/// still takes writes.
pub async fn defrag_and_status(kind: Kind) {
    const KEYS: usize = 2000;
    let mut c = Cluster::start(kind, 3, &[]).await;
    let l = c.leader().await;
    let ports: Vec<u16> = c.members.iter().map(|m| m.client_port).collect();
    let value = "x".repeat(1024);
    let started = Instant::now();
    {
        let ports = ports.clone();
        parallel(KEYS, 8, move |n| {
            let (ports, value) = (ports.clone(), value.clone());
            async move {
                put_retry(ports[n % ports.len()], &format!("d/{n:05}"), &value).await;
            }
        })
        .await;
    }
    {
        let ports = ports.clone();
        parallel(KEYS / 2, 8, move |n| {
            let ports = ports.clone();
            async move {
                let key = format!("d/{:05}", 2 * n).into_bytes();
                let cl = clients(ports[n % ports.len()], RPC_TIMEOUT);
                let r = retry("delete", RETRY_LIMIT, || {
                    let mut cl = cl.clone();
                    let key = key.clone();
                    async move {
                        cl.kv
                            .delete_range(DeleteRangeRequest {
                                key,
                                ..Default::default()
                            })
                            .await
                            .map(|r| r.into_inner())
                    }
                })
                .await;
                assert_eq!(r.deleted, 1, "deleted count");
            }
        })
        .await;
    }
    eprintln!(
        "defrag_and_status ({kind:?}): {KEYS} puts and {} deletes in {:.1?}",
        KEYS / 2,
        started.elapsed()
    );

    let rev = c.current_rev(l).await;
    let lcl = c.members[l].clients();
    retry("Compact", RETRY_LIMIT, || {
        let mut cl = lcl.clone();
        async move {
            cl.kv
                .compact(CompactionRequest {
                    revision: rev,
                    physical: true,
                })
                .await
                .map(|r| r.into_inner())
        }
    })
    .await;
    // HashKV refuses the compaction revision itself ("required revision has
    // been compacted", in etcd 3.5.1 too): one more revision to hash at.
    put_retry(ports[l], "z/after-compact", "z").await;
    // Every member has applied the compaction before it is defragmented.
    for i in 0..3 {
        if i != l {
            c.wait_caught_up(i).await;
        }
    }

    for i in 0..3 {
        let before = status_retry(&c, i).await;
        let cl = clients(c.members[i].client_port, Duration::from_secs(60));
        let t = Instant::now();
        retry(
            &format!("Defragment on {}", c.members[i].name),
            RETRY_LIMIT,
            || {
                let mut cl = cl.clone();
                async move {
                    cl.maint
                        .defragment(DefragmentRequest {})
                        .await
                        .map(|r| r.into_inner())
                }
            },
        )
        .await;
        let took = t.elapsed();
        let after = status_retry(&c, i).await;
        eprintln!(
            "defrag_and_status ({kind:?}): Defragment on {} took {took:.1?}; db size {} -> {}, \
             in use {} -> {}",
            c.members[i].name,
            before.db_size,
            after.db_size,
            before.db_size_in_use,
            after.db_size_in_use
        );
        assert!(
            after.db_size <= before.db_size,
            "{}'s db grew with Defragment: {} -> {}",
            c.members[i].name,
            before.db_size,
            after.db_size
        );
        assert!(
            after.db_size_in_use <= after.db_size,
            "{}: db size in use {} > db size {}",
            c.members[i].name,
            after.db_size_in_use,
            after.db_size
        );
        assert!(after.errors.is_empty(), "status errors: {:?}", after.errors);
    }

    // Every member answers Status with the same leader and term.
    let statuses = [
        status_retry(&c, 0).await,
        status_retry(&c, 1).await,
        status_retry(&c, 2).await,
    ];
    for (i, s) in statuses.iter().enumerate() {
        assert_eq!(
            (s.leader, s.raft_term),
            (statuses[0].leader, statuses[0].raft_term),
            "leader and term on {}",
            c.members[i].name
        );
        assert!(!s.is_learner);
    }
    assert_eq!(statuses[0].leader, c.members[l].id, "leader after defrag");

    c.assert_hashkv_equal().await;
    let rev = c.current_rev(l).await;
    for (i, &p) in ports.iter().enumerate() {
        let cl = clients(p, RPC_TIMEOUT);
        let r = retry("count", RETRY_LIMIT, || {
            let mut cl = cl.clone();
            async move {
                cl.kv
                    .range(RangeRequest {
                        key: b"d/".to_vec(),
                        range_end: b"d0".to_vec(),
                        count_only: true,
                        ..Default::default()
                    })
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await;
        assert_eq!(
            r.count,
            (KEYS / 2) as i64,
            "keys left on {}",
            c.members[i].name
        );
        assert!(r.header.expect("header").revision >= rev);
    }
    for i in 0..3 {
        let key = format!("z/after-defrag-{}", c.members[i].name);
        put_retry(ports[i], &key, "y").await;
        for (m, &p) in c.members.iter().zip(&ports) {
            assert_eq!(
                get_retry(p, &key).await.as_deref(),
                Some(&b"y"[..]),
                "{key} on {}",
                m.name
            );
        }
    }
}
