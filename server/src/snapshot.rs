//! Exports the store as an etcd 3.5 snapshot: a bbolt database with etcd's
//! buckets, followed by the SHA-256 trailer — the bytes `etcdctl snapshot
//! save` writes and `etcdutl snapshot status/restore` read.
//!
//! The export reads a store snapshot (a redb read transaction plus a copy
//! of the small pending overlay) taken under the state lock, then lays the
//! file out without holding it, so writers carry on meanwhile.

use crate::error::{EtcdError, Result};
use crate::mvcc::backend::{ETCD_AUTH, KEY};
use crate::mvcc::merge_records;
use crate::mvcc::revision::Rev;
use crate::node::Server;
use etcd_format::bolt::BucketData;
use etcd_format::schema;
use oxcd_proto::etcdserverpb::{AlarmMember, Member};
use prost::Message;
use redb::ReadableTable;
use std::sync::atomic::Ordering;

/// The version etcd 3.5 records in its `cluster` bucket.
const CLUSTER_VERSION: &str = "3.5.0";

/// A bucket's (key, value) pairs.
type Rows = Vec<(Vec<u8>, Vec<u8>)>;

fn be(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// etcd's JSON for a member record (fields left out when empty, as etcd does).
fn member_json(m: &Member) -> Vec<u8> {
    let mut o = serde_json::Map::new();
    o.insert("id".into(), m.id.into());
    o.insert("peerURLs".into(), m.peer_ur_ls.clone().into());
    if m.is_learner {
        o.insert("isLearner".into(), true.into());
    }
    if !m.name.is_empty() {
        o.insert("name".into(), m.name.clone().into());
    }
    if !m.client_ur_ls.is_empty() {
        o.insert("clientURLs".into(), m.client_ur_ls.clone().into());
    }
    serde_json::Value::Object(o).to_string().into_bytes()
}

impl Server {
    /// The whole store as an etcd snapshot file (trailer included).
    pub fn export_snapshot(&self) -> Result<Vec<u8>> {
        let lock = || EtcdError::Storage("state lock poisoned".into());
        let (rtxn, pending, leases, alarms, current, compact, index) = {
            let st = self.state.read().map_err(|_| lock())?;
            let mut leases: Vec<(i64, i64)> =
                st.lessor.leases.values().map(|l| (l.id, l.ttl)).collect();
            leases.sort_unstable();
            (
                self.db.begin_read()?,
                st.store.pending.clone(),
                leases,
                st.alarms.clone(),
                st.store.current_rev,
                st.store.compact_rev,
                self.applied_index.load(Ordering::SeqCst),
            )
        };
        let members = self.members.read().map_err(|_| lock())?.clone();
        let kv = rtxn.open_table(KEY)?;
        // users and roles carried from an imported etcd data dir
        let mut auth_rows: std::collections::BTreeMap<String, Rows> = Default::default();
        for item in rtxn.open_table(ETCD_AUTH)?.iter()? {
            let (k, v) = item?;
            let (bucket, key) = k.value();
            auth_rows
                .entry(bucket.to_string())
                .or_default()
                .push((key.to_vec(), v.value().to_vec()));
        }
        let mut auth_bucket = |name: &str| auth_rows.remove(name).unwrap_or_default();
        let mut auth = auth_bucket("auth");
        if auth.is_empty() {
            // a fresh etcd's auth store: revision 1, auth off
            auth.push((schema::AUTH_REVISION.to_vec(), be(1)));
        }
        let mut keys = Vec::new();
        merge_records(&pending, &kv, 0, current, |r, tomb, v| {
            keys.push((r.to_bytes(tomb), v.to_vec()));
            Ok(())
        })?;

        let mut meta = vec![
            (schema::META_CONSISTENT_INDEX.to_vec(), be(index)),
            (
                schema::META_TERM.to_vec(),
                be(self.term.load(Ordering::SeqCst)),
            ),
        ];
        let mut voters: Vec<u64> = members
            .iter()
            .filter(|m| !m.is_learner)
            .map(|m| m.id)
            .collect();
        voters.sort_unstable();
        let conf = serde_json::json!({ "voters": voters, "auto_leave": false });
        meta.push((
            schema::META_CONF_STATE.to_vec(),
            conf.to_string().into_bytes(),
        ));
        if compact > 0 {
            let mark = Rev::new(compact, 0).to_bytes(false);
            meta.push((schema::META_FINISHED_COMPACT.to_vec(), mark.clone()));
            meta.push((schema::META_SCHEDULED_COMPACT.to_vec(), mark));
        }
        meta.sort();

        let lease = leases
            .into_iter()
            .map(|(id, ttl)| {
                let rec = schema::Lease {
                    id,
                    ttl,
                    remaining_ttl: 0,
                };
                (be(id as u64), rec.encode_to_vec())
            })
            .collect();
        let mut member_rows: Vec<(Vec<u8>, Vec<u8>)> = members
            .iter()
            .map(|m| (format!("{:x}", m.id).into_bytes(), member_json(m)))
            .collect();
        member_rows.sort();
        let mut alarm_rows: Vec<(Vec<u8>, Vec<u8>)> = alarms
            .iter()
            .map(|&(member_id, alarm)| {
                (AlarmMember { member_id, alarm }.encode_to_vec(), Vec::new())
            })
            .collect();
        alarm_rows.sort();

        let mut buckets = vec![
            BucketData::new(schema::ALARM, alarm_rows),
            BucketData::new(schema::AUTH, auth),
            BucketData::new(schema::AUTH_ROLES, auth_bucket("authRoles")),
            BucketData::new(schema::AUTH_USERS, auth_bucket("authUsers")),
            BucketData::new(
                schema::CLUSTER,
                vec![(
                    schema::CLUSTER_VERSION.to_vec(),
                    CLUSTER_VERSION.as_bytes().to_vec(),
                )],
            ),
            BucketData::new(schema::KEY, keys),
            BucketData::new(schema::LEASE, lease),
            BucketData::new(schema::MEMBERS, member_rows),
            BucketData::new(schema::MEMBERS_REMOVED, Vec::new()),
            BucketData::new(schema::META, meta),
        ];
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        etcd_format::snapshot::build(&buckets)
            .map_err(|e| EtcdError::Storage(format!("snapshot: {e}")))
    }
}
