//! Starting oxcd on a data dir in etcd 3.5's layout — restored by
//! `snapshot restore`, or left by a stopped etcd. Its bbolt database is
//! imported into oxcd's own store once (revisions, leases, alarms,
//! membership, the member/cluster IDs, users, roles and whether auth is on
//! kept); etcd's files are only read, never changed.
//!
//! Refused, with a clear error: a corrupt database or WAL, and committed
//! WAL entries the database does not hold yet (etcd would replay them; we
//! do not read etcd's request encoding).

use crate::backend::*;
use crate::mvcc::Loader;
use crate::snapstream;
use etcd_format::bolt::Reader;
use etcd_format::raftpb::Metadata;
use etcd_format::schema::{self, MetaInfo};
use etcd_format::wal::{
    ENTRY_TYPE as WAL_ENTRY, METADATA_TYPE as WAL_METADATA, STATE_TYPE as WAL_STATE,
};
use oxcd_proto::etcdserverpb::{AlarmMember, Member};
use prost::Message;
use redb::{Database, Durability};
use std::fs;
use std::path::{Path, PathBuf};

/// A visitor of one bucket's (key, value) pairs.
type Visit<'a> = &'a mut dyn FnMut(&[u8], &[u8]) -> Result<(), String>;

/// etcd's database file in a data dir.
pub fn etcd_db(data_dir: &Path) -> PathBuf {
    data_dir.join("member").join("snap").join("db")
}

/// What etcd's WAL says: the IDs, and the highest committed index of an
/// entry carrying a request.
struct WalFacts {
    member_id: u64,
    cluster_id: u64,
    last_request: u64,
}

fn scan_wal(dir: &Path) -> Result<WalFacts, String> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("cannot read etcd WAL dir {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no etcd WAL files in {}", dir.display()));
    }
    let mut ids = None;
    let (mut commit, mut entries) = (0u64, Vec::new());
    for f in &files {
        let bytes = fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        let records = etcd_format::wal::decode_segment(&bytes)
            .map_err(|e| format!("corrupt etcd WAL {}: {e}", f.display()))?;
        for r in records {
            let data = r.data.unwrap_or_default();
            let bad = |e: prost::DecodeError| format!("corrupt etcd WAL {}: {e}", f.display());
            match r.r#type {
                WAL_METADATA if ids.is_none() => {
                    ids = Some(Metadata::decode(data.as_slice()).map_err(bad)?)
                }
                WAL_ENTRY => {
                    let e = etcd_format::raftpb::Entry::decode(data.as_slice()).map_err(bad)?;
                    // type 0 is a normal entry; an empty one is a new leader's
                    if e.r#type == 0 && e.data.as_ref().is_some_and(|d| !d.is_empty()) {
                        entries.push(e.index);
                    }
                }
                WAL_STATE => {
                    let hs =
                        etcd_format::raftpb::HardState::decode(data.as_slice()).map_err(bad)?;
                    commit = commit.max(hs.commit);
                }
                _ => {}
            }
        }
    }
    let ids = ids.ok_or_else(|| format!("etcd WAL in {} has no metadata record", dir.display()))?;
    Ok(WalFacts {
        member_id: ids.node_id,
        cluster_id: ids.cluster_id,
        last_request: entries
            .into_iter()
            .filter(|&i| i <= commit)
            .max()
            .unwrap_or(0),
    })
}

/// A `members` bucket record (etcd's member JSON) as the API's member.
fn member_from_json(v: &[u8]) -> Result<Member, String> {
    let m = etcd_format::member::Member::from_json(v)?;
    Ok(Member {
        id: m.id,
        name: m.name,
        peer_ur_ls: m.peer_urls,
        client_ur_ls: m.client_urls,
        is_learner: m.is_learner,
    })
}

/// Imports the etcd data dir's database into a new store at `db_path`
/// (written beside it first, then renamed into place).
pub fn import(data_dir: &Path, wal_dir: &Path, db_path: &Path) -> Result<(), String> {
    let src = etcd_db(data_dir);
    let bytes = fs::read(&src).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
    let bad_db =
        |e: etcd_format::Error| format!("etcd database {} is not usable: {e}", src.display());
    let r = Reader::new(&bytes).map_err(bad_db)?;
    r.check().map_err(bad_db)?;
    let meta = MetaInfo::read(&r).map_err(bad_db)?;
    let wal = scan_wal(wal_dir)?;
    if wal.last_request > meta.consistent_index {
        return Err(format!(
            "etcd data dir {} has committed WAL entries up to index {} that its database (index {}) does not hold yet: \
             start it once with etcd 3.5 and stop it cleanly, then start oxcd on it",
            data_dir.display(),
            wal.last_request,
            meta.consistent_index
        ));
    }
    let tmp = db_path.with_extension("redb.importing");
    let _ = fs::remove_file(&tmp);
    let se = |e: redb::Error| format!("store {}: {e}", tmp.display());
    let db = crate::backend::open(&tmp).map_err(|e| se(e.into()))?;
    let mut w = db.begin_write().map_err(|e| se(e.into()))?;
    w.set_durability(Durability::Immediate);
    fill(&w, &r, &meta, Some((wal.cluster_id, wal.member_id)))
        .map_err(|e| format!("{}: {e}", src.display()))?;
    w.commit().map_err(|e| se(e.into()))?;
    drop(db);
    fs::rename(&tmp, db_path)
        .map_err(|e| format!("cannot move {} into place: {e}", tmp.display()))?;
    if let Some(dir) = db_path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("sync {}: {e}", dir.display()))?;
    }
    tracing::info!(
        "data-dir" = %data_dir.display(),
        "local-member-id" = %crate::log::Id(wal.member_id),
        "cluster-id" = %crate::log::Id(wal.cluster_id),
        "consistent-index" = meta.consistent_index,
        "imported an etcd data dir; etcd's files are left as they were"
    );
    Ok(())
}

/// Fills the store's tables from an etcd database in one transaction.
/// `ids` (cluster, member) are recorded when given; a snapshot installed
/// from a peer keeps the member's own.
fn fill(
    w: &redb::WriteTransaction,
    r: &Reader<'_>,
    meta: &MetaInfo,
    ids: Option<(u64, u64)>,
) -> Result<(), String> {
    let se = |e: redb::Error| format!("store: {e}");
    let bad_db = |e: etcd_format::Error| format!("database is not usable: {e}");
    let mut kv = w.open_table(KEY).map_err(|e| se(e.into()))?;
    let mut lease = w.open_table(LEASE).map_err(|e| se(e.into()))?;
    let mut members = w.open_table(MEMBERS).map_err(|e| se(e.into()))?;
    let mut alarm = w.open_table(ALARM).map_err(|e| se(e.into()))?;
    let mut m = w.open_table(META).map_err(|e| se(e.into()))?;
    let mut auth = w.open_table(ETCD_AUTH).map_err(|e| se(e.into()))?;
    let each = |name: &[u8], f: Visit<'_>| -> Result<(), String> {
        if let Some(b) = r.bucket(name).map_err(bad_db)? {
            for e in b.iter() {
                let e = e.map_err(bad_db)?;
                f(e.key, e.value)?;
            }
        }
        Ok(())
    };
    each(schema::KEY, &mut |k, v| {
        kv.insert(k, v).map(|_| ()).map_err(|e| se(e.into()))
    })?;
    each(schema::LEASE, &mut |_, v| {
        let l = schema::Lease::decode_value(v).map_err(bad_db)?;
        lease
            .insert(l.id, l.ttl)
            .map(|_| ())
            .map_err(|e| se(e.into()))
    })?;
    each(schema::MEMBERS, &mut |_, v| {
        let mem = member_from_json(v)?;
        members
            .insert(mem.id, mem.encode_to_vec().as_slice())
            .map(|_| ())
            .map_err(|e| se(e.into()))
    })?;
    let mut removed = w.open_table(MEMBERS_REMOVED).map_err(|e| se(e.into()))?;
    each(schema::MEMBERS_REMOVED, &mut |k, _| {
        // etcd keys a removed member by its ID in hex
        let id = std::str::from_utf8(k)
            .ok()
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("removed-member record {k:?} is not a hex ID"))?;
        removed.insert(id, ()).map(|_| ()).map_err(|e| se(e.into()))
    })?;
    each(schema::ALARM, &mut |k, _| {
        let a = AlarmMember::decode(k).map_err(|e| format!("alarm record: {e}"))?;
        alarm
            .insert((a.member_id, a.alarm), ())
            .map(|_| ())
            .map_err(|e| se(e.into()))
    })?;
    // users, roles and whether auth is on: oxcd's auth store is kept in
    // etcd's encoding
    for (bucket, name) in [
        (schema::AUTH, "auth"),
        (schema::AUTH_USERS, "authUsers"),
        (schema::AUTH_ROLES, "authRoles"),
    ] {
        each(bucket, &mut |k, v| {
            auth.insert((name, k), v)
                .map(|_| ())
                .map_err(|e| se(e.into()))
        })?;
    }
    // a compaction etcd had not finished sweeping is swept here (the
    // store loads it as scheduled)
    let finished = meta.finished_compact.unwrap_or(0).max(0) as u64;
    let mut values = vec![
        (META_CONSISTENT_INDEX, meta.consistent_index),
        (META_TERM, meta.term),
        (META_COMPACT_REV, finished),
        (META_SCHEDULED_COMPACT_REV, compacted(meta)),
    ];
    if let Some((cluster, member)) = ids {
        values.push((META_CLUSTER_ID, cluster));
        values.push((META_MEMBER_ID, member));
    }
    for (k, v) in values {
        m.insert(k, u64_bytes(v).as_slice())
            .map_err(|e| se(e.into()))?;
    }
    Ok(())
}

/// Replaces the whole store with a snapshot streamed from a peer
/// (`snapstream`), in one durable transaction with `extra_meta`, if it
/// holds `expect_index`: `head` first, then each piece `next` hands over
/// (`true` with the last, the checksum), inserted as it arrives. Returns
/// the store's index, built on the other core meanwhile (with the live
/// keys' leases), and what `lock` returned just before the commit: the
/// caller's readers keep going while the pieces arrive, and wait only for
/// the commit. Any error aborts the transaction: the store stays as it was.
pub fn install_stream<G>(
    db: &Database,
    head: &[u8],
    next: &mut dyn FnMut() -> Result<(Vec<u8>, bool), String>,
    (expect_index, extra_meta): (u64, &[(&str, Vec<u8>)]),
    lock: impl FnOnce() -> Result<G, String>,
) -> Result<(Installed, G), String> {
    let bad = |e: etcd_format::Error| format!("the snapshot's head is not usable: {e}");
    let mut sum = snapstream::Checksum::default();
    sum.add(head);
    let body = etcd_format::snapshot::verify_trailer(head).map_err(bad)?;
    let r = Reader::new(body).map_err(bad)?;
    let meta = MetaInfo::read(&r).map_err(bad)?;
    if meta.consistent_index != expect_index {
        return Err(format!(
            "the snapshot holds index {}, its raft message says {expect_index}",
            meta.consistent_index
        ));
    }
    // key records travel after the head, never in it
    if let Some(b) = r.bucket(schema::KEY).map_err(bad)? {
        if b.iter().next().is_some() {
            return Err("the snapshot's head carries key records".into());
        }
    }
    let se = |e: redb::Error| format!("store: {e}");
    let compact = compacted(&meta) as i64;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<std::sync::Arc<Vec<u8>>>(16);
        let index = scope.spawn(move || -> Result<Loader, String> {
            let mut loader = Loader::new(compact);
            for batch in rx {
                for rec in snapstream::records(&batch) {
                    let (k, v) = rec?;
                    loader.add(k, v).map_err(|e| format!("key record: {e}"))?;
                }
            }
            Ok(loader)
        });
        let mut w = db.begin_write().map_err(|e| se(e.into()))?;
        w.set_durability(Durability::Immediate);
        w.delete_table(KEY).map_err(|e| se(e.into()))?;
        w.delete_table(LEASE).map_err(|e| se(e.into()))?;
        w.delete_table(MEMBERS).map_err(|e| se(e.into()))?;
        w.delete_table(MEMBERS_REMOVED).map_err(|e| se(e.into()))?;
        w.delete_table(ALARM).map_err(|e| se(e.into()))?;
        w.delete_table(ETCD_AUTH).map_err(|e| se(e.into()))?;
        fill(&w, &r, &meta, None)?;
        {
            let mut kv = w.open_table(KEY).map_err(|e| se(e.into()))?;
            // the index is built in revision order: a stream out of order
            // is refused
            let mut last: Option<Vec<u8>> = None;
            loop {
                let (piece, end) = next()?;
                if end {
                    if !sum.matches(&piece) {
                        return Err("the snapshot stream's checksum does not match".into());
                    }
                    break;
                }
                sum.add(&piece);
                let piece = std::sync::Arc::new(piece);
                // a loader that stopped reports its error at the join
                let _ = tx.send(piece.clone());
                for rec in snapstream::records(&piece) {
                    let (k, v) = rec?;
                    match &mut last {
                        Some(l) if l.as_slice() >= k => {
                            return Err("the snapshot's key records are out of order".into())
                        }
                        Some(l) => {
                            l.clear();
                            l.extend_from_slice(k);
                        }
                        None => last = Some(k.to_vec()),
                    }
                    kv.insert(k, v).map_err(|e| se(e.into()))?;
                }
            }
        }
        drop(tx);
        {
            let mut m = w.open_table(META).map_err(|e| se(e.into()))?;
            for (k, v) in extra_meta {
                m.insert(*k, v.as_slice()).map_err(|e| se(e.into()))?;
            }
        }
        // the index must be whole before the tables are replaced for good
        // (an error drops `w`, which aborts it)
        let (store, key_leases) = index
            .join()
            .map_err(|_| "building the index failed".to_string())??
            .finish();
        let guard = lock()?;
        w.commit().map_err(|e| se(e.into()))?;
        let installed = Installed {
            index: meta.consistent_index,
            store,
            key_leases,
        };
        Ok((installed, guard))
    })
}

/// What [`install_stream`] put in place.
pub struct Installed {
    pub index: u64,
    pub store: crate::mvcc::Store,
    pub key_leases: std::collections::HashMap<Vec<u8>, i64>,
}

/// The revision an etcd database is compacted to (a scheduled compaction
/// counts: etcd finishes it when it boots).
fn compacted(meta: &MetaInfo) -> u64 {
    meta.finished_compact
        .max(meta.scheduled_compact)
        .unwrap_or(0)
        .max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::revision::Rev;
    use etcd_format::snapshot::SnapshotWriter;
    use oxcd_proto::mvccpb::KeyValue;
    use redb::{ReadableTable, ReadableTableMetadata};

    /// An etcd snapshot of `index` with no key records (and `keys` if any).
    fn head(index: u64, keys: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut w = SnapshotWriter::new(std::io::Cursor::new(Vec::new())).unwrap();
        let kv = keys
            .iter()
            .map(|(k, v)| Ok((k.as_slice().into(), v.as_slice().into())));
        w.bucket(schema::KEY, kv).unwrap();
        let meta = MetaInfo {
            consistent_index: index,
            term: 2,
            ..Default::default()
        };
        let rows = meta.entries();
        let rows = rows
            .iter()
            .map(|(k, v)| Ok((k.as_slice().into(), v.as_slice().into())));
        w.bucket(schema::META, rows).unwrap();
        w.finish().unwrap().0.into_inner()
    }

    fn record(rev: i64, key: &str) -> (Vec<u8>, Vec<u8>) {
        let kv = KeyValue {
            key: key.as_bytes().to_vec(),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
            value: b"v".to_vec(),
            lease: 0,
        };
        (Rev::new(rev, 0).to_bytes(false), kv.encode_to_vec())
    }

    fn batch(recs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut b = Vec::new();
        for (k, v) in recs {
            snapstream::push(&mut b, k, v).unwrap();
        }
        b
    }

    /// The pieces after `head` with a right checksum.
    fn pieces(head: &[u8], batches: Vec<Vec<u8>>) -> Vec<(Vec<u8>, bool)> {
        let mut sum = snapstream::Checksum::default();
        sum.add(head);
        let mut out = Vec::new();
        for b in batches {
            sum.add(&b);
            out.push((b, false));
        }
        out.push((sum.to_bytes(), true));
        out
    }

    /// A store holding one record (revision 1, key "old").
    fn store(dir: &tempfile::TempDir) -> Database {
        let db = crate::backend::open(&dir.path().join("s.redb")).unwrap();
        let w = db.begin_write().unwrap();
        {
            let mut t = w.open_table(KEY).unwrap();
            let (k, v) = record(1, "old");
            t.insert(k.as_slice(), v.as_slice()).unwrap();
        }
        w.commit().unwrap();
        db
    }

    fn install(
        db: &Database,
        head: &[u8],
        pieces: Vec<Result<(Vec<u8>, bool), String>>,
        index: u64,
    ) -> Result<Installed, String> {
        let mut it = pieces.into_iter();
        let mut next = || it.next().unwrap_or_else(|| Err("ended early".into()));
        install_stream(db, head, &mut next, (index, &[]), || Ok(())).map(|(i, _)| i)
    }

    fn keys(db: &Database) -> Vec<Vec<u8>> {
        let r = db.begin_read().unwrap();
        let t = r.open_table(KEY).unwrap();
        let n = t.len().unwrap();
        let mut out = Vec::new();
        for item in t.iter().unwrap() {
            let (_, v) = item.unwrap();
            out.push(KeyValue::decode(v.value()).unwrap().key);
        }
        assert_eq!(out.len() as u64, n);
        out
    }

    #[test]
    fn a_stream_replaces_the_store_and_builds_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let db = store(&dir);
        let h = head(9, &[]);
        let recs: Vec<_> = (2..=7).map(|r| record(r, &format!("k{r}"))).collect();
        let ps = pieces(&h, vec![batch(&recs[..3]), batch(&recs[3..])]);
        let got = install(&db, &h, ps.into_iter().map(Ok).collect(), 9).unwrap();
        assert_eq!(got.index, 9);
        assert_eq!(got.store.current_rev, 7);
        let want: Vec<Vec<u8>> = (2..=7).map(|r| format!("k{r}").into_bytes()).collect();
        assert_eq!(keys(&db), want);
    }

    /// name, head, pieces, the index expected, what the error says
    type Case<'a> = (&'a str, Vec<u8>, Vec<Piece>, u64, &'a str);
    type Piece = Result<(Vec<u8>, bool), String>;

    #[test]
    fn a_bad_or_cut_stream_leaves_the_store_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let db = store(&dir);
        let h = head(9, &[]);
        let (r2, r3) = (record(2, "a"), record(3, "b"));
        let good = pieces(&h, vec![batch(&[r2.clone(), r3.clone()])]);
        let mut wrong_sum = good.clone();
        wrong_sum[1].0[0] ^= 1;
        let cut = vec![Ok(good[0].clone()), Err("the snapshot stream broke".into())];
        let mut short = batch(std::slice::from_ref(&r2));
        short.pop();
        let cases: Vec<Case> = vec![
            (
                "checksum",
                h.clone(),
                wrong_sum.into_iter().map(Ok).collect(),
                9,
                "checksum",
            ),
            ("cut", h.clone(), cut, 9, "broke"),
            (
                "order",
                h.clone(),
                pieces(&h, vec![batch(&[r3.clone(), r2.clone()])])
                    .into_iter()
                    .map(Ok)
                    .collect(),
                9,
                "out of order",
            ),
            (
                "short batch",
                h.clone(),
                pieces(&h, vec![short]).into_iter().map(Ok).collect(),
                9,
                "cut short",
            ),
            (
                "index",
                h.clone(),
                good.clone().into_iter().map(Ok).collect(),
                8,
                "index 9",
            ),
            (
                "keys in head",
                head(9, std::slice::from_ref(&r2)),
                good.clone().into_iter().map(Ok).collect(),
                9,
                "carries key records",
            ),
            (
                "garbage head",
                vec![7u8; 100],
                vec![],
                9,
                "head is not usable",
            ),
        ];
        for (name, h, ps, index, want) in cases {
            let err = install(&db, &h, ps, index).err().unwrap_or_default();
            assert!(err.contains(want), "{name}: {err:?}");
            assert_eq!(keys(&db), vec![b"old".to_vec()], "{name}");
        }
    }
}
