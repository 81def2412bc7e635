//! Handing committed entries to the state machine (`crate::apply`), in the
//! store's open write transaction, and answering whoever proposed them
//! here; membership changes go to raft first, then to the member table
//! and the transport.

use super::ready::Loop;
use crate::apply::membership::{apply_conf_change, record_conf_change, AppliedAt};
use crate::apply::{Applied, InternalRequest, Op};
use crate::auth::AuthHeader;
use crate::error::{EtcdError, Fatal, OrFatal};
use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, Entry, EntryType};
use std::sync::atomic::Ordering;

/// Committed requests waiting to be applied together: the proposer's
/// waiter ID, the request and its sender.
type Batch = Vec<(u64, Option<(Op, Option<AuthHeader>)>)>;

/// How long a member that applied its own removal keeps running.
const REMOVED_STOP_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

impl Loop<'_> {
    pub(super) fn apply_entries(&mut self, entries: Vec<Entry>) -> Result<(), Fatal> {
        let mut batch: Batch = Vec::new();
        let mut last = (0, 0);
        for e in entries {
            let held = e.index <= self.srv.applied_index.load(Ordering::SeqCst);
            match e.get_entry_type() {
                EntryType::EntryNormal => {
                    if held {
                        // the store already has it (a snapshot brought it)
                    } else if e.data.is_empty() {
                        // a new leader's empty entry changes nothing
                        batch.push((0, None));
                        last = (e.index, e.term);
                    } else {
                        let r = InternalRequest::decode(e.data.as_ref())
                            .or_fatal("decoding a committed entry")?;
                        batch.push((r.id, r.op.map(|op| (op, r.auth))));
                        last = (e.index, e.term);
                    }
                }
                EntryType::EntryConfChange => {
                    self.flush(&mut batch, last)?;
                    self.apply_conf_change(&e, held)?;
                }
                EntryType::EntryConfChangeV2 => {}
            }
            self.since_durable += 1;
            if held {
                self.set_point(e.index, e.term);
            }
        }
        self.flush(&mut batch, last)?;
        self.maybe_snapshot()
    }

    fn flush(&mut self, batch: &mut Batch, last: (u64, u64)) -> Result<(), Fatal> {
        if batch.is_empty() {
            return Ok(());
        }
        let (ids, ops): (Vec<u64>, Vec<_>) = std::mem::take(batch).into_iter().unzip();
        let srv = self.srv;
        let at = AppliedAt {
            index: last.0,
            term: last.1,
            raft_term: srv.term.load(Ordering::SeqCst),
        };
        let applied = {
            let txn = self.txn()?;
            let mut st = srv.state.write().or_fatal("applying to the store")?;
            st.store.events = if srv.hub.is_empty() {
                None
            } else {
                Some(Vec::new())
            };
            let b = st
                .apply_batch(txn, ops, || srv.members_sorted(), at)
                .or_fatal("applying to the store")?;
            srv.applied_index.store(last.0, Ordering::SeqCst);
            if let Some(events) = st.store.events.take() {
                if !events.is_empty() {
                    srv.hub.notify(events, srv.header(st.store.current_rev));
                }
            }
            b
        };
        if let Some(ms) = applied.members {
            self.set_members(ms);
        }
        self.set_point(last.0, last.1);
        for (id, r) in ids.into_iter().zip(applied.results) {
            if id != 0 {
                if let Some(d) = self.waiters.remove(&id) {
                    let _ = d.send(r);
                }
            }
        }
        Ok(())
    }

    fn apply_conf_change(&mut self, e: &Entry, held: bool) -> Result<(), Fatal> {
        let cc = ConfChange::parse_from_bytes(e.data.as_ref())
            .or_fatal("decoding a committed membership change")?;
        let cs = match self.raw.apply_conf_change(&cc) {
            Ok(cs) => cs,
            Err(err) => {
                tracing::warn!(index = e.index, error = %err, "membership change refused");
                if let Some(d) = self.waiters.remove(&cc.id) {
                    let _ = d.send(Err(EtcdError::Storage(err.to_string())));
                }
                // the entry is consumed all the same: reads waiting for its
                // index may go (a restart replays and refuses it again)
                if !held {
                    self.srv.applied_index.store(e.index, Ordering::SeqCst);
                }
                return Ok(());
            }
        };
        self.conf_state = cs.clone();
        self.raw.mut_store().mem.wl().set_conf_state(cs.clone());
        let mut ms = self.srv.members_sorted();
        apply_conf_change(&mut ms, &cc);
        let removed = cc.get_change_type() == ConfChangeType::RemoveNode;
        if removed {
            if let Ok(mut r) = self.srv.removed.lock() {
                r.insert(cc.node_id);
            }
        }
        if !held {
            let at = AppliedAt {
                index: e.index,
                term: e.term,
                raft_term: self.srv.term.load(Ordering::SeqCst),
            };
            let txn = self.txn()?;
            record_conf_change(txn, &ms, &cc, &cs, at).or_fatal("applying a membership change")?;
            self.srv.applied_index.store(e.index, Ordering::SeqCst);
            // a membership change is made durable at once
            self.commit(true).or_fatal("committing the store")?;
        }
        self.set_point(e.index, e.term);
        let id = crate::log::Id(cc.node_id);
        let (cluster, me) = (
            crate::log::Id(self.srv.cluster_id),
            crate::log::Id(self.srv.member_id),
        );
        match cc.get_change_type() {
            ConfChangeType::RemoveNode => tracing::info!(
                "cluster-id" = %cluster, "local-member-id" = %me, "removed-remote-peer-id" = %id,
                "removed member"
            ),
            ConfChangeType::AddLearnerNode => tracing::info!(
                "cluster-id" = %cluster, "local-member-id" = %me, "added-peer-id" = %id,
                "added member (learner)"
            ),
            ConfChangeType::AddNode => tracing::info!(
                "cluster-id" = %cluster, "local-member-id" = %me, "added-peer-id" = %id,
                "added member"
            ),
        }
        self.set_members(ms.clone());
        if let Some(d) = self.waiters.remove(&cc.id) {
            let _ = d.send(Ok(Applied::Members(ms)));
        }
        if removed && cc.node_id == self.srv.member_id {
            tracing::warn!("local-member-id" = %crate::log::Id(self.srv.member_id), "the member has been permanently removed from the cluster");
            // as etcd: stop a moment later, so that a removed leader still
            // tells the others the change is committed
            self.stop_at = Some(std::time::Instant::now() + REMOVED_STOP_DELAY);
        }
        Ok(())
    }
}
