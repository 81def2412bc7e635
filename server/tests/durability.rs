//! Durability of acknowledged writes across SIGKILL under load and clean
//! restarts (keys, revisions, compaction and leases).

mod common;

use common::*;
use oxcd_proto::etcdserverpb::{
    CompactionRequest, LeaseGrantRequest, LeaseLeasesRequest, LeaseRevokeRequest,
    LeaseTimeToLiveRequest, PutRequest, RangeRequest,
};
use oxcd_proto::mvccpb::KeyValue;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CLIENTS: usize = 8;
const LOAD_FOR: Duration = Duration::from_millis(1500);

/// What one writer saw: puts acknowledged with their revision, and the put
/// that was in flight when the server died (outcome unknown).
#[derive(Default)]
struct Writer {
    acked: Vec<(String, String, i64)>,
    in_flight: Option<(String, String)>,
}

fn crash_key(round: usize, client: usize, seq: usize) -> String {
    format!("crash/{round}/{client:02}/{seq:06}")
}

async fn writer(port: u16, round: usize, id: usize, stop: Arc<AtomicBool>) -> Writer {
    let mut c = connect(port).await.expect("writer connects");
    let mut w = Writer::default();
    for seq in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let key = crash_key(round, id, seq);
        // distinct, recognisable values; long enough that a torn one shows
        let value = format!("v/{round}/{id}/{seq}/{}", "x".repeat(64 + seq % 50));
        let r =
            c.kv.put(PutRequest {
                key: key.clone().into_bytes(),
                value: value.clone().into_bytes(),
                ..Default::default()
            })
            .await;
        match r {
            Ok(resp) => {
                let rev = resp
                    .into_inner()
                    .header
                    .expect("put response has a header")
                    .revision;
                w.acked.push((key, value, rev));
            }
            Err(_) => {
                w.in_flight = Some((key, value));
                break;
            }
        }
    }
    w
}

fn by_key(kvs: Vec<KeyValue>) -> BTreeMap<String, KeyValue> {
    kvs.into_iter()
        .map(|kv| (String::from_utf8(kv.key.clone()).expect("utf-8 key"), kv))
        .collect()
}

/// Checks the store after a crash and restart against what the writers of
/// `round` saw. `before` is every key known to be committed before the round.
fn check_after_crash(
    round: usize,
    writers: &[Writer],
    after: &BTreeMap<String, KeyValue>,
    header_rev: i64,
    before: &BTreeMap<String, KeyValue>,
) {
    // keys committed before this round are untouched
    for (k, kv) in before {
        assert_eq!(
            after.get(k),
            Some(kv),
            "round {round}: key {k} committed before the crash changed or vanished"
        );
    }
    // every acknowledged put is there, whole, at its acknowledged revision
    let mut acked_revs = HashSet::new();
    let mut max_acked = 0;
    for (id, w) in writers.iter().enumerate() {
        for (key, value, rev) in &w.acked {
            assert!(
                acked_revs.insert(*rev),
                "round {round}: revision {rev} acknowledged twice (client {id}, key {key})"
            );
            max_acked = max_acked.max(*rev);
            let kv = after.get(key).unwrap_or_else(|| {
                panic!("round {round}: acknowledged put of {key} at revision {rev} was lost")
            });
            assert_eq!(
                kv.value,
                value.as_bytes(),
                "round {round}: value of acknowledged key {key}"
            );
            assert_eq!(
                (kv.create_revision, kv.mod_revision, kv.version),
                (*rev, *rev, 1),
                "round {round}: (create, mod, version) of {key} acknowledged at revision {rev}"
            );
        }
        // a client writes sequentially, so acked revisions increase
        assert!(
            w.acked.windows(2).all(|p| p[0].2 < p[1].2),
            "round {round}: client {id}'s acknowledged revisions are not increasing"
        );
    }
    assert!(
        header_rev >= max_acked,
        "round {round}: revision after restart {header_rev} < max acknowledged {max_acked}"
    );
    // this round's keys: acknowledged, or the one in-flight put per client,
    // which may or may not have survived but must then be whole
    let prefix = format!("crash/{round}/");
    let mut survivors = 0;
    for (k, kv) in after.range(prefix.clone()..) {
        if !k.starts_with(&prefix) {
            break;
        }
        let acked = writers
            .iter()
            .any(|w| w.acked.iter().any(|(key, _, _)| key == k));
        if acked {
            continue;
        }
        let w = writers
            .iter()
            .find(|w| w.in_flight.as_ref().is_some_and(|(key, _)| key == k))
            .unwrap_or_else(|| panic!("round {round}: key {k} present but never written"));
        let (_, value) = w.in_flight.as_ref().expect("in flight");
        assert_eq!(
            kv.value,
            value.as_bytes(),
            "round {round}: unacknowledged key {k} survived with a torn value"
        );
        assert_eq!(kv.version, 1, "round {round}: version of {k}");
        survivors += 1;
    }
    assert!(
        survivors <= CLIENTS,
        "round {round}: {survivors} unacked survivors"
    );
    // keys are never overwritten or deleted: each revision 2..=header_rev is
    // the creation of exactly one key (no gap, no reuse)
    let mut revs: Vec<i64> = after.values().map(|kv| kv.mod_revision).collect();
    revs.sort_unstable();
    let want: Vec<i64> = (2..=header_rev).collect();
    if revs != want {
        let have: HashSet<i64> = revs.iter().copied().collect();
        let missing: Vec<i64> = want
            .iter()
            .filter(|r| !have.contains(r))
            .take(10)
            .copied()
            .collect();
        let dups = revs.windows(2).filter(|p| p[0] == p[1]).count();
        panic!(
            "round {round}: revisions of the {} keys are not exactly 2..={header_rev}: missing (first 10) {missing:?}, {dups} duplicated",
            revs.len()
        );
    }
}

/// SIGKILL under concurrent load, twice: nothing acknowledged is lost,
/// revisions are neither reused nor skipped, and the next write continues
/// the sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_load_loses_no_acknowledged_write() {
    bounded(Duration::from_secs(55), async {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut srv = Oxcd::start(dir.path(), &[]).await;
        let mut committed: BTreeMap<String, KeyValue> = BTreeMap::new();
        for round in 1..=2 {
            let stop = Arc::new(AtomicBool::new(false));
            let tasks: Vec<_> = (0..CLIENTS)
                .map(|id| tokio::spawn(writer(srv.client_port, round, id, stop.clone())))
                .collect();
            tokio::time::sleep(LOAD_FOR).await;
            srv.kill9();
            stop.store(true, Ordering::SeqCst);
            let mut writers = Vec::new();
            for t in tasks {
                writers.push(t.await.expect("writer task"));
            }
            let total: usize = writers.iter().map(|w| w.acked.len()).sum();
            assert!(
                total >= 50,
                "round {round}: only {total} puts acknowledged in {LOAD_FOR:?}; the test proves nothing"
            );
            let killed_mid_stream = writers.iter().filter(|w| w.in_flight.is_some()).count();
            assert!(
                killed_mid_stream > 0,
                "round {round}: no put was in flight when the server was killed"
            );

            srv.restart().await;
            let mut c = srv.clients().await;
            let resp = range_all(&mut c).await;
            let header_rev = resp.header.as_ref().expect("header").revision;
            let after = by_key(resp.kvs);
            eprintln!(
                "round {round}: {total} puts acknowledged by {CLIENTS} clients, {killed_mid_stream} in flight at the kill; revision after restart {header_rev}"
            );
            check_after_crash(round, &writers, &after, header_rev, &committed);

            // the next write continues the sequence
            let probe = format!("probe/{round}");
            let rev = put(&mut c, &probe, "p").await;
            assert_eq!(
                rev,
                header_rev + 1,
                "round {round}: first put after restart"
            );
            let resp = range_all(&mut c).await;
            committed = by_key(resp.kvs);
            assert_eq!(committed.len() as i64, rev - 1, "round {round}: key count");
        }
        srv.assert_no_panic();
    })
    .await
}

/// SIGTERM and start again: keys, revisions, compaction and leases survive.
#[tokio::test]
async fn clean_restart_keeps_keys_revisions_compaction_and_leases() {
    bounded(Duration::from_secs(50), async {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut srv = Oxcd::start(dir.path(), &[]).await;
        let mut c = srv.clients().await;
        for i in 0..10 {
            put(&mut c, &format!("k{i}"), &format!("v{i}")).await;
        }
        put(&mut c, "k1", "v1-second").await;
        put(&mut c, "k1", "v1-third").await;
        c.kv.delete_range(oxcd_proto::etcdserverpb::DeleteRangeRequest {
            key: b"k2".to_vec(),
            ..Default::default()
        })
        .await
        .expect("delete k2");
        let compact_at = current_rev(&mut c).await - 2;
        c.kv.compact(CompactionRequest {
            revision: compact_at,
            physical: true,
        })
        .await
        .expect("compact");
        let lease = c
            .lease
            .lease_grant(LeaseGrantRequest { ttl: 600, id: 0 })
            .await
            .expect("lease grant")
            .into_inner();
        assert!(lease.id != 0, "lease id");
        c.kv.put(PutRequest {
            key: b"leased".to_vec(),
            value: b"lv".to_vec(),
            lease: lease.id,
            ..Default::default()
        })
        .await
        .expect("put with lease");
        let before = range_all(&mut c).await;
        let before_rev = before.header.as_ref().expect("header").revision;
        let historic =
            c.kv.range(RangeRequest {
                key: b"k1".to_vec(),
                revision: compact_at + 1,
                ..Default::default()
            })
            .await
            .expect("historic read")
            .into_inner()
            .kvs;

        let st = srv.stop().await;
        assert!(
            st.success(),
            "oxcd should exit 0 after SIGTERM, got {st}; stderr:\n{}",
            tail(&srv.stderr(), 2000)
        );
        srv.restart().await;
        let mut c = srv.clients().await;

        let after = range_all(&mut c).await;
        assert_eq!(
            after.header.as_ref().expect("header").revision,
            before_rev,
            "revision after a clean restart"
        );
        assert_eq!(after.kvs, before.kvs, "keys after a clean restart");
        assert!(
            !after.kvs.iter().any(|kv| kv.key == b"k2"),
            "deleted k2 came back"
        );
        let k1 = after.kvs.iter().find(|kv| kv.key == b"k1").expect("k1");
        assert_eq!((k1.value.as_slice(), k1.version), (&b"v1-third"[..], 3));

        // history above the compaction point is still readable ...
        let again =
            c.kv.range(RangeRequest {
                key: b"k1".to_vec(),
                revision: compact_at + 1,
                ..Default::default()
            })
            .await
            .expect("historic read after restart")
            .into_inner()
            .kvs;
        assert_eq!(again, historic, "historic read of k1 at {}", compact_at + 1);
        // ... and below it is gone, as before
        let e =
            c.kv.range(RangeRequest {
                key: b"k1".to_vec(),
                revision: compact_at - 1,
                ..Default::default()
            })
            .await
            .expect_err("read below the compaction point after restart");
        assert_eq!(e.code(), tonic::Code::OutOfRange, "{e:?}");
        assert_eq!(
            e.message(),
            "etcdserver: mvcc: required revision has been compacted"
        );
        let e =
            c.kv.compact(CompactionRequest {
                revision: compact_at,
                physical: false,
            })
            .await
            .expect_err("compacting at the same revision again");
        assert_eq!(
            e.message(),
            "etcdserver: mvcc: required revision has been compacted"
        );

        // the lease survives with its key attached
        let ttl = c
            .lease
            .lease_time_to_live(LeaseTimeToLiveRequest {
                id: lease.id,
                keys: true,
            })
            .await
            .expect("lease time-to-live")
            .into_inner();
        assert_eq!(ttl.granted_ttl, 600, "granted TTL after restart");
        assert!(ttl.ttl > 500 && ttl.ttl <= 600, "remaining TTL {}", ttl.ttl);
        assert_eq!(ttl.keys, vec![b"leased".to_vec()], "keys of the lease");
        let leases = c
            .lease
            .lease_leases(LeaseLeasesRequest {})
            .await
            .expect("lease list")
            .into_inner();
        assert!(
            leases.leases.iter().any(|l| l.id == lease.id),
            "lease listed"
        );
        let leased = after
            .kvs
            .iter()
            .find(|kv| kv.key == b"leased")
            .expect("leased key");
        assert_eq!(leased.lease, lease.id, "key keeps its lease");

        // and the attachment is live: revoking deletes the key in one revision
        let rev = c
            .lease
            .lease_revoke(LeaseRevokeRequest { id: lease.id })
            .await
            .expect("revoke")
            .into_inner()
            .header
            .expect("header")
            .revision;
        assert_eq!(rev, before_rev + 1, "revoking deletes the attached key");
        let r =
            c.kv.range(RangeRequest {
                key: b"leased".to_vec(),
                ..Default::default()
            })
            .await
            .expect("range leased")
            .into_inner();
        assert_eq!(r.count, 0, "leased key after revoke");
        assert_eq!(put(&mut c, "after", "x").await, before_rev + 2, "next put");
        srv.assert_no_panic();
    })
    .await
}
