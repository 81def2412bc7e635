//! Golden tests against a snapshot written by real etcd 3.5.1 (see
//! tests/fixtures/make.sh) and, when the binaries exist, real etcdutl
//! reading files produced by our writer.

mod common;

use std::process::Command;

use common::*;
use etcd_format::bolt::{BucketData, Reader, Writer};
use etcd_format::schema::{self, KeyValue, Lease, MetaInfo, RevisionKey};
use etcd_format::snapshot;

#[test]
fn fixture_trailer_verifies() {
    let bytes = snapshot_bytes();
    assert!(snapshot::has_trailer(bytes.len()));
    let db = snapshot::verify_trailer(&bytes).expect("trailer");
    assert_eq!(db.len() + 32, bytes.len());
}

#[test]
fn fixture_parses_and_checks() {
    let bytes = snapshot_bytes();
    let r = Reader::new(&bytes).expect("open");
    assert_eq!(r.page_size(), 4096);
    let stats = r.check().expect("check");
    assert!(!stats.freelist_persisted, "etcd 3.5 uses NoFreelistSync");
    assert_eq!(stats.buckets, 11);
    let names = r.bucket_names().expect("names");
    let want: Vec<Vec<u8>> = schema::ALL_BUCKETS.iter().map(|b| b.to_vec()).collect();
    assert_eq!(names, want);
}

#[test]
fn fixture_status_matches_etcdutl() {
    let bytes = snapshot_bytes();
    let json = std::fs::read_to_string(fixture("status.json")).expect("status.json");
    let (hash, revision, total_key, total_size) = parse_status_json(&json);
    let st = snapshot::status(&bytes).expect("status");
    assert_eq!(st.hash, hash);
    assert_eq!(st.revision, revision);
    assert_eq!(st.total_key, total_key);
    assert_eq!(st.total_size, total_size);
}

#[test]
fn fixture_schema_contents() {
    let bytes = snapshot_bytes();
    let r = Reader::new(&bytes).expect("open");
    let meta = MetaInfo::read(&r).expect("meta");
    assert_eq!(meta.finished_compact, Some(4));
    assert_eq!(meta.scheduled_compact, Some(4));
    assert!(meta.consistent_index > 0 && meta.term > 0);

    let kb = r.bucket(schema::KEY).expect("key").expect("bucket");
    assert!(!kb.is_inline());
    let mut tombstones = 0;
    let mut big = None;
    let mut last = RevisionKey::default();
    for e in kb.iter() {
        let e = e.expect("entry");
        let rk = RevisionKey::decode(e.key).expect("revision key");
        assert_eq!(rk.encode(), e.key);
        assert!(rk > last);
        last = rk;
        let kv = KeyValue::decode_value(e.value).expect("kv");
        if rk.tombstone {
            // etcd stores only the key for a deletion.
            assert_eq!(kv.mod_revision, 0);
            tombstones += 1;
        } else {
            assert_eq!(kv.mod_revision, rk.rev.main);
        }
        if kv.key == b"big" {
            big = Some(kv.value.len());
        }
    }
    assert_eq!(tombstones, 1, "foo2 was deleted");
    assert_eq!(big, Some(6000), "the large value spans overflow pages");
    // The txn's two puts share a main revision.
    assert_eq!(last.rev, schema::Revision { main: 68, sub: 1 });

    let lb = r.bucket(schema::LEASE).expect("lease").expect("bucket");
    let leases: Vec<_> = lb.iter().collect::<Result<_, _>>().expect("leases");
    assert_eq!(leases.len(), 1);
    let lease = Lease::decode_value(leases[0].value).expect("lease");
    assert_eq!(lease.ttl, 3600);
    assert_eq!(&lease.id.to_be_bytes()[..], leases[0].key);

    let users = r
        .bucket(schema::AUTH_USERS)
        .expect("users")
        .expect("bucket");
    assert!(users.get(b"alice").expect("get").is_some());
    assert!(users.get(b"bob").expect("get").is_none());
}

/// Every top-level bucket with all its pairs.
fn buckets_of(r: &Reader<'_>) -> Vec<BucketData> {
    let mut out = Vec::new();
    for name in r.bucket_names().expect("names") {
        let b = r.bucket(&name).expect("bucket").expect("is bucket");
        let entries = b
            .iter()
            .map(|e| e.map(|e| (e.key.to_vec(), e.value.to_vec())))
            .collect::<Result<Vec<_>, _>>()
            .expect("entries");
        out.push(BucketData::new(name, entries));
    }
    out
}

#[test]
fn rewritten_fixture_reads_back_identically() {
    let bytes = snapshot_bytes();
    let r = Reader::new(&bytes).expect("open");
    let orig = snapshot::status_of(&r).expect("status");
    let data = buckets_of(&r);
    for persist in [false, true] {
        let db = Writer::new()
            .persist_freelist(persist)
            .write(&data)
            .expect("write");
        let r2 = Reader::new(&db).expect("reopen");
        r2.check().expect("check");
        assert_eq!(buckets_of(&r2), data);
        let st = snapshot::status_of(&r2).expect("status");
        assert_eq!(
            (st.hash, st.revision, st.total_key),
            (orig.hash, orig.revision, orig.total_key)
        );
    }
}

#[test]
fn etcdutl_accepts_writer_output() {
    let Some(etcdutl) = etcd_bin("etcdutl") else {
        return;
    };
    let bytes = snapshot_bytes();
    let r = Reader::new(&bytes).expect("open");
    let orig = snapshot::status_of(&r).expect("status");
    let data = buckets_of(&r);
    let dir = tempfile::tempdir().expect("tempdir");
    for persist in [false, true] {
        let db = Writer::new()
            .persist_freelist(persist)
            .write(&data)
            .expect("write");
        let ours = snapshot::status_of(&Reader::new(&db).expect("reopen")).expect("status");
        let path = dir.path().join(format!("rewritten-{persist}.db"));
        std::fs::write(&path, snapshot::append_trailer(db)).expect("write file");

        let (hash, revision, total_key, total_size) = etcdutl_status(&etcdutl, &path);
        assert_eq!(
            (hash, revision, total_key),
            (orig.hash, orig.revision, orig.total_key)
        );
        assert_eq!(total_size, ours.total_size);

        // Restore opens the file read-write, trims members and commits:
        // bbolt must be happy to modify what we wrote.
        let data_dir = dir.path().join(format!("restored-{persist}"));
        let out = Command::new(&etcdutl)
            .args(["snapshot", "restore"])
            .arg(&path)
            .arg("--data-dir")
            .arg(&data_dir)
            .output()
            .expect("run etcdutl restore");
        assert!(
            out.status.success(),
            "restore failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let restored = data_dir.join("member/snap/db");
        let (_, rev2, _, _) = etcdutl_status(&etcdutl, &restored);
        assert_eq!(rev2, orig.revision);
        let rb = std::fs::read(&restored).expect("restored db");
        let rr = Reader::new(&rb).expect("open restored");
        rr.check().expect("check restored");
        assert_eq!(MetaInfo::read(&rr).expect("meta").consistent_index, 1);
    }
}

#[test]
fn backend_file_matches_etcdutl() {
    let bytes = std::fs::read(fixture("backend.db")).expect("backend.db");
    assert!(!snapshot::has_trailer(bytes.len()));
    assert!(matches!(
        snapshot::verify_trailer(&bytes),
        Err(etcd_format::Error::NoChecksum { .. })
    ));
    let json = std::fs::read_to_string(fixture("backend-status.json")).expect("json");
    let want = parse_status_json(&json);
    let st = snapshot::status(&bytes).expect("status");
    assert_eq!((st.hash, st.revision, st.total_key, st.total_size), want);
    // The snapshot holds the same data as the backend it was taken from.
    let snap = snapshot::status(&snapshot_bytes()).expect("snapshot status");
    assert_eq!((snap.hash, snap.revision), (st.hash, st.revision));
}
