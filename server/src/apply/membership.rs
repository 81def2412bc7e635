//! Membership as the state machine keeps it: the member table changed by
//! committed requests (a member publishing its attributes, new peer URLs)
//! and by raft's membership changes, the removed members, and raft's
//! configuration and applied point recorded beside them.

use crate::backend::*;
use crate::error::{EtcdError, Result};
use oxcd_proto::etcdserverpb::Member;
use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfState};
use redb::WriteTransaction;

/// What a logged request changes of a member.
pub enum MemberChange {
    /// its name and client URLs, published once it started
    Attributes(Member),
    /// its peer URLs
    PeerUrls(Member),
}

/// Applies `change` to the member table `ms`.
pub fn apply_member_change(ms: &mut [Member], change: MemberChange) -> Result<()> {
    let id = match &change {
        MemberChange::Attributes(m) | MemberChange::PeerUrls(m) => m.id,
    };
    let x = ms
        .iter_mut()
        .find(|x| x.id == id)
        .ok_or(EtcdError::MemberNotFound)?;
    match change {
        MemberChange::Attributes(m) => {
            x.name = m.name;
            x.client_ur_ls = m.client_ur_ls;
        }
        MemberChange::PeerUrls(m) => x.peer_ur_ls = m.peer_ur_ls,
    }
    Ok(())
}

/// Applies raft's membership change `cc` to the member table `ms` (sorted
/// by ID): a new member as the change's context describes it, a learner
/// promoted, a member removed.
pub fn apply_conf_change(ms: &mut Vec<Member>, cc: &ConfChange) {
    match cc.get_change_type() {
        ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
            let learner = cc.get_change_type() == ConfChangeType::AddLearnerNode;
            if let Some(m) = ms.iter_mut().find(|m| m.id == cc.node_id) {
                m.is_learner = learner;
            } else {
                let mut m = Member::decode(cc.context.as_ref()).unwrap_or_default();
                m.id = cc.node_id;
                m.is_learner = learner;
                ms.push(m);
                ms.sort_by_key(|m| m.id);
            }
        }
        ConfChangeType::RemoveNode => ms.retain(|m| m.id != cc.node_id),
    }
}

/// Records an applied membership change in `txn`: the member table, the
/// removed member, raft's configuration and the applied point.
pub fn record_conf_change(
    txn: &WriteTransaction,
    ms: &[Member],
    cc: &ConfChange,
    cs: &ConfState,
    point: AppliedAt,
) -> Result<()> {
    write_members(txn, ms)?;
    if cc.get_change_type() == ConfChangeType::RemoveNode {
        txn.open_table(MEMBERS_REMOVED)?.insert(cc.node_id, ())?;
    }
    let mut meta = txn.open_table(META)?;
    let b = cs
        .write_to_bytes()
        .map_err(|e| EtcdError::Storage(e.to_string()))?;
    meta.insert(META_CONF_STATE, b.as_slice())?;
    write_applied(&mut meta, point)
}

/// The last log entry applied, and the raft term at the time.
#[derive(Debug, Clone, Copy)]
pub struct AppliedAt {
    pub index: u64,
    pub term: u64,
    /// raft's current term (recorded for stores opened before raft)
    pub raft_term: u64,
}

/// Records the applied point; in the same transaction as what it applied.
pub fn write_applied(
    meta: &mut redb::Table<'_, &'static str, &'static [u8]>,
    p: AppliedAt,
) -> Result<()> {
    meta.insert(META_CONSISTENT_INDEX, u64_bytes(p.index).as_slice())?;
    meta.insert(META_APPLIED_TERM, u64_bytes(p.term).as_slice())?;
    meta.insert(META_TERM, u64_bytes(p.raft_term).as_slice())?;
    Ok(())
}

/// The member table becomes exactly `ms`.
pub fn write_members(txn: &WriteTransaction, ms: &[Member]) -> Result<()> {
    let mut table = txn.open_table(MEMBERS)?;
    table.retain(|_, _| false)?;
    for m in ms {
        table.insert(m.id, m.encode_to_vec().as_slice())?;
    }
    Ok(())
}
