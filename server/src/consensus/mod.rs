//! Consensus: raft-rs drives replication, and nothing else lives here.
//! `open.rs` recovers a member from its data dir (store, WAL, raft's log);
//! the node loop (`ready.rs`) handles raft's Ready, hands committed
//! entries to the state machine (`applier.rs` → `crate::apply`) and does
//! what touches the whole store (`whole_store.rs`: snapshot install, the
//! snapshot point, defragment); `snapfile.rs` keeps raft's snapshot files,
//! `storage.rs` is raft-rs's view of the log. This module holds what the
//! loop is told ([`NodeMsg`], through a [`NodeSender`]) and what it needs
//! of the network ([`Network`], which the peer transport implements).

mod applier;
mod force;
pub mod open;
mod ready;
pub mod snapfile;
pub mod storage;
mod sweep;
mod whole_store;

pub use ready::run;

use crate::apply::Applied;
use crate::error::{EtcdError, Result};
use crate::export::SnapshotView;
use oxcd_proto::etcdserverpb::Member;
use raft::eraftpb::{ConfChange, Message};
use std::sync::mpsc::Sender;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What the node loop needs of the network: the peer transport queues
/// raft's messages (a snapshot message with the database as of its
/// index) and follows membership changes.
pub trait Network: Send + Sync {
    /// Queues a message for its peer; never blocks the loop.
    fn send(&self, m: Message);
    /// Sends a snapshot message with the database `view` describes; the
    /// outcome comes back as [`NodeMsg::SnapshotSent`].
    fn send_snapshot(&self, m: Message, view: SnapshotView);
    /// The members to keep streams to.
    fn update_peers(&self, members: &[Member]);
}

/// The way into the node loop, shared by the request facade and the peer
/// transport. Closing it ends the loop once what is queued is done.
pub struct NodeSender(Mutex<Option<Sender<NodeMsg>>>);

impl NodeSender {
    pub fn new(tx: Sender<NodeMsg>) -> NodeSender {
        NodeSender(Mutex::new(Some(tx)))
    }

    pub fn send(&self, m: NodeMsg) -> Result<()> {
        let tx = self
            .0
            .lock()
            .map_err(|_| EtcdError::Stopped)?
            .clone()
            .ok_or(EtcdError::Stopped)?;
        tx.send(m).map_err(|_| EtcdError::Stopped)
    }

    /// Stops taking messages; the loop ends once those queued are handled.
    pub fn close(&self) {
        if let Ok(mut g) = self.0.lock() {
            g.take();
        }
    }
}

/// A snapshot's pieces after its head as the transport receives them:
/// `(piece, last)`, or why the stream broke. The channel closing early
/// means the stream ended early.
pub type SnapshotPieces = tokio::sync::mpsc::Receiver<std::result::Result<(Vec<u8>, bool), String>>;

/// Everything the node loop acts on, from gRPC handlers, the peer
/// transport and timers.
pub enum NodeMsg {
    /// a logged request (`data` is an encoded `InternalRequest` with `id`)
    Propose {
        id: u64,
        data: Vec<u8>,
        done: oneshot::Sender<Result<Applied>>,
        /// refused unless this member leads (lease expiry)
        leader_only: bool,
    },
    /// a membership change (`cc.id` names the waiter)
    ConfChange {
        cc: ConfChange,
        done: oneshot::Sender<Result<Applied>>,
    },
    /// resolves once this member has applied everything committed when
    /// the request arrived (a linearizable read may then go ahead)
    ReadIndex { done: oneshot::Sender<Result<()>> },
    /// hand leadership to another voter
    Transfer { to: u64 },
    /// a message from a peer
    Step(Message),
    /// a snapshot is arriving (`msg` its raft message, `head` its first
    /// piece, the rest to come through `rest`: see `snapstream`)
    InstallSnapshot {
        msg: Message,
        head: Vec<u8>,
        rest: SnapshotPieces,
        done: oneshot::Sender<Result<()>>,
    },
    /// the transport could not reach a peer
    Unreachable(u64),
    /// compact the store file (etcd's defragment)
    Defragment { done: oneshot::Sender<Result<()>> },
    /// a snapshot sent to a peer was delivered (or not)
    SnapshotSent { to: u64, ok: bool },
}

/// Where the node loop stands with a compaction sweep (`sweep.rs`).
pub(crate) struct Sweep {
    /// a sweep was under way at the last look (the loop then wakes for
    /// its next step)
    pub(super) active: bool,
    /// no step before this
    pub(super) next: Instant,
}

impl Default for Sweep {
    fn default() -> Self {
        Sweep {
            active: false,
            next: Instant::now(),
        }
    }
}

impl Sweep {
    /// How long the loop may sleep: not past the next step.
    pub(super) fn cap_wait(&self, wait: Duration) -> Duration {
        if self.active {
            wait.min(self.next.saturating_duration_since(Instant::now()))
        } else {
            wait
        }
    }
}
