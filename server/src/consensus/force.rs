//! `--force-new-cluster`: etcd's disaster recovery. A member restarted
//! with it keeps its data and becomes the only member of its cluster: the
//! log's uncommitted tail is dropped, and committed membership changes
//! removing every other member are appended to the WAL, so that they are
//! applied at start like any change (the member table, the removed set
//! and raft's configuration all follow) and survive a later restart
//! without the flag.

use super::storage::to_wal;
use crate::wal::{Replay, Wal};
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState};
use std::collections::BTreeSet;

/// Rewrites the WAL (and `replay`, as if read back) so that `me` is the
/// only voter once the log is applied. `applied` and `applied_term` are
/// the store's point, `conf_state` its configuration there.
pub(super) fn make_standalone(
    wal: &mut Wal,
    replay: &mut Replay,
    me: u64,
    conf_state: &ConfState,
    applied: u64,
    applied_term: u64,
) -> Result<(), String> {
    let mut hs = match &replay.state {
        Some(b) => HardState::parse_from_bytes(b)
            .map_err(|e| format!("wal: undecodable hard state: {e}"))?,
        None => HardState::default(),
    };
    let commit = hs.commit.max(applied);
    // what was never committed may never have been acknowledged: drop it
    replay.entries.retain(|e| e.index <= commit);
    // the configuration once the committed log is applied
    let mut members: BTreeSet<u64> = conf_state
        .voters
        .iter()
        .chain(conf_state.learners.iter())
        .copied()
        .collect();
    for e in replay.entries.iter().filter(|e| e.kind == 1) {
        let cc = ConfChange::parse_from_bytes(&e.data)
            .map_err(|err| format!("wal: undecodable membership change at {}: {err}", e.index))?;
        match cc.get_change_type() {
            ConfChangeType::RemoveNode => members.remove(&cc.node_id),
            _ => members.insert(cc.node_id),
        };
    }
    let (mut index, term) = replay
        .entries
        .last()
        .map(|e| (e.index, e.term))
        .unwrap_or((applied, applied_term.max(1)));
    let mut appended = Vec::new();
    let mut changes: Vec<(ConfChangeType, u64)> = members
        .iter()
        .filter(|&&id| id != me)
        .map(|&id| (ConfChangeType::RemoveNode, id))
        .collect();
    if !members.contains(&me) {
        changes.insert(0, (ConfChangeType::AddNode, me));
    }
    for (kind, id) in changes {
        index += 1;
        let mut cc = ConfChange::default();
        cc.set_change_type(kind);
        cc.node_id = id;
        let mut e = Entry::default();
        e.set_entry_type(EntryType::EntryConfChange);
        e.index = index;
        e.term = term;
        e.data = cc
            .write_to_bytes()
            .map_err(|err| format!("encoding a membership change: {err}"))?
            .into();
        appended.push(to_wal(&e));
        tracing::info!(
            "local-member-id" = %crate::log::Id(me),
            "removed-remote-peer-id" = %crate::log::Id(id),
            index,
            "forcing: committing the removal of a member"
        );
    }
    hs.commit = index;
    hs.term = hs.term.max(term);
    let state = hs
        .write_to_bytes()
        .map_err(|e| format!("encoding the hard state: {e}"))?;
    wal.append(&appended)
        .and_then(|_| wal.save_state(&state))
        .and_then(|_| wal.sync())
        .map_err(|e| format!("wal: {e}"))?;
    replay.entries.extend(appended);
    replay.state = Some(state);
    tracing::warn!(
        "local-member-id" = %crate::log::Id(me),
        "commit-index" = commit,
        "removed-members" = members.len().saturating_sub(1),
        "forcing restart member"
    );
    Ok(())
}
