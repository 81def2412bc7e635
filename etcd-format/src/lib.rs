//! etcd 3.5 on-disk formats, shared by `oxctl` and `oxcd`:
//!
//! - [`bolt`]: bbolt database files — a bounds-checked [`bolt::Reader`]
//!   with a whole-file [`bolt::Reader::check`], and a bulk
//!   [`bolt::Writer`] that lays out a fresh file from sorted buckets;
//! - [`snapshot`]: the SHA-256 trailer of `snapshot save` files and the
//!   figures of `etcdutl snapshot status`;
//! - [`schema`]: etcd's bucket names, revision keys and value records;
//! - [`restore`]: `etcdutl snapshot restore` (data dir, WAL and `.snap`
//!   file of a new cluster), with [`wal`], [`raftpb`] and [`member`].
//!
//! Snapshot files are untrusted input: every malformed byte yields an
//! [`Error`] naming the page at fault, never a panic.

pub mod bolt;
mod error;
pub mod member;
pub mod raftpb;
pub mod restore;
pub mod schema;
pub mod snapshot;
pub mod wal;

pub use error::{Error, Result};
