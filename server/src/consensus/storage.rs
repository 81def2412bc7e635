//! raft-rs's view of the log: the entries past the store's snapshot held
//! in memory (raft-rs's `MemStorage`, fed from our WAL on start), and
//! snapshots that describe the store as applied — the database itself is
//! streamed by the transport, not carried inside raft's message.

use crate::wal;
use raft::eraftpb::{ConfState, Entry, EntryType, Snapshot};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RaftState, Storage};
use std::sync::{Arc, Mutex};

/// A raft entry as our WAL records it.
pub fn to_wal(e: &Entry) -> wal::Entry {
    wal::Entry {
        term: e.term,
        index: e.index,
        data: e.data.to_vec(),
        kind: u32::from(e.get_entry_type() == EntryType::EntryConfChange),
    }
}

/// A WAL record back as raft's entry.
pub fn from_wal(e: &wal::Entry) -> Entry {
    let mut r = Entry::default();
    if e.kind == 1 {
        r.set_entry_type(EntryType::EntryConfChange);
    }
    r.data = e.data.clone().into();
    r.term = e.term;
    r.index = e.index;
    r
}

/// What the store has applied, as raft's snapshot metadata needs it.
#[derive(Debug, Clone, Default)]
pub struct AppliedPoint {
    pub index: u64,
    pub term: u64,
    pub conf_state: ConfState,
}

#[derive(Clone)]
pub struct LogStore {
    pub mem: MemStorage,
    /// updated by the node loop after every apply
    pub applied: Arc<Mutex<AppliedPoint>>,
}

impl LogStore {
    pub fn new() -> LogStore {
        LogStore {
            mem: MemStorage::new(),
            applied: Default::default(),
        }
    }
}

impl Default for LogStore {
    fn default() -> Self {
        Self::new()
    }
}

impl Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        self.mem.initial_state()
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        self.mem.entries(low, high, max_size, context)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.mem.term(idx)
    }

    fn first_index(&self) -> raft::Result<u64> {
        self.mem.first_index()
    }

    fn last_index(&self) -> raft::Result<u64> {
        self.mem.last_index()
    }

    /// The store as applied right now. The transport exports the database
    /// when it sends this, so the receiver gets at least this index (it
    /// skips entries its database already holds).
    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let p = self
            .applied
            .lock()
            .map_err(|_| raft::Error::Store(raft::StorageError::Unavailable))?
            .clone();
        if p.index < request_index || p.index == 0 {
            return Err(raft::Error::Store(
                raft::StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        let mut s = Snapshot::default();
        let m = s.mut_metadata();
        m.index = p.index;
        m.term = p.term;
        m.set_conf_state(p.conf_state);
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_describes_the_applied_point() {
        let s = LogStore::new();
        // nothing applied yet: raft must ask again later
        assert!(matches!(
            s.snapshot(0, 2),
            Err(raft::Error::Store(
                raft::StorageError::SnapshotTemporarilyUnavailable
            ))
        ));
        let cs = ConfState {
            voters: vec![1, 2, 3],
            ..Default::default()
        };
        *s.applied.lock().expect("lock") = AppliedPoint {
            index: 42,
            term: 3,
            conf_state: cs.clone(),
        };
        let snap = s.snapshot(40, 2).expect("snapshot");
        let m = snap.get_metadata();
        assert_eq!((m.index, m.term), (42, 3));
        assert_eq!(m.get_conf_state(), &cs);
        assert!(
            snap.data.is_empty(),
            "the database travels beside the message"
        );
        // a snapshot older than asked for is not offered
        assert!(s.snapshot(43, 2).is_err());
    }
}
