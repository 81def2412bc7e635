//! Damaged WAL files: a write cut short at the end of the last segment
//! (zeroed or truncated) is repaired on start (all but at most the last
//! record survive, a `.broken` copy is kept); damage inside the log (a
//! payload or a length field) stops the server with an error naming the
//! file and offset, and leaves the file as it was.

mod common;

use common::*;
use oxcd_proto::etcdserverpb::RangeRequest;
use oxcd_proto::mvccpb::KeyValue;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn wal_dir(data: &Path) -> PathBuf {
    data.join("member").join("wal")
}

fn wal_segments(data: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(wal_dir(data))
        .expect("read wal dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "oxwal"))
        .collect();
    v.sort();
    assert!(
        !v.is_empty(),
        "no WAL segment in {}",
        wal_dir(data).display()
    );
    v
}

fn broken_files(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(wal_dir(data))
        .expect("read wal dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".broken"))
        .collect()
}

/// Record start offsets of a segment and the end of its written part
/// (frame: len u32 LE | crc u32 | type | payload; preallocated zeros follow).
fn records(data: &[u8]) -> (Vec<usize>, usize) {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 8 <= data.len() {
        let len = u32::from_le_bytes(data[off..off + 4].try_into().expect("4 bytes")) as usize;
        if len == 0 || off + 8 + len > data.len() {
            break;
        }
        out.push(off);
        off += 8 + len;
    }
    assert!(
        data[off..].iter().all(|&b| b == 0),
        "the segment does not parse as whole frames followed by zeros (stopped at {off})"
    );
    (out, off)
}

/// Starts a server, writes `n` keys one by one and returns it with their revisions.
async fn server_with_keys(dir: &Path, n: usize) -> (Oxcd, Vec<(String, i64)>) {
    let srv = Oxcd::start(dir, &[]).await;
    let mut c = srv.clients().await;
    let mut keys = Vec::new();
    for i in 0..n {
        let k = format!("w{i:02}");
        let rev = put(&mut c, &k, &format!("value-{i}")).await;
        keys.push((k, rev));
    }
    (srv, keys)
}

async fn get(c: &mut Clients, key: &str) -> Option<KeyValue> {
    let mut r =
        c.kv.range(RangeRequest {
            key: key.as_bytes().to_vec(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("get {key}: {e}"))
        .into_inner();
    assert!(r.kvs.len() <= 1);
    r.kvs.pop()
}

#[derive(Clone, Copy, Debug)]
enum Tear {
    /// the last record's final bytes never reached the (preallocated) file
    ZeroLastBytes,
    /// the file ends a few bytes into the last record
    Truncate,
}

/// A write cut short at the end of the last segment is repaired: all but at
/// most the last record survive, a `.broken` copy is kept, and the repaired
/// log keeps working across further crashes and restarts.
async fn torn_tail_is_repaired(how: Tear) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut srv, keys) = server_with_keys(dir.path(), 20).await;
    srv.kill9();
    let seg = wal_segments(dir.path()).pop().expect("last segment");
    let mut data = std::fs::read(&seg).expect("read segment");
    let (recs, end) = records(&data);
    assert!(recs.len() >= 20, "{how:?}: only {} records", recs.len());
    match how {
        Tear::ZeroLastBytes => {
            data[end - 3..end].fill(0);
            std::fs::write(&seg, &data).expect("write segment");
        }
        Tear::Truncate => OpenOptions::new()
            .write(true)
            .open(&seg)
            .expect("open segment")
            .set_len(end as u64 - 3)
            .expect("truncate segment"),
    }

    srv.restart().await;
    let broken = broken_files(dir.path());
    assert_eq!(
        broken.len(),
        1,
        "{how:?}: expected one .broken copy in {}, found {broken:?}",
        wal_dir(dir.path()).display()
    );
    let mut c = srv.clients().await;
    let (last, rest) = keys.split_last().expect("keys");
    for (i, (k, rev)) in rest.iter().enumerate() {
        let kv = get(&mut c, k)
            .await
            .unwrap_or_else(|| panic!("{how:?}: {k} (revision {rev}) lost to a torn tail"));
        assert_eq!(
            kv.value,
            format!("value-{i}").into_bytes(),
            "{how:?}: value of {k}"
        );
        assert_eq!(kv.mod_revision, *rev, "{how:?}: mod revision of {k}");
    }
    let last_kv = get(&mut c, &last.0).await;
    if let Some(kv) = &last_kv {
        assert_eq!(kv.value, format!("value-{}", keys.len() - 1).into_bytes());
        assert_eq!(kv.mod_revision, last.1);
    }
    let rev = current_rev(&mut c).await;
    let want = if last_kv.is_some() {
        last.1
    } else {
        last.1 - 1
    };
    assert_eq!(rev, want, "{how:?}: revision after repair");
    let next = put(&mut c, "after-repair", "1").await;
    assert_eq!(next, rev + 1, "{how:?}: first put after repair");

    // the repaired log takes appends that survive a crash and a clean restart
    srv.kill9();
    srv.restart().await;
    let mut c = srv.clients().await;
    let kv = get(&mut c, "after-repair")
        .await
        .unwrap_or_else(|| panic!("{how:?}: put acknowledged after the repair is lost"));
    assert_eq!(kv.mod_revision, next);
    drop(c);
    let st = srv.stop().await;
    assert!(st.success(), "{how:?}: exit after SIGTERM: {st}");
    srv.restart().await;
    let mut c = srv.clients().await;
    assert!(
        get(&mut c, "after-repair").await.is_some(),
        "{how:?}: put after repair lost"
    );
    assert_eq!(
        put(&mut c, "later", "2").await,
        next + 1,
        "{how:?}: next put"
    );
    srv.assert_no_panic();
}

#[tokio::test]
async fn wal_torn_tail_zeroed_is_repaired() {
    bounded(
        Duration::from_secs(50),
        torn_tail_is_repaired(Tear::ZeroLastBytes),
    )
    .await
}

#[tokio::test]
async fn wal_torn_tail_truncated_is_repaired() {
    bounded(
        Duration::from_secs(50),
        torn_tail_is_repaired(Tear::Truncate),
    )
    .await
}

/// Damage inside the log (not its tail) must stop the server with an error
/// that names the file and offset; the file must be left as it was.
async fn corrupt_and_expect_refusal(what: &str, flip: impl Fn(usize, usize) -> usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut srv, _) = server_with_keys(dir.path(), 20).await;
    let st = srv.stop().await;
    assert!(st.success(), "exit after SIGTERM: {st}");
    let seg = wal_segments(dir.path()).pop().expect("last segment");
    let mut data = std::fs::read(&seg).expect("read segment");
    let (recs, _) = records(&data);
    assert!(
        recs.len() >= 20,
        "only {} records in the segment",
        recs.len()
    );
    // the 4th record is an entry with many records after it
    let rec = recs[3];
    let at = flip(rec, recs[4] - rec);
    data[at] ^= 0x40;
    std::fs::write(&seg, &data).expect("write damaged segment");
    let size = data.len() as u64;

    let args = base_args("default", dir.path(), free_port(), free_port());
    let (status, stderr) = try_run_to_exit(&oxcd_bin(), &args);
    let status = status.unwrap_or_else(|| {
        panic!(
            "{what}: oxcd started and kept running on a WAL damaged mid-log at offset {at} (record at {rec}) instead of refusing; stderr:\n{}",
            tail(&stderr, 2000)
        )
    });
    assert!(
        !status.success(),
        "{what}: oxcd exited 0 on a WAL damaged at offset {at}; stderr:\n{}",
        tail(&stderr, 2000)
    );
    assert!(!stderr.contains("panicked"), "{what}: panicked:\n{stderr}");
    let name = seg.file_name().expect("name").to_string_lossy().to_string();
    assert!(
        stderr.contains(&name),
        "{what}: the error does not name the file {name}:\n{}",
        tail(&stderr, 2000)
    );
    assert!(
        stderr.contains("offset") && stderr.contains(&rec.to_string()),
        "{what}: the error does not name offset {rec}:\n{}",
        tail(&stderr, 2000)
    );
    assert_eq!(
        std::fs::metadata(&seg).expect("segment").len(),
        size,
        "{what}: the damaged segment was truncated"
    );
    assert!(
        broken_files(dir.path()).is_empty(),
        "{what}: mid-log damage was treated as a torn tail"
    );
}

#[tokio::test]
async fn wal_corrupt_payload_mid_segment_refuses_to_start() {
    bounded(
        Duration::from_secs(50),
        corrupt_and_expect_refusal("payload byte", |rec, len| rec + 8 + len / 2),
    )
    .await
}

#[tokio::test]
async fn wal_corrupt_length_field_mid_segment_refuses_to_start() {
    // the length's high byte: the record now claims to run past the file end
    bounded(
        Duration::from_secs(50),
        corrupt_and_expect_refusal("length field", |rec, _| rec + 3),
    )
    .await
}
