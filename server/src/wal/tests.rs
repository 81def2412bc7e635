//! The WAL's unit tests: torn and zeroed tails, corruption in the middle,
//! rewritten tails, state and snapshot records, gaps and missing segments.

use super::*;
use testkit::rng::Rng;

fn entry(i: u64) -> Entry {
    Entry {
        term: 1,
        index: i,
        data: vec![i as u8; 10],
        kind: 0,
    }
}

fn write(dir: &Path, n: u64) {
    let (mut w, _) = Wal::open(dir, 0).expect("open");
    let es: Vec<_> = (1..=n).map(entry).collect();
    w.append(&es).expect("append");
    w.sync().expect("sync");
}

fn only_segment(dir: &Path) -> PathBuf {
    segments(dir).expect("list")[0].2.clone()
}

#[test]
fn reopen_returns_entries_after_index() {
    let d = tempfile::tempdir().expect("tmp");
    write(d.path(), 5);
    let (w, es) = Wal::open(d.path(), 2).expect("reopen");
    assert_eq!(
        es.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert_eq!(w.last_index, 5);
}

#[test]
fn torn_tail_is_cut_and_kept_as_broken() {
    let d = tempfile::tempdir().expect("tmp");
    write(d.path(), 3);
    let p = only_segment(d.path());
    let mut data = fs::read(&p).expect("read");
    // a write cut short: the last record's final bytes never reached the disk
    let end = data.iter().rposition(|&b| b != 0).expect("written data") + 1;
    data[end - 3..end].fill(0);
    fs::write(&p, &data).expect("write");
    let (mut w, es) = Wal::open(d.path(), 0).expect("repair");
    assert_eq!(es.entries.len(), 2);
    assert!(d
        .path()
        .join(format!(
            "{}.broken",
            p.file_name().unwrap().to_string_lossy()
        ))
        .exists());
    w.append(&[entry(3)]).expect("append after repair");
    w.sync().expect("sync");
    let (_, es) = Wal::open(d.path(), 0).expect("reopen");
    assert_eq!(es.entries.len(), 3);
}

#[test]
fn torn_record_in_preallocated_segment_is_cut() {
    let d = tempfile::tempdir().expect("tmp");
    write(d.path(), 3);
    let p = only_segment(d.path());
    let mut data = fs::read(&p).expect("read");
    // find the end of written data, then damage the last record's payload
    let end = data.iter().rposition(|&b| b != 0).expect("written data") + 1;
    data[end - 2] ^= 0xff;
    fs::write(&p, &data).expect("write");
    let (_, es) = Wal::open(d.path(), 0).expect("repair");
    assert_eq!(es.entries.len(), 2);
}

#[test]
fn zero_filled_tail_is_torn() {
    let d = tempfile::tempdir().expect("tmp");
    write(d.path(), 3);
    let p = only_segment(d.path());
    let mut f = OpenOptions::new().append(true).open(&p).expect("open");
    f.write_all(&[0u8; 4096]).expect("zeros");
    let (_, es) = Wal::open(d.path(), 0).expect("repair");
    assert_eq!(es.entries.len(), 3);
}

#[test]
fn corruption_in_the_middle_refuses_to_open() {
    let d = tempfile::tempdir().expect("tmp");
    write(d.path(), 5);
    let p = only_segment(d.path());
    let mut data = fs::read(&p).expect("read");
    data[30] ^= 0xff;
    fs::write(&p, &data).expect("write");
    match Wal::open(d.path(), 0) {
        Err(WalError::Corrupt { file, .. }) => assert_eq!(file, p),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened a corrupt log"),
    }
}

#[test]
fn segments_chain_across_cuts() {
    let d = tempfile::tempdir().expect("tmp");
    let (mut w, _) = Wal::open(d.path(), 0).expect("open");
    w.append(&[entry(1), entry(2)]).expect("a");
    w.save_state(b"hs").expect("state");
    w.cut().expect("cut");
    w.append(&[entry(3)]).expect("b");
    w.cut().expect("cut");
    w.append(&[entry(4)]).expect("c");
    w.sync().expect("sync");
    drop(w);
    assert_eq!(segments(d.path()).expect("list").len(), 3);
    let (mut w, es) = Wal::open(d.path(), 0).expect("reopen");
    assert_eq!(es.entries.len(), 4);
    // --max-wals 0 keeps everything
    w.release(4, 0).expect("release");
    assert_eq!(segments(d.path()).expect("list").len(), 3);
    // two segments are releasable; the newest one of them is kept
    w.release(4, 1).expect("release");
    assert_eq!(segments(d.path()).expect("list").len(), 2);
    drop(w);
    // the hard state written before the first cut survives its release
    let (_, r) = Wal::open(d.path(), 3).expect("reopen");
    assert_eq!(r.state.as_deref(), Some(&b"hs"[..]));
    assert_eq!(r.entries, vec![entry(4)]);
}

#[test]
fn rewritten_tail_replaces_entries_and_records_state() {
    let d = tempfile::tempdir().expect("tmp");
    let (mut w, _) = Wal::open(d.path(), 0).expect("open");
    w.append(&[entry(1), entry(2), entry(3)]).expect("a");
    w.save_state(b"hs1").expect("state");
    // raft replaces an uncommitted tail from index 2 with a newer term's
    let mut e2 = entry(2);
    e2.term = 2;
    w.append(&[e2.clone()]).expect("b");
    w.save_state(b"hs2").expect("state");
    w.sync().expect("sync");
    drop(w);
    let (w, r) = Wal::open(d.path(), 0).expect("reopen");
    assert_eq!(r.entries, vec![entry(1), e2]);
    assert_eq!(r.state.as_deref(), Some(&b"hs2"[..]));
    assert_eq!((w.last_index, w.last_term), (2, 2));
}

#[test]
fn snapshot_record_restarts_the_log() {
    let d = tempfile::tempdir().expect("tmp");
    let (mut w, _) = Wal::open(d.path(), 0).expect("open");
    w.append(&[entry(1), entry(2)]).expect("a");
    w.save_snapshot(10, 3).expect("snap");
    let mut e11 = entry(11);
    e11.term = 3;
    w.append(&[e11.clone()]).expect("b");
    w.sync().expect("sync");
    drop(w);
    let (w, r) = Wal::open(d.path(), 0).expect("reopen");
    assert_eq!(r.snapshot, Some((10, 3)));
    assert_eq!(r.entries, vec![e11]);
    assert_eq!(w.last_index, 11);
}

#[test]
fn a_gap_in_indexes_refuses_to_open() {
    let d = tempfile::tempdir().expect("tmp");
    let (mut w, _) = Wal::open(d.path(), 0).expect("open");
    w.append(&[entry(1), entry(3)]).expect("a");
    w.sync().expect("sync");
    drop(w);
    assert!(matches!(
        Wal::open(d.path(), 0),
        Err(WalError::BadEntry { .. })
    ));
}

#[test]
fn missing_segment_refuses_to_open() {
    let d = tempfile::tempdir().expect("tmp");
    let (mut w, _) = Wal::open(d.path(), 0).expect("open");
    w.append(&[entry(1)]).expect("a");
    w.cut().expect("cut");
    w.append(&[entry(2)]).expect("b");
    w.cut().expect("cut");
    w.append(&[entry(3)]).expect("c");
    w.sync().expect("sync");
    drop(w);
    fs::remove_file(&segments(d.path()).expect("list")[1].2).expect("rm");
    assert!(matches!(
        Wal::open(d.path(), 0),
        Err(WalError::Corrupt { .. })
    ));
}

#[test]
fn entries_with_long_zero_runs_are_read_whole() {
    // a segment is read as far as its records need: an entry holding more
    // zeros than the read-ahead window must not look like the segment's end
    let d = tempfile::tempdir().expect("tmp");
    let (mut w, _) = Wal::open(d.path(), 0).expect("open");
    let big = Entry {
        term: 1,
        index: 1,
        data: vec![0; 3 * CHECK_WINDOW],
        kind: 0,
    };
    w.append(&[big, entry(2)]).expect("append");
    w.sync().expect("sync");
    drop(w);
    let (w, es) = Wal::open(d.path(), 0).expect("reopen");
    assert_eq!(es.entries.len(), 2);
    assert_eq!(es.entries[0].data.len(), 3 * CHECK_WINDOW);
    assert_eq!(w.last_index, 2);
}

/// Random damage to a segment (bytes changed, a cut, a length word made
/// huge, garbage appended after the records): opening never panics or
/// hangs, and what it replays is always a prefix of what was written —
/// damaged records are cut or refused, never read as entries.
#[test]
fn random_damage_never_yields_entries_that_were_not_written() {
    let clean = tempfile::tempdir().expect("tmp");
    write(clean.path(), 40);
    let seg = only_segment(clean.path());
    let name = seg.file_name().expect("segment name").to_owned();
    let mut bytes = fs::read(&seg).expect("read");
    let end = bytes.iter().rposition(|&b| b != 0).expect("written data") + 1;
    // the preallocated rest is zeros: 2 MiB of them keep each round cheap
    bytes.truncate(end + (2 << 20));
    let mut rng = Rng::new(0x0005_eed0_a10f_7e57);
    let (mut opened, mut refused) = (0, 0);
    for round in 0..300 {
        let mut b = bytes.clone();
        match rng.below(4) {
            0 => {
                for _ in 0..1 + rng.below(3) {
                    let i = rng.below(end);
                    b[i] ^= 1 + rng.below(255) as u8;
                }
            }
            1 => {
                let cut = rng.below(end);
                b[cut..].fill(0);
            }
            2 => {
                let i = rng.below(end.saturating_sub(8));
                b[i..i + 8].copy_from_slice(&u64::MAX.to_le_bytes());
            }
            _ => {
                for x in &mut b[end..end + 64 + rng.below(4096)] {
                    *x = rng.next_u64() as u8;
                }
            }
        }
        let d = tempfile::tempdir().expect("tmp");
        fs::write(d.path().join(&name), &b).expect("write");
        match Wal::open(d.path(), 0) {
            Ok((_, replay)) => {
                opened += 1;
                for (i, e) in replay.entries.iter().enumerate() {
                    assert_eq!(*e, entry(i as u64 + 1), "round {round}: entry {i}");
                }
            }
            Err(_) => refused += 1,
        }
    }
    assert!(
        opened > 0 && refused > 0,
        "opened {opened}, refused {refused}"
    );
}
