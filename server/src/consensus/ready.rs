//! The node loop: one thread owns the raft node, the WAL and the store's
//! write transaction. Each turn takes the requests and peer messages that
//! arrived, ticks the clock, and handles one Ready in raft-rs's order:
//! send (leader), apply committed, log entries + hard state with one
//! fdatasync (the group commit), send (followers), then advance.
//!
//! Applied records go into a store transaction kept open across turns and
//! committed every few milliseconds; readers see the uncommitted ones
//! through the store's pending overlay, so an answered write is visible.

use super::open::NodeParts;
use super::storage::{to_wal, AppliedPoint};
use super::{Network, NodeMsg};
use crate::apply::Applied;
use crate::error::{EtcdError, Fatal, OrFatal, Result};
use crate::shared::Shared;
use crate::wal::Wal;
use oxcd_proto::etcdserverpb::Member;
use protobuf::Message as _;
use raft::eraftpb::{ConfState, Message, MessageType};
use raft::{RawNode, SnapshotStatus, StateRole};
use redb::{Durability, WriteTransaction};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Largest number of requests taken in one turn.
const MAX_BATCH: usize = 4096;
/// How often the store is committed durably (letting the WAL be released),
/// unless `--backend-batch-interval` / `--backend-batch-limit` say.
const DURABLE_EVERY: Duration = Duration::from_secs(1);
const DURABLE_ENTRIES: u64 = 20_000;
/// How long applied records may wait in the open store transaction.
const COMMIT_EVERY: Duration = Duration::from_millis(25);
/// How long the loop polls for the next request before sleeping.
const SPIN: Duration = Duration::from_micros(200);
/// Commit early when this many records wait in the pending overlay.
const MAX_PENDING: usize = 20_000;
/// How often the store's in-use size is measured besides when it is due
/// (`Loop::stats_due`): redb counts it by walking every page, which at a
/// million keys took a twentieth of the loop's time when done every few
/// seconds.
const STATS_EVERY: Duration = Duration::from_secs(300);
/// A ReadIndex raft dropped (no leader yet) is asked again after this.
const READ_RETRY: Duration = Duration::from_millis(500);

pub(super) type Waiter = oneshot::Sender<Result<Applied>>;
type ReadWaiter = oneshot::Sender<Result<()>>;

pub(super) struct Loop<'a> {
    pub(super) srv: &'a Shared,
    pub(super) net: Arc<dyn Network>,
    pub(super) raw: RawNode<super::storage::LogStore>,
    pub(super) wal: Wal,
    pub(super) txn: Option<WriteTransaction>,
    pub(super) conf_state: ConfState,
    pub(super) waiters: HashMap<u64, Waiter>,
    /// proposals waiting for a leader to exist
    pub(super) stalled: Vec<(u64, Vec<u8>, Waiter)>,
    pub(super) reads_new: Vec<ReadWaiter>,
    /// the ReadIndex asked for (its context), who waits on it, since when
    pub(super) reads_inflight: Option<(u64, Vec<ReadWaiter>, Instant)>,
    /// reads that may go once the store has applied their index
    pub(super) reads_wait: Vec<(u64, ReadWaiter)>,
    pub(super) read_ctx: u64,
    pub(super) role: StateRole,
    pub(super) since_durable: u64,
    pub(super) last_commit: Instant,
    pub(super) last_durable: Instant,
    pub(super) released: u64,
    pub(super) last_snap: u64,
    pub(super) last_stats: Instant,
    /// the in-use size is measured at the next durable commit: the first
    /// one, and after a compaction's sweep, a defragment or a snapshot
    /// install
    pub(super) stats_due: bool,
    /// set once this member applied its own removal: when to stop
    pub(super) stop_at: Option<Instant>,
    pub(super) sweep: super::Sweep,
}

/// The node loop: runs until its [`super::NodeSender`] is closed or this
/// member is removed, or fails with what stops the member.
pub fn run(srv: &Shared, parts: NodeParts, net: Arc<dyn Network>) -> Result<(), Fatal> {
    let NodeParts {
        wal,
        raw,
        rx,
        conf_state,
    } = parts;
    let applied = srv.applied_index.load(Ordering::SeqCst);
    let mut l = Loop {
        srv,
        net,
        raw,
        wal,
        txn: None,
        conf_state,
        waiters: HashMap::new(),
        stalled: Vec::new(),
        reads_new: Vec::new(),
        reads_inflight: None,
        reads_wait: Vec::new(),
        read_ctx: 0,
        role: StateRole::Follower,
        since_durable: 0,
        last_commit: Instant::now(),
        last_durable: Instant::now(),
        released: 0,
        last_snap: applied,
        last_stats: Instant::now(),
        stats_due: true,
        stop_at: None,
        sweep: Default::default(),
    };
    l.run(rx)
}

impl Loop<'_> {
    fn run(&mut self, rx: std::sync::mpsc::Receiver<NodeMsg>) -> Result<(), Fatal> {
        use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
        let tick = Duration::from_millis(self.srv.cfg.heartbeat_ms);
        let mut next_tick = Instant::now() + tick;
        let mut last_sweep = Instant::now();
        self.on_ready()?;
        'outer: loop {
            // a short spin before sleeping: a lone client's next request
            // usually arrives within tens of microseconds
            let spin_until = Instant::now() + SPIN;
            let mut first = None;
            while Instant::now() < spin_until {
                match rx.try_recv() {
                    Ok(m) => {
                        first = Some(m);
                        break;
                    }
                    Err(TryRecvError::Empty) => std::thread::yield_now(),
                    Err(TryRecvError::Disconnected) => break 'outer,
                }
            }
            if first.is_none() {
                let mut wait = next_tick.saturating_duration_since(Instant::now());
                if self.txn.is_some() {
                    wait = wait.min(COMMIT_EVERY);
                }
                wait = self.sweep.cap_wait(wait);
                match rx.recv_timeout(wait) {
                    Ok(m) => first = Some(m),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            let idle = first.is_none();
            if let Some(m) = first {
                self.handle(m)?;
                for _ in 1..MAX_BATCH {
                    match rx.try_recv() {
                        Ok(m) => self.handle(m)?,
                        Err(_) => break,
                    }
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                self.raw.tick();
                next_tick = now + tick;
                self.retry_reads(now);
                self.publish_progress();
            }
            if now.duration_since(last_sweep) >= Duration::from_secs(1) {
                // requests whose callers gave up (timed out) are forgotten
                self.waiters.retain(|_, d| !d.is_closed());
                self.stalled.retain(|(_, _, d)| !d.is_closed());
                last_sweep = now;
            }
            self.issue_reads();
            self.on_ready()?;
            self.sweep_compaction()?;
            self.maybe_commit(idle)?;
            if self.stop_at.is_some_and(|t| now >= t) {
                self.srv.stopped_removed.store(true, Ordering::SeqCst);
            }
            if self.srv.stopped_removed.load(Ordering::SeqCst) {
                break;
            }
        }
        // shutting down: make everything applied durable in the store too
        if let Err(e) = self.commit(true) {
            tracing::error!(error = %e, "final store commit failed (the WAL still has every write)");
        }
        Ok(())
    }

    fn handle(&mut self, m: NodeMsg) -> Result<(), Fatal> {
        match m {
            NodeMsg::Propose {
                id,
                data,
                done,
                leader_only,
            } => {
                if leader_only && self.role != StateRole::Leader {
                    // never queued for a later leader, which has its own view
                    let _ = done.send(Err(EtcdError::NotLeader));
                } else {
                    self.propose(id, data, done)
                }
            }
            NodeMsg::ConfChange { cc, done } => {
                if self.raw.raft.has_pending_conf() {
                    // raft-rs would silently turn a second one into a no-op
                    let _ = done.send(Err(EtcdError::Unhealthy));
                    return Ok(());
                }
                let id = cc.id;
                self.waiters.insert(id, done);
                if let Err(e) = self.raw.propose_conf_change(Vec::new(), cc) {
                    if let Some(d) = self.waiters.remove(&id) {
                        let _ = d.send(Err(dropped(e)));
                    }
                }
            }
            NodeMsg::ReadIndex { done } => self.reads_new.push(done),
            NodeMsg::Transfer { to } => self.raw.transfer_leader(to),
            NodeMsg::Step(msg) => {
                // messages from unknown or stale peers are refused by raft itself
                let _ = self.raw.step(msg);
            }
            NodeMsg::InstallSnapshot {
                msg,
                head,
                rest,
                done,
            } => {
                let r = self.install_db(&msg, &head, rest)?;
                let ok = r.is_ok();
                let _ = done.send(r);
                if ok {
                    let _ = self.raw.step(msg);
                }
            }
            NodeMsg::Defragment { done } => {
                let r = self.defragment()?;
                let _ = done.send(r);
            }
            NodeMsg::Unreachable(id) => self.raw.report_unreachable(id),
            NodeMsg::SnapshotSent { to, ok } => self.raw.report_snapshot(
                to,
                if ok {
                    SnapshotStatus::Finish
                } else {
                    SnapshotStatus::Failure
                },
            ),
        }
        Ok(())
    }

    fn publish_progress(&self) {
        if self.role != StateRole::Leader {
            return;
        }
        let p: HashMap<u64, u64> = self
            .raw
            .raft
            .prs()
            .iter()
            .map(|(id, pr)| (*id, pr.matched))
            .collect();
        if let Ok(mut g) = self.srv.progress.lock() {
            *g = p;
        }
    }

    fn propose(&mut self, id: u64, data: Vec<u8>, done: Waiter) {
        if self.raw.raft.leader_id == 0 || self.raw.raft.lead_transferee.is_some() {
            self.stalled.push((id, data, done));
            return;
        }
        match self.raw.propose(Vec::new(), data.clone()) {
            Ok(()) => {
                self.waiters.insert(id, done);
            }
            Err(raft::Error::ProposalDropped) => self.stalled.push((id, data, done)),
            Err(e) => {
                let _ = done.send(Err(dropped(e)));
            }
        }
    }

    fn issue_reads(&mut self) {
        if !self.stalled.is_empty()
            && self.raw.raft.leader_id != 0
            && self.raw.raft.lead_transferee.is_none()
        {
            for (id, data, done) in std::mem::take(&mut self.stalled) {
                self.propose(id, data, done);
            }
        }
        if self.reads_inflight.is_none() && !self.reads_new.is_empty() {
            // unique across members and restarts, like etcd's request IDs
            self.read_ctx = self.srv.next_req_id();
            self.raw.read_index(self.read_ctx.to_be_bytes().to_vec());
            let waiting = std::mem::take(&mut self.reads_new);
            self.reads_inflight = Some((self.read_ctx, waiting, Instant::now()));
        }
    }

    /// raft drops a ReadIndex silently when there is no leader, or before
    /// the leader has committed in its term: ask again.
    fn retry_reads(&mut self, now: Instant) {
        let stale = matches!(&self.reads_inflight, Some((_, _, at)) if now.duration_since(*at) >= READ_RETRY);
        if stale {
            if let Some((_, mut waiting, _)) = self.reads_inflight.take() {
                waiting.retain(|d| !d.is_closed());
                waiting.append(&mut self.reads_new);
                self.reads_new = waiting;
            }
        }
    }

    fn on_read_states(&mut self, states: Vec<raft::ReadState>) {
        for rs in states {
            let ctx = rs
                .request_ctx
                .as_slice()
                .try_into()
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if let Some((c, _, _)) = &self.reads_inflight {
                if *c == ctx {
                    if let Some((_, waiting, _)) = self.reads_inflight.take() {
                        for d in waiting {
                            self.reads_wait.push((rs.index, d));
                        }
                    }
                }
            }
        }
        self.release_reads();
    }

    fn release_reads(&mut self) {
        if self.reads_wait.is_empty() {
            return;
        }
        let applied = self.srv.applied_index.load(Ordering::SeqCst);
        let (ready, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reads_wait)
            .into_iter()
            .partition(|(i, _)| *i <= applied);
        self.reads_wait = rest;
        for (_, d) in ready {
            let _ = d.send(Ok(()));
        }
    }

    fn on_ready(&mut self) -> Result<(), Fatal> {
        if !self.raw.has_ready() {
            return Ok(());
        }
        let mut rd = self.raw.ready();
        if let Some(ss) = rd.ss() {
            self.on_soft_state(ss.leader_id, ss.raft_state);
        }
        self.send(rd.take_messages());
        if !rd.snapshot().is_empty() {
            self.apply_snapshot(rd.snapshot().clone())?;
        }
        self.apply_entries(rd.take_committed_entries())?;
        if !rd.entries().is_empty() {
            let entries: Vec<_> = rd.entries().iter().map(to_wal).collect();
            self.wal.append(&entries).or_fatal("writing the WAL")?;
            self.raw
                .mut_store()
                .mem
                .wl()
                .append(rd.entries())
                .or_fatal("appending to the raft log")?;
        }
        if let Some(hs) = rd.hs() {
            let bytes = hs.write_to_bytes().unwrap_or_default();
            self.wal.save_state(&bytes).or_fatal("writing the WAL")?;
            self.srv.term.store(hs.term, Ordering::SeqCst);
            self.srv.raft_index.store(hs.commit, Ordering::SeqCst);
            self.raw.mut_store().mem.wl().set_hardstate(hs.clone());
        }
        if rd.must_sync() {
            self.wal.sync().or_fatal("syncing the WAL")?;
        }
        self.send(rd.take_persisted_messages());
        let states = rd.take_read_states();
        self.on_read_states(states);
        let mut light = self.raw.advance(rd);
        if let Some(c) = light.commit_index() {
            self.raw.mut_store().mem.wl().mut_hard_state().commit = c;
            self.srv.raft_index.store(c, Ordering::SeqCst);
        }
        self.send(light.take_messages());
        self.apply_entries(light.take_committed_entries())?;
        self.raw.advance_apply();
        self.release_reads();
        Ok(())
    }

    fn on_soft_state(&mut self, leader: u64, role: StateRole) {
        // leases are renewed before this member shows as leader, so that
        // expiry never runs on the old clock
        if role == StateRole::Leader && self.role != StateRole::Leader {
            // a new leader gives every lease a full TTL (it cannot know
            // when the old one last saw a keep-alive)
            if let Ok(mut st) = self.srv.state.write() {
                let ids: Vec<i64> = st.lessor.leases.keys().copied().collect();
                for id in ids {
                    st.lessor.renew(id);
                }
            }
        }
        let was = self.srv.leader.swap(leader, Ordering::SeqCst);
        if was != leader && leader != 0 {
            crate::metrics::M.leader_changes.inc();
        }
        if was != leader {
            // etcd's raft node logs these two (harnesses wait for them)
            let (me, term) = (self.srv.member_id, self.raw.raft.term);
            let log = crate::log::Id;
            if leader == 0 {
                tracing::info!(target: "raft", "raft.node: {} lost leader {} at term {term}", log(me), log(was));
            } else {
                tracing::info!(target: "raft", "raft.node: {} elected leader {} at term {term}", log(me), log(leader));
            }
        }
        self.role = role;
        if was != leader && leader != 0 {
            if let Ok(mut e) = self.srv.leader_elected.lock() {
                *e = Some(Instant::now());
            }
            // as etcd's: a ReadIndex round that sees a new leader fails its
            // reads, and their clients retry elsewhere
            if let Some((_, waiting, _)) = self.reads_inflight.take() {
                for d in waiting {
                    let _ = d.send(Err(EtcdError::LeaderChanged));
                }
            }
        } else if was != leader && self.reads_inflight.is_some() {
            self.retry_reads(Instant::now() + READ_RETRY);
        }
    }

    fn send(&mut self, msgs: Vec<Message>) {
        for m in msgs {
            if m.get_msg_type() == MessageType::MsgSnapshot {
                // the database goes with it, exactly as of the snapshot's index
                let want = m.get_snapshot().get_metadata().index;
                match self.srv.snapshot_view() {
                    Ok(v) if v.index == want => self.net.send_snapshot(m, v),
                    Ok(v) => {
                        tracing::warn!(
                            "remote-peer-id" = %crate::log::Id(m.to),
                            "store-index" = v.index,
                            "snapshot-index" = want,
                            "skipped sending a snapshot: the store moved on"
                        );
                        self.raw.report_snapshot(m.to, SnapshotStatus::Failure);
                    }
                    Err(e) => {
                        tracing::warn!("remote-peer-id" = %crate::log::Id(m.to), error = %e, "failed to open a snapshot to send");
                        self.raw.report_snapshot(m.to, SnapshotStatus::Failure);
                    }
                }
            } else {
                self.net.send(m);
            }
        }
    }

    pub(super) fn set_point(&self, index: u64, term: u64) {
        if let Ok(mut p) = self.raw.store().applied.lock() {
            if index < p.index {
                return;
            }
            *p = AppliedPoint {
                index,
                term,
                conf_state: self.conf_state.clone(),
            };
        }
    }

    pub(super) fn set_members(&self, members: Vec<Member>) {
        self.net.update_peers(&members);
        if let Ok(mut g) = self.srv.members.write() {
            *g = members;
        }
    }

    /// The store transaction applied records go into, opened if needed.
    pub(super) fn txn(&mut self) -> Result<&WriteTransaction, Fatal> {
        if self.txn.is_none() {
            self.txn = Some(
                self.srv
                    .begin_write()
                    .or_fatal("opening a store transaction")?,
            );
        }
        self.txn
            .as_ref()
            .ok_or_else(|| Fatal::node("opening a store transaction", "no transaction"))
    }

    fn maybe_commit(&mut self, idle: bool) -> Result<(), Fatal> {
        let cfg = &self.srv.cfg;
        let (every, entries) = (
            cfg.backend_batch_interval.unwrap_or(DURABLE_EVERY),
            cfg.backend_batch_limit.unwrap_or(DURABLE_ENTRIES),
        );
        let durable = self.since_durable >= entries || self.last_durable.elapsed() >= every;
        let pending = self
            .srv
            .state
            .read()
            .map(|s| s.store.pending.len())
            .unwrap_or(0);
        if self.txn.is_some()
            && (idle
                || durable
                || pending >= MAX_PENDING
                || self.last_commit.elapsed() >= COMMIT_EVERY)
        {
            self.commit(durable).or_fatal("committing the store")?;
        }
        Ok(())
    }

    /// Commits the store transaction (durably when asked, which lets the
    /// WAL before the applied index go), then drops the pending overlay.
    pub(super) fn commit(&mut self, durable: bool) -> Result<()> {
        let Some(mut txn) = self.txn.take() else {
            return Ok(());
        };
        // what the store's pages hold (etcd's "db size in use"), measured
        // now and then: redb walks its trees to count them
        if durable && (self.stats_due || self.last_stats.elapsed() >= STATS_EVERY) {
            self.stats_due = false;
            if let Ok(st) = txn.stats() {
                let used = st.allocated_pages() * st.page_size() as u64;
                self.srv.db_in_use.store(used, Ordering::Relaxed);
            }
            self.last_stats = Instant::now();
        }
        txn.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        });
        let started = Instant::now();
        txn.commit()?;
        crate::metrics::M
            .backend_commit
            .observe(started.elapsed().as_secs_f64());
        let srv = self.srv;
        // readers hold the state lock for their whole read, so none sees the
        // overlay cleared while reading an older store snapshot
        srv.state
            .write()
            .map_err(|_| EtcdError::Storage("state lock poisoned".into()))?
            .store
            .pending
            .clear();
        self.last_commit = Instant::now();
        if durable {
            let applied = srv.applied_index.load(Ordering::SeqCst);
            srv.durable_index.store(applied, Ordering::SeqCst);
            self.since_durable = 0;
            self.last_durable = self.last_commit;
            if applied > self.released {
                self.released = applied;
                // etcd must keep its WAL back to its last snapshot (up to
                // --snapshot-count entries, --max-wals files); oxcd's store
                // is durable up to `applied`, so only the entries a slow
                // follower may still be sent from the log are worth keeping:
                // at most one released segment, fewer than --max-wals
                let keep_from = applied.saturating_sub(srv.cfg.snapshot_catchup_entries);
                if let Err(e) = self.wal.release(keep_from, srv.cfg.max_wals.min(1)) {
                    tracing::warn!(error = %e, "failed to purge old WAL files");
                }
            }
        }
        if let Ok(m) = std::fs::metadata(&srv.db_path) {
            srv.db_size.store(m.len(), Ordering::Relaxed);
        }
        Ok(())
    }
}

/// raft-rs's refusal of a proposal, as etcd words it.
fn dropped(e: raft::Error) -> EtcdError {
    match e {
        raft::Error::ProposalDropped => EtcdError::NoLeader,
        other => EtcdError::Storage(other.to_string()),
    }
}
