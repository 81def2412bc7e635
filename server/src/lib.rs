//! oxcd: an etcd-compatible v3 server.
//!
//! Layers, outermost first: `api` (gRPC services) → `node` (log, group
//! commit, apply loop) → `apply` (the state machine) → `mvcc` (revisions,
//! key index) → redb tables; `wal` is the durable log beside them.

pub mod api;
pub mod apply;
pub mod config;
pub mod error;
pub mod import;
pub mod lease;
pub mod mvcc;
pub mod node;
pub mod snapshot;
pub mod wal;
pub mod watch;
