//! Consensus: raft-rs drives replication. The node loop (`ready.rs`)
//! applies committed entries (`applier.rs`) and installs snapshots
//! (`snapshots.rs`); this module holds what it talks in and its logger,
//! `storage.rs` raft-rs's view of the log.

mod applier;
pub mod ready;
mod snapshots;
pub mod storage;

use crate::apply::Applied;
use crate::error::Result;
use raft::eraftpb::{ConfChange, Message};
use std::path::PathBuf;
use tokio::sync::oneshot;

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
    /// a snapshot's database arrived in `path`; `msg` is its raft message
    InstallSnapshot {
        msg: Message,
        path: PathBuf,
        done: oneshot::Sender<Result<()>>,
    },
    /// the transport could not reach a peer
    Unreachable(u64),
    /// compact the store file (etcd's defragment)
    Defragment { done: oneshot::Sender<Result<()>> },
    /// a snapshot sent to a peer was delivered (or not)
    SnapshotSent { to: u64, ok: bool },
}

/// raft-rs logs through slog: warnings and above go to stderr, prefixed
/// like the rest of oxcd's output (debug level shows raft's info lines).
pub struct StderrDrain {
    pub min: slog::Level,
}

impl slog::Drain for StderrDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, r: &slog::Record<'_>, _: &slog::OwnedKVList) -> Result2<(), slog::Never> {
        if r.level().is_at_least(self.min) {
            eprintln!("oxcd: raft: {}", r.msg());
        }
        Ok(())
    }
}

type Result2<T, E> = std::result::Result<T, E>;

pub fn logger(debug: bool) -> slog::Logger {
    let min = if debug {
        slog::Level::Info
    } else {
        slog::Level::Warning
    };
    slog::Logger::root(slog::Fuse(StderrDrain { min }), slog::o!())
}
