//! oxcd: an etcd-compatible v3 server.
//!
//! Layers, outermost first: `api` (gRPC services) → `node` (the member:
//! store, membership, request entry points) → `consensus` (raft-rs, the
//! ready loop) → `apply` (the state machine) → `mvcc` (revisions, key
//! index) → redb tables. Beside them: `wal` (the durable log), `snap`
//! (snapshot files), `transport` (the peer protocol).

pub mod api;
pub mod apply;
pub mod config;
pub mod consensus;
pub mod error;
pub mod import;
pub mod lease;
pub mod mvcc;
pub mod node;
pub mod snap;
pub mod snapshot;
pub mod transport;
pub mod wal;
pub mod watch;
