//! Revisions and their on-disk encoding: etcd's 17-byte `main_sub` key, with a
//! trailing `t` marking a tombstone, so the `key` table sorts by revision.
//! The one definition is etcd-format's [`etcd_format::schema::Revision`].

pub use etcd_format::schema::Revision as Rev;
