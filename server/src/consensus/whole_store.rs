//! What the node loop does to the whole store: installing a leader's
//! database (and the raft snapshot that comes after it), the periodic
//! snapshot point (store made durable, a snapshot file written, raft's
//! log compacted), and defragmentation.

use super::ready::Loop;
use super::SnapshotPieces;
use crate::apply::load::{load_removed, state_from};
use crate::backend::*;
use crate::error::{EtcdError, Fatal, OrFatal, Result};
use protobuf::Message as _;
use raft::eraftpb::{Message, Snapshot};
use std::sync::atomic::Ordering;
use std::time::Instant;

impl Loop<'_> {
    /// Replaces the store with a snapshot's database as the leader streams
    /// it (`head`, then the pieces from `rest`), unless this member already
    /// holds that much. The inner error refuses this snapshot (a bad or cut
    /// transfer leaves the store as it was); the outer one stops the
    /// member: the store could not be committed, or it holds the snapshot
    /// while the applied state could not follow it.
    pub(super) fn install_db(
        &mut self,
        msg: &Message,
        head: &[u8],
        mut rest: SnapshotPieces,
    ) -> Result<Result<()>, Fatal> {
        let md = msg.get_snapshot().get_metadata();
        if md.index <= self.srv.applied_index.load(Ordering::SeqCst) {
            return Ok(Ok(()));
        }
        self.commit(true).or_fatal("committing the store")?;
        let started = Instant::now();
        // raft's view of the store travels in the same transaction
        let cs = match md.get_conf_state().write_to_bytes() {
            Ok(cs) => cs,
            Err(e) => return Ok(Err(EtcdError::Storage(e.to_string()))),
        };
        let extra = [
            (META_CONF_STATE, cs),
            (META_APPLIED_TERM, u64_bytes(md.term).to_vec()),
        ];
        let srv = self.srv;
        let store = srv.store().or_fatal("installing a snapshot")?;
        // the transport bounds the wait for each piece
        let mut size = head.len();
        let mut next = || {
            let p = rest
                .blocking_recv()
                .unwrap_or_else(|| Err("the snapshot stream ended early".into()));
            if let Ok((piece, _)) = &p {
                size += piece.len();
            }
            p
        };
        // readers go on while the pieces arrive (gRPC handlers block on
        // the state lock, and the transport needs them to hand over the
        // pieces); from the commit on they wait until store and state
        // match again
        let lock = || {
            srv.state
                .write()
                .map_err(|_| "the state lock is poisoned".to_string())
        };
        let installed =
            crate::import::install_stream(&store, head, &mut next, (md.index, &extra), lock);
        drop(store);
        let (installed, mut st) = match installed {
            Ok(i) => i,
            Err(e) => return Ok(Err(EtcdError::Storage(e))),
        };
        // etcd's line once the database is in (its operators grep for it)
        tracing::info!(
            "remote-snapshot-sender-id" = %crate::log::Id(msg.from),
            "incoming-snapshot-index" = md.index,
            "received-snapshot-size-bytes" = size,
            took = ?started.elapsed(),
            "received and saved database snapshot"
        );
        let ci = installed.index;
        let old_rev = st.store.current_rev;
        // the tokens this member issued stay valid (memory only, as etcd's)
        let tokens = std::mem::take(&mut st.auth.tokens);
        let (state, members, removed) = (|| -> Result<_> {
            let rtxn = srv.begin_read()?;
            let (state, members) =
                state_from(&rtxn, installed.store, installed.key_leases, tokens)?;
            Ok((state, members, load_removed(&*srv.store()?)?))
        })()
        .or_fatal("loading an installed snapshot")?;
        *st = state;
        // a physical compaction waiting here is answered if the installed
        // store has swept past it
        let swept = st.store.finished_compact_rev();
        srv.compacted.send_modify(|f| *f = (*f).max(swept));
        // a new store: its in-use size is measured at the next durable commit
        self.stats_due = true;
        self.catch_up_watchers(&st, old_rev)
            .or_fatal("loading an installed snapshot")?;
        drop(st);
        if let Ok(mut r) = srv.removed.lock() {
            *r = removed;
        }
        self.set_members(members);
        srv.applied_index.store(ci, Ordering::SeqCst);
        srv.durable_index.store(ci, Ordering::SeqCst);
        tracing::info!(
            "from" = %crate::log::Id(msg.from),
            "snapshot-index" = ci,
            took = ?started.elapsed(),
            "applied snapshot"
        );
        Ok(Ok(()))
    }

    /// Compacts the store file. The inner error answers the request (redb
    /// refused to compact); the outer one stops the member (what it applied
    /// could not be committed first).
    pub(super) fn defragment(&mut self) -> Result<Result<()>, Fatal> {
        // a durable commit ends redb's hold on the last durable state that
        // non-durable commits keep (it counts as a live reader)
        self.txn()?;
        self.commit(true).or_fatal("committing the store")?;
        let before = self.srv.db_size.load(Ordering::Relaxed);
        let started = std::time::Instant::now();
        tracing::info!(path = %self.srv.db_path.display(), "defragmenting");
        let mut db = self.srv.db.write().or_fatal("defragmenting the store")?;
        if let Err(e) = db.compact() {
            tracing::warn!(error = %e, "failed to defragment");
            return Ok(Err(EtcdError::Storage(format!("defragment: {e}"))));
        }
        drop(db);
        self.stats_due = true;
        if let Ok(m) = std::fs::metadata(&self.srv.db_path) {
            self.srv.db_size.store(m.len(), Ordering::Relaxed);
        }
        tracing::info!(
            path = %self.srv.db_path.display(),
            "current-db-size-bytes-diff" = self.srv.db_size.load(Ordering::Relaxed) as i64 - before as i64,
            took = ?started.elapsed(),
            "finished defragmenting directory"
        );
        Ok(Ok(()))
    }

    /// Watchers hear of what a snapshot brought as if it had been applied
    /// here; if it compacted past where they were, they are cancelled
    /// with the compaction revision, as etcd does.
    fn catch_up_watchers(&self, st: &crate::apply::State, old_rev: i64) -> Result<()> {
        let hub = &self.srv.hub;
        let (new_rev, compact) = (st.store.current_rev, st.store.compact_rev);
        if hub.is_empty() || new_rev <= old_rev {
            return Ok(());
        }
        let header = self.srv.header(new_rev);
        if old_rev < compact {
            hub.cancel_all(compact, header);
            return Ok(());
        }
        let rtxn = self.srv.begin_read()?;
        let kv = rtxn.open_table(KEY)?;
        let mut events = Vec::new();
        crate::watch::for_each_event(&st.store, &kv, old_rev + 1, new_rev, true, |e| {
            events.push(e);
            Ok(())
        })?;
        hub.notify(events, header);
        Ok(())
    }

    pub(super) fn apply_snapshot(&mut self, snap: Snapshot) -> Result<(), Fatal> {
        let md = snap.get_metadata().clone();
        match self.raw.mut_store().mem.wl().apply_snapshot(snap) {
            Ok(()) | Err(raft::Error::Store(raft::StorageError::SnapshotOutOfDate)) => {}
            Err(e) => return Err(Fatal::node("installing a raft snapshot", e)),
        }
        self.wal
            .save_snapshot(md.index, md.term)
            .and_then(|_| self.wal.sync())
            .or_fatal("writing the WAL")?;
        self.conf_state = md.get_conf_state().clone();
        self.last_snap = md.index;
        self.set_point(md.index, md.term);
        Ok(())
    }

    /// Every `--snapshot-count` applied entries: make the store durable,
    /// record a snapshot file, and let raft's in-memory log go but for the
    /// last `--experimental-snapshot-catchup-entries` (a slower follower
    /// gets the database instead).
    pub(super) fn maybe_snapshot(&mut self) -> Result<(), Fatal> {
        let applied = self.srv.applied_index.load(Ordering::SeqCst);
        if applied < self.last_snap + self.srv.cfg.snapshot_count {
            return Ok(());
        }
        self.commit(true).or_fatal("committing the store")?;
        let term = self.raw.store().applied.lock().map(|p| p.term).unwrap_or(0);
        let to = applied.saturating_sub(self.srv.cfg.snapshot_catchup_entries);
        let first = raft::Storage::first_index(self.raw.store()).unwrap_or(1);
        if to > first {
            if let Err(e) = self.raw.mut_store().mem.wl().compact(to) {
                tracing::warn!(error = %e, "failed to compact the raft log");
            }
        }
        match super::snapfile::save(&self.srv.cfg, term, applied, &self.conf_state) {
            Ok(()) => tracing::info!(
                "snapshot-index" = applied,
                "compacted-raft-log-index" = to,
                "saved snapshot"
            ),
            Err(e) => tracing::warn!(error = %e, "failed to save a raft snapshot file"),
        }
        self.last_snap = applied;
        Ok(())
    }
}
