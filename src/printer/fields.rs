//! The `fields` writer: `"Name" : value` lines, strings Go-`%q`-quoted.

use std::fmt::Write as _;

use oxcd_proto::etcdserverpb::response_op::Response;
use oxcd_proto::etcdserverpb::{
    AlarmResponse, AuthRoleGetResponse, AuthRoleListResponse, DeleteRangeResponse,
    LeaseGrantResponse, LeaseKeepAliveResponse, LeaseLeasesResponse, LeaseRevokeResponse,
    LeaseTimeToLiveResponse, MemberListResponse, PutResponse, RangeResponse, ResponseHeader,
    TxnResponse, WatchResponse,
};
use oxcd_proto::mvccpb::KeyValue;

use super::{EpHashKv, EpHealth, EpStatus, Printer, SnapshotStatus, Streams};
use crate::error::{CtlError, Result};
use crate::gofmt::{quote, string_slice};

pub struct FieldsPrinter;

fn hdr(o: &mut String, h: &Option<ResponseHeader>) {
    let h = super::header(h);
    let _ = writeln!(o, "\"ClusterID\" : {}", h.cluster_id);
    let _ = writeln!(o, "\"MemberID\" : {}", h.member_id);
    let _ = writeln!(o, "\"Revision\" : {}", h.revision);
    let _ = writeln!(o, "\"RaftTerm\" : {}", h.raft_term);
}

fn kv(o: &mut String, pfx: &str, kv: &KeyValue) {
    let _ = writeln!(o, "\"{pfx}Key\" : {}", quote(&kv.key));
    let _ = writeln!(o, "\"{pfx}CreateRevision\" : {}", kv.create_revision);
    let _ = writeln!(o, "\"{pfx}ModRevision\" : {}", kv.mod_revision);
    let _ = writeln!(o, "\"{pfx}Version\" : {}", kv.version);
    let _ = writeln!(o, "\"{pfx}Value\" : {}", quote(&kv.value));
    let _ = writeln!(o, "\"{pfx}Lease\" : {}", kv.lease);
}

pub fn get(o: &mut String, r: &RangeResponse) {
    hdr(o, &r.header);
    for k in &r.kvs {
        kv(o, "", k);
    }
    let _ = writeln!(o, "\"More\" : {}", r.more);
    let _ = writeln!(o, "\"Count\" : {}", r.count);
}

pub fn put(o: &mut String, r: &PutResponse) {
    hdr(o, &r.header);
    if let Some(p) = &r.prev_kv {
        kv(o, "Prev", p);
    }
}

pub fn del(o: &mut String, r: &DeleteRangeResponse) {
    hdr(o, &r.header);
    let _ = writeln!(o, "\"Deleted\" : {}", r.deleted);
    for p in &r.prev_kvs {
        kv(o, "Prev", p);
    }
}

pub fn txn(o: &mut String, r: &TxnResponse) {
    hdr(o, &r.header);
    let _ = writeln!(o, "\"Succeeded\" : {}", r.succeeded);
    for op in &r.responses {
        match &op.response {
            Some(Response::ResponseDeleteRange(d)) => del(o, d),
            Some(Response::ResponsePut(p)) => put(o, p),
            Some(Response::ResponseRange(g)) => get(o, g),
            other => {
                let _ = writeln!(
                    o,
                    "\"Unknown\" : {}",
                    quote(format!("{other:?}").as_bytes())
                );
            }
        }
    }
}

pub fn member_list(o: &mut String, r: &MemberListResponse) {
    hdr(o, &r.header);
    for m in &r.members {
        let _ = writeln!(o, "\"ID\" : {}", m.id);
        let _ = writeln!(o, "\"Name\" : {}", quote(m.name.as_bytes()));
        for u in &m.peer_ur_ls {
            let _ = writeln!(o, "\"PeerURL\" : {}", quote(u.as_bytes()));
        }
        for u in &m.client_ur_ls {
            let _ = writeln!(o, "\"ClientURL\" : {}", quote(u.as_bytes()));
        }
        let _ = writeln!(o, "\"IsLearner\" : {}", m.is_learner);
        o.push('\n');
    }
}

pub fn endpoint_status(o: &mut String, list: &[EpStatus]) {
    for s in list {
        let r = &s.resp;
        hdr(o, &r.header);
        let _ = writeln!(o, "\"Version\" : {}", quote(r.version.as_bytes()));
        let _ = writeln!(o, "\"DBSize\" : {}", r.db_size);
        let _ = writeln!(o, "\"Leader\" : {}", r.leader);
        let _ = writeln!(o, "\"IsLearner\" : {}", r.is_learner);
        let _ = writeln!(o, "\"RaftIndex\" : {}", r.raft_index);
        let _ = writeln!(o, "\"RaftTerm\" : {}", r.raft_term);
        let _ = writeln!(o, "\"RaftAppliedIndex\" : {}", r.raft_applied_index);
        let _ = writeln!(o, "\"Errors\" : {}", string_slice(&r.errors));
        let _ = writeln!(o, "\"Endpoint\" : {}", quote(s.ep.as_bytes()));
        o.push('\n');
    }
}

/// clientv3's `WatchResponse` has a header value, not a pointer.
pub fn watch(o: &mut String, r: &WatchResponse) {
    hdr(o, &Some(super::header(&r.header)));
    for e in &r.events {
        let _ = writeln!(o, "\"Type\" : {}", super::event_type_name(e.r#type));
        if let Some(p) = &e.prev_kv {
            kv(o, "Prev", p);
        }
        kv(o, "", &e.kv.clone().unwrap_or_default());
    }
}

pub fn endpoint_hashkv(o: &mut String, list: &[EpHashKv]) {
    for h in list {
        hdr(o, &h.resp.header);
        let _ = writeln!(o, "\"Endpoint\" : {}", quote(h.ep.as_bytes()));
        let _ = writeln!(o, "\"Hash\" : {}", h.resp.hash);
        o.push('\n');
    }
}

pub fn endpoint_health(o: &mut String, list: &[EpHealth]) {
    for h in list {
        let _ = writeln!(o, "\"Endpoint\" : {}", quote(h.ep.as_bytes()));
        let _ = writeln!(o, "\"Health\" : {}", h.health);
        let _ = writeln!(o, "\"Took\" : {}", h.took);
        let _ = writeln!(o, "\"Error\" : {}", h.error);
        o.push('\n');
    }
}

/// `ID` and `TTL` after the header (grant and keep-alive).
fn id_ttl(o: &mut String, h: &Option<ResponseHeader>, id: i64, ttl: i64) {
    hdr(o, h);
    let _ = writeln!(o, "\"ID\" : {id}");
    let _ = writeln!(o, "\"TTL\" : {ttl}");
}

pub fn time_to_live(o: &mut String, r: &LeaseTimeToLiveResponse) {
    id_ttl(o, &r.header, r.id, r.ttl);
    let _ = writeln!(o, "\"GrantedTTL\" : {}", r.granted_ttl);
    for k in &r.keys {
        let _ = writeln!(o, "\"Key\" : {}", quote(k));
    }
}

pub fn lease_list(o: &mut String, r: &LeaseLeasesResponse) {
    hdr(o, &r.header);
    for l in &r.leases {
        let _ = writeln!(o, "\"ID\" : {}", l.id);
    }
}

/// etcdctl dereferences the header: `alarm disarm` builds its response
/// without one, so its fields output is Go's nil-pointer panic (exit 2).
pub fn alarm(o: &mut String, r: &AlarmResponse) -> Result<()> {
    if r.header.is_none() {
        return Err(CtlError::Panic(
            "runtime error: invalid memory address or nil pointer dereference".into(),
        ));
    }
    hdr(o, &r.header);
    for a in &r.alarms {
        let _ = writeln!(o, "\"MemberID\" : {}", a.member_id);
        let _ = writeln!(o, "\"AlarmType\" : {}", super::alarm_type_name(a.alarm));
        o.push('\n');
    }
    Ok(())
}

impl Printer for FieldsPrinter {
    fn name(&self) -> &'static str {
        "fields"
    }
    fn put(&self, w: &mut Streams, r: &PutResponse) -> Result<()> {
        let mut o = String::new();
        put(&mut o, r);
        w.print(&o);
        Ok(())
    }
    fn get(&self, w: &mut Streams, r: &RangeResponse) -> Result<()> {
        let mut o = String::new();
        get(&mut o, r);
        w.print(&o);
        Ok(())
    }
    fn del(&self, w: &mut Streams, r: &DeleteRangeResponse) -> Result<()> {
        let mut o = String::new();
        del(&mut o, r);
        w.print(&o);
        Ok(())
    }
    fn txn(&self, w: &mut Streams, r: &TxnResponse) -> Result<()> {
        let mut o = String::new();
        txn(&mut o, r);
        w.print(&o);
        Ok(())
    }
    fn endpoint_status(&self, w: &mut Streams, s: &[EpStatus]) -> Result<()> {
        let mut o = String::new();
        endpoint_status(&mut o, s);
        w.print(&o);
        Ok(())
    }
    fn endpoint_health(&self, w: &mut Streams, h: &[EpHealth]) -> Result<()> {
        let mut o = String::new();
        endpoint_health(&mut o, h);
        w.print(&o);
        Ok(())
    }
    fn watch(&self, w: &mut Streams, r: &WatchResponse) -> Result<()> {
        let mut o = String::new();
        watch(&mut o, r);
        w.print(&o);
        Ok(())
    }
    fn endpoint_hashkv(&self, w: &mut Streams, h: &[EpHashKv]) -> Result<()> {
        let mut o = String::new();
        endpoint_hashkv(&mut o, h);
        w.print(&o);
        Ok(())
    }
    fn member_list(&self, w: &mut Streams, r: &MemberListResponse) -> Result<()> {
        let mut o = String::new();
        member_list(&mut o, r);
        w.print(&o);
        Ok(())
    }
    fn lease_grant(&self, w: &mut Streams, r: &LeaseGrantResponse) -> Result<()> {
        let mut o = String::new();
        id_ttl(&mut o, &r.header, r.id, r.ttl);
        w.print(&o);
        Ok(())
    }
    fn lease_revoke(&self, w: &mut Streams, _id: i64, r: &LeaseRevokeResponse) -> Result<()> {
        let mut o = String::new();
        hdr(&mut o, &r.header);
        w.print(&o);
        Ok(())
    }
    fn lease_keep_alive(&self, w: &mut Streams, r: &LeaseKeepAliveResponse) -> Result<()> {
        let mut o = String::new();
        id_ttl(&mut o, &r.header, r.id, r.ttl);
        w.print(&o);
        Ok(())
    }
    fn lease_time_to_live(
        &self,
        w: &mut Streams,
        r: &LeaseTimeToLiveResponse,
        _keys: bool,
    ) -> Result<()> {
        let mut o = String::new();
        time_to_live(&mut o, r);
        w.print(&o);
        Ok(())
    }
    fn lease_list(&self, w: &mut Streams, r: &LeaseLeasesResponse) -> Result<()> {
        let mut o = String::new();
        lease_list(&mut o, r);
        w.print(&o);
        Ok(())
    }
    fn alarm(&self, w: &mut Streams, r: &AlarmResponse) -> Result<()> {
        let mut o = String::new();
        alarm(&mut o, r)?;
        w.print(&o);
        Ok(())
    }
    fn snapshot_status(&self, w: &mut Streams, s: &SnapshotStatus) -> Result<()> {
        w.print(&format!(
            "\"Hash\" : {}\n\"Revision\" : {}\n\"Keys\" : {}\n\"Size\" : {}\n",
            s.hash, s.revision, s.total_key, s.total_size
        ));
        Ok(())
    }
    fn auth_change(
        &self,
        w: &mut Streams,
        _message: &str,
        h: &Option<ResponseHeader>,
    ) -> Result<()> {
        let mut o = String::new();
        hdr(&mut o, h);
        w.print(&o);
        Ok(())
    }
    fn role_get(&self, w: &mut Streams, _name: &str, r: &AuthRoleGetResponse) -> Result<()> {
        let mut o = String::new();
        hdr(&mut o, &r.header);
        super::auth::fields_perms(&mut o, r);
        w.print(&o);
        Ok(())
    }
    fn role_list(&self, w: &mut Streams, r: &AuthRoleListResponse) -> Result<()> {
        let mut o = String::new();
        hdr(&mut o, &r.header);
        super::auth::fields_roles(&mut o, r);
        w.print(&o);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_fields() {
        let r = RangeResponse {
            header: Some(ResponseHeader {
                cluster_id: 1,
                member_id: 2,
                revision: 5,
                raft_term: 2,
            }),
            kvs: vec![KeyValue {
                key: b"foo".to_vec(),
                create_revision: 2,
                mod_revision: 5,
                version: 4,
                value: b"b\"4".to_vec(),
                lease: 0,
            }],
            more: false,
            count: 1,
        };
        let mut o = String::new();
        get(&mut o, &r);
        assert_eq!(o, "\"ClusterID\" : 1\n\"MemberID\" : 2\n\"Revision\" : 5\n\"RaftTerm\" : 2\n\"Key\" : \"foo\"\n\"CreateRevision\" : 2\n\"ModRevision\" : 5\n\"Version\" : 4\n\"Value\" : \"b\\\"4\"\n\"Lease\" : 0\n\"More\" : false\n\"Count\" : 1\n");
    }
}
