//! The streaming writer lays out the same bytes as the in-memory one, and
//! the streamed restore (`restore_file`, `restore`) the same database as
//! the in-memory `rebuild_db`.

mod common;

use std::borrow::Cow;
use std::fs;
use std::io::Cursor;
use std::path::Path;

use common::cluster::tree;
use common::*;
use etcd_format::bolt::{BucketData, KeyValue, Reader, Writer};
use etcd_format::restore::{self, restore, restore_file, RestoreConfig};
use etcd_format::{snapshot, Error};
use testkit::rng::Rng;

fn borrowed(b: &BucketData) -> impl Iterator<Item = Result<KeyValue<'_>, Error>> {
    b.entries
        .iter()
        .map(|(k, v)| Ok((Cow::Borrowed(&k[..]), Cow::Borrowed(&v[..]))))
}

fn streamed(w: &Writer, data: &[BucketData]) -> Vec<u8> {
    let mut s = w.stream(Cursor::new(Vec::new())).expect("stream");
    for b in data {
        s.bucket(&b.name, borrowed(b)).expect("bucket");
    }
    let out = s.finish().expect("finish");
    assert_eq!(out.position() as usize, out.get_ref().len());
    out.into_inner()
}

fn assert_same(w: &Writer, data: &[BucketData]) {
    let want = w.write(data).expect("write");
    let got = streamed(w, data);
    assert_eq!(got.len(), want.len());
    assert!(got == want, "streamed bytes differ");
}

fn buckets_of(db: &[u8]) -> Vec<BucketData> {
    let (db, _) = snapshot::split_trailer(db);
    let r = Reader::new(db).expect("open");
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

fn kv(k: impl Into<Vec<u8>>, v: impl Into<Vec<u8>>) -> (Vec<u8>, Vec<u8>) {
    (k.into(), v.into())
}

fn options() -> Vec<Writer> {
    vec![
        Writer::new(),
        Writer::new().persist_freelist(true).txid(7),
        Writer::new().page_size(1024).fill_percent(0.1),
        Writer::new().page_size(16384).fill_percent(0.5),
        Writer::new().page_size(65536),
    ]
}

#[test]
fn fixtures_stream_identically() {
    for name in ["snapshot.db", "backend.db"] {
        let data = buckets_of(&fs::read(fixture(name)).expect("fixture"));
        for w in options() {
            assert_same(&w, &data);
        }
    }
}

#[test]
fn edge_cases_stream_identically() {
    let many = (0..5_000u32)
        .map(|i| kv(format!("k{i:08}"), format!("value-{i}")))
        .collect();
    let big = vec![
        kv("a", vec![1u8; 10_000]),
        kv("b", vec![2u8; 100_000]),
        kv("c", b"small".to_vec()),
        kv(vec![b'x'; 5000], vec![3u8; 5000]),
    ];
    let edge = |n: u8| (0..n).map(|i| kv(vec![b'e', i], vec![i; 40])).collect();
    let data = vec![
        BucketData::new("empty", vec![]),
        BucketData::new("inline", vec![kv("one", "1"), kv("two", "2")]),
        BucketData::new("large", big),
        BucketData::new("many", many),
        BucketData::new("over-inline", edge(20)),
        BucketData::new("single-huge", vec![kv("h", vec![9u8; 70_000])]),
        BucketData::new("three", vec![kv("1", vec![1u8; 3000]); 1]),
        BucketData::new("under-inline", edge(16)),
    ];
    for w in options() {
        assert_same(&w, &data);
        assert_same(&w, &[]);
        // Enough buckets for a multi-page top-level tree.
        let tops: Vec<BucketData> = (0..3000u32)
            .map(|i| BucketData::new(format!("b{i:05}"), vec![kv("k", "v")]))
            .collect();
        assert_same(&w, &tops);
    }
}

#[test]
fn synthetic_200k_keys_stream_identically() {
    let entries = (0..200_000u32)
        .map(|i| kv(i.to_be_bytes(), vec![(i % 251) as u8; 256]))
        .collect();
    let data = vec![
        BucketData::new("a", vec![kv("x", "y")]),
        BucketData::new("key", entries),
        BucketData::new("meta", vec![kv("term", "1")]),
    ];
    assert_same(&Writer::new(), &data);
}

#[test]
fn owned_entries_and_errors() {
    let mut s = Writer::new().stream(Cursor::new(Vec::new())).expect("new");
    let owned = (0..1000u32).map(|i| {
        Ok((
            Cow::Owned(i.to_be_bytes().to_vec()),
            Cow::Owned(vec![1; 50]),
        ))
    });
    s.bucket(b"b", owned).expect("owned entries");
    let db = s.finish().expect("finish").into_inner();
    let back = buckets_of(&db);
    assert_eq!(back[0].entries.len(), 1000);

    let one = |k: &'static [u8]| Ok((Cow::Borrowed(k), Cow::Borrowed(&b"v"[..])));
    let mut s = Writer::new().stream(Cursor::new(Vec::new())).expect("new");
    s.bucket(b"b", [one(b"k")]).expect("first");
    assert!(matches!(s.bucket(b"a", [one(b"k")]), Err(Error::Writer(_))));
    assert!(matches!(s.bucket(b"b", [one(b"k")]), Err(Error::Writer(_))));
    assert!(matches!(s.bucket(b"", [one(b"k")]), Err(Error::Writer(_))));
    assert!(matches!(
        s.bucket(b"c", [one(b"2"), one(b"1")]),
        Err(Error::Writer(_))
    ));
    assert!(matches!(s.bucket(b"d", [one(b"")]), Err(Error::Writer(_))));
    let failing = [one(b"1"), Err(Error::KeyOrder { page: 9 })];
    assert_eq!(s.bucket(b"e", failing), Err(Error::KeyOrder { page: 9 }));
    assert!(Writer::new()
        .page_size(1000)
        .stream(Cursor::new(Vec::new()))
        .is_err());
}

/// Every file of a restored data dir, by relative path.
fn contents(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    tree(dir)
        .keys()
        .filter(|p| dir.join(p).is_file())
        .map(|p| (p.clone(), fs::read(dir.join(p)).expect("read")))
        .collect()
}

#[test]
fn restore_file_equals_restore_and_rebuild_db() {
    let snap = fixture("snapshot.db");
    let bytes = snapshot_bytes();
    let tmp = tempfile::tempdir().expect("tempdir");
    for (bump, mark) in [(0, false), (1000, true)] {
        let cfg = |d: &str| RestoreConfig {
            data_dir: Some(tmp.path().join(format!("{d}-{bump}"))),
            bump_revision: bump,
            mark_compacted: mark,
            ..Default::default()
        };
        let a = restore(&bytes, &cfg("bytes")).expect("restore");
        let b = restore_file(&snap, &cfg("file")).expect("restore_file");
        assert_eq!(a.revision, b.revision);
        assert_eq!((&a.members, a.cluster_id), (&b.members, b.cluster_id));
        let (ca, cb) = (contents(&a.data_dir), contents(&b.data_dir));
        assert!(!ca.is_empty());
        assert!(ca == cb, "restored files differ");
        assert_eq!(tree(&a.data_dir), tree(&b.data_dir));

        // The streamed db is what the in-memory rebuild lays out.
        let db = snapshot::verify_trailer(&bytes).expect("trailer");
        let (want, rev) = restore::rebuild_db(db, &a.members, bump, mark).expect("rebuild");
        assert_eq!(rev, a.revision);
        let got = fs::read(a.data_dir.join("member/snap/db")).expect("db");
        assert!(got == want, "streamed db differs from rebuild_db");
        Reader::new(&got).expect("open").check().expect("check");
    }
    let e = restore_file(
        &tmp.path().join("missing.db"),
        &RestoreConfig {
            data_dir: Some(tmp.path().join("m")),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(e, restore::RestoreError::Io { op: "open", .. }),
        "{e}"
    );
    assert!(!tmp.path().join("m").exists());
}

/// The file-backed restore reports what the in-memory one reports.
#[test]
fn restore_file_errors_match_restore() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path();
    let cfg = |d: &str, skip: bool| RestoreConfig {
        data_dir: Some(base.join(d)),
        skip_hash_check: skip,
        ..Default::default()
    };
    let write = |name: &str, bytes: &[u8]| {
        let p = base.join(name);
        fs::write(&p, bytes).expect("write");
        p
    };
    let snap = snapshot_bytes();
    let raw = fs::read(fixture("backend.db")).expect("backend.db");
    let mut bad_hash = snap.clone();
    bad_hash[5000] ^= 0xff;
    // A root page whose id does not match its position.
    let db = snapshot::verify_trailer(&snap).expect("trailer").to_vec();
    let root = Reader::new(&db).expect("open").meta().root as usize;
    let mut bad_page = db.clone();
    bad_page[root * 4096] ^= 0x7f;
    let mut tiny = vec![0u8; 100];
    tiny[0] = 1;
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("raw", raw.clone(), false),
        ("raw-skip", raw, true),
        ("bad-hash", bad_hash, false),
        (
            "bad-page",
            snapshot::append_trailer(bad_page.clone()),
            false,
        ),
        ("bad-page-skip", bad_page, true),
        ("tiny", tiny, true),
        ("empty", Vec::new(), true),
    ];
    for (name, bytes, skip) in cases {
        let path = write(&format!("{name}.db"), &bytes);
        let a = restore(&bytes, &cfg(&format!("{name}-a"), skip));
        let b = restore_file(&path, &cfg(&format!("{name}-b"), skip));
        match (a, b) {
            (Ok(a), Ok(b)) => {
                assert_eq!(name, "raw-skip");
                assert!(contents(&a.data_dir) == contents(&b.data_dir), "{name}");
            }
            (Err(a), Err(b)) => {
                assert_ne!(name, "raw-skip", "{a}");
                assert_eq!(a.to_string(), b.to_string(), "{name}");
                assert!(!base.join(format!("{name}-a")).exists());
                assert!(!base.join(format!("{name}-b")).exists());
            }
            (a, b) => panic!("{name}: {a:?} vs {b:?}"),
        }
    }
    let mut left: Vec<String> = fs::read_dir(base)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    left.sort();
    assert!(left.is_empty(), "temporary directories left: {left:?}");
}

/// Damaged databases: the page-at-a-time reader of `restore_file` fails
/// (or succeeds) exactly where the in-memory reader of `restore` does.
#[test]
fn restore_file_agrees_on_damaged_databases() {
    const PS: usize = 4096;
    let snap = snapshot_bytes();
    let db = snapshot::verify_trailer(&snap).expect("trailer").to_vec();
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("damaged.db");
    let mut rng = Rng::new(0x5eed_5742_0000_0001);
    let (mut ok, mut failed) = (0, 0);
    for round in 0..60 {
        let mut b = db.clone();
        let pages = b.len() / PS;
        for _ in 0..1 + rng.below(3) {
            let p = 2 + rng.below(pages - 2);
            let off = match rng.below(2) {
                0 => rng.below(16 + 16 * 8),
                _ => rng.below(PS),
            };
            b[p * PS + off] = rng.next_u64() as u8;
        }
        fs::write(&path, &b).expect("write");
        let cfg = |side: &str| RestoreConfig {
            data_dir: Some(tmp.path().join(format!("{round}-{side}"))),
            skip_hash_check: true,
            ..Default::default()
        };
        match (restore(&b, &cfg("a")), restore_file(&path, &cfg("b"))) {
            (Ok(a), Ok(b)) => {
                ok += 1;
                assert!(contents(&a.data_dir) == contents(&b.data_dir), "{round}");
                fs::remove_dir_all(&a.data_dir).expect("rm");
                fs::remove_dir_all(&b.data_dir).expect("rm");
            }
            (Err(a), Err(b)) => {
                failed += 1;
                assert_eq!(a.to_string(), b.to_string(), "round {round}");
            }
            (a, b) => panic!("round {round}: {a:?} vs {b:?}"),
        }
    }
    assert!(ok > 0 && failed > 0, "{ok} ok, {failed} failed");
    assert_eq!(fs::read_dir(tmp.path()).expect("ls").count(), 1);
}
