//! Loading the applied state from the store's tables: the key index and
//! leases, alarms, the member table, the removed members, and what the
//! store records of the raft log it applied.

use super::State;
use crate::auth::{AuthStore, Tokens};
use crate::backend::*;
use crate::error::{EtcdError, Result};
use crate::lease::Lessor;
use crate::mvcc::Store;
use oxcd_proto::etcdserverpb::Member;
use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::ConfState;
use redb::{Database, ReadOnlyTable, ReadableTable};
use std::collections::HashSet;

/// The store's tables loaded into memory: applied state and members.
pub fn load_state(db: &Database, compact_rev: u64, tokens: Tokens) -> Result<(State, Vec<Member>)> {
    let rtxn = db.begin_read()?;
    let kv: ReadOnlyTable<&[u8], &[u8]> = rtxn.open_table(KEY)?;
    let (store, key_leases) = Store::load_with_leases(&kv, compact_rev as i64)?;
    state_from(&rtxn, store, key_leases, tokens)
}

/// The applied state around an index already built: leases (with their
/// live keys), alarms, users and roles (with the `tokens` this member
/// knows), and the members.
pub fn state_from(
    rtxn: &redb::ReadTransaction,
    store: Store,
    key_leases: std::collections::HashMap<Vec<u8>, i64>,
    tokens: Tokens,
) -> Result<(State, Vec<Member>)> {
    let mut store = store;
    // a compaction whose sweep a stop (or the member that sent this store)
    // did not finish is swept again
    {
        let meta = rtxn.open_table(META)?;
        let finished = meta_u64(&meta, META_COMPACT_REV)?.unwrap_or(0) as i64;
        let scheduled = meta_u64(&meta, META_SCHEDULED_COMPACT_REV)?.unwrap_or(0) as i64;
        if scheduled > finished {
            store.resume_compaction(scheduled, finished);
        }
    }
    let mut state = State {
        store,
        lessor: Lessor::default(),
        alarms: Default::default(),
        auth: AuthStore::load(rtxn, tokens)?,
    };
    for item in rtxn.open_table(LEASE)?.iter()? {
        let (id, ttl) = item?;
        state.lessor.grant(id.value(), ttl.value());
    }
    for (key, lease) in key_leases {
        state.lessor.attach(lease, &key);
    }
    for item in rtxn.open_table(ALARM)?.iter()? {
        let (k, _) = item?;
        state.alarms.insert(k.value());
    }
    let members = load_members(rtxn)?;
    Ok((state, members))
}

/// The members removed from the cluster, as the store records them.
pub fn load_removed(db: &Database) -> Result<HashSet<u64>> {
    let rtxn = db.begin_read()?;
    let t = rtxn.open_table(MEMBERS_REMOVED)?;
    let mut out = HashSet::new();
    for item in t.iter()? {
        out.insert(item?.0.value());
    }
    Ok(out)
}

/// What the store records about the raft log it has applied.
pub struct AppliedMeta {
    pub index: u64,
    pub term: u64,
    pub stored_term: u64,
    pub conf_state: Option<ConfState>,
}

pub fn read_applied(db: &Database) -> Result<AppliedMeta> {
    let rtxn = db.begin_read()?;
    let meta = rtxn.open_table(META)?;
    let conf_state = match meta.get(META_CONF_STATE)? {
        Some(v) => Some(
            ConfState::parse_from_bytes(v.value())
                .map_err(|e| EtcdError::Storage(format!("conf state: {e}")))?,
        ),
        None => None,
    };
    Ok(AppliedMeta {
        index: meta_u64(&meta, META_CONSISTENT_INDEX)?.unwrap_or(0),
        term: meta_u64(&meta, META_APPLIED_TERM)?.unwrap_or(0),
        stored_term: meta_u64(&meta, META_TERM)?.unwrap_or(0),
        conf_state,
    })
}

pub fn load_members(rtxn: &redb::ReadTransaction) -> Result<Vec<Member>> {
    let t = rtxn.open_table(MEMBERS)?;
    let mut out = Vec::new();
    for item in t.iter()? {
        let (_, v) = item?;
        out.push(Member::decode(v.value())?);
    }
    Ok(out)
}
