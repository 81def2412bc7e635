//! Writes a synthetic etcd 3.5 snapshot of N keys with 256-byte values,
//! streamed through `snapshot::SnapshotWriter` (a measuring aid).
use std::borrow::Cow;
use std::fs::File;

use etcd_format::schema::{self, KeyValue, RevisionKey};
use etcd_format::snapshot::SnapshotWriter;
use prost::Message;

type Kv = etcd_format::Result<etcd_format::bolt::KeyValue<'static>>;

fn owned(k: Vec<u8>, v: Vec<u8>) -> Kv {
    Ok((Cow::Owned(k), Cow::Owned(v)))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(n), Some(path)) = (args.next(), args.next()) else {
        return Err("usage: gen_snapshot N FILE".into());
    };
    let n: i64 = n.parse()?;
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    let mut w = SnapshotWriter::new(file)?;
    let be = |x: u64| x.to_be_bytes().to_vec();
    w.bucket(schema::ALARM, [])?;
    w.bucket(schema::AUTH, [owned(schema::AUTH_REVISION.to_vec(), be(1))])?;
    w.bucket(schema::AUTH_ROLES, [])?;
    w.bucket(schema::AUTH_USERS, [])?;
    w.bucket(
        schema::CLUSTER,
        [owned(schema::CLUSTER_VERSION.to_vec(), b"3.5.0".to_vec())],
    )?;
    let keys = (2..n + 2).map(|rev| {
        let kv = KeyValue {
            key: format!("/bench/key-{:09}", rev - 2).into_bytes(),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
            value: vec![b'v'; 256],
            lease: 0,
        };
        owned(RevisionKey::new(rev, 0, false).encode(), kv.encode_to_vec())
    });
    w.bucket(schema::KEY, keys)?;
    w.bucket(schema::LEASE, [])?;
    w.bucket(schema::MEMBERS, [])?;
    w.bucket(schema::MEMBERS_REMOVED, [])?;
    w.bucket(
        schema::META,
        [
            owned(schema::META_CONSISTENT_INDEX.to_vec(), be(n as u64 + 10)),
            owned(schema::META_TERM.to_vec(), be(2)),
        ],
    )?;
    w.finish()?;
    Ok(())
}
