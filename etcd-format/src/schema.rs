//! etcd 3.5's bucket schema: bucket names, revision-encoded keys, and the
//! protobuf records stored as values.

use crate::bolt::Reader;
use crate::error::{Error, Result};

pub const KEY: &[u8] = b"key";
pub const META: &[u8] = b"meta";
pub const LEASE: &[u8] = b"lease";
pub const ALARM: &[u8] = b"alarm";
pub const CLUSTER: &[u8] = b"cluster";
pub const MEMBERS: &[u8] = b"members";
pub const MEMBERS_REMOVED: &[u8] = b"members_removed";
pub const AUTH: &[u8] = b"auth";
pub const AUTH_USERS: &[u8] = b"authUsers";
pub const AUTH_ROLES: &[u8] = b"authRoles";

/// Every bucket etcd 3.5 creates, in bbolt (byte) order.
pub const ALL_BUCKETS: [&[u8]; 10] = [
    ALARM,
    AUTH,
    AUTH_ROLES,
    AUTH_USERS,
    CLUSTER,
    KEY,
    LEASE,
    MEMBERS,
    MEMBERS_REMOVED,
    META,
];

// Keys of the `meta` bucket (values are 8-byte big-endian unless noted).
pub const META_CONSISTENT_INDEX: &[u8] = b"consistent_index";
pub const META_TERM: &[u8] = b"term";
/// Value: a 17-byte revision key.
pub const META_SCHEDULED_COMPACT: &[u8] = b"scheduledCompactRev";
/// Value: a 17-byte revision key.
pub const META_FINISHED_COMPACT: &[u8] = b"finishedCompactRev";
/// Value: JSON raftpb.ConfState.
pub const META_CONF_STATE: &[u8] = b"confState";
/// `cluster` bucket: cluster version string.
pub const CLUSTER_VERSION: &[u8] = b"clusterVersion";
/// `auth` bucket: "authEnabled" is one byte (1 = on); "authRevision" u64 BE.
pub const AUTH_ENABLED: &[u8] = b"authEnabled";
pub const AUTH_REVISION: &[u8] = b"authRevision";

/// An MVCC revision: main (transaction) and sub (operation within it).
/// Orders by main, then sub — the order of its encoded keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

/// Length of a revision key without the tombstone mark.
pub const REV_BYTES: usize = 17;
/// The byte after a revision key that marks a tombstone.
pub const TOMBSTONE_MARK: u8 = b't';

impl Revision {
    pub const fn new(main: i64, sub: i64) -> Self {
        Revision { main, sub }
    }

    /// This revision's `key` bucket key (see [`RevisionKey::encode`]).
    pub fn to_bytes(self, tombstone: bool) -> Vec<u8> {
        RevisionKey {
            rev: self,
            tombstone,
        }
        .encode()
    }

    /// Strictly decodes a `key` bucket key into the revision and its
    /// tombstone mark (see [`RevisionKey::decode`]); `None` for anything
    /// that is not one.
    pub fn from_bytes(k: &[u8]) -> Option<(Revision, bool)> {
        RevisionKey::decode(k).ok().map(|k| (k.rev, k.tombstone))
    }
}

/// A key of the `key` bucket: 8-byte BE main, '_', 8-byte BE sub, and a
/// trailing 't' for a tombstone (deletion marker).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RevisionKey {
    pub rev: Revision,
    pub tombstone: bool,
}

impl RevisionKey {
    pub fn new(main: i64, sub: i64, tombstone: bool) -> Self {
        RevisionKey {
            rev: Revision { main, sub },
            tombstone,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(REV_BYTES + 1);
        k.extend_from_slice(&self.rev.main.to_be_bytes());
        k.push(b'_');
        k.extend_from_slice(&self.rev.sub.to_be_bytes());
        if self.tombstone {
            k.push(TOMBSTONE_MARK);
        }
        k
    }

    /// Strict decode: exactly 17 bytes, or 18 ending in 't'.
    pub fn decode(k: &[u8]) -> Result<Self> {
        let bad = || Error::BadRevisionKey {
            bucket: "key".into(),
            len: k.len(),
        };
        let ok_len =
            k.len() == REV_BYTES || (k.len() == REV_BYTES + 1 && k[REV_BYTES] == TOMBSTONE_MARK);
        if !ok_len || k[8] != b'_' {
            return Err(bad());
        }
        Self::decode_lenient(k).ok_or_else(bad)
    }

    /// etcd's own decoding: main from bytes 0..8, sub from 9..17, the rest
    /// ignored; None when shorter than 17 bytes.
    pub fn decode_lenient(k: &[u8]) -> Option<Self> {
        let main = i64::from_be_bytes(k.get(0..8)?.try_into().ok()?);
        let sub = i64::from_be_bytes(k.get(9..17)?.try_into().ok()?);
        Some(RevisionKey {
            rev: Revision { main, sub },
            tombstone: k.len() == REV_BYTES + 1 && k[REV_BYTES] == TOMBSTONE_MARK,
        })
    }
}

/// mvccpb.KeyValue, the value of every `key` bucket entry.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct KeyValue {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(int64, tag = "2")]
    pub create_revision: i64,
    #[prost(int64, tag = "3")]
    pub mod_revision: i64,
    #[prost(int64, tag = "4")]
    pub version: i64,
    #[prost(bytes = "vec", tag = "5")]
    pub value: Vec<u8>,
    #[prost(int64, tag = "6")]
    pub lease: i64,
}

/// leasepb.Lease, the value of a `lease` bucket entry (key: 8-byte BE id).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Lease {
    #[prost(int64, tag = "1")]
    pub id: i64,
    #[prost(int64, tag = "2")]
    pub ttl: i64,
    #[prost(int64, tag = "3")]
    pub remaining_ttl: i64,
}

fn decode_pb<M: prost::Message + Default>(what: &'static str, b: &[u8]) -> Result<M> {
    M::decode(b).map_err(|e| Error::BadValue {
        what,
        reason: e.to_string(),
    })
}

impl KeyValue {
    pub fn decode_value(b: &[u8]) -> Result<Self> {
        decode_pb("mvccpb.KeyValue", b)
    }
}

impl Lease {
    pub fn decode_value(b: &[u8]) -> Result<Self> {
        decode_pb("leasepb.Lease", b)
    }
}

fn be_u64(what: &'static str, b: &[u8]) -> Result<u64> {
    let a: [u8; 8] = b.try_into().map_err(|_| Error::BadValue {
        what,
        reason: format!("{} bytes, want 8", b.len()),
    })?;
    Ok(u64::from_be_bytes(a))
}

/// The `meta` bucket's raft and compaction marks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaInfo {
    pub consistent_index: u64,
    pub term: u64,
    pub scheduled_compact: Option<i64>,
    pub finished_compact: Option<i64>,
}

impl MetaInfo {
    /// Reads the `meta` bucket; absent keys read as zero / None.
    pub fn read(reader: &Reader<'_>) -> Result<MetaInfo> {
        let mut info = MetaInfo::default();
        let Some(b) = reader.bucket(META)? else {
            return Ok(info);
        };
        if let Some(v) = b.get(META_CONSISTENT_INDEX)? {
            info.consistent_index = be_u64("meta consistent_index", v)?;
        }
        if let Some(v) = b.get(META_TERM)? {
            info.term = be_u64("meta term", v)?;
        }
        let rev = |v: &[u8]| RevisionKey::decode(v).map(|r| r.rev.main);
        if let Some(v) = b.get(META_SCHEDULED_COMPACT)? {
            info.scheduled_compact = Some(rev(v)?);
        }
        if let Some(v) = b.get(META_FINISHED_COMPACT)? {
            info.finished_compact = Some(rev(v)?);
        }
        Ok(info)
    }

    /// Encodes the marks as `meta` bucket entries (sorted).
    pub fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut e = vec![
            (
                META_CONSISTENT_INDEX.to_vec(),
                self.consistent_index.to_be_bytes().to_vec(),
            ),
            (META_TERM.to_vec(), self.term.to_be_bytes().to_vec()),
        ];
        if let Some(r) = self.finished_compact {
            e.push((
                META_FINISHED_COMPACT.to_vec(),
                RevisionKey::new(r, 0, false).encode(),
            ));
        }
        if let Some(r) = self.scheduled_compact {
            e.push((
                META_SCHEDULED_COMPACT.to_vec(),
                RevisionKey::new(r, 0, false).encode(),
            ));
        }
        e.sort();
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bolt::{BucketData, Writer};

    #[test]
    fn revision_keys() {
        let k = RevisionKey::new(0x0102, 3, false).encode();
        assert_eq!(k, b"\0\0\0\0\0\0\x01\x02_\0\0\0\0\0\0\0\x03");
        assert_eq!(
            RevisionKey::decode(&k).expect("decode"),
            RevisionKey::new(0x0102, 3, false)
        );
        let t = RevisionKey::new(9, 0, true).encode();
        assert_eq!(t.len(), 18);
        assert!(RevisionKey::decode(&t).expect("decode").tombstone);
        assert!(RevisionKey::new(2, 0, false) < RevisionKey::new(2, 1, false));
        let mut bad = k.clone();
        bad[8] = b'x';
        assert!(RevisionKey::decode(&bad).is_err());
        assert!(RevisionKey::decode(&k[..16]).is_err());
        assert!(RevisionKey::decode_lenient(&k[..16]).is_none());
    }

    #[test]
    fn revision_bytes_round_trip_and_order() {
        let a = Revision::new(2, 0).to_bytes(false);
        let b = Revision::new(2, 1).to_bytes(true);
        let c = Revision::new(10, 0).to_bytes(false);
        assert!(a < b && b < c);
        assert!(Revision::new(2, 1) < Revision::new(10, 0));
        assert_eq!(a, RevisionKey::new(2, 0, false).encode());
        assert_eq!(Revision::from_bytes(&b), Some((Revision::new(2, 1), true)));
        assert_eq!(Revision::from_bytes(&a), Some((Revision::new(2, 0), false)));
        assert_eq!(Revision::from_bytes(b"short"), None);
        // 18 bytes not ending in the tombstone mark, or 19: not a key
        let mut odd = a.clone();
        odd.push(b'x');
        assert_eq!(Revision::from_bytes(&odd), None);
        let mut long = b.clone();
        long.push(0);
        assert_eq!(Revision::from_bytes(&long), None);
    }

    #[test]
    fn meta_info_round_trip() {
        let info = MetaInfo {
            consistent_index: 77,
            term: 2,
            scheduled_compact: Some(4),
            finished_compact: Some(4),
        };
        let db = Writer::new()
            .write(&[BucketData::new(META, info.entries())])
            .expect("write");
        let r = Reader::new(&db).expect("open");
        assert_eq!(MetaInfo::read(&r).expect("read"), info);
    }

    #[test]
    fn bucket_list_is_sorted() {
        assert!(ALL_BUCKETS.windows(2).all(|w| w[0] < w[1]));
    }
}
