//! The single-node ready loop: proposals are logged to the WAL in batches,
//! one fdatasync per batch (group commit), then applied in log order and
//! answered. Reads are served from the applied state, which holds every
//! acknowledged write.

use crate::apply::{Applied, InternalRequest, Op, State, Tables};
use crate::config::Config;
use crate::error::{EtcdError, Result};
use crate::lease::Lessor;
use crate::mvcc::backend::*;
use crate::mvcc::Store;
use crate::wal::{Entry, Wal};
use oxcd_proto::etcdserverpb::{Member, ResponseHeader};
use prost::Message;
use redb::{Database, Durability, ReadOnlyTable, ReadableTable, WriteTransaction};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// Largest number of proposals logged with one fdatasync.
const MAX_BATCH: usize = 4096;
/// How often the store is committed durably (letting the WAL be released).
const DURABLE_EVERY: Duration = Duration::from_secs(1);
const DURABLE_ENTRIES: u64 = 20_000;
/// How long applied records may wait in the open store transaction.
const COMMIT_EVERY: Duration = Duration::from_millis(25);
/// How long the node loop polls for the next proposal before sleeping.
const SPIN: Duration = Duration::from_micros(200);
/// Commit early when this many records wait in the pending overlay.
const MAX_PENDING: usize = 20_000;

struct Proposal {
    req: InternalRequest,
    done: oneshot::Sender<Result<Applied>>,
}

pub struct Server {
    pub cfg: Config,
    pub cluster_id: u64,
    pub member_id: u64,
    pub(crate) db: Database,
    pub(crate) db_path: PathBuf,
    pub state: RwLock<State>,
    pub members: RwLock<Vec<Member>>,
    pub term: AtomicU64,
    pub raft_index: AtomicU64,
    pub applied_index: AtomicU64,
    /// highest index committed durably to the store (WAL before it may go)
    durable_index: AtomicU64,
    pub db_size: AtomicU64,
    pub hub: crate::watch::Hub,
    proposals: Mutex<Option<std::sync::mpsc::Sender<Proposal>>>,
    lease_ids: Mutex<u64>,
}

/// What `Server::open` hands to the node thread.
pub struct NodeParts {
    wal: Wal,
    rx: std::sync::mpsc::Receiver<Proposal>,
}

fn fatal(what: &str, e: impl std::fmt::Display) -> ! {
    // a failed fsync or store commit leaves state we cannot vouch for:
    // stop rather than acknowledge anything more (etcd does the same)
    eprintln!("oxcd: fatal: {what}: {e}");
    std::process::exit(1);
}

fn meta_u64(t: &impl ReadableTable<&'static str, &'static [u8]>, k: &str) -> Result<Option<u64>> {
    Ok(t.get(k)?.and_then(|v| bytes_u64(v.value())))
}

impl Server {
    /// Opens (or bootstraps) the data dir, replays the WAL past the store's
    /// consistent index, and logs this term's first entry.
    pub fn open(cfg: Config) -> std::result::Result<(Server, NodeParts), String> {
        let member_dir = cfg.data_dir.join("member");
        let snap_dir = member_dir.join("snap");
        std::fs::create_dir_all(&snap_dir)
            .map_err(|e| format!("cannot create data dir {}: {e}", snap_dir.display()))?;
        let db_path = snap_dir.join("oxcd.redb");
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
        let (cluster_id, member_id, ci, compact_rev) = bootstrap(&db, &cfg).map_err(se)?;

        let rtxn = db.begin_read().map_err(|e| se(e.into()))?;
        let kv: ReadOnlyTable<&[u8], &[u8]> = rtxn.open_table(KEY).map_err(|e| se(e.into()))?;
        let store = Store::load(&kv, compact_rev as i64).map_err(se)?;
        let mut state = State {
            store,
            lessor: Lessor::default(),
            alarms: Default::default(),
        };
        load_leases_and_alarms(&rtxn, &kv, &mut state).map_err(se)?;
        let members = load_members(&rtxn).map_err(se)?;
        let stored_term = rtxn
            .open_table(META)
            .map_err(|e| se(e.into()))
            .and_then(|t| meta_u64(&t, META_TERM).map_err(se))?
            .unwrap_or(0);
        drop(kv);
        drop(rtxn);

        let (mut wal, replay) = Wal::open(&wal_dir, ci).map_err(|e| e.to_string())?;
        // a new term follows every term the store has seen (etcd's too, on import)
        wal.last_term = wal.last_term.max(stored_term);
        let (tx, rx) = std::sync::mpsc::channel();
        let db_size = std::fs::metadata(&db_path).map(|m| m.len()).unwrap_or(0);
        let srv = Server {
            cluster_id,
            member_id,
            db,
            db_path,
            state: RwLock::new(state),
            members: RwLock::new(members),
            term: AtomicU64::new(wal.last_term),
            raft_index: AtomicU64::new(wal.last_index),
            applied_index: AtomicU64::new(ci),
            durable_index: AtomicU64::new(ci),
            db_size: AtomicU64::new(db_size),
            hub: Default::default(),
            proposals: Mutex::new(Some(tx)),
            lease_ids: Mutex::new(lease_id_seed(member_id)),
            cfg,
        };
        if !replay.is_empty() {
            let last = replay.last().map(|e| e.index).unwrap_or(ci);
            let ops = replay
                .iter()
                .map(|e| InternalRequest::decode(e.data.as_slice()).map(|r| r.op))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| format!("wal: undecodable entry: {e}"))?;
            let txn = srv.db.begin_write().map_err(|e| se(e.into()))?;
            srv.apply_into(&txn, ops, last, |_| {}).map_err(se)?;
            srv.commit(txn, last, true).map_err(se)?;
        }
        let mut parts = NodeParts { wal, rx };
        srv.start_term(&mut parts).map_err(|e| e.to_string())?;
        Ok((srv, parts))
    }

    /// Every start is a new term, as a raft election would make it; the
    /// term's first entry is empty, like a new leader's.
    fn start_term(&self, parts: &mut NodeParts) -> std::result::Result<(), crate::wal::WalError> {
        let wal = &mut parts.wal;
        let mut entries = Vec::new();
        if wal.last_index == 0 {
            // bootstrap: the initial membership is the log's first entry (term 1)
            entries.push(Entry {
                term: 1,
                index: 1,
                data: Vec::new(),
            });
        }
        let term = wal.last_term.max(1) + 1;
        let index = wal.last_index + entries.len() as u64 + 1;
        entries.push(Entry {
            term,
            index,
            data: Vec::new(),
        });
        wal.append(&entries)?;
        wal.sync()?;
        self.term.store(term, Ordering::SeqCst);
        self.raft_index.store(index, Ordering::SeqCst);
        // empty entries change nothing: they count as applied at once
        self.applied_index.store(index, Ordering::SeqCst);
        Ok(())
    }

    /// Logs and applies one request; resolves once it is durable and applied.
    pub async fn propose(&self, op: Op) -> Result<Applied> {
        let (done, rx) = oneshot::channel();
        let req = InternalRequest { op: Some(op) };
        let tx = self
            .proposals
            .lock()
            .map_err(|_| EtcdError::Stopped)?
            .clone()
            .ok_or(EtcdError::Stopped)?;
        // unbounded: gRPC's own stream limits bound what can be in flight
        tx.send(Proposal { req, done })
            .map_err(|_| EtcdError::Stopped)?;
        rx.await.map_err(|_| EtcdError::Stopped)?
    }

    /// Stops taking proposals; the node loop ends once those queued are done.
    pub fn close(&self) {
        if let Ok(mut g) = self.proposals.lock() {
            g.take();
        }
    }

    /// The node loop: logs each batch of proposals to the WAL (one
    /// fdatasync for the batch), applies it into a store transaction that
    /// stays open across batches, answers, and commits the store every few
    /// milliseconds (reads see uncommitted records through the store's
    /// pending overlay). Runs until [`Server::close`].
    pub fn run(&self, parts: NodeParts) {
        use std::sync::mpsc::RecvTimeoutError;
        let NodeParts { mut wal, rx } = parts;
        let term = self.term.load(Ordering::SeqCst);
        let mut txn: Option<WriteTransaction> = None;
        let mut last_commit = Instant::now();
        let mut last_durable = Instant::now();
        let mut since_durable = 0u64;
        let mut released = 0;
        loop {
            // a short spin before sleeping: a lone client's next request
            // usually arrives within tens of microseconds, and waking a
            // sleeping thread costs about as much
            let spin_until = Instant::now() + SPIN;
            let mut early = None;
            while early.is_none() && Instant::now() < spin_until {
                match rx.try_recv() {
                    Ok(p) => early = Some(p),
                    Err(std::sync::mpsc::TryRecvError::Empty) => std::thread::yield_now(),
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => break,
                }
            }
            let first = if early.is_some() {
                early
            } else if txn.is_some() {
                match rx.recv_timeout(COMMIT_EVERY) {
                    Ok(p) => Some(p),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.recv() {
                    Ok(p) => Some(p),
                    Err(_) => break,
                }
            };
            let idle = first.is_none();
            if let Some(first) = first {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let mut index = wal.last_index;
                let entries: Vec<Entry> = batch
                    .iter()
                    .map(|p| {
                        index += 1;
                        Entry {
                            term,
                            index,
                            data: p.req.encode_to_vec(),
                        }
                    })
                    .collect();
                if let Err(e) = wal.append(&entries).and_then(|_| wal.sync()) {
                    fatal("writing the WAL", e);
                }
                self.raft_index.store(index, Ordering::SeqCst);
                let (ops, dones): (Vec<_>, Vec<_>) =
                    batch.into_iter().map(|p| (p.req.op, p.done)).unzip();
                since_durable += ops.len() as u64;
                let answer = |results: Vec<Result<Applied>>| {
                    for (done, r) in dones.into_iter().zip(results) {
                        let _ = done.send(r);
                    }
                };
                let t = match txn.take() {
                    Some(t) => t,
                    None => self
                        .db
                        .begin_write()
                        .unwrap_or_else(|e| fatal("opening a store transaction", e)),
                };
                if let Err(e) = self.apply_into(&t, ops, index, answer) {
                    fatal("applying to the store", e);
                }
                txn = Some(t);
            }
            let durable =
                since_durable >= DURABLE_ENTRIES || last_durable.elapsed() >= DURABLE_EVERY;
            let pending = self
                .state
                .read()
                .map(|s| s.store.pending.len())
                .unwrap_or(0);
            if idle || durable || pending >= MAX_PENDING || last_commit.elapsed() >= COMMIT_EVERY {
                if let Some(t) = txn.take() {
                    if let Err(e) = self.commit(t, wal.last_index, durable) {
                        fatal("committing the store", e);
                    }
                    last_commit = Instant::now();
                    if durable {
                        since_durable = 0;
                        last_durable = last_commit;
                        let d = self.durable_index.load(Ordering::SeqCst);
                        if d > released {
                            released = d;
                            if let Err(e) = wal.release(d, self.cfg.max_wals) {
                                eprintln!("oxcd: warning: releasing old WAL segments: {e}");
                            }
                        }
                    }
                }
            }
        }
        // shutting down: make everything applied durable in the store too
        let t = match txn.take() {
            Some(t) => Ok(t),
            None => self.db.begin_write(),
        };
        let last = wal.last_index;
        if let Err(e) = t
            .map_err(EtcdError::from)
            .and_then(|t| self.commit(t, last, true))
        {
            eprintln!("oxcd: final store commit failed (the WAL still has every write): {e}");
        }
    }

    /// Applies logged requests into `txn` and hands their answers to
    /// `answer`. The outer `Err` is a storage failure; inner ones are the
    /// requests' own answers.
    fn apply_into(
        &self,
        txn: &WriteTransaction,
        ops: Vec<Option<Op>>,
        last_index: u64,
        answer: impl FnOnce(Vec<Result<Applied>>),
    ) -> Result<()> {
        let mut st = self
            .state
            .write()
            .map_err(|_| EtcdError::Storage("state lock poisoned".into()))?;
        let mut results = Vec::with_capacity(ops.len());
        st.store.events = if self.hub.is_empty() {
            None
        } else {
            Some(Vec::new())
        };
        {
            let mut t = Tables {
                kv: txn.open_table(KEY)?,
                lease: txn.open_table(LEASE)?,
                meta: txn.open_table(META)?,
                alarm: txn.open_table(ALARM)?,
            };
            for op in ops {
                match op {
                    Some(op) => {
                        let r = st.apply(&mut t, op);
                        if let Err(EtcdError::Storage(e)) = &r {
                            return Err(EtcdError::Storage(e.clone()));
                        }
                        results.push(r);
                    }
                    // an empty entry (a term's first) changes nothing
                    None => results.push(Err(EtcdError::Unsupported("empty entry"))),
                }
            }
            t.meta
                .insert(META_CONSISTENT_INDEX, u64_bytes(last_index).as_slice())?;
            t.meta.insert(
                META_TERM,
                u64_bytes(self.term.load(Ordering::SeqCst)).as_slice(),
            )?;
        }
        self.applied_index.store(last_index, Ordering::SeqCst);
        if let Some(events) = st.store.events.take() {
            if !events.is_empty() {
                self.hub.notify(&events, self.header(st.store.current_rev));
            }
        }
        answer(results);
        Ok(())
    }

    /// Commits the store transaction (durably when asked, which lets the
    /// WAL before `last_index` go), then drops the pending overlay.
    fn commit(&self, mut txn: WriteTransaction, last_index: u64, durable: bool) -> Result<()> {
        txn.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        });
        txn.commit()?;
        // readers hold the state lock for their whole read, so none sees the
        // overlay cleared while reading an older store snapshot
        self.state
            .write()
            .map_err(|_| EtcdError::Storage("state lock poisoned".into()))?
            .store
            .pending
            .clear();
        if durable {
            self.durable_index.store(last_index, Ordering::SeqCst);
        }
        if let Ok(m) = std::fs::metadata(&self.db_path) {
            self.db_size.store(m.len(), Ordering::Relaxed);
        }
        Ok(())
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
        let rtxn = self.db.begin_read()?;
        let kv = rtxn.open_table(KEY)?;
        f(&st, &kv)
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
}

fn lease_id_seed(member_id: u64) -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    ((member_id & 0xffff) << 48) | ((ms & 0xff_ffff_ffff) << 8)
}

/// Creates the tables and, on a fresh data dir, records the IDs and the
/// initial membership. Returns (cluster ID, member ID, consistent index,
/// compacted revision).
fn bootstrap(db: &Database, cfg: &Config) -> Result<(u64, u64, u64, u64)> {
    let mut w = db.begin_write()?;
    w.set_durability(Durability::Immediate);
    let out;
    {
        w.open_table(KEY)?;
        w.open_table(LEASE)?;
        w.open_table(ALARM)?;
        w.open_table(ETCD_AUTH)?;
        let mut meta = w.open_table(META)?;
        let mut members = w.open_table(MEMBERS)?;
        match (
            meta_u64(&meta, META_CLUSTER_ID)?,
            meta_u64(&meta, META_MEMBER_ID)?,
        ) {
            (Some(c), Some(m)) => {
                out = (
                    c,
                    m,
                    meta_u64(&meta, META_CONSISTENT_INDEX)?.unwrap_or(0),
                    meta_u64(&meta, META_COMPACT_REV)?.unwrap_or(0),
                );
            }
            _ => {
                for m in &cfg.initial_members {
                    let mut member = Member {
                        id: m.id,
                        peer_ur_ls: m.peer_urls.clone(),
                        ..Default::default()
                    };
                    if m.id == cfg.member_id {
                        member.name = cfg.name.clone();
                        member.client_ur_ls = cfg.advertise_client_urls.clone();
                    }
                    members.insert(m.id, member.encode_to_vec().as_slice())?;
                }
                meta.insert(META_CLUSTER_ID, u64_bytes(cfg.cluster_id).as_slice())?;
                meta.insert(META_MEMBER_ID, u64_bytes(cfg.member_id).as_slice())?;
                out = (cfg.cluster_id, cfg.member_id, 0, 0);
            }
        }
        // a restarted member keeps its ID but publishes its current client URLs
        let mine = members.get(out.1)?.map(|v| v.value().to_vec());
        if let Some(v) = mine {
            let mut me = Member::decode(v.as_slice())?;
            me.name = cfg.name.clone();
            me.client_ur_ls = cfg.advertise_client_urls.clone();
            members.insert(out.1, me.encode_to_vec().as_slice())?;
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

fn load_leases_and_alarms(
    rtxn: &redb::ReadTransaction,
    kv: &ReadOnlyTable<&'static [u8], &'static [u8]>,
    st: &mut State,
) -> Result<()> {
    for item in rtxn.open_table(LEASE)?.iter()? {
        let (id, ttl) = item?;
        st.lessor.grant(id.value(), ttl.value());
    }
    // re-attach keys to their leases from the live records
    let rev = st.store.current_rev;
    for (key, ki) in &st.store.index.keys {
        if let Some(at) = ki.get(rev) {
            let rec = st.store.read_kv(kv, at.modified)?;
            if rec.lease != 0 {
                st.lessor.attach(rec.lease, key);
            }
        }
    }
    for item in rtxn.open_table(ALARM)?.iter()? {
        let (k, _) = item?;
        st.alarms.insert(k.value());
    }
    Ok(())
}
