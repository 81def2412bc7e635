//! Writer → Reader round trips over synthetic data, covering inline
//! buckets, multi-level trees, overflow pages and writer options.

mod common;

use common::*;
use etcd_format::bolt::{BucketData, Reader, Writer};
use etcd_format::{snapshot, Error};

fn kv(k: impl Into<Vec<u8>>, v: impl Into<Vec<u8>>) -> (Vec<u8>, Vec<u8>) {
    (k.into(), v.into())
}

fn sample() -> Vec<BucketData> {
    let many = (0..20_000u32)
        .map(|i| kv(format!("k{i:08}"), format!("value-{i}")))
        .collect();
    let big = vec![
        kv("a", vec![1u8; 10_000]),
        kv("b", vec![2u8; 100_000]),
        kv("c", b"small".to_vec()),
        kv(vec![b'x'; 5000], vec![3u8; 5000]),
    ];
    // Just past the quarter-page inline limit.
    let edge = (0..20u8).map(|i| kv(vec![b'e', i], vec![i; 40])).collect();
    vec![
        BucketData::new("empty", vec![]),
        BucketData::new("inline", vec![kv("one", "1"), kv("two", "2")]),
        BucketData::new("large", big),
        BucketData::new("many", many),
        BucketData::new("over-inline", edge),
    ]
}

fn read_all(r: &Reader<'_>) -> Vec<BucketData> {
    r.bucket_names()
        .expect("names")
        .into_iter()
        .map(|name| {
            let b = r.bucket(&name).expect("bucket").expect("present");
            let entries = b
                .iter()
                .map(|e| e.map(|e| (e.key.to_vec(), e.value.to_vec())))
                .collect::<Result<Vec<_>, _>>()
                .expect("entries");
            BucketData::new(name, entries)
        })
        .collect()
}

#[test]
fn empty_database() {
    let db = Writer::new().write(&[]).expect("write");
    assert_eq!(db.len(), 3 * 4096);
    let r = Reader::new(&db).expect("open");
    r.check().expect("check");
    assert!(r.bucket_names().expect("names").is_empty());
    let st = snapshot::status(&db).expect("status");
    let owned = Reader::from_vec(db).expect("owned");
    assert_eq!(owned.size(), 3 * 4096);
    assert_eq!(
        (st.hash, st.revision, st.total_key, st.total_size),
        (0, 0, 0, 3 * 4096)
    );
}

#[test]
fn round_trip_default_options() {
    let data = sample();
    let db = Writer::new().write(&data).expect("write");
    let r = Reader::new(&db).expect("open");
    let stats = r.check().expect("check");
    assert_eq!(
        stats.keys,
        data.iter().map(|b| b.entries.len() as u64).sum::<u64>()
    );
    assert_eq!(stats.free_pages, 0);
    assert_eq!(read_all(&r), data);

    let many = r.bucket(b"many").expect("many").expect("present");
    for i in (0..20_000u32).step_by(997) {
        let v = many.get(format!("k{i:08}").as_bytes()).expect("get");
        assert_eq!(v, Some(format!("value-{i}").as_bytes()));
    }
    assert_eq!(many.get(b"k").expect("get"), None);
    assert_eq!(many.get(b"zzz").expect("get"), None);
    assert!(r
        .bucket(b"inline")
        .expect("b")
        .expect("present")
        .is_inline());
    assert!(!r
        .bucket(b"over-inline")
        .expect("b")
        .expect("present")
        .is_inline());
    assert!(r.bucket(b"empty").expect("b").expect("present").is_inline());
    assert!(r.bucket(b"nope").expect("b").is_none());
}

#[test]
fn round_trip_other_options() {
    let data = sample();
    for (ps, fill, persist, txid) in [
        (1024, 0.5, true, 7),
        (16384, 0.9, false, 1),
        (65536, 1.0, true, 100),
    ] {
        let db = Writer::new()
            .page_size(ps)
            .fill_percent(fill)
            .persist_freelist(persist)
            .txid(txid)
            .write(&data)
            .expect("write");
        let r = Reader::new(&db).expect("open");
        assert_eq!(r.page_size(), ps);
        assert_eq!(r.meta().txid, txid);
        let stats = r.check().expect("check");
        assert_eq!(stats.freelist_persisted, persist);
        assert_eq!(read_all(&r), data);
    }
}

#[test]
fn writer_rejects_bad_input() {
    let unsorted = [BucketData::new("b", vec![kv("2", ""), kv("1", "")])];
    let dup_bucket = [BucketData::new("a", vec![]), BucketData::new("a", vec![])];
    let empty_key = [BucketData::new("a", vec![kv("", "x")])];
    let huge_key = [BucketData::new("a", vec![kv(vec![1u8; 40_000], "x")])];
    for bad in [&unsorted[..], &dup_bucket, &empty_key, &huge_key] {
        assert!(matches!(Writer::new().write(bad), Err(Error::Writer(_))));
    }
    assert!(Writer::new().page_size(1000).write(&[]).is_err());
    assert!(Writer::new().txid(0).write(&[]).is_err());
}

#[test]
fn etcdutl_checks_large_writer_output() {
    let Some(etcdutl) = etcd_bin("etcdutl") else {
        return;
    };
    let data = sample();
    let db = Writer::new().write(&data).expect("write");
    let ours = snapshot::status(&db).expect("status");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("synthetic.db");
    std::fs::write(&path, snapshot::append_trailer(db)).expect("write file");
    // etcdutl runs bbolt's Tx.Check and hashes every bucket. Revision is 0:
    // there is no `key` bucket.
    let got = etcdutl_status(&etcdutl, &path);
    assert_eq!(got, (ours.hash, 0, ours.total_key, ours.total_size));
}
