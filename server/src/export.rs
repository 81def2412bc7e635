//! Exports the store as an etcd 3.5 snapshot: a bbolt database with etcd's
//! buckets, followed by the SHA-256 trailer — the bytes `etcdctl snapshot
//! save` writes and `etcdutl snapshot status/restore` read.
//!
//! The export reads a store snapshot (a redb read transaction plus a copy
//! of the small pending overlay) taken under the state lock, then lays the
//! file out without holding it, so writers carry on meanwhile.

use crate::backend::{meta_u64, ETCD_AUTH, KEY, META, META_COMPACT_REV};
use crate::error::{EtcdError, Result};
use crate::mvcc::revision::Rev;
use crate::shared::Shared;
use crate::snapstream;
use etcd_format::bolt::KeyValue;
use etcd_format::schema;
use etcd_format::snapshot::SnapshotWriter;
use oxcd_proto::etcdserverpb::{AlarmMember, Member};
use prost::Message;
use redb::ReadableTable;
use std::borrow::Cow;
use std::io::{Seek, SeekFrom};
use std::sync::atomic::Ordering;

/// The version etcd 3.5 records in its `cluster` bucket.
const CLUSTER_VERSION: &str = "3.5.0";

/// A bucket's (key, value) pairs.
type Rows = Vec<(Vec<u8>, Vec<u8>)>;

fn be(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// etcd's JSON for a member record (fields left out when empty, as etcd
/// does), keys sorted as oxcd's snapshots have always had them.
fn member_json(m: &Member) -> Vec<u8> {
    use etcd_format::member::{JsonLayout, Member as EtcdMember};
    let m = EtcdMember {
        id: m.id,
        name: m.name.clone(),
        peer_urls: m.peer_ur_ls.clone(),
        client_urls: m.client_ur_ls.clone(),
        is_learner: m.is_learner,
    };
    m.json_as(JsonLayout::Sorted).into_bytes()
}

impl Shared {
    /// The whole store as an etcd snapshot (trailer included), written to
    /// an anonymous temporary file beside the store (unlinked at once, so
    /// nothing is left behind) and returned positioned at its start. Only
    /// the small buckets are held in memory; the `key` bucket streams from
    /// the store snapshot.
    pub fn export_snapshot(&self) -> Result<std::fs::File> {
        self.snapshot_view()?.write()
    }

    /// As [`Shared::export_snapshot`] without the SHA-256 trailer, for a
    /// sender that hashes the database as it streams it.
    pub fn export_database(&self) -> Result<std::fs::File> {
        self.snapshot_view()?.write_database()
    }

    /// A consistent view of the store as applied now, cheap to take: the
    /// node loop takes one when raft asks for a snapshot, so that the
    /// database sent matches the snapshot's index exactly.
    pub fn snapshot_view(&self) -> Result<SnapshotView> {
        let lock = || EtcdError::Storage("state lock poisoned".into());
        let (rtxn, pending, leases, alarms, current, compact, index) = {
            let st = self.state.read().map_err(|_| lock())?;
            let mut leases: Vec<(i64, i64)> =
                st.lessor.leases.values().map(|l| (l.id, l.ttl)).collect();
            // bbolt's order: the IDs' big-endian bytes (a negative ID,
            // which etcd grants too, sorts last)
            leases.sort_unstable_by_key(|(id, _)| *id as u64);
            (
                self.begin_read()?,
                st.store.pending.clone(),
                leases,
                st.alarms.clone(),
                st.store.current_rev,
                st.store.compact_rev,
                self.applied_index.load(Ordering::SeqCst),
            )
        };
        // the sweep finished as of the records this view holds (a sweep
        // may have ended in the store transaction not committed yet)
        let finished = meta_u64(&rtxn.open_table(META)?, META_COMPACT_REV)?.unwrap_or(0) as i64;
        let members = self.members.read().map_err(|_| lock())?.clone();
        let mut removed: Vec<u64> = self
            .removed
            .lock()
            .map_err(|_| lock())?
            .iter()
            .copied()
            .collect();
        removed.sort_unstable();
        Ok(SnapshotView {
            removed,
            rtxn,
            pending,
            leases,
            alarms,
            current,
            compact,
            finished,
            index,
            term: self.term.load(Ordering::SeqCst),
            members,
            dir: self
                .db_path
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .to_path_buf(),
        })
    }
}

/// What [`Shared::snapshot_view`] captured.
pub struct SnapshotView {
    rtxn: redb::ReadTransaction,
    pending: std::collections::BTreeMap<Rev, (oxcd_proto::mvccpb::KeyValue, bool)>,
    leases: Vec<(i64, i64)>,
    alarms: std::collections::BTreeSet<(u64, i32)>,
    current: i64,
    compact: i64,
    /// the compaction swept to its end (below `compact` while one is
    /// under way: the file then holds records a restore sweeps)
    finished: i64,
    /// the consistent index the file records
    pub index: u64,
    term: u64,
    members: Vec<Member>,
    removed: Vec<u64>,
    dir: std::path::PathBuf,
}

impl SnapshotView {
    /// Lays the view out as an etcd snapshot file (see `export_snapshot`).
    pub fn write(self) -> Result<std::fs::File> {
        let (mut file, _) = self.lay_out_file()?.finish().map_err(snapshot_error)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(file)
    }

    /// The database alone, positioned at its start (see `export_database`).
    pub fn write_database(self) -> Result<std::fs::File> {
        self.lay_out_file()?
            .finish_database()
            .map_err(snapshot_error)
    }

    /// Every bucket, keys included, into an unlinked temporary file.
    fn lay_out_file(&self) -> Result<SnapshotWriter<std::fs::File>> {
        let kv = self.rtxn.open_table(KEY)?;
        let file = tempfile::tempfile_in(&self.dir)?;
        let w = self.lay_out(file, self.key_records(&kv)?)?;
        Ok(w)
    }

    /// The view as one member sends it to another (`snapstream`): each
    /// piece goes to `out` as soon as it is laid out, `true` with the last.
    /// An error from `out` (the receiver went away) stops the stream.
    pub fn stream(self, out: &mut dyn FnMut(Vec<u8>, bool) -> Result<()>) -> Result<()> {
        let mut sum = snapstream::Checksum::default();
        let head = self.lay_out(std::io::Cursor::new(Vec::new()), std::iter::empty())?;
        let (head, _) = head.finish().map_err(snapshot_error)?;
        let head = head.into_inner();
        sum.add(&head);
        out(head, false)?;
        let kv = self.rtxn.open_table(KEY)?;
        let mut batch = Vec::with_capacity(snapstream::BATCH + 4096);
        for r in self.key_records(&kv)? {
            let (k, v) = r.map_err(snapshot_error)?;
            snapstream::push(&mut batch, &k, &v).map_err(EtcdError::Storage)?;
            if batch.len() >= snapstream::BATCH {
                sum.add(&batch);
                out(std::mem::take(&mut batch), false)?;
                batch.reserve(snapstream::BATCH + 4096);
            }
        }
        if !batch.is_empty() {
            sum.add(&batch);
            out(batch, false)?;
        }
        out(sum.to_bytes(), true)
    }

    /// The `key` bucket's records as of the view: the committed ones merged
    /// by key bytes with the overlay's (few: the store commits every few
    /// ms) as the caller pulls them.
    fn key_records<'t>(
        &self,
        kv: &'t redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    ) -> Result<impl Iterator<Item = etcd_format::Result<(Vec<u8>, Vec<u8>)>> + 't> {
        let current = self.current;
        let extra: Rows = self
            .pending
            .range(..Rev::new(current + 1, 0))
            .map(|(r, (kv, tomb))| (r.to_bytes(*tomb), kv.encode_to_vec()))
            .collect();
        let upper = Rev::new(current + 1, 0).to_bytes(false);
        let committed = kv.range::<&[u8]>(..upper.as_slice())?.map(|item| {
            item.map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
                .map_err(|e| etcd_format::Error::Io(e.to_string()))
        });
        Ok(MergeByKey {
            a: committed.peekable(),
            b: extra.into_iter().peekable(),
        })
    }

    /// Writes every bucket to `out`, the `key` bucket from `keys`.
    fn lay_out<W, I>(&self, out: W, keys: I) -> Result<SnapshotWriter<W>>
    where
        W: std::io::Read + std::io::Write + Seek,
        I: Iterator<Item = etcd_format::Result<(Vec<u8>, Vec<u8>)>>,
    {
        let SnapshotView {
            rtxn,
            leases,
            alarms,
            compact,
            finished,
            index,
            term,
            members,
            removed,
            ..
        } = self;
        let (compact, finished) = (*compact, *finished);
        // users and roles carried from an imported etcd data dir
        let mut auth_rows: std::collections::BTreeMap<String, Rows> = Default::default();
        for item in rtxn.open_table(ETCD_AUTH)?.iter()? {
            let (k, v) = item?;
            let (bucket, key) = k.value();
            auth_rows
                .entry(bucket.to_string())
                .or_default()
                .push((key.to_vec(), v.value().to_vec()));
        }
        let mut auth_bucket = |name: &str| auth_rows.remove(name).unwrap_or_default();
        let mut auth = auth_bucket("auth");
        if auth.is_empty() {
            // a fresh etcd's auth store: revision 1, auth off
            auth.push((schema::AUTH_REVISION.to_vec(), be(1)));
        }
        let mut meta = vec![
            (schema::META_CONSISTENT_INDEX.to_vec(), be(*index)),
            (schema::META_TERM.to_vec(), be(*term)),
        ];
        let mut voters: Vec<u64> = members
            .iter()
            .filter(|m| !m.is_learner)
            .map(|m| m.id)
            .collect();
        voters.sort_unstable();
        let conf = serde_json::json!({ "voters": voters, "auto_leave": false });
        meta.push((
            schema::META_CONF_STATE.to_vec(),
            conf.to_string().into_bytes(),
        ));
        if finished > 0 {
            let mark = Rev::new(finished, 0).to_bytes(false);
            meta.push((schema::META_FINISHED_COMPACT.to_vec(), mark));
        }
        if compact > 0 {
            let mark = Rev::new(compact, 0).to_bytes(false);
            meta.push((schema::META_SCHEDULED_COMPACT.to_vec(), mark));
        }
        meta.sort();

        let lease: Rows = leases
            .iter()
            .map(|&(id, ttl)| {
                let rec = schema::Lease {
                    id,
                    ttl,
                    remaining_ttl: 0,
                };
                (be(id as u64), rec.encode_to_vec())
            })
            .collect();
        let mut member_rows: Vec<(Vec<u8>, Vec<u8>)> = members
            .iter()
            .map(|m| (format!("{:x}", m.id).into_bytes(), member_json(m)))
            .collect();
        member_rows.sort();
        let mut alarm_rows: Vec<(Vec<u8>, Vec<u8>)> = alarms
            .iter()
            .map(|&(member_id, alarm)| {
                (AlarmMember { member_id, alarm }.encode_to_vec(), Vec::new())
            })
            .collect();
        alarm_rows.sort();

        let owned = |rows: Rows| {
            rows.into_iter()
                .map(|(k, v)| Ok((Cow::Owned(k), Cow::Owned(v))))
                .collect::<Vec<etcd_format::Result<KeyValue>>>()
        };
        let fmt = snapshot_error;
        let mut w = SnapshotWriter::new(out).map_err(fmt)?;
        // buckets in name order, as bbolt keeps them
        w.bucket(schema::ALARM, owned(alarm_rows)).map_err(fmt)?;
        w.bucket(schema::AUTH, owned(auth)).map_err(fmt)?;
        w.bucket(schema::AUTH_ROLES, owned(auth_bucket("authRoles")))
            .map_err(fmt)?;
        w.bucket(schema::AUTH_USERS, owned(auth_bucket("authUsers")))
            .map_err(fmt)?;
        let version = vec![(
            schema::CLUSTER_VERSION.to_vec(),
            CLUSTER_VERSION.as_bytes().to_vec(),
        )];
        w.bucket(schema::CLUSTER, owned(version)).map_err(fmt)?;
        w.bucket(
            schema::KEY,
            keys.map(|r| r.map(|(k, v)| (Cow::Owned(k), Cow::Owned(v)))),
        )
        .map_err(fmt)?;
        w.bucket(schema::LEASE, owned(lease)).map_err(fmt)?;
        w.bucket(schema::MEMBERS, owned(member_rows)).map_err(fmt)?;
        let mut removed_rows: Rows = removed
            .iter()
            .map(|id| (format!("{id:x}").into_bytes(), b"removed".to_vec()))
            .collect();
        removed_rows.sort();
        w.bucket(schema::MEMBERS_REMOVED, owned(removed_rows))
            .map_err(fmt)?;
        w.bucket(schema::META, owned(meta)).map_err(fmt)?;
        Ok(w)
    }
}

fn snapshot_error(e: etcd_format::Error) -> EtcdError {
    EtcdError::Storage(format!("snapshot: {e}"))
}

/// Two key-sorted streams of records merged into one (a key in both is
/// the same record: taken once).
struct MergeByKey<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<A, B> Iterator for MergeByKey<A, B>
where
    A: Iterator<Item = etcd_format::Result<(Vec<u8>, Vec<u8>)>>,
    B: Iterator<Item = (Vec<u8>, Vec<u8>)>,
{
    type Item = etcd_format::Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let order = match (self.a.peek(), self.b.peek()) {
            (Some(Err(_)), _) => std::cmp::Ordering::Less,
            (Some(Ok((ka, _))), Some((kb, _))) => ka.cmp(kb),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => return None,
        };
        match order {
            std::cmp::Ordering::Less => self.a.next(),
            std::cmp::Ordering::Greater => self.b.next().map(Ok),
            std::cmp::Ordering::Equal => {
                self.b.next();
                self.a.next()
            }
        }
    }
}
