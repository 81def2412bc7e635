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

/// Replaces the whole store with a snapshot's database received from a
/// peer (an etcd snapshot file, trailer included), in one durable
/// transaction with `extra_meta`, if it holds `expect_index`. Returns the
/// store's index built on the way (with the live keys' leases).
pub fn install_snapshot(
    db: &Database,
    file: &Path,
    expect_index: u64,
    extra_meta: &[(&str, Vec<u8>)],
) -> Result<Installed, String> {
    let bytes = fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let bad = |e: etcd_format::Error| format!("snapshot {} is not usable: {e}", file.display());
    let body = etcd_format::snapshot::verify_trailer(&bytes).map_err(bad)?;
    let r = Reader::new(body).map_err(bad)?;
    let meta = MetaInfo::read(&r).map_err(bad)?;
    if meta.consistent_index != expect_index {
        return Err(format!(
            "snapshot {} holds index {}, its raft message says {expect_index}",
            file.display(),
            meta.consistent_index
        ));
    }
    let se = |e: redb::Error| format!("store: {e}");
    // the index is built on the other core while the tables are written
    std::thread::scope(|scope| {
        let index = scope.spawn(|| -> Result<Loader, String> {
            let mut loader = Loader::new(compacted(&meta) as i64);
            if let Some(b) = r.bucket(schema::KEY).map_err(bad)? {
                for e in b.iter() {
                    let e = e.map_err(bad)?;
                    loader
                        .add(e.key, e.value)
                        .map_err(|e| format!("key record: {e}"))?;
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
        w.commit().map_err(|e| se(e.into()))?;
        Ok(Installed {
            index: meta.consistent_index,
            store,
            key_leases,
        })
    })
}

/// What [`install_snapshot`] put in place.
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
