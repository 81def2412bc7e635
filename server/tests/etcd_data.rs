//! Snapshots and data dirs shared with real etcd 3.5.1: oxcd's snapshot
//! stream is an etcd snapshot (etcdutl reads and restores it, etcd serves
//! the restore), and oxcd boots from a stopped etcd's data dir without
//! changing its files, refusing corrupt ones.

mod common;

use common::*;
use oxcd_proto::etcdserverpb::{
    CompactionRequest, DeleteRangeRequest, LeaseGrantRequest, PutRequest, RangeRequest,
    SnapshotRequest,
};
use oxcd_proto::mvccpb::KeyValue;
use std::path::{Path, PathBuf};
use std::process::Command;
use tokio_stream::StreamExt;

fn etcdutl() -> Option<PathBuf> {
    etcd_bin().map(|p| p.with_file_name("etcdutl"))
}

/// A small history with everything a snapshot must carry: puts, an
/// overwrite, a delete, a compaction and a key on a lease.
async fn write_history(c: &mut Clients) -> i64 {
    for i in 0..20 {
        put(c, &format!("k{i:02}"), &format!("v{i}")).await;
    }
    put(c, "k00", "again").await;
    c.kv.delete_range(DeleteRangeRequest {
        key: b"k01".to_vec(),
        ..Default::default()
    })
    .await
    .expect("delete");
    c.kv.compact(CompactionRequest {
        revision: 5,
        physical: true,
    })
    .await
    .expect("compact");
    let lease = c
        .lease
        .lease_grant(LeaseGrantRequest { ttl: 900, id: 0 })
        .await
        .expect("grant")
        .into_inner()
        .id;
    c.kv.put(PutRequest {
        key: b"leased".to_vec(),
        value: b"x".to_vec(),
        lease,
        ..Default::default()
    })
    .await
    .expect("put with lease");
    lease
}

fn kvs(r: &oxcd_proto::etcdserverpb::RangeResponse) -> Vec<KeyValue> {
    r.kvs.clone()
}

async fn snapshot_bytes(c: &mut Clients) -> Vec<u8> {
    let mut s = c
        .maint
        .snapshot(SnapshotRequest {})
        .await
        .expect("snapshot")
        .into_inner();
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend(chunk.expect("snapshot chunk").blob);
    }
    out
}

fn run(bin: &Path, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(bin).args(args).output().expect("run tool");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn snapshot_is_read_and_restored_by_real_etcd() {
    bounded(std::time::Duration::from_secs(55), async {
        let dir = tempfile::tempdir().expect("tmp");
        let ox = Oxcd::start(&dir.path().join("ox"), &[]).await;
        let mut c = ox.clients().await;
        write_history(&mut c).await;
        let before = range_all(&mut c).await;
        let file = snapshot_bytes(&mut c).await;

        // the stream is etcd's format: bbolt + sha256 trailer, whole and valid
        assert_eq!(file.len() % 512, 32, "size marks a trailer");
        let db = etcd_format::snapshot::verify_trailer(&file).expect("trailer matches");
        etcd_format::bolt::Reader::new(db)
            .expect("bbolt")
            .check()
            .expect("bbolt check");
        let ours = etcd_format::snapshot::status(&file).expect("status");
        let rev = before.header.as_ref().expect("header").revision;
        assert_eq!(ours.revision, rev);

        let Some(etcdutl) = etcdutl() else { return };
        let path = dir.path().join("snap.db");
        std::fs::write(&path, &file).expect("write snapshot");
        let p = path.to_string_lossy().to_string();
        let (ok, out, err) = run(&etcdutl, &["snapshot", "status", &p, "-w", "json"]);
        assert!(ok, "etcdutl status failed: {err}");
        let j: serde_json::Value = serde_json::from_str(out.trim()).expect("status json");
        assert_eq!(j["hash"].as_u64(), Some(u64::from(ours.hash)), "{out}");
        assert_eq!(j["revision"].as_i64(), Some(rev), "{out}");
        assert_eq!(j["totalKey"].as_u64(), Some(ours.total_key), "{out}");
        assert_eq!(j["totalSize"].as_u64(), Some(ours.total_size), "{out}");

        let restored = dir.path().join("restored");
        let r = restored.to_string_lossy().to_string();
        let (ok, _, err) = run(&etcdutl, &["snapshot", "restore", &p, "--data-dir", &r]);
        assert!(ok, "etcdutl restore failed: {err}");
        let etcd = etcd_bin().expect("etcd next to etcdutl");
        let real = Server::start_bin(&etcd, &restored, &[]).await;
        let mut rc = real.clients().await;
        let after = range_all(&mut rc).await;
        assert_eq!(
            kvs(&after),
            kvs(&before),
            "real etcd serves the same records"
        );
        assert_eq!(after.header.expect("header").revision, rev);
        let compacted = rc
            .kv
            .range(RangeRequest {
                key: b"k00".to_vec(),
                revision: 3,
                ..Default::default()
            })
            .await
            .expect_err("below the compaction");
        assert!(compacted.message().contains("compacted"), "{compacted}");
    })
    .await;
}

fn file_digests(dir: &Path) -> Vec<(PathBuf, u32, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let b = std::fs::read(&p).expect("read file");
                out.push((p, crc32c::crc32c(&b), b.len() as u64));
            }
        }
    }
    out.sort();
    out
}

async fn stopped_etcd_dir(
    dir: &Path,
) -> Option<(PathBuf, oxcd_proto::etcdserverpb::RangeResponse, i64)> {
    let etcd = etcd_bin()?;
    let data = dir.join("etcd");
    let mut real = Server::start_bin(&etcd, &data, &[]).await;
    let mut c = real.clients().await;
    let lease = write_history(&mut c).await;
    // a user and a role (auth stays off): carried through oxcd's snapshots
    let ctl = etcd.with_file_name("etcdctl");
    let ep = format!("--endpoints=127.0.0.1:{}", real.client_port);
    for args in [
        vec!["user", "add", "alice:secret"],
        vec!["role", "add", "reader"],
    ] {
        let (ok, _, err) = run(&ctl, &[&[ep.as_str()][..], &args].concat());
        assert!(ok, "etcdctl {args:?}: {err}");
    }
    let before = range_all(&mut c).await;
    // etcd shuts down gracefully on SIGTERM, then re-raises it: its exit
    // status is the signal, not 0
    real.stop().await;
    Some((data, before, lease))
}

#[tokio::test]
async fn oxcd_boots_from_a_stopped_etcd_data_dir() {
    bounded(std::time::Duration::from_secs(55), async {
        let dir = tempfile::tempdir().expect("tmp");
        let Some((data, before, lease)) = stopped_etcd_dir(dir.path()).await else {
            return;
        };
        let etcd_files = file_digests(&data);
        let mut ox = Oxcd::start(&data, &[]).await;
        let mut c = ox.clients().await;
        let after = range_all(&mut c).await;
        let rev = before.header.as_ref().expect("header").revision;
        assert_eq!(kvs(&after), kvs(&before), "every record imported");
        assert_eq!(after.header.as_ref().expect("header").revision, rev);
        let ttl = c
            .lease
            .lease_time_to_live(oxcd_proto::etcdserverpb::LeaseTimeToLiveRequest {
                id: lease,
                keys: true,
            })
            .await
            .expect("ttl")
            .into_inner();
        assert_eq!(ttl.granted_ttl, 900, "lease kept");
        assert_eq!(ttl.keys, vec![b"leased".to_vec()]);
        let err =
            c.kv.range(RangeRequest {
                key: b"k00".to_vec(),
                revision: 3,
                ..Default::default()
            })
            .await
            .expect_err("compaction kept");
        assert!(err.message().contains("compacted"), "{err}");
        assert_eq!(put(&mut c, "new", "1").await, rev + 1, "revisions continue");
        let snap = snapshot_bytes(&mut c).await;
        let r = etcd_format::bolt::Reader::new(
            etcd_format::snapshot::verify_trailer(&snap).expect("trailer"),
        )
        .expect("bbolt");
        for (bucket, key) in [
            (&b"authUsers"[..], &b"alice"[..]),
            (b"authRoles", b"reader"),
        ] {
            let b = r.bucket(bucket).expect("read").expect("bucket present");
            assert!(
                b.get(key).expect("read").is_some(),
                "{key:?} carried into the snapshot"
            );
        }
        ox.stop().await;
        ox.assert_no_panic();
        // etcd's own files are exactly as etcd left them
        let still: Vec<_> = file_digests(&data)
            .into_iter()
            .filter(|(p, _, _)| etcd_files.iter().any(|(q, _, _)| q == p))
            .collect();
        assert_eq!(still, etcd_files);
        // and a restart of oxcd keeps the write made after the import
        ox.restart().await;
        let mut c = ox.clients().await;
        assert_eq!(current_rev(&mut c).await, rev + 1);
    })
    .await;
}

fn corrupt_at(path: &Path, at: usize) {
    let mut b = std::fs::read(path).expect("read");
    b[at] ^= 0xff;
    std::fs::write(path, b).expect("write");
}

#[tokio::test]
async fn oxcd_refuses_a_corrupt_etcd_data_dir() {
    bounded(std::time::Duration::from_secs(55), async {
        let dir = tempfile::tempdir().expect("tmp");
        let Some((data, _, _)) = stopped_etcd_dir(dir.path()).await else {
            return;
        };
        let args = |d: &Path| base_args("default", d, free_port(), free_port());

        // a flipped byte in the WAL's first records breaks its CRC chain
        let wal_copy = dir.path().join("wal-bad");
        copy_dir(&data, &wal_copy);
        let wal = std::fs::read_dir(wal_copy.join("member/wal"))
            .expect("wal dir")
            .map(|e| e.expect("entry").path())
            .find(|p| p.extension().is_some_and(|x| x == "wal"))
            .expect("a wal file");
        corrupt_at(&wal, 100);
        let (st, err) = run_to_exit(&oxcd_bin(), &args(&wal_copy));
        assert!(!st.success(), "started on a corrupt WAL");
        assert!(err.contains("corrupt etcd WAL"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            !wal_copy.join("member/snap/oxcd.redb").exists(),
            "nothing half-imported"
        );

        // bbolt checksums only its meta pages: damage both; and separately
        // cut the file short (its pages then point past the end)
        type Damage = fn(&Path);
        let damages: [(&str, Damage); 2] = [
            ("metas", |db| {
                corrupt_at(db, 20);
                corrupt_at(db, 4096 + 20);
            }),
            ("truncated", |db| {
                let len = std::fs::metadata(db).expect("db").len();
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(db)
                    .expect("open");
                f.set_len(len / 4).expect("truncate");
            }),
        ];
        for (what, damage) in damages {
            let db_copy = dir.path().join(format!("db-{what}"));
            copy_dir(&data, &db_copy);
            damage(&db_copy.join("member/snap/db"));
            let (st, err) = run_to_exit(&oxcd_bin(), &args(&db_copy));
            assert!(!st.success(), "{what}: started on a corrupt database");
            assert!(err.contains("etcd database"), "{what}: {err}");
            assert!(!err.contains("panicked"), "{what}: {err}");
            assert!(
                !db_copy.join("member/snap/oxcd.redb").exists(),
                "{what}: nothing half-imported"
            );
        }
    })
    .await;
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).expect("copy");
        }
    }
}
