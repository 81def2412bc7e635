//! The member: its store, applied state and membership, opened from the
//! data dir, and the entry points the gRPC layer calls (propose, read,
//! membership changes). Replication runs on the node thread
//! (`raft/ready.rs`); the store and applied state are shared with readers.

use crate::apply::{Applied, InternalRequest, Op, State};
use crate::config::Config;
use crate::consensus::storage::{AppliedPoint, LogStore};
use crate::consensus::NodeMsg;
use crate::error::{EtcdError, Result};
use crate::lease::Lessor;
use crate::mvcc::backend::*;
use crate::mvcc::Store;
use crate::wal::Wal;
use oxcd_proto::etcdserverpb::{Member, ResponseHeader};
use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{ConfState, HardState, Snapshot};
use raft::RawNode;
use redb::{Database, Durability, ReadOnlyTable, ReadableTable};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// How long a request waits to be committed and applied (etcd: 5 s plus
/// two election timeouts).
pub fn request_timeout(cfg: &Config) -> Duration {
    Duration::from_millis(5000 + 2 * cfg.election_ms)
}

/// What a member joining a running cluster learned from its peers.
#[derive(Debug, Clone)]
pub struct Join {
    pub cluster_id: u64,
    pub member_id: u64,
    pub members: Vec<Member>,
}

pub struct Server {
    pub cfg: Config,
    pub cluster_id: u64,
    pub member_id: u64,
    /// the store; written only by the node loop, exclusively held only to
    /// defragment
    pub(crate) db: RwLock<Database>,
    pub(crate) db_path: PathBuf,
    pub state: RwLock<State>,
    pub members: RwLock<Vec<Member>>,
    /// members removed from the cluster: their messages are refused
    pub removed: Mutex<HashSet<u64>>,
    pub term: AtomicU64,
    /// raft's commit index (what etcd's Status calls the raft index)
    pub raft_index: AtomicU64,
    /// the store's consistent index: the last entry applied to it
    pub applied_index: AtomicU64,
    pub leader: AtomicU64,
    /// highest index committed durably to the store (WAL before it may go)
    pub(crate) durable_index: AtomicU64,
    pub db_size: AtomicU64,
    /// bytes of the store's pages in use (0: not measured yet)
    pub db_in_use: AtomicU64,
    pub hub: crate::watch::Hub,
    pub(crate) node_tx: Mutex<Option<std::sync::mpsc::Sender<NodeMsg>>>,
    pub transport: OnceLock<crate::transport::Transport>,
    lease_ids: Mutex<u64>,
    req_ids: AtomicU64,
    /// set when this member learns it was removed: it stops
    pub stopped_removed: AtomicBool,
    /// on the leader: how much of the log each member holds (raft's
    /// `matched`), refreshed every tick
    pub progress: Mutex<std::collections::HashMap<u64, u64>>,
    /// peers whose raft streams to this member have been open since when
    /// (and how many are open): etcd's "active since", for its
    /// membership safety checks
    pub peers_active: Mutex<std::collections::HashMap<u64, (std::time::Instant, usize)>>,
    /// the last log index at start: until it is applied, the log holds
    /// writes the store does not show yet
    startup_index: u64,
}

/// What `Server::open` hands to the node thread.
pub struct NodeParts {
    pub(crate) wal: Wal,
    pub(crate) raw: RawNode<LogStore>,
    pub(crate) rx: std::sync::mpsc::Receiver<NodeMsg>,
    pub(crate) conf_state: ConfState,
}

pub(crate) fn fatal(what: &str, e: impl std::fmt::Display) -> ! {
    // a failed fsync or store commit leaves state we cannot vouch for:
    // stop rather than acknowledge anything more (etcd does the same)
    eprintln!("oxcd: fatal: {what}: {e}");
    std::process::exit(1);
}

fn meta_u64(t: &impl ReadableTable<&'static str, &'static [u8]>, k: &str) -> Result<Option<u64>> {
    Ok(t.get(k)?.and_then(|v| bytes_u64(v.value())))
}

/// The store's tables loaded into memory: applied state and members.
pub(crate) fn load_state(db: &Database, compact_rev: u64) -> Result<(State, Vec<Member>)> {
    let rtxn = db.begin_read()?;
    let kv: ReadOnlyTable<&[u8], &[u8]> = rtxn.open_table(KEY)?;
    let (store, key_leases) = Store::load_with_leases(&kv, compact_rev as i64)?;
    state_from(&rtxn, store, key_leases)
}

/// The applied state around an index already built: leases (with their
/// live keys), alarms, and the members.
pub(crate) fn state_from(
    rtxn: &redb::ReadTransaction,
    store: Store,
    key_leases: std::collections::HashMap<Vec<u8>, i64>,
) -> Result<(State, Vec<Member>)> {
    let mut state = State {
        store,
        lessor: Lessor::default(),
        alarms: Default::default(),
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
pub(crate) fn load_removed(db: &Database) -> Result<HashSet<u64>> {
    let rtxn = db.begin_read()?;
    let t = rtxn.open_table(MEMBERS_REMOVED)?;
    let mut out = HashSet::new();
    for item in t.iter()? {
        out.insert(item?.0.value());
    }
    Ok(out)
}

/// What the store records about the raft log it has applied.
struct Applied0 {
    index: u64,
    term: u64,
    stored_term: u64,
    conf_state: Option<ConfState>,
}

fn read_applied(db: &Database) -> Result<Applied0> {
    let rtxn = db.begin_read()?;
    let meta = rtxn.open_table(META)?;
    let conf_state = match meta.get(META_CONF_STATE)? {
        Some(v) => Some(
            ConfState::parse_from_bytes(v.value())
                .map_err(|e| EtcdError::Storage(format!("conf state: {e}")))?,
        ),
        None => None,
    };
    Ok(Applied0 {
        index: meta_u64(&meta, META_CONSISTENT_INDEX)?.unwrap_or(0),
        term: meta_u64(&meta, META_APPLIED_TERM)?.unwrap_or(0),
        stored_term: meta_u64(&meta, META_TERM)?.unwrap_or(0),
        conf_state,
    })
}

/// The voters and learners a store's member table describes (for stores
/// written before raft, or imported from etcd).
pub(crate) fn conf_state_of(members: &[Member]) -> ConfState {
    let mut cs = ConfState::default();
    for m in members {
        if m.is_learner {
            cs.learners.push(m.id);
        } else {
            cs.voters.push(m.id);
        }
    }
    cs.voters.sort_unstable();
    cs.learners.sort_unstable();
    cs
}

impl Server {
    /// Opens (or bootstraps, or joins with `join`) the data dir and builds
    /// the raft node over the store's applied point and the WAL after it.
    pub fn open(
        cfg: Config,
        join: Option<Join>,
    ) -> std::result::Result<(Server, NodeParts), String> {
        let member_dir = cfg.data_dir.join("member");
        let snap_dir = member_dir.join("snap");
        std::fs::create_dir_all(&snap_dir)
            .map_err(|e| format!("cannot create data dir {}: {e}", snap_dir.display()))?;
        let db_path = snap_dir.join("oxcd.redb");
        // a snapshot transfer cut short by a crash
        if let Ok(rd) = std::fs::read_dir(&snap_dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().ends_with(".snap.db.part") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let wal_dir = cfg
            .wal_dir
            .clone()
            .unwrap_or_else(|| member_dir.join("wal"));
        if !db_path.exists() && crate::import::etcd_db(&cfg.data_dir).exists() {
            crate::import::import(&cfg.data_dir, &wal_dir, &db_path)?;
        }
        let db = Database::create(&db_path)
            .map_err(|e| format!("cannot open store {}: {e}", db_path.display()))?;
        let shown = db_path.display().to_string();
        let se = |e: EtcdError| format!("store {shown}: {e}");
        let (cluster_id, member_id, compact_rev) =
            bootstrap(&db, &cfg, join.as_ref()).map_err(se)?;
        let (state, members) = load_state(&db, compact_rev).map_err(se)?;
        let removed = load_removed(&db).map_err(se)?;
        let a = read_applied(&db).map_err(se)?;

        let (mut wal, replay) = Wal::open(&wal_dir, a.index).map_err(|e| e.to_string())?;
        if let Some(first) = replay.entries.first() {
            if first.index != a.index + 1 {
                return Err(format!(
                    "wal in {}: entries {}..{} are missing (the store holds up to {})",
                    wal_dir.display(),
                    a.index + 1,
                    first.index - 1,
                    a.index
                ));
            }
        }
        let conf_state = a
            .conf_state
            .clone()
            .unwrap_or_else(|| conf_state_of(&members));
        // the term of the entry at the applied index: recorded since raft;
        // stores from before fall back to the log or the stored term
        let base_term = if a.term > 0 {
            a.term
        } else {
            replay
                .entries
                .first()
                .map(|e| e.term)
                .unwrap_or(a.stored_term)
                .max(1)
        };
        if a.index > 0 && wal.last_index < a.index {
            // the store moved past the log's end (a snapshot was installed
            // and the log did not record it before a crash): the log
            // restarts after the store, as a snapshot record says
            wal.save_snapshot(a.index, base_term)
                .and_then(|_| wal.sync())
                .map_err(|e| e.to_string())?;
        }
        let log = LogStore::new();
        if a.index == 0 && join.is_none() {
            // a store from before raft that never applied anything
            log.mem.wl().set_conf_state(conf_state.clone());
        }
        if a.index > 0 {
            let mut s = Snapshot::default();
            s.mut_metadata().index = a.index;
            s.mut_metadata().term = base_term;
            s.mut_metadata().set_conf_state(conf_state.clone());
            log.mem
                .wl()
                .apply_snapshot(s)
                .map_err(|e| format!("raft log: {e}"))?;
        }
        let entries: Vec<raft::eraftpb::Entry> = replay
            .entries
            .iter()
            .map(|e| {
                let mut r = raft::eraftpb::Entry::default();
                if e.kind == 1 {
                    r.set_entry_type(raft::eraftpb::EntryType::EntryConfChange);
                }
                r.data = e.data.clone().into();
                r.term = e.term;
                r.index = e.index;
                r
            })
            .collect();
        let last_index = entries.last().map(|e| e.index).unwrap_or(a.index);
        let last_term = entries.last().map(|e| e.term).unwrap_or(base_term);
        log.mem
            .wl()
            .append(&entries)
            .map_err(|e| format!("raft log: {e}"))?;
        let mut hs = match &replay.state {
            Some(b) => HardState::parse_from_bytes(b)
                .map_err(|e| format!("wal: undecodable hard state: {e}"))?,
            None => HardState::default(),
        };
        hs.term = hs
            .term
            .max(last_term)
            .max(a.stored_term.min(last_term.max(1)));
        hs.commit = hs.commit.max(a.index).min(last_index);
        log.mem.wl().set_hardstate(hs.clone());
        *log.applied.lock().map_err(|_| "lock".to_string())? = AppliedPoint {
            index: a.index,
            term: base_term,
            conf_state: conf_state.clone(),
        };

        let rcfg = raft::Config {
            id: member_id,
            election_tick: (cfg.election_ms / cfg.heartbeat_ms).max(2) as usize,
            heartbeat_tick: 1,
            applied: a.index,
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 512,
            check_quorum: true,
            pre_vote: true,
            ..Default::default()
        };
        rcfg.validate().map_err(|e| format!("raft config: {e}"))?;
        let logger = crate::consensus::logger(false);
        let mut raw = RawNode::new(&rcfg, log, &logger).map_err(|e| format!("raft: {e}"))?;
        // a lone voter need not wait out an election timeout
        if conf_state.voters == [member_id] {
            raw.campaign().map_err(|e| format!("raft: {e}"))?;
        }

        let (tx, rx) = std::sync::mpsc::channel();
        let db_size = std::fs::metadata(&db_path).map(|m| m.len()).unwrap_or(0);
        let srv = Server {
            cluster_id,
            member_id,
            db: RwLock::new(db),
            db_path,
            state: RwLock::new(state),
            members: RwLock::new(members),
            removed: Mutex::new(removed),
            term: AtomicU64::new(hs.term),
            raft_index: AtomicU64::new(hs.commit),
            applied_index: AtomicU64::new(a.index),
            leader: AtomicU64::new(0),
            durable_index: AtomicU64::new(a.index),
            db_size: AtomicU64::new(db_size),
            db_in_use: AtomicU64::new(0),
            hub: Default::default(),
            node_tx: Mutex::new(Some(tx)),
            transport: OnceLock::new(),
            lease_ids: Mutex::new(lease_id_seed(member_id)),
            req_ids: AtomicU64::new(lease_id_seed(member_id)),
            stopped_removed: AtomicBool::new(false),
            progress: Default::default(),
            startup_index: last_index,
            peers_active: Default::default(),
            cfg,
        };
        Ok((
            srv,
            NodeParts {
                wal,
                raw,
                rx,
                conf_state,
            },
        ))
    }

    pub(crate) fn send(&self, m: NodeMsg) -> Result<()> {
        let tx = self
            .node_tx
            .lock()
            .map_err(|_| EtcdError::Stopped)?
            .clone()
            .ok_or(EtcdError::Stopped)?;
        tx.send(m).map_err(|_| EtcdError::Stopped)
    }

    async fn wait<T>(&self, rx: oneshot::Receiver<Result<T>>) -> Result<T> {
        match tokio::time::timeout(request_timeout(&self.cfg), rx).await {
            Ok(r) => r.map_err(|_| EtcdError::Stopped)?,
            Err(_) if self.leader.load(Ordering::SeqCst) == 0 => Err(EtcdError::NoLeader),
            Err(_) => Err(EtcdError::Timeout),
        }
    }

    /// Replicates one request; resolves once it is committed and applied here.
    pub async fn propose(&self, op: Op) -> Result<Applied> {
        self.propose_with(op, false).await
    }

    /// Proposes only while this member leads (etcd's lessor acts only on
    /// the leader): a deposed leader's decision is never queued.
    pub async fn propose_as_leader(&self, op: Op) -> Result<Applied> {
        self.propose_with(op, true).await
    }

    async fn propose_with(&self, op: Op, leader_only: bool) -> Result<Applied> {
        let (done, rx) = oneshot::channel();
        let id = self.next_req_id();
        let data = InternalRequest { op: Some(op), id }.encode_to_vec();
        self.send(NodeMsg::Propose {
            id,
            data,
            done,
            leader_only,
        })?;
        self.wait(rx).await
    }

    /// A request ID: member-prefixed and time-seeded, as etcd's.
    pub fn next_req_id(&self) -> u64 {
        self.req_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Proposes a membership change and waits until it is applied.
    pub async fn conf_change(&self, mut cc: raft::eraftpb::ConfChange) -> Result<Applied> {
        let (done, rx) = oneshot::channel();
        cc.id = self.next_req_id();
        self.send(NodeMsg::ConfChange { cc, done })?;
        self.wait(rx).await
    }

    /// Waits until this member has applied everything committed cluster-wide
    /// when called (raft's ReadIndex): reads after it are linearizable.
    pub async fn linearize(&self) -> Result<()> {
        let (done, rx) = oneshot::channel();
        self.send(NodeMsg::ReadIndex { done })?;
        self.wait(rx).await
    }

    /// Stops taking requests; the node loop ends once those queued are done.
    pub fn close(&self) {
        if let Ok(mut g) = self.node_tx.lock() {
            g.take();
        }
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst) == self.member_id
    }

    /// A channel to the leader's peer port, to forward what only it can
    /// answer.
    pub fn leader_channel(&self) -> Result<tonic::transport::Channel> {
        let leader = self.leader.load(Ordering::SeqCst);
        let url = self
            .members_sorted()
            .into_iter()
            .find(|m| m.id == leader && leader != 0)
            .and_then(|m| m.peer_ur_ls.first().cloned())
            .ok_or(EtcdError::NoLeader)?;
        crate::transport::channel(&url).map_err(EtcdError::Storage)
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

    /// Defragments the store (redb's compaction) through the node loop,
    /// which first commits what it holds; reads wait meanwhile.
    pub async fn defragment(&self) -> Result<()> {
        let (done, rx) = oneshot::channel();
        self.send(NodeMsg::Defragment { done })?;
        self.wait(rx).await
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

fn lease_id_seed(member_id: u64) -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    ((member_id & 0xffff) << 48) | ((ms & 0xff_ffff_ffff) << 8)
}

/// Creates the tables and, on a fresh data dir, records the IDs and the
/// initial membership: for a new cluster the same state on every member
/// (applied index 1, term 1, the initial voters); for a joining member
/// the cluster's membership and nothing applied (the leader's snapshot
/// brings the rest). Returns (cluster ID, member ID, compacted revision).
fn bootstrap(db: &Database, cfg: &Config, join: Option<&Join>) -> Result<(u64, u64, u64)> {
    let mut w = db.begin_write()?;
    w.set_durability(Durability::Immediate);
    let out;
    {
        w.open_table(KEY)?;
        w.open_table(LEASE)?;
        w.open_table(ALARM)?;
        w.open_table(ETCD_AUTH)?;
        w.open_table(MEMBERS_REMOVED)?;
        let mut meta = w.open_table(META)?;
        let mut members = w.open_table(MEMBERS)?;
        match (
            meta_u64(&meta, META_CLUSTER_ID)?,
            meta_u64(&meta, META_MEMBER_ID)?,
        ) {
            (Some(c), Some(m)) => {
                out = (c, m, meta_u64(&meta, META_COMPACT_REV)?.unwrap_or(0));
            }
            _ => match join {
                Some(j) => {
                    for m in &j.members {
                        members.insert(m.id, m.encode_to_vec().as_slice())?;
                    }
                    meta.insert(META_CLUSTER_ID, u64_bytes(j.cluster_id).as_slice())?;
                    meta.insert(META_MEMBER_ID, u64_bytes(j.member_id).as_slice())?;
                    out = (j.cluster_id, j.member_id, 0);
                }
                None => {
                    let mut all = Vec::new();
                    for m in &cfg.initial_members {
                        let member = Member {
                            id: m.id,
                            peer_ur_ls: m.peer_urls.clone(),
                            ..Default::default()
                        };
                        members.insert(m.id, member.encode_to_vec().as_slice())?;
                        all.push(member);
                    }
                    let cs = conf_state_of(&all);
                    let cs = cs
                        .write_to_bytes()
                        .map_err(|e| EtcdError::Storage(e.to_string()))?;
                    meta.insert(META_CONF_STATE, cs.as_slice())?;
                    meta.insert(META_CONSISTENT_INDEX, u64_bytes(1).as_slice())?;
                    meta.insert(META_APPLIED_TERM, u64_bytes(1).as_slice())?;
                    meta.insert(META_CLUSTER_ID, u64_bytes(cfg.cluster_id).as_slice())?;
                    meta.insert(META_MEMBER_ID, u64_bytes(cfg.member_id).as_slice())?;
                    out = (cfg.cluster_id, cfg.member_id, 0);
                }
            },
        }
    }
    w.commit()?;
    Ok(out)
}

fn load_members(rtxn: &redb::ReadTransaction) -> Result<Vec<Member>> {
    let t = rtxn.open_table(MEMBERS)?;
    let mut out = Vec::new();
    for item in t.iter()? {
        let (_, v) = item?;
        out.push(Member::decode(v.value())?);
    }
    Ok(out)
}
