//! The redb tables behind the MVCC store, named after etcd's bbolt buckets.

use redb::{Builder, Database, DatabaseError, TableDefinition};
use std::path::Path;

/// The store's page cache. redb's default (1 GiB) keeps every page read
/// once, which at a million keys made the cache more than half of a member's
/// memory. Pages beyond it are read again from the file, which the OS keeps
/// in its page cache (as etcd's bbolt relies on its mmap).
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Opens (creating when missing) a store file with oxcd's cache size.
pub fn open(path: &Path) -> Result<Database, DatabaseError> {
    Builder::new().set_cache_size(CACHE_BYTES).create(path)
}

/// revision bytes (see `revision.rs`) → encoded `mvccpb.KeyValue`
pub const KEY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("key");
/// small named values: consistent index, term, compaction marks, IDs
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// lease ID → TTL in seconds
pub const LEASE: TableDefinition<i64, i64> = TableDefinition::new("lease");
/// member ID → encoded `etcdserverpb.Member`
pub const MEMBERS: TableDefinition<u64, &[u8]> = TableDefinition::new("members");
/// IDs of members removed from the cluster (their messages are refused)
pub const MEMBERS_REMOVED: TableDefinition<u64, ()> = TableDefinition::new("members_removed");
/// (member ID, alarm type) → unit
pub const ALARM: TableDefinition<(u64, i32), ()> = TableDefinition::new("alarm");

/// (etcd bucket, key) → value: the auth store (`auth/authEnabled`,
/// `auth/authRevision`, `authUsers/<name>`, `authRoles/<name>`) in etcd's
/// own encoding, so that snapshots carry it both ways unchanged
pub const ETCD_AUTH: TableDefinition<(&str, &[u8]), &[u8]> = TableDefinition::new("etcd_auth");

pub const META_CONSISTENT_INDEX: &str = "consistent_index";
pub const META_TERM: &str = "term";
pub const META_COMPACT_REV: &str = "finishedCompactRev";
/// a compaction applied whose unreachable records may not all be deleted
/// yet (see `mvcc::compaction`)
pub const META_SCHEDULED_COMPACT_REV: &str = "scheduledCompactRev";
pub const META_CLUSTER_ID: &str = "cluster_id";
pub const META_MEMBER_ID: &str = "member_id";
/// the raft term of the entry at the consistent index
pub const META_APPLIED_TERM: &str = "applied_term";
/// raft's ConfState (raft-rs protobuf encoding) as of the consistent index
pub const META_CONF_STATE: &str = "conf_state";

pub fn u64_bytes(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

pub fn bytes_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

/// A `u64` the `meta` table holds under `k`, if any.
pub fn meta_u64(
    t: &impl redb::ReadableTable<&'static str, &'static [u8]>,
    k: &str,
) -> Result<Option<u64>, redb::StorageError> {
    Ok(t.get(k)?.and_then(|v| bytes_u64(v.value())))
}
