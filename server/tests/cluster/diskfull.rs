//! A member's disk fills up. One member of three runs on a small tmpfs
//! holding a filler file an operator can delete; writers put 256 KiB values
//! through it until refused.
//!
//! etcd 3.5.1 (`etcd_disk_full_exits`, what oxcd improves on): the member
//! exits with `no space left on device`; the two others keep every
//! acknowledged write. oxcd (`oxcd_disk_full_stays_up`) must:
//! - refuse writes with etcd's NOSPACE error (RESOURCE_EXHAUSTED
//!   `etcdserver: mvcc: database space exceeded`) and list the member's
//!   NOSPACE alarm, without exiting;
//! - keep serving reads on every member, and take deletes;
//! - take writes again once the filler is deleted, without a restart;
//! - hold exactly the acknowledged writes (each at the revision it was
//!   answered with) on every member, and after a restart of the full one.

use crate::harness::*;
use oxcd_proto::etcdserverpb::alarm_request::AlarmAction;
use oxcd_proto::etcdserverpb::AlarmType;
use oxcd_proto::etcdserverpb::{AlarmRequest, DeleteRangeRequest, PutRequest, RangeRequest};
use std::io::Write;
use std::time::{Duration, Instant};
use testkit::smallfs::SmallFs;
use tonic::Code;

const VALUE: usize = 256 << 10;
const WRITERS: usize = 4;
const FILL_LIMIT: Duration = Duration::from_secs(90);
const NOSPACE: &str = "etcdserver: mvcc: database space exceeded";

/// Puts until the first refusal (any error with `any_error`, else only
/// NOSPACE); returns (key, revision) of every acknowledged put and the
/// refusal's message.
async fn fill(port: u16, w: usize, any_error: bool) -> (Vec<(String, i64)>, Option<String>) {
    let mut kv = clients(port, RPC_TIMEOUT).kv;
    let mut acked = Vec::new();
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < FILL_LIMIT {
        i += 1;
        let key = format!("fill/{w}/{i:06}");
        let r = kv
            .put(PutRequest {
                key: key.clone().into_bytes(),
                value: vec![b'a' + (i % 26) as u8; VALUE],
                ..Default::default()
            })
            .await;
        match r {
            Ok(r) => acked.push((key, r.into_inner().header.map_or(0, |h| h.revision))),
            Err(s) if s.code() == Code::ResourceExhausted || any_error => {
                return (acked, Some(s.message().to_string()))
            }
            Err(s) => panic!("put {key}: {:?} {}", s.code(), s.message()),
        }
    }
    (acked, None)
}

/// Every `fill/` key member `i` holds (serializable): key → mod revision.
async fn held(c: &Cluster, i: usize) -> Vec<(String, i64)> {
    let r = clients(c.members[i].client_port, RPC_TIMEOUT)
        .kv
        .range(RangeRequest {
            key: b"fill/".to_vec(),
            range_end: b"fill0".to_vec(),
            keys_only: true,
            serializable: true,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("range on {}: {}", c.members[i].name, e.message()))
        .into_inner();
    r.kvs
        .into_iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                kv.mod_revision,
            )
        })
        .collect()
}

async fn nospace_alarms(c: &Cluster) -> Vec<u64> {
    let r = clients(c.members[1].client_port, RPC_TIMEOUT)
        .maint
        .alarm(AlarmRequest {
            action: AlarmAction::Get as i32,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("alarm list: {}", e.message()))
        .into_inner();
    r.alarms
        .iter()
        .filter(|a| a.alarm == AlarmType::Nospace as i32)
        .map(|a| a.member_id)
        .collect()
}

/// Three members, m1's data dir on `fs` behind a 128 MiB filler; returns
/// the cluster and the filler's path.
async fn cluster_with_small_disk(kind: Kind, fs: &SmallFs) -> (Cluster, std::path::PathBuf) {
    let mut c = Cluster::start(kind, 3, &[]).await;
    // m1 moves onto the small filesystem
    c.stop(0).await;
    let dir = fs.path().join("m1.data");
    let cp = std::process::Command::new("cp")
        .arg("-a")
        .arg(&c.members[0].data_dir)
        .arg(&dir)
        .status()
        .expect("run cp");
    assert!(cp.success(), "copying m1's data dir");
    c.members[0].set_flag("--data-dir", &dir.display().to_string());
    c.members[0].data_dir = dir;
    c.restart(0);
    c.wait_ready().await;
    let filler = fs.path().join("filler");
    let mut f = std::fs::File::create(&filler).expect("create the filler");
    for _ in 0..128 {
        f.write_all(&[7u8; 1 << 20]).expect("write the filler");
    }
    (c, filler)
}

pub async fn disk_full_exits(kind: Kind) {
    let Some(fs) = SmallFs::required(384, "etcd_disk_full_exits") else {
        return;
    };
    let (mut c, _filler) = cluster_with_small_disk(kind, &fs).await;
    let port = c.members[0].client_port;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(fill(port, w, true)))
        .collect();
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.expect("a writer").0);
    }
    let st = c.members[0].wait_exit(Duration::from_secs(30)).await;
    let log = c.members[0].log();
    assert!(
        st.is_some_and(|s| !s.success()) && log.contains("no space left on device"),
        "m1 exited ({st:?}) for lack of space:\n{}",
        tail(&log, 3000)
    );
    eprintln!(
        "{kind:?}: m1 exited after {} acknowledged puts",
        acked.len()
    );
    c.wait_leader_among(&[1, 2], ELECTION_TIMEOUT).await;
    // every acknowledged put, at its revision; at most one more per writer
    // (a put cut off by the exit may have been committed)
    for i in 1..3 {
        let held = held(&c, i).await;
        let name = &c.members[i].name;
        let missing: Vec<_> = acked.iter().filter(|a| !held.contains(a)).collect();
        assert!(
            missing.is_empty(),
            "{name} lost acknowledged puts: {missing:?}"
        );
        assert!(
            held.len() <= acked.len() + WRITERS,
            "{name} holds {} keys for {} acknowledged puts",
            held.len(),
            acked.len()
        );
    }
}

pub async fn disk_full_stays_up(kind: Kind) {
    let Some(fs) = SmallFs::required(384, "oxcd_disk_full_stays_up") else {
        return;
    };
    let (mut c, filler) = cluster_with_small_disk(kind, &fs).await;
    let m1 = c.members[0].id;
    let port = c.members[0].client_port;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(fill(port, w, false)))
        .collect();
    let mut acked = Vec::new();
    let mut refusals = Vec::new();
    for t in tasks {
        let (a, refused) = t.await.expect("a writer");
        acked.extend(a);
        refusals.push(refused);
    }
    assert!(
        refusals.iter().all(|r| r.as_deref() == Some(NOSPACE)),
        "every writer refused with {NOSPACE:?}: {refusals:?} after {} puts",
        acked.len()
    );
    assert!(
        c.members[0].try_exit().is_none(),
        "m1 exited:\n{}",
        tail(&c.members[0].log(), 3000)
    );
    assert_eq!(
        nospace_alarms(&c).await,
        vec![m1],
        "the NOSPACE alarm of m1"
    );
    eprintln!("disk full after {} puts of {VALUE} B", acked.len());

    // reads everywhere, and a delete, while the alarm stands
    let (gone, _) = acked.pop().expect("some puts went through");
    for i in 0..3 {
        assert!(
            c.get(i, &acked[0].0).await.is_some(),
            "a read on {}",
            c.members[i].name
        );
    }
    clients(port, RPC_TIMEOUT)
        .kv
        .delete_range(DeleteRangeRequest {
            key: gone.into_bytes(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("a delete under NOSPACE: {}", e.message()));

    // the operator frees space: writes come back by themselves
    std::fs::remove_file(&filler).expect("remove the filler");
    let freed = Instant::now();
    let kv = clients(port, RPC_TIMEOUT).kv;
    let rev = eventually("a put once space is freed", Duration::from_secs(15), || {
        let mut kv = kv.clone();
        async move {
            kv.put(PutRequest {
                key: b"fill/after".to_vec(),
                value: b"ok".to_vec(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().header.map_or(0, |h| h.revision))
            .map_err(|e| e.message().to_string())
        }
    })
    .await;
    eprintln!(
        "writes taken again {:?} after the filler went",
        freed.elapsed()
    );
    assert!(nospace_alarms(&c).await.is_empty(), "the alarm is disarmed");
    acked.push(("fill/after".to_string(), rev));
    acked.sort();

    // exactly the acknowledged writes, at their revisions, everywhere
    c.wait_caught_up(0).await;
    for i in 0..3 {
        assert_eq!(
            held(&c, i).await,
            acked,
            "the keys {} holds",
            c.members[i].name
        );
    }
    c.stop(0).await;
    c.restart(0);
    c.wait_caught_up(0).await;
    assert_eq!(
        held(&c, 0).await,
        acked,
        "the keys m1 holds after a restart"
    );
    drop(c);
}
