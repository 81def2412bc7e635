//! oxcd: an etcd-compatible v3 server. [`run::run`] runs one member.
//!
//! Layers, outermost first (each uses only those below it):
//! `run` (wires a member) → `api` (gRPC services) → `node` (the request
//! facade) → `transport` (the peer protocol; implements consensus's
//! `Network`) → `consensus` (raft-rs: opening the data dir, the ready
//! loop, raft's snapshot files) → `export` (the store as an etcd snapshot
//! file) → `shared` (the state every part reads) → `apply` (the state
//! machine and the reads) → `mvcc` (revisions, key index) → `backend`
//! (redb tables). Beside them: `wal` (the durable log), `import` (etcd
//! data dirs and received snapshots into the store), `watch`, `lease`,
//! `config`, `error`, `net`. See docs/architecture.md.

pub mod api;
pub mod apply;
pub mod auth;
pub mod backend;
pub mod compactor;
pub mod config;
pub mod consensus;
pub mod corrupt;
pub mod discovery;
pub mod diskwatch;
pub mod error;
pub mod export;
pub mod import;
pub mod lease;
pub mod log;
pub mod metrics;
pub mod mvcc;
pub mod net;
pub mod node;
pub mod run;
pub mod shared;
pub mod snapstream;
pub mod tls;
pub mod transport;
pub mod wal;
pub mod watch;
