//! etcd 3.5 on-disk formats, shared by `oxctl` and `oxcd`:
//!
//! - [`bolt`]: bbolt database files — a bounds-checked [`bolt::Reader`]
//!   with a whole-file [`bolt::Reader::check`], its page-at-a-time twin
//!   [`bolt::FileReader`] for files too large to hold, and a bulk
//!   [`bolt::Writer`] that lays out a fresh file from sorted buckets, in
//!   memory or streamed into a file ([`bolt::StreamWriter`]);
//! - [`snapshot`]: the SHA-256 trailer of `snapshot save` files, the
//!   figures of `etcdutl snapshot status`, and a streaming snapshot
//!   writer ([`snapshot::SnapshotWriter`]);
//! - [`schema`]: etcd's bucket names, revision keys and value records;
//! - [`restore`]: `etcdutl snapshot restore` (data dir, WAL and `.snap`
//!   file of a new cluster; [`restore::restore_file`] in a few MiB
//!   whatever the snapshot's size), with [`wal`], [`raftpb`] and
//!   [`member`];
//! - [`fileutil`]: preallocation of WAL segments (etcd's and oxcd's own).
//!
//! Snapshot files are untrusted input: every malformed byte yields an
//! [`Error`] naming the page at fault, never a panic.

pub mod bolt;
mod error;
pub mod fileutil;
pub mod member;
pub mod raftpb;
pub mod restore;
pub mod schema;
pub mod snapshot;
pub mod wal;

pub use error::{Error, Result};
