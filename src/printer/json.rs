//! The `json` writer: what Go's `encoding/json` prints for etcd's gogoproto
//! structs — json tag names, `omitempty`, 64-bit integers as numbers, bytes
//! as padded standard base64, HTML-safe string escaping.

use base64::Engine as _;
use oxcd_proto::etcdserverpb::response_op::Response;
use oxcd_proto::etcdserverpb::{
    AlarmMember, AlarmResponse, AuthRoleGetResponse, AuthRoleListResponse, AuthStatusResponse,
    AuthUserGetResponse, AuthUserListResponse, DeleteRangeResponse, LeaseGrantResponse,
    LeaseKeepAliveResponse, LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse,
    MemberAddResponse, MemberListResponse, MemberRemoveResponse, MemberUpdateResponse,
    MoveLeaderResponse, PutResponse, RangeResponse, ResponseHeader, ResponseOp, StatusResponse,
    TxnResponse, WatchResponse,
};

use super::json_member::{member_add, member_list, member_list_hex, member_remove, member_update};
use super::json_obj::{go_string, header, kv, Obj};
use super::{EpHashKv, EpHealth, EpStatus, Printer, SnapshotStatus, Streams};
use crate::error::Result;

pub struct JsonPrinter {
    pub hex: bool,
}

pub fn range(r: &RangeResponse) -> String {
    Obj::new()
        .obj("header", header(&r.header))
        .list("kvs", r.kvs.iter().map(kv).collect())
        .boolean("more", r.more)
        .num("count", r.count)
        .finish()
}

pub fn put(r: &PutResponse) -> String {
    Obj::new()
        .obj("header", header(&r.header))
        .obj("prev_kv", r.prev_kv.as_ref().map(kv))
        .finish()
}

pub fn del(r: &DeleteRangeResponse) -> String {
    Obj::new()
        .obj("header", header(&r.header))
        .num("deleted", r.deleted)
        .list("prev_kvs", r.prev_kvs.iter().map(kv).collect())
        .finish()
}

/// `ResponseOp` has an untagged oneof interface field, so Go names it
/// `Response` and keeps it even when nil.
fn response_op(op: &ResponseOp) -> String {
    let inner = match &op.response {
        None => "null".to_string(),
        Some(Response::ResponseRange(r)) => Obj::new().raw("response_range", &range(r)).finish(),
        Some(Response::ResponsePut(r)) => Obj::new().raw("response_put", &put(r)).finish(),
        Some(Response::ResponseDeleteRange(r)) => {
            Obj::new().raw("response_delete_range", &del(r)).finish()
        }
        Some(Response::ResponseTxn(r)) => Obj::new().raw("response_txn", &txn(r)).finish(),
    };
    Obj::new().raw("Response", &inner).finish()
}

pub fn txn(r: &TxnResponse) -> String {
    Obj::new()
        .obj("header", header(&r.header))
        .boolean("succeeded", r.succeeded)
        .list("responses", r.responses.iter().map(response_op).collect())
        .finish()
}

fn status(r: &StatusResponse) -> String {
    Obj::new()
        .obj("header", header(&r.header))
        .string("version", &r.version)
        .num("dbSize", r.db_size)
        .num("leader", r.leader)
        .num("raftIndex", r.raft_index)
        .num("raftTerm", r.raft_term)
        .num("raftAppliedIndex", r.raft_applied_index)
        .strings("errors", &r.errors)
        .num("dbSizeInUse", r.db_size_in_use)
        .boolean("isLearner", r.is_learner)
        .finish()
}

pub fn endpoint_status(list: &[EpStatus]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|s| {
            Obj::new()
                .raw("Endpoint", &go_string(s.ep.as_bytes()))
                .raw("Status", &status(&s.resp))
                .finish()
        })
        .collect();
    format!("[{}]", items.join(","))
}

pub fn endpoint_health(list: &[EpHealth]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|h| {
            Obj::new()
                .raw("endpoint", &go_string(h.ep.as_bytes()))
                .raw("health", if h.health { "true" } else { "false" })
                .raw("took", &go_string(h.took.as_bytes()))
                .string("error", &h.error)
                .finish()
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// clientv3's lease responses embed `*pb.ResponseHeader`, so its fields
/// are promoted to the top level (each omitted when zero, all of them when
/// the header is missing).
fn flat_header(h: &Option<ResponseHeader>) -> Obj {
    match h {
        Some(h) => Obj::new()
            .num("cluster_id", h.cluster_id)
            .num("member_id", h.member_id)
            .num("revision", h.revision)
            .num("raft_term", h.raft_term),
        None => Obj::new(),
    }
}

/// clientv3 `LeaseGrantResponse`: `ID`, `TTL` and `Error` have no json tags.
pub fn lease_grant(r: &LeaseGrantResponse) -> String {
    flat_header(&r.header)
        .raw("ID", &r.id.to_string())
        .raw("TTL", &r.ttl.to_string())
        .raw("Error", &go_string(r.error.as_bytes()))
        .finish()
}

pub fn lease_revoke(r: &LeaseRevokeResponse) -> String {
    Obj::new().obj("header", header(&r.header)).finish()
}

pub fn lease_keep_alive(r: &LeaseKeepAliveResponse) -> String {
    flat_header(&r.header)
        .raw("ID", &r.id.to_string())
        .raw("TTL", &r.ttl.to_string())
        .finish()
}

/// clientv3 `LeaseTimeToLiveResponse`: no keys is a nil slice, `null`.
pub fn lease_time_to_live(r: &LeaseTimeToLiveResponse) -> String {
    let keys = if r.keys.is_empty() {
        "null".to_string()
    } else {
        let items: Vec<String> = r
            .keys
            .iter()
            .map(|k| {
                format!(
                    "\"{}\"",
                    base64::engine::general_purpose::STANDARD.encode(k)
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    };
    flat_header(&r.header)
        .raw("id", &r.id.to_string())
        .raw("ttl", &r.ttl.to_string())
        .raw("granted-ttl", &r.granted_ttl.to_string())
        .raw("keys", &keys)
        .finish()
}

/// clientv3 `LeaseLeasesResponse`: the list is always made, so never `null`.
pub fn lease_list(r: &LeaseLeasesResponse) -> String {
    let items: Vec<String> = r
        .leases
        .iter()
        .map(|l| Obj::new().raw("id", &l.id.to_string()).finish())
        .collect();
    flat_header(&r.header)
        .raw("leases", &format!("[{}]", items.join(",")))
        .finish()
}

fn alarm_member(a: &AlarmMember) -> String {
    Obj::new()
        .num("memberID", a.member_id)
        .num("alarm", a.alarm)
        .finish()
}

pub fn alarm(r: &AlarmResponse) -> String {
    Obj::new()
        .obj("header", header(&r.header))
        .list("alarms", r.alarms.iter().map(alarm_member).collect())
        .finish()
}

pub fn move_leader(r: &MoveLeaderResponse) -> String {
    Obj::new().obj("header", header(&r.header)).finish()
}

/// etcdutl's `snapshot.Status`: plain json tags, no omitempty.
pub fn snapshot_status(s: &SnapshotStatus) -> String {
    Obj::new()
        .raw("hash", &s.hash.to_string())
        .raw("revision", &s.revision.to_string())
        .raw("totalKey", &s.total_key.to_string())
        .raw("totalSize", &s.total_size.to_string())
        .finish()
}

impl Printer for JsonPrinter {
    fn name(&self) -> &'static str {
        "json"
    }
    fn put(&self, w: &mut Streams, r: &PutResponse) -> Result<()> {
        w.print(&format!("{}\n", put(r)));
        Ok(())
    }
    fn get(&self, w: &mut Streams, r: &RangeResponse) -> Result<()> {
        w.print(&format!("{}\n", range(r)));
        Ok(())
    }
    fn del(&self, w: &mut Streams, r: &DeleteRangeResponse) -> Result<()> {
        w.print(&format!("{}\n", del(r)));
        Ok(())
    }
    fn txn(&self, w: &mut Streams, r: &TxnResponse) -> Result<()> {
        w.print(&format!("{}\n", txn(r)));
        Ok(())
    }
    fn endpoint_status(&self, w: &mut Streams, s: &[EpStatus]) -> Result<()> {
        w.print(&format!("{}\n", endpoint_status(s)));
        Ok(())
    }
    fn endpoint_health(&self, w: &mut Streams, h: &[EpHealth]) -> Result<()> {
        w.print(&format!("{}\n", endpoint_health(h)));
        Ok(())
    }
    fn watch(&self, w: &mut Streams, r: &WatchResponse) -> Result<()> {
        w.print(&format!("{}\n", super::json_watch::watch(r)));
        Ok(())
    }
    fn endpoint_hashkv(&self, w: &mut Streams, h: &[EpHashKv]) -> Result<()> {
        w.print(&format!("{}\n", super::json_watch::endpoint_hashkv(h)));
        Ok(())
    }
    fn member_list(&self, w: &mut Streams, r: &MemberListResponse) -> Result<()> {
        let s = if self.hex {
            member_list_hex(r)
        } else {
            member_list(r)
        };
        w.print(&format!("{s}\n"));
        Ok(())
    }
    fn member_add(
        &self,
        w: &mut Streams,
        r: &MemberAddResponse,
        _name: &str,
        _peer_urls: &str,
    ) -> Result<()> {
        w.print(&format!("{}\n", member_add(r)));
        Ok(())
    }
    fn member_remove(&self, w: &mut Streams, _id: u64, r: &MemberRemoveResponse) -> Result<()> {
        w.print(&format!("{}\n", member_remove(r)));
        Ok(())
    }
    fn member_update(&self, w: &mut Streams, _id: u64, r: &MemberUpdateResponse) -> Result<()> {
        w.print(&format!("{}\n", member_update(r)));
        Ok(())
    }
    fn lease_grant(&self, w: &mut Streams, r: &LeaseGrantResponse) -> Result<()> {
        w.print(&format!("{}\n", lease_grant(r)));
        Ok(())
    }
    fn lease_revoke(&self, w: &mut Streams, _id: i64, r: &LeaseRevokeResponse) -> Result<()> {
        w.print(&format!("{}\n", lease_revoke(r)));
        Ok(())
    }
    fn lease_keep_alive(&self, w: &mut Streams, r: &LeaseKeepAliveResponse) -> Result<()> {
        w.print(&format!("{}\n", lease_keep_alive(r)));
        Ok(())
    }
    fn lease_time_to_live(
        &self,
        w: &mut Streams,
        r: &LeaseTimeToLiveResponse,
        _keys: bool,
    ) -> Result<()> {
        w.print(&format!("{}\n", lease_time_to_live(r)));
        Ok(())
    }
    fn lease_list(&self, w: &mut Streams, r: &LeaseLeasesResponse) -> Result<()> {
        w.print(&format!("{}\n", lease_list(r)));
        Ok(())
    }
    fn alarm(&self, w: &mut Streams, r: &AlarmResponse) -> Result<()> {
        w.print(&format!("{}\n", alarm(r)));
        Ok(())
    }
    fn move_leader(
        &self,
        w: &mut Streams,
        _leader: u64,
        _target: u64,
        r: &MoveLeaderResponse,
    ) -> Result<()> {
        w.print(&format!("{}\n", move_leader(r)));
        Ok(())
    }
    fn snapshot_status(&self, w: &mut Streams, s: &SnapshotStatus) -> Result<()> {
        w.print(&format!("{}\n", snapshot_status(s)));
        Ok(())
    }
    fn auth_change(
        &self,
        w: &mut Streams,
        _message: &str,
        h: &Option<ResponseHeader>,
    ) -> Result<()> {
        w.print(&format!("{}\n", super::auth::json_header_only(h)));
        Ok(())
    }
    fn auth_status(&self, w: &mut Streams, r: &AuthStatusResponse) -> Result<()> {
        w.print(&format!("{}\n", super::auth::json_status(r)));
        Ok(())
    }
    fn user_get(&self, w: &mut Streams, _name: &str, r: &AuthUserGetResponse) -> Result<()> {
        w.print(&format!("{}\n", super::auth::json_user_get(r)));
        Ok(())
    }
    fn user_list(&self, w: &mut Streams, r: &AuthUserListResponse) -> Result<()> {
        w.print(&format!("{}\n", super::auth::json_user_list(r)));
        Ok(())
    }
    fn role_get(&self, w: &mut Streams, _name: &str, r: &AuthRoleGetResponse) -> Result<()> {
        w.print(&format!("{}\n", super::auth::json_role_get(r)));
        Ok(())
    }
    fn role_list(&self, w: &mut Streams, r: &AuthRoleListResponse) -> Result<()> {
        w.print(&format!("{}\n", super::auth::json_role_list(r)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxcd_proto::mvccpb::KeyValue;

    fn hdr() -> Option<ResponseHeader> {
        Some(ResponseHeader {
            cluster_id: 14841639068965178418,
            member_id: 10276657743932975437,
            revision: 5,
            raft_term: 2,
        })
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(
            go_string(b"a<b>&\"\\\n\x01"),
            "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\u0001\""
        );
        assert_eq!(go_string(b"\xff\xe2\x80\xa8"), "\"\\ufffd\\u2028\"");
        assert_eq!(go_string("é".as_bytes()), "\"é\"");
    }

    #[test]
    fn range_matches_etcdctl() {
        let r = RangeResponse {
            header: hdr(),
            kvs: vec![KeyValue {
                key: b"foo".to_vec(),
                create_revision: 2,
                mod_revision: 5,
                version: 4,
                value: b"bar4".to_vec(),
                lease: 0,
            }],
            more: false,
            count: 1,
        };
        assert_eq!(
            range(&r),
            "{\"header\":{\"cluster_id\":14841639068965178418,\"member_id\":10276657743932975437,\"revision\":5,\"raft_term\":2},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":2,\"mod_revision\":5,\"version\":4,\"value\":\"YmFyNA==\"}],\"count\":1}"
        );
    }

    #[test]
    fn lease_responses_flatten_the_header() {
        let g = LeaseGrantResponse {
            header: hdr(),
            id: 7587899170929783305,
            ttl: 100,
            error: String::new(),
        };
        assert_eq!(lease_grant(&g), "{\"cluster_id\":14841639068965178418,\"member_id\":10276657743932975437,\"revision\":5,\"raft_term\":2,\"ID\":7587899170929783305,\"TTL\":100,\"Error\":\"\"}");
        let t = LeaseTimeToLiveResponse {
            header: None,
            id: 1,
            ttl: -1,
            granted_ttl: 0,
            keys: vec![],
        };
        assert_eq!(
            lease_time_to_live(&t),
            "{\"id\":1,\"ttl\":-1,\"granted-ttl\":0,\"keys\":null}"
        );
        let l = LeaseLeasesResponse {
            header: None,
            leases: vec![],
        };
        assert_eq!(lease_list(&l), "{\"leases\":[]}");
        assert_eq!(alarm(&AlarmResponse::default()), "{}");
    }
}
