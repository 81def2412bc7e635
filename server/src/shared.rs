//! What every part of a running member shares: its identity and
//! configuration, the store and the applied state readers see, the
//! membership, and raft's progress as the node loop publishes it. The node
//! loop writes it; the gRPC services, the peer transport and the request
//! facade (`node.rs`) read it.

use crate::apply::State;
use crate::backend::KEY;
use crate::config::Config;
use crate::error::{EtcdError, Result};
use oxcd_proto::etcdserverpb::{Member, ResponseHeader};
use redb::{Database, ReadOnlyTable};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a request waits to be committed and applied (etcd: 5 s plus
/// two election timeouts).
pub fn request_timeout(cfg: &Config) -> Duration {
    Duration::from_millis(5000 + 2 * cfg.election_ms)
}

pub struct Shared {
    pub(crate) cfg: Config,
    pub(crate) cluster_id: u64,
    pub(crate) member_id: u64,
    /// the store; written only by the node loop, exclusively held only to
    /// defragment
    pub(crate) db: RwLock<Database>,
    pub(crate) db_path: PathBuf,
    pub(crate) state: RwLock<State>,
    pub(crate) members: RwLock<Vec<Member>>,
    /// members removed from the cluster: their messages are refused
    pub(crate) removed: Mutex<HashSet<u64>>,
    pub(crate) term: AtomicU64,
    /// raft's commit index (what etcd's Status calls the raft index)
    pub(crate) raft_index: AtomicU64,
    /// the store's consistent index: the last entry applied to it
    pub(crate) applied_index: AtomicU64,
    pub(crate) leader: AtomicU64,
    /// highest index committed durably to the store (WAL before it may go)
    pub(crate) durable_index: AtomicU64,
    pub(crate) db_size: AtomicU64,
    /// bytes of the store's pages in use (0: not measured yet)
    pub(crate) db_in_use: AtomicU64,
    /// the revision whose compaction sweep last finished (a physical
    /// compaction answers once it passes its revision)
    pub(crate) compacted: tokio::sync::watch::Sender<i64>,
    /// bumped each time require-leader streams are to end (no leader for
    /// a while: `api::require_leader::monitor`)
    pub(crate) no_leader: tokio::sync::watch::Sender<u64>,
    pub(crate) hub: crate::watch::Hub,
    pub(crate) lease_ids: Mutex<u64>,
    pub(crate) req_ids: AtomicU64,
    /// set when this member learns it was removed: it stops
    pub(crate) stopped_removed: AtomicBool,
    /// on the leader: how much of the log each member holds (raft's
    /// `matched`), refreshed every tick
    pub(crate) progress: Mutex<HashMap<u64, u64>>,
    /// peers whose raft streams to this member have been open since when
    /// (and how many are open): etcd's "active since", for its
    /// membership safety checks
    pub(crate) peers_active: Mutex<HashMap<u64, (Instant, usize)>>,
    /// when this member last learnt of a new leader
    pub(crate) leader_elected: Mutex<Option<Instant>>,
    /// the last log index at start: until it is applied, the log holds
    /// writes the store does not show yet
    pub(crate) startup_index: u64,
}

impl Shared {
    /// A request ID: member-prefixed and time-seeded, as etcd's.
    pub fn next_req_id(&self) -> u64 {
        self.req_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// The leader as this member last heard (0: none).
    pub fn leader(&self) -> u64 {
        self.leader.load(Ordering::SeqCst)
    }

    /// raft's current term.
    pub fn term(&self) -> u64 {
        self.term.load(Ordering::SeqCst)
    }

    /// raft's commit index (what etcd's Status calls the raft index).
    pub fn raft_index(&self) -> u64 {
        self.raft_index.load(Ordering::SeqCst)
    }

    /// The last log index applied to the store.
    pub fn applied_index(&self) -> u64 {
        self.applied_index.load(Ordering::SeqCst)
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst) == self.member_id
    }

    /// A lone voter's applied state holds every acknowledged write (once
    /// it has replayed its log), so its reads need no ReadIndex round.
    pub fn sole_voter(&self) -> bool {
        self.applied_index.load(Ordering::SeqCst) >= self.startup_index
            && self
                .members
                .read()
                .map(|ms| ms.len() == 1 && ms[0].id == self.member_id)
                .unwrap_or(false)
            && self.is_leader()
    }

    /// How many of `ids` are this member or peers connected to it for at
    /// least `for_at_least`.
    pub fn connected_since(&self, ids: &[u64], for_at_least: Duration) -> usize {
        let active = self
            .peers_active
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default();
        ids.iter()
            .filter(|id| {
                **id == self.member_id
                    || active
                        .get(id)
                        .is_some_and(|(since, _)| since.elapsed() >= for_at_least)
            })
            .count()
    }

    /// Why a change proposed at `start` did not go through in the request
    /// timeout, in etcd 3.5's words: no leader (its context's own error), a
    /// leader elected while it waited (within two election timeouts of its
    /// start), a leader, or for a leader a quorum, not connected all along,
    /// or plain time out.
    pub fn timeout_error(&self, start: Instant) -> EtcdError {
        let leader = self.leader();
        if leader == 0 {
            return EtcdError::ContextDeadline;
        }
        let elected = self.leader_elected.lock().ok().and_then(|e| *e);
        let window = Duration::from_millis(2 * self.cfg.election_ms);
        if elected.is_some_and(|e| start < e && start + window > e) {
            return EtcdError::TimeoutLeaderFail;
        }
        let since = start.elapsed();
        let connected = if leader == self.member_id {
            let ids: Vec<u64> = self
                .members
                .read()
                .map(|ms| ms.iter().map(|m| m.id).collect())
                .unwrap_or_default();
            self.connected_since(&ids, since) > ids.len() / 2
        } else {
            self.connected_since(&[leader], since) == 1
        };
        if connected {
            EtcdError::Timeout
        } else {
            EtcdError::TimeoutConnectionLost
        }
    }

    pub fn is_learner(&self) -> bool {
        self.members
            .read()
            .map(|ms| ms.iter().any(|m| m.id == self.member_id && m.is_learner))
            .unwrap_or(false)
    }

    /// Runs `f` on a consistent view of the applied state.
    pub fn read<R>(
        &self,
        f: impl FnOnce(&State, &ReadOnlyTable<&'static [u8], &'static [u8]>) -> Result<R>,
    ) -> Result<R> {
        let st = self
            .state
            .read()
            .map_err(|_| EtcdError::Storage("state lock poisoned".into()))?;
        let rtxn = self.begin_read()?;
        let kv = rtxn.open_table(KEY)?;
        f(&st, &kv)
    }

    /// The store, shared (only defragmenting takes it exclusively).
    pub(crate) fn store(&self) -> Result<std::sync::RwLockReadGuard<'_, Database>> {
        self.db
            .read()
            .map_err(|_| EtcdError::Storage("store lock poisoned".into()))
    }

    pub(crate) fn begin_read(&self) -> Result<redb::ReadTransaction> {
        Ok(self.store()?.begin_read()?)
    }

    pub(crate) fn begin_write(&self) -> Result<redb::WriteTransaction> {
        Ok(self.store()?.begin_write()?)
    }

    pub fn header(&self, revision: i64) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.member_id,
            revision,
            raft_term: self.term.load(Ordering::SeqCst),
        }
    }

    /// Fills a response header the apply layer left with only a revision.
    pub fn fill(&self, h: &mut Option<ResponseHeader>) {
        let rev = h.as_ref().map(|h| h.revision).unwrap_or(0);
        *h = Some(self.header(rev));
    }

    pub fn current_rev(&self) -> i64 {
        self.state.read().map(|s| s.store.current_rev).unwrap_or(0)
    }

    /// A new lease ID: member-prefixed and time-seeded like etcd's, never 0.
    pub fn next_lease_id(&self) -> i64 {
        let mut g = self.lease_ids.lock().unwrap_or_else(|p| p.into_inner());
        *g = g.wrapping_add(1);
        let id = (*g & (i64::MAX as u64)) as i64;
        if id == 0 {
            1
        } else {
            id
        }
    }

    pub fn db_size(&self) -> u64 {
        self.db_size.load(Ordering::Relaxed)
    }

    /// The store's bytes in use: at most its file size; the file size
    /// until first measured.
    pub fn db_in_use(&self) -> u64 {
        let size = self.db_size();
        match self.db_in_use.load(Ordering::Relaxed) {
            0 => size,
            used => used.min(size),
        }
    }

    pub fn members_sorted(&self) -> Vec<Member> {
        let mut ms = self.members.read().map(|m| m.clone()).unwrap_or_default();
        ms.sort_by_key(|m| m.id);
        ms
    }
}

/// Where request and lease IDs start: member-prefixed and time-seeded, as
/// etcd's, so they stay unique across members and restarts.
pub(crate) fn id_seed(member_id: u64) -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    ((member_id & 0xffff) << 48) | ((ms & 0xff_ffff_ffff) << 8)
}
