//! Applying committed entries: requests into the store's open write
//! transaction (answering whoever proposed them here), membership changes
//! into raft, the member table and the transport.

use super::ready::Loop;
use crate::apply::{Applied, InternalRequest, Op, Tables};
use crate::error::{EtcdError, Result};
use crate::mvcc::backend::*;
use crate::node::{fatal, Server};
use oxcd_proto::etcdserverpb::Member;
use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, Entry, EntryType};
use redb::WriteTransaction;
use std::sync::atomic::Ordering;

/// How long a member that applied its own removal keeps running.
const REMOVED_STOP_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

impl Loop<'_> {
    pub(super) fn apply_entries(&mut self, entries: Vec<Entry>) {
        let mut batch: Vec<(u64, Option<Op>)> = Vec::new();
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
                        match InternalRequest::decode(e.data.as_ref()) {
                            Ok(r) => batch.push((r.id, r.op)),
                            Err(err) => fatal("decoding a committed entry", err),
                        }
                        last = (e.index, e.term);
                    }
                }
                EntryType::EntryConfChange => {
                    self.flush(&mut batch, last);
                    self.apply_conf_change(&e, held);
                }
                EntryType::EntryConfChangeV2 => {}
            }
            self.since_durable += 1;
            if held {
                self.set_point(e.index, e.term);
            }
        }
        self.flush(&mut batch, last);
        self.maybe_snapshot();
    }

    fn flush(&mut self, batch: &mut Vec<(u64, Option<Op>)>, last: (u64, u64)) {
        if batch.is_empty() {
            return;
        }
        let (ids, ops): (Vec<u64>, Vec<Option<Op>>) = std::mem::take(batch).into_iter().unzip();
        self.ensure_txn();
        let txn = self.txn.take().expect("ensured");
        let results = match self.apply_into(&txn, ops, last.0, last.1) {
            Ok(r) => r,
            Err(e) => fatal("applying to the store", e),
        };
        self.txn = Some(txn);
        self.set_point(last.0, last.1);
        for (id, r) in ids.into_iter().zip(results) {
            if id != 0 {
                if let Some(d) = self.waiters.remove(&id) {
                    let _ = d.send(r);
                }
            }
        }
    }

    /// Applies requests into `txn`; the outer `Err` is a storage failure,
    /// the inner ones are the requests' own answers.
    fn apply_into(
        &mut self,
        txn: &WriteTransaction,
        ops: Vec<Option<Op>>,
        last_index: u64,
        last_term: u64,
    ) -> Result<Vec<Result<Applied>>> {
        let srv = self.srv;
        let mut results = Vec::with_capacity(ops.len());
        let mut members_changed = None;
        {
            let mut st = srv
                .state
                .write()
                .map_err(|_| EtcdError::Storage("state lock poisoned".into()))?;
            st.store.events = if srv.hub.is_empty() {
                None
            } else {
                Some(Vec::new())
            };
            let mut t = Tables {
                kv: txn.open_table(KEY)?,
                lease: txn.open_table(LEASE)?,
                meta: txn.open_table(META)?,
                alarm: txn.open_table(ALARM)?,
            };
            for op in ops {
                match op {
                    Some(op @ (Op::MemberAttrs(_) | Op::MemberUpdate(_))) => {
                        let mut ms = members_changed
                            .take()
                            .unwrap_or_else(|| srv.members_sorted());
                        let id = match &op {
                            Op::MemberAttrs(m) | Op::MemberUpdate(m) => m.id,
                            _ => 0,
                        };
                        let r = match ms.iter_mut().find(|x| x.id == id) {
                            None => Err(EtcdError::MemberNotFound),
                            Some(x) => {
                                match op {
                                    // a member publishes its name and client URLs
                                    Op::MemberAttrs(m) => {
                                        x.name = m.name;
                                        x.client_ur_ls = m.client_ur_ls;
                                    }
                                    Op::MemberUpdate(m) => x.peer_ur_ls = m.peer_ur_ls,
                                    _ => {}
                                }
                                Ok(())
                            }
                        };
                        results.push(r.map(|_| Applied::Members(ms.clone())));
                        members_changed = Some(ms);
                    }
                    Some(op) => {
                        let r = st.apply(&mut t, op);
                        if let Err(EtcdError::Storage(e)) = &r {
                            return Err(EtcdError::Storage(e.clone()));
                        }
                        results.push(r);
                    }
                    None => results.push(Err(EtcdError::Unsupported("empty entry"))),
                }
            }
            write_applied(&mut t.meta, last_index, last_term, srv)?;
            srv.applied_index.store(last_index, Ordering::SeqCst);
            if let Some(events) = st.store.events.take() {
                if !events.is_empty() {
                    srv.hub.notify(&events, srv.header(st.store.current_rev));
                }
            }
        }
        if let Some(ms) = members_changed {
            write_members(txn, &ms)?;
            self.set_members(ms);
        }
        Ok(results)
    }

    fn apply_conf_change(&mut self, e: &Entry, held: bool) {
        let cc = match ConfChange::parse_from_bytes(e.data.as_ref()) {
            Ok(cc) => cc,
            Err(err) => fatal("decoding a committed membership change", err),
        };
        let cs = match self.raw.apply_conf_change(&cc) {
            Ok(cs) => cs,
            Err(err) => {
                eprintln!(
                    "oxcd: membership change at index {} refused: {err}",
                    e.index
                );
                if let Some(d) = self.waiters.remove(&cc.id) {
                    let _ = d.send(Err(EtcdError::Storage(err.to_string())));
                }
                // the entry is consumed all the same: reads waiting for its
                // index may go (a restart replays and refuses it again)
                if !held {
                    self.srv.applied_index.store(e.index, Ordering::SeqCst);
                }
                return;
            }
        };
        self.conf_state = cs.clone();
        self.raw.mut_store().mem.wl().set_conf_state(cs.clone());
        let mut ms = self.srv.members_sorted();
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
            ConfChangeType::RemoveNode => {
                ms.retain(|m| m.id != cc.node_id);
                if let Ok(mut r) = self.srv.removed.lock() {
                    r.insert(cc.node_id);
                }
            }
        }
        if !held {
            self.ensure_txn();
            let srv = self.srv;
            let txn = self.txn.as_ref().expect("ensured");
            let r = (|| -> Result<()> {
                write_members(txn, &ms)?;
                if cc.get_change_type() == ConfChangeType::RemoveNode {
                    txn.open_table(MEMBERS_REMOVED)?.insert(cc.node_id, ())?;
                }
                let mut meta = txn.open_table(META)?;
                let b = cs
                    .write_to_bytes()
                    .map_err(|e| EtcdError::Storage(e.to_string()))?;
                meta.insert(META_CONF_STATE, b.as_slice())?;
                write_applied(&mut meta, e.index, e.term, srv)?;
                Ok(())
            })();
            if let Err(err) = r {
                fatal("applying a membership change", err);
            }
            self.srv.applied_index.store(e.index, Ordering::SeqCst);
            // a membership change is made durable at once
            if let Err(err) = self.commit(true) {
                fatal("committing the store", err);
            }
        }
        self.set_point(e.index, e.term);
        self.set_members(ms.clone());
        if let Some(d) = self.waiters.remove(&cc.id) {
            let _ = d.send(Ok(Applied::Members(ms)));
        }
        if cc.get_change_type() == ConfChangeType::RemoveNode && cc.node_id == self.srv.member_id {
            eprintln!("oxcd: the member has been permanently removed from the cluster");
            // as etcd: stop a moment later, so that a removed leader still
            // tells the others the change is committed
            self.stop_at = Some(std::time::Instant::now() + REMOVED_STOP_DELAY);
        }
    }
}

fn write_applied(
    meta: &mut redb::Table<'_, &'static str, &'static [u8]>,
    index: u64,
    term: u64,
    srv: &Server,
) -> Result<()> {
    meta.insert(META_CONSISTENT_INDEX, u64_bytes(index).as_slice())?;
    meta.insert(META_APPLIED_TERM, u64_bytes(term).as_slice())?;
    meta.insert(
        META_TERM,
        u64_bytes(srv.term.load(Ordering::SeqCst)).as_slice(),
    )?;
    Ok(())
}

/// The member table becomes exactly `ms`.
fn write_members(txn: &WriteTransaction, ms: &[Member]) -> Result<()> {
    let mut table = txn.open_table(MEMBERS)?;
    table.retain(|_, _| false)?;
    for m in ms {
        table.insert(m.id, m.encode_to_vec().as_slice())?;
    }
    Ok(())
}
