//! Multi-version key-value store: every modifying request gets one new main
//! revision; values live in the redb `key` table under their revision, and the
//! in-memory [`index::TreeIndex`] maps keys to their revision history.

pub mod compaction;
pub mod index;
pub mod revision;

use crate::error::{EtcdError, Result};
use index::TreeIndex;
use oxcd_proto::mvccpb::KeyValue;
use oxcd_proto::mvccpb::{event::EventType, Event};
use prost::Message;
use redb::{ReadableTable, Table};
use revision::Rev;
use std::collections::{BTreeMap, HashMap};

pub type KvTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

/// etcd's key-range test for `[start, end)`: an empty `end` is the single
/// key `start`, `"\0"` means every key from `start` on.
pub fn in_range(k: &[u8], start: &[u8], end: &[u8]) -> bool {
    if end.is_empty() {
        return k == start;
    }
    k >= start && (end == [0] || k < end)
}

/// Revision bookkeeping of one modifying request: all its changes share
/// `main` and count up `sub`.
#[derive(Debug, Clone, Copy)]
pub struct WriteCtx {
    pub begin: i64,
    pub sub: i64,
}

impl WriteCtx {
    pub fn new(current: i64) -> Self {
        WriteCtx {
            begin: current,
            sub: 0,
        }
    }
    pub fn main(&self) -> i64 {
        self.begin + 1
    }
    pub fn changed(&self) -> bool {
        self.sub > 0
    }
    /// The revision reads inside this request see: its own changes included.
    pub fn read_rev(&self) -> i64 {
        if self.changed() {
            self.main()
        } else {
            self.begin
        }
    }
}

/// Keys (with their revisions) of a range, before values are loaded.
pub struct RangeKeys {
    pub revs: Vec<Rev>,
    /// number of keys in the range at the revision (before any limit)
    pub count: usize,
    /// the revision the range was read at
    pub rev: i64,
}

/// The fields of a stored `mvccpb.KeyValue` the index is built from:
/// decoding only these skips the value (no copy of it) when a store loads.
#[derive(Clone, PartialEq, prost::Message)]
struct KeyMeta {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(int64, tag = "2")]
    create_revision: i64,
    #[prost(int64, tag = "4")]
    version: i64,
    #[prost(int64, tag = "6")]
    lease: i64,
}

/// A `key` table record's revision, tombstone mark and index fields.
fn decode_record(k: &[u8], v: &[u8]) -> Result<(Rev, bool, KeyMeta)> {
    let Some((rev, tomb)) = Rev::from_bytes(k) else {
        return Err(EtcdError::Storage("malformed revision key".into()));
    };
    Ok((rev, tomb, KeyMeta::decode(v)?))
}

/// Records handed from the reading thread to the index builder at a time.
const LOAD_BATCH: usize = 4096;

/// Builds a store's index from its records in revision order (the `key`
/// table's order), noting which live keys hold a lease, in one pass.
pub struct Loader {
    store: Store,
    leases: HashMap<Vec<u8>, i64>,
}

impl Loader {
    pub fn new(compact_rev: i64) -> Loader {
        Loader {
            store: Store {
                compact_rev,
                current_rev: compact_rev.max(1),
                ..Default::default()
            },
            leases: HashMap::new(),
        }
    }

    pub fn add(&mut self, k: &[u8], v: &[u8]) -> Result<()> {
        let (rev, tomb, meta) = decode_record(k, v)?;
        self.add_decoded(rev, tomb, meta);
        Ok(())
    }

    fn add_decoded(&mut self, rev: Rev, tomb: bool, meta: KeyMeta) {
        let KeyMeta {
            key,
            create_revision,
            version,
            lease,
        } = meta;
        if lease != 0 && !tomb {
            self.leases.insert(key.clone(), lease);
        } else if !self.leases.is_empty() {
            self.leases.remove(&key);
        }
        let s = &mut self.store;
        let ki = s.index.entry_owned(key);
        if tomb {
            ki.tombstone(rev);
        } else {
            ki.restore(rev, Rev::new(create_revision, 0), version);
        }
        s.current_rev = s.current_rev.max(rev.main);
    }

    pub fn finish(self) -> (Store, HashMap<Vec<u8>, i64>) {
        (self.store, self.leases)
    }
}

#[derive(Debug, Default)]
pub struct Store {
    pub index: TreeIndex,
    /// records (and tombstones) written since the store's last commit:
    /// reads look here first, so an open write transaction need not be
    /// committed to be seen
    pub pending: BTreeMap<Rev, (KeyValue, bool)>,
    /// when watchers exist: the changes applied since the last drain
    pub events: Option<Vec<Event>>,
    pub current_rev: i64,
    /// last compacted revision; 0 when never compacted
    pub compact_rev: i64,
    /// the records a compaction left unreachable, still being deleted
    pub compacting: Option<compaction::Compaction>,
}

impl Store {
    /// Rebuilds the index from the `key` table.
    pub fn load<T: ReadableTable<&'static [u8], &'static [u8]>>(
        t: &T,
        compact_rev: i64,
    ) -> Result<Store> {
        Ok(Store::load_with_leases(t, compact_rev)?.0)
    }

    /// Rebuilds the index from the `key` table, and returns the lease of
    /// every live key that has one.
    pub fn load_with_leases<T: ReadableTable<&'static [u8], &'static [u8]>>(
        t: &T,
        compact_rev: i64,
    ) -> Result<(Store, HashMap<Vec<u8>, i64>)> {
        // the index is built on another core while this one reads and
        // decodes the table (together about half the time of a restart)
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(Rev, bool, KeyMeta)>>(4);
            let builder = scope.spawn(move || {
                let mut l = Loader::new(compact_rev);
                for batch in rx {
                    for (rev, tomb, meta) in batch {
                        l.add_decoded(rev, tomb, meta);
                    }
                }
                l
            });
            let mut batch = Vec::with_capacity(LOAD_BATCH);
            for item in t.iter()? {
                let (k, v) = item?;
                batch.push(decode_record(k.value(), v.value())?);
                if batch.len() == LOAD_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(LOAD_BATCH));
                    if tx.send(full).is_err() {
                        break;
                    }
                }
            }
            // a failed send above means the builder died: join says so
            let _ = tx.send(batch);
            drop(tx);
            builder
                .join()
                .map(Loader::finish)
                .map_err(|_| EtcdError::Storage("building the key index failed".into()))
        })
    }

    /// Checks a read revision against compaction and the current revision.
    pub fn check_rev(&self, requested: i64, current: i64) -> Result<i64> {
        if requested > current {
            return Err(EtcdError::FutureRev);
        }
        let rev = if requested <= 0 { current } else { requested };
        if rev < self.compact_rev {
            return Err(EtcdError::Compacted);
        }
        Ok(rev)
    }

    /// The revisions of the keys alive in `[key, end)` at `rev`, at most
    /// `limit` of them (0: all).
    pub fn range_keys(&self, key: &[u8], end: &[u8], rev: i64, limit: usize) -> RangeKeys {
        let mut revs = Vec::new();
        let mut count = 0;
        for (_, ki) in self.index.range(key, end) {
            if let Some(at) = ki.get(rev) {
                count += 1;
                if limit == 0 || revs.len() < limit {
                    revs.push(at.modified);
                }
            }
        }
        RangeKeys { revs, count, rev }
    }

    pub fn read_kv<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        t: &T,
        rev: Rev,
    ) -> Result<KeyValue> {
        if let Some((kv, false)) = self.pending.get(&rev) {
            return Ok(kv.clone());
        }
        let k = rev.to_bytes(false);
        match t.get(k.as_slice())? {
            Some(v) => Ok(KeyValue::decode(v.value())?),
            None => Err(EtcdError::Storage(format!(
                "revision {}_{} missing from the key table",
                rev.main, rev.sub
            ))),
        }
    }

    /// The key's record as of `at`, if it existed then.
    pub fn get<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        t: &T,
        key: &[u8],
        at: i64,
    ) -> Result<Option<KeyValue>> {
        match self.index.keys.get(key).and_then(|ki| ki.get(at)) {
            Some(k) => Ok(Some(self.read_kv(t, k.modified)?)),
            None => Ok(None),
        }
    }

    pub fn put(
        &mut self,
        t: &mut KvTable<'_>,
        ctx: &mut WriteCtx,
        key: &[u8],
        value: Vec<u8>,
        lease: i64,
    ) -> Result<()> {
        let main = ctx.main();
        let rev = Rev::new(main, ctx.sub);
        let (created, version) = match self.index.keys.get(key).and_then(|ki| ki.get(main)) {
            Some(k) => (k.created.main, k.version + 1),
            None => (main, 1),
        };
        let kv = KeyValue {
            key: key.to_vec(),
            create_revision: created,
            mod_revision: main,
            version,
            value,
            lease,
        };
        t.insert(
            rev.to_bytes(false).as_slice(),
            kv.encode_to_vec().as_slice(),
        )?;
        if self.events.is_some() {
            let prev_kv = self.get(t, key, main)?;
            if let Some(ev) = self.events.as_mut() {
                ev.push(Event {
                    r#type: EventType::Put as i32,
                    kv: Some(kv.clone()),
                    prev_kv,
                });
            }
        }
        self.pending.insert(rev, (kv, false));
        self.index.put(key, rev);
        ctx.sub += 1;
        Ok(())
    }

    /// Deletes the keys alive in `[key, end)`; returns their last records.
    pub fn delete_range(
        &mut self,
        t: &mut KvTable<'_>,
        ctx: &mut WriteCtx,
        key: &[u8],
        end: &[u8],
    ) -> Result<Vec<KeyValue>> {
        let at = ctx.read_rev();
        let found = self.range_keys(key, end, at, 0);
        let mut prev = Vec::with_capacity(found.revs.len());
        for r in found.revs {
            let kv = self.read_kv(t, r)?;
            let rev = Rev::new(ctx.main(), ctx.sub);
            let tomb = KeyValue {
                key: kv.key.clone(),
                ..Default::default()
            };
            t.insert(
                rev.to_bytes(true).as_slice(),
                tomb.encode_to_vec().as_slice(),
            )?;
            if let Some(ev) = self.events.as_mut() {
                ev.push(Event {
                    r#type: EventType::Delete as i32,
                    kv: Some(KeyValue {
                        mod_revision: rev.main,
                        ..tomb.clone()
                    }),
                    prev_kv: Some(kv.clone()),
                });
            }
            self.pending.insert(rev, (tomb, true));
            self.index.tombstone(&kv.key, rev);
            ctx.sub += 1;
            prev.push(kv);
        }
        Ok(prev)
    }

    /// etcd's HashKV: CRC-32C over the `key` table's name and every record up
    /// to `rev` (0: now), leaving out what a compaction at `rev` would drop
    /// from the already compacted range. Equal histories hash equally, on
    /// oxcd and etcd alike, since both store the same bytes.
    /// Returns (hash, current revision, compacted revision or -1).
    pub fn hash_kv<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        t: &T,
        rev: i64,
    ) -> Result<(u32, i64, i64)> {
        let compact = if self.compact_rev > 0 {
            self.compact_rev
        } else {
            -1
        };
        if rev > 0 && rev <= compact {
            return Err(EtcdError::Compacted);
        }
        if rev > self.current_rev {
            return Err(EtcdError::FutureRev);
        }
        let rev = if rev <= 0 { self.current_rev } else { rev };
        let keep = self.index.keep(rev);
        let mut h = crc32c::crc32c(b"key");
        self.for_each_record(t, 0, rev, |r, tomb, v| {
            // (records a sweep under way has yet to delete never count)
            let compacted_away = r.main <= compact && !keep.is_empty() && !keep.contains(&r);
            if !(compacted_away || self.swept_away(r)) {
                h = crc32c::crc32c_append(h, &r.to_bytes(tomb));
                h = crc32c::crc32c_append(h, v);
            }
            Ok(())
        })?;
        Ok((h, self.current_rev, compact))
    }

    /// Maintenance.Hash: a CRC-32C over every record the store holds
    /// (etcd hashes its whole bbolt file's buckets; oxcd's other tables
    /// are laid out differently, so it hashes the key space, which is
    /// what members must agree on). Returns (hash, current revision).
    pub fn hash_all<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        t: &T,
    ) -> Result<(u32, i64)> {
        let mut h = crc32c::crc32c(b"key");
        self.for_each_record(t, 0, self.current_rev, |r, tomb, v| {
            h = crc32c::crc32c_append(h, &r.to_bytes(tomb));
            h = crc32c::crc32c_append(h, v);
            Ok(())
        })?;
        Ok((h, self.current_rev))
    }

    /// Visits every record with `from <= main <= to` in revision order,
    /// committed ones and pending ones alike: (revision, tombstone, bytes).
    pub fn for_each_record<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        t: &T,
        from: i64,
        to: i64,
        f: impl FnMut(Rev, bool, &[u8]) -> Result<()>,
    ) -> Result<()> {
        merge_records(&self.pending, t, from, to, f)
    }
}

/// The records of a committed table and a pending overlay, merged in
/// revision order (see [`Store::for_each_record`]).
pub fn merge_records<T: ReadableTable<&'static [u8], &'static [u8]>>(
    pending: &BTreeMap<Rev, (KeyValue, bool)>,
    t: &T,
    from: i64,
    to: i64,
    mut f: impl FnMut(Rev, bool, &[u8]) -> Result<()>,
) -> Result<()> {
    let lo = Rev::new(from, 0);
    let hi = Rev::new(to.saturating_add(1), 0);
    let mut pending = pending.range(lo..hi).peekable();
    let (lo_b, hi_b) = (lo.to_bytes(false), hi.to_bytes(false));
    for item in t.range::<&[u8]>(lo_b.as_slice()..hi_b.as_slice())? {
        let (k, v) = item?;
        let (r, tomb) = Rev::from_bytes(k.value())
            .ok_or_else(|| EtcdError::Storage("malformed revision key".into()))?;
        while let Some((pr, (kv, ptomb))) = pending.next_if(|(pr, _)| **pr < r) {
            f(*pr, *ptomb, &kv.encode_to_vec())?;
        }
        // committed and still pending (the overlay is cleared just after a commit)
        pending.next_if(|(pr, _)| **pr == r);
        f(r, tomb, v.value())?;
    }
    for (pr, (kv, ptomb)) in pending {
        f(*pr, *ptomb, &kv.encode_to_vec())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::in_range;

    #[test]
    fn in_range_follows_etcd_end_conventions() {
        // empty end: the one key
        assert!(in_range(b"a", b"a", b""));
        assert!(!in_range(b"ab", b"a", b""));
        // "\0": from the key on
        assert!(in_range(b"zz", b"b", b"\0"));
        assert!(!in_range(b"a", b"b", b"\0"));
        // [start, end)
        assert!(in_range(b"b", b"b", b"d"));
        assert!(in_range(b"c\xff", b"b", b"d"));
        assert!(!in_range(b"d", b"b", b"d"));
    }
}
