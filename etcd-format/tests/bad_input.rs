//! Malformed input: every corruption must give a typed error, never a
//! panic, a hang or a huge allocation.

mod common;

use common::*;
use etcd_format::bolt::page::{self, Meta};
use etcd_format::bolt::{BucketData, Reader, Writer};
use etcd_format::{snapshot, Error};
use testkit::rng::Rng;

const PS: usize = 4096;

/// Opens, checks and fully reads a database; the first error wins.
fn load(bytes: &[u8]) -> Result<u64, Error> {
    let r = Reader::new(bytes)?;
    r.check()?;
    let st = snapshot::status_of(&r)?;
    let mut n = 0;
    for name in r.bucket_names()? {
        if let Some(b) = r.bucket(&name)? {
            for e in b.iter() {
                e?;
                n += 1;
            }
        }
    }
    assert_eq!(n, st.total_key);
    Ok(n)
}

/// A database with one bucket big enough for a branch root.
fn branchy(persist_freelist: bool) -> Vec<u8> {
    let entries = (0..500u32)
        .map(|i| (format!("key-{i:05}").into_bytes(), vec![b'v'; 40]))
        .collect();
    Writer::new()
        .persist_freelist(persist_freelist)
        .write(&[BucketData::new("b", entries)])
        .expect("write")
}

/// Ids of the pages whose header carries `flags`.
fn pages_with(db: &[u8], flags: u16) -> Vec<usize> {
    (2..db.len() / PS)
        .filter(|&i| {
            page::u16_at(db, i * PS + 8) == Some(flags)
                && page::u64_at(db, i * PS) == Some(i as u64)
        })
        .collect()
}

fn set_u64(db: &mut [u8], at: usize, v: u64) {
    db[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Rewrites both meta pages through `f`, with valid checksums.
fn edit_metas(db: &mut [u8], f: impl Fn(&mut Meta)) {
    for p in 0..2 {
        let mut m = Meta::parse(p as u64, &db[p * PS..]).expect("meta");
        f(&mut m);
        let enc = m.encode();
        db[p * PS + 16..p * PS + 16 + enc.len()].copy_from_slice(&enc);
    }
}

#[test]
fn truncated_files() {
    let bytes = snapshot_bytes();
    for len in [
        0,
        10,
        79,
        100,
        PS,
        PS + 100,
        2 * PS,
        3 * PS,
        bytes.len() / 2,
        bytes.len() - 32 - 1,
    ] {
        let err = load(&bytes[..len]).expect_err("truncated must fail");
        assert!(
            matches!(err, Error::TooSmall { .. } | Error::BadMeta { .. }),
            "len {len}: {err:?}"
        );
    }
}

#[test]
fn not_bbolt() {
    let zeros = vec![0u8; 3 * PS];
    assert!(matches!(load(&zeros), Err(Error::BadMagic { page: 0, .. })));
    let text = b"this is not a database at all ".repeat(500);
    assert!(matches!(load(&text), Err(Error::BadMagic { .. })));
}

#[test]
fn wrong_trailer() {
    let mut bytes = snapshot_bytes();
    assert!(snapshot::verify_trailer(&bytes).is_ok());
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    assert!(matches!(
        snapshot::verify_trailer(&bytes),
        Err(Error::ChecksumMismatch { .. })
    ));
    assert!(matches!(
        snapshot::verify_trailer(&bytes[..n - 32]),
        Err(Error::NoChecksum { len }) if len == n - 32
    ));
    // A flipped database byte is caught by the trailer too.
    let mut bytes = snapshot_bytes();
    bytes[5 * PS + 100] ^= 1;
    assert!(matches!(
        snapshot::verify_trailer(&bytes),
        Err(Error::ChecksumMismatch { .. })
    ));
}

#[test]
fn meta_checksums() {
    let mut db = branchy(false);
    // One bad meta: the other one still opens the file, as in bbolt.
    db[16 + 40] ^= 1;
    let r = Reader::new(&db).expect("fallback meta");
    assert_eq!(r.meta_page(), 1);
    db[PS + 16 + 40] ^= 1;
    assert!(matches!(
        Reader::new(&db),
        Err(Error::MetaChecksum { page: 0, .. })
    ));
}

#[test]
fn flipped_leaf_bytes() {
    let bytes = snapshot_bytes();
    // The root bucket's page: a leaf that is certainly reachable (stale
    // pages are free without a persisted freelist and never read).
    let leaf = Reader::new(&bytes).expect("open").meta().root as usize;
    assert_eq!(page::u16_at(&bytes, leaf * PS + 8), Some(page::LEAF));
    // Element 0's `pos` made huge: points past the page.
    let mut b = bytes.clone();
    b[leaf * PS + 16 + 4 + 3] ^= 0x80;
    assert!(
        matches!(load(&b), Err(Error::ElementOutOfBounds { page, index: 0 }) if page == leaf as u64)
    );
    // Page type flipped to something unknown.
    let mut b = bytes.clone();
    b[leaf * PS + 8] ^= 0x40;
    assert!(matches!(load(&b), Err(Error::WrongPageType { page, .. }) if page == leaf as u64));
    // Element count larger than the page can hold.
    let mut b = bytes.clone();
    b[leaf * PS + 11] = 0xff;
    assert!(matches!(load(&b), Err(Error::CountOutOfBounds { page, .. }) if page == leaf as u64));
    // Header id not matching the position.
    let mut b = bytes;
    b[leaf * PS] ^= 0x01;
    assert!(matches!(load(&b), Err(Error::PageIdMismatch { page, .. }) if page == leaf as u64));
}

#[test]
fn keys_out_of_order() {
    let mut db = branchy(false);
    let leaf = pages_with(&db, page::LEAF)[0];
    // The first key's first byte raised above its successors.
    let pos = page::u32_at(&db, leaf * PS + 16 + 4).expect("pos") as usize;
    db[leaf * PS + 16 + pos] = b'z';
    assert!(matches!(load(&db), Err(Error::KeyOrder { page }) if page == leaf as u64));
}

#[test]
fn page_id_out_of_range() {
    let mut db = branchy(false);
    let branch = pages_with(&db, page::BRANCH)[0];
    set_u64(&mut db, branch * PS + 16 + 8, 9999);
    assert!(matches!(
        load(&db),
        Err(Error::PageOutOfRange { page: 9999, .. })
    ));
    let r = Reader::new(&db).expect("open");
    let b = r.bucket(b"b").expect("bucket").expect("present");
    assert!(b
        .iter()
        .any(|e| matches!(e, Err(Error::PageOutOfRange { page: 9999, .. }))));
}

#[test]
fn cycle_and_shared_pages() {
    // A branch pointing at itself.
    let mut db = branchy(false);
    let branch = pages_with(&db, page::BRANCH)[0];
    set_u64(&mut db, branch * PS + 16 + 16 + 8, branch as u64);
    assert!(matches!(load(&db), Err(Error::MultipleReferences { page }) if page == branch as u64));
    let r = Reader::new(&db).expect("open");
    let b = r.bucket(b"b").expect("bucket").expect("present");
    let errs: Vec<_> = b.iter().filter_map(Result::err).collect();
    assert!(matches!(
        errs.as_slice(),
        [Error::MultipleReferences { .. }]
    ));

    // Two branch elements sharing one child.
    let mut db = branchy(false);
    let first = page::u64_at(&db, branch * PS + 16 + 8).expect("child");
    set_u64(&mut db, branch * PS + 16 + 16 + 8, first);
    assert!(matches!(load(&db), Err(Error::MultipleReferences { page }) if page == first));
}

#[test]
fn freelist_problems() {
    let clean = branchy(true);
    let fl = Reader::new(&clean).expect("open").meta().freelist as usize;
    let leaf = pages_with(&clean, page::LEAF)[0] as u64;

    // A reachable page listed as free.
    let mut db = clean.clone();
    db[fl * PS + 10] = 1;
    set_u64(&mut db, fl * PS + 16, leaf);
    assert!(matches!(load(&db), Err(Error::ReachableFreed { page }) if page == leaf));

    // A free id beyond the high-water mark.
    set_u64(&mut db, fl * PS + 16, 1 << 40);
    assert!(matches!(load(&db), Err(Error::BadFreelistEntry { id, .. }) if id == 1 << 40));

    // The same page freed twice.
    let mut db = clean.clone();
    db.extend_from_slice(&[0u8; PS]);
    let extra = (db.len() / PS - 1) as u64;
    edit_metas(&mut db, |m| m.pgid += 1);
    // An extra page neither reachable nor free.
    assert!(matches!(load(&db), Err(Error::Unreachable { page }) if page == extra));
    db[fl * PS + 10] = 2;
    set_u64(&mut db, fl * PS + 16, extra);
    set_u64(&mut db, fl * PS + 24, extra);
    assert!(matches!(load(&db), Err(Error::DoubleFree { page }) if page == extra));
    // Listed once it is fine.
    db[fl * PS + 10] = 1;
    let stats = Reader::new(&db).expect("open").check().expect("check");
    assert_eq!(stats.free_pages, 1);

    // Huge overflowed freelist count: rejected without allocating.
    let mut db = clean;
    db[fl * PS + 10] = 0xff;
    db[fl * PS + 11] = 0xff;
    set_u64(&mut db, fl * PS + 16, u64::MAX / 2);
    assert!(matches!(load(&db), Err(Error::CountOutOfBounds { .. })));
}

#[test]
fn meta_pointing_outside() {
    let mut db = branchy(false);
    edit_metas(&mut db, |m| m.pgid = 1 << 50);
    assert!(matches!(load(&db), Err(Error::BadMeta { page: 0, .. })));
    let mut db = branchy(false);
    edit_metas(&mut db, |m| m.root = 1);
    assert!(matches!(load(&db), Err(Error::BadMeta { .. })));
    let mut db = branchy(false);
    edit_metas(&mut db, |m| m.page_size = 3000);
    assert!(matches!(load(&db), Err(Error::BadPageSize { .. })));
}

#[test]
fn fuzz_random_mutations() {
    let bases = [snapshot_bytes(), branchy(true)];
    let mut rng = Rng::new(0x5eed_1234_abcd_0001);
    let (mut ok, mut failed) = (0, 0);
    for round in 0..2000 {
        let mut b = bases[round % 2].clone();
        match rng.below(10) {
            // Truncation.
            0 => {
                let n = rng.below(b.len());
                b.truncate(n);
            }
            // A few random bytes anywhere.
            1..=4 => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(b.len());
                    b[i] = rng.next_u64() as u8;
                }
            }
            // Structural fields: page headers and element headers.
            _ => {
                let pages = b.len() / PS;
                for _ in 0..1 + rng.below(3) {
                    let p = 2 + rng.below(pages - 2);
                    let off = rng.below(16 + 16 * 8);
                    b[p * PS + off] = rng.next_u64() as u8;
                }
            }
        }
        match load(&b) {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
    }
    assert_eq!(ok + failed, 2000);
    assert!(failed > 0);
}
