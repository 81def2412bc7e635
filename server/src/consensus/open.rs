//! Opening a member's data dir: importing an etcd data dir once, seeding
//! the store on first start (a new cluster's initial voters, or a joining
//! member's view of the cluster), loading the applied state, and rebuilding
//! raft's log from the store's applied point plus the WAL after it.

use super::storage::{from_wal, AppliedPoint, LogStore};
use super::{NodeMsg, NodeSender};
use crate::apply::load::{load_removed, load_state, read_applied, AppliedMeta};
use crate::apply::State;
use crate::backend::*;
use crate::config::Config;
use crate::error::{EtcdError, Result};
use crate::shared::{id_seed, Shared};
use crate::wal::{Replay, Wal};
use oxcd_proto::etcdserverpb::Member;
use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{ConfState, HardState, Snapshot};
use raft::RawNode;
use redb::{Database, Durability};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Mutex, RwLock};

/// What a member joining a running cluster learned from its peers.
#[derive(Debug, Clone)]
pub struct Join {
    pub cluster_id: u64,
    pub member_id: u64,
    pub members: Vec<Member>,
}

/// What the node loop takes over from [`open`].
pub struct NodeParts {
    pub(crate) wal: Wal,
    pub(crate) raw: RawNode<LogStore>,
    pub(crate) rx: std::sync::mpsc::Receiver<NodeMsg>,
    pub(crate) conf_state: ConfState,
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

/// The store as opened: its tables loaded, and what it records of raft.
struct OpenedStore {
    db: Database,
    db_path: PathBuf,
    cluster_id: u64,
    member_id: u64,
    state: State,
    members: Vec<Member>,
    removed: HashSet<u64>,
    applied: AppliedMeta,
}

/// Opens (or bootstraps, or joins with `join`) the data dir and builds
/// the raft node over the store's applied point and the WAL after it.
pub fn open(
    cfg: Config,
    join: Option<Join>,
) -> std::result::Result<(Shared, NodeSender, NodeParts), String> {
    let wal_dir = cfg
        .wal_dir
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("member").join("wal"));
    let st = open_store(&cfg, &wal_dir, join.as_ref())?;
    let a = &st.applied;
    let (mut wal, mut replay) = Wal::open(&wal_dir, a.index).map_err(|e| e.to_string())?;
    if cfg.unsafe_no_fsync {
        tracing::warn!(
            "--unsafe-no-fsync: the WAL is not synced; a crash can lose acknowledged writes"
        );
        wal.no_fsync = true;
    }
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
        .unwrap_or_else(|| conf_state_of(&st.members));
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
    let fresh_unjoined = a.index == 0 && join.is_none();
    // a data dir with nothing applied yet is bootstrapped as usual (etcd
    // ignores the flag there too)
    if cfg.force_new_cluster && a.index > 0 {
        super::force::make_standalone(
            &mut wal,
            &mut replay,
            st.member_id,
            &conf_state,
            a.index,
            base_term,
        )?;
    }
    let (log, hs, last_index) = rebuild_log(a, base_term, &conf_state, &replay, fresh_unjoined)?;
    let raw = raft_node(&cfg, st.member_id, a.index, log, &conf_state)?;

    let (tx, rx) = std::sync::mpsc::channel();
    let db_size = std::fs::metadata(&st.db_path).map(|m| m.len()).unwrap_or(0);
    let applied_index = a.index;
    let compacted = st.state.store.finished_compact_rev();
    let shared = Shared {
        cluster_id: st.cluster_id,
        member_id: st.member_id,
        db: RwLock::new(st.db),
        db_path: st.db_path,
        state: RwLock::new(st.state),
        members: RwLock::new(st.members),
        removed: Mutex::new(st.removed),
        term: AtomicU64::new(hs.term),
        raft_index: AtomicU64::new(hs.commit),
        applied_index: AtomicU64::new(applied_index),
        leader: AtomicU64::new(0),
        durable_index: AtomicU64::new(applied_index),
        db_size: AtomicU64::new(db_size),
        db_in_use: AtomicU64::new(0),
        compacted: tokio::sync::watch::Sender::new(compacted),
        no_leader: tokio::sync::watch::Sender::new(0),
        hub: Default::default(),
        lease_ids: Mutex::new(id_seed(st.member_id)),
        req_ids: AtomicU64::new(id_seed(st.member_id)),
        stopped_removed: AtomicBool::new(false),
        progress: Default::default(),
        startup_index: last_index,
        peers_active: Default::default(),
        leader_elected: Default::default(),
        cfg,
    };
    Ok((
        shared,
        NodeSender::new(tx),
        NodeParts {
            wal,
            raw,
            rx,
            conf_state,
        },
    ))
}

/// Opens the store (importing an etcd data dir once, seeding a fresh one)
/// and loads what it holds.
fn open_store(
    cfg: &Config,
    wal_dir: &Path,
    join: Option<&Join>,
) -> std::result::Result<OpenedStore, String> {
    let snap_dir = cfg.data_dir.join("member").join("snap");
    std::fs::create_dir_all(&snap_dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", snap_dir.display()))?;
    let db_path = snap_dir.join("oxcd.redb");
    // a snapshot transfer cut short by a crash (earlier oxcd versions
    // received a snapshot into a file first)
    if let Ok(rd) = std::fs::read_dir(&snap_dir) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().ends_with(".snap.db.part") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    if !db_path.exists() && crate::import::etcd_db(&cfg.data_dir).exists() {
        crate::import::import(&cfg.data_dir, wal_dir, &db_path)?;
    }
    let db = crate::backend::open(&db_path)
        .map_err(|e| format!("cannot open store {}: {e}", db_path.display()))?;
    let shown = db_path.display().to_string();
    let se = |e: EtcdError| format!("store {shown}: {e}");
    let (cluster_id, member_id, compact_rev) = bootstrap(&db, cfg, join).map_err(se)?;
    let (state, members) = load_state(
        &db,
        compact_rev,
        crate::auth::Tokens::new(cfg.auth_token.clone()),
    )
    .map_err(se)?;
    let removed = load_removed(&db).map_err(se)?;
    let applied = read_applied(&db).map_err(se)?;
    Ok(OpenedStore {
        db,
        db_path,
        cluster_id,
        member_id,
        state,
        members,
        removed,
        applied,
    })
}

/// raft's log as the store and the WAL leave it: a snapshot at the
/// store's applied point, the WAL's entries after it, and the last hard
/// state (term at least the log's, commit within it). Returns the log, its
/// hard state and its last index.
fn rebuild_log(
    a: &AppliedMeta,
    base_term: u64,
    conf_state: &ConfState,
    replay: &Replay,
    fresh_unjoined: bool,
) -> std::result::Result<(LogStore, HardState, u64), String> {
    let log = LogStore::new();
    if fresh_unjoined {
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
    let entries: Vec<_> = replay.entries.iter().map(from_wal).collect();
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
    Ok((log, hs, last_index))
}

/// The raft node with etcd 3.5's settings over `log`; a lone voter
/// campaigns at once rather than wait out an election timeout.
fn raft_node(
    cfg: &Config,
    member_id: u64,
    applied: u64,
    log: LogStore,
    conf_state: &ConfState,
) -> std::result::Result<RawNode<LogStore>, String> {
    let rcfg = raft::Config {
        id: member_id,
        election_tick: (cfg.election_ms / cfg.heartbeat_ms).max(2) as usize,
        heartbeat_tick: 1,
        applied,
        max_size_per_msg: 1024 * 1024,
        max_inflight_msgs: 512,
        check_quorum: true,
        pre_vote: cfg.pre_vote,
        ..Default::default()
    };
    rcfg.validate().map_err(|e| format!("raft config: {e}"))?;
    let logger = crate::log::raft_logger();
    let mut raw = RawNode::new(&rcfg, log, &logger).map_err(|e| format!("raft: {e}"))?;
    if conf_state.voters == [member_id] {
        raw.campaign().map_err(|e| format!("raft: {e}"))?;
    } else if cfg.initial_election_tick_advance && conf_state.voters.contains(&member_id) {
        // etcd's --initial-election-tick-advance: the first election
        // comes a couple of ticks after start rather than a whole timeout
        // (a leader's heartbeat still arrives first when there is one)
        let forward = rcfg.election_tick.saturating_sub(2);
        for _ in 0..forward {
            raw.tick();
        }
        tracing::info!(
            "local-member-id" = %crate::log::Id(member_id),
            "forward-ticks" = forward,
            "forward-duration" = ?std::time::Duration::from_millis(forward as u64 * cfg.heartbeat_ms),
            "election-ticks" = rcfg.election_tick,
            "fast-forwarding election ticks"
        );
    }
    Ok(raw)
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
                        // named from --initial-cluster, as etcd does: such a
                        // member lists as started, without client URLs
                        // until it publishes them
                        let member = Member {
                            id: m.id,
                            name: m.name.clone(),
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
