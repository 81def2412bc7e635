//! The output writers behind one `Printer` trait (one method per response
//! kind), like etcdctl's `printer` interface. A writer that does not support
//! a response kind keeps the default method, which fails with
//! `<writer> not supported as output format` (exit 4) — after the RPC ran,
//! exactly as etcdctl does.

use std::io::Write;

use oxcd_proto::etcdserverpb::{
    AlarmMember, AlarmResponse, AlarmType, AuthRoleGetResponse, AuthRoleListResponse,
    AuthStatusResponse, AuthUserGetResponse, AuthUserListResponse, DeleteRangeResponse,
    HashKvResponse, LeaseGrantResponse, LeaseKeepAliveResponse, LeaseLeasesResponse,
    LeaseRevokeResponse, LeaseTimeToLiveResponse, MemberAddResponse, MemberListResponse,
    MemberPromoteResponse, MemberRemoveResponse, MemberUpdateResponse, MoveLeaderResponse,
    PutResponse, RangeResponse, ResponseHeader, StatusResponse, TxnResponse, WatchResponse,
};

use crate::error::{CtlError, Result};

pub use etcd_format::snapshot::Status as SnapshotStatus;

pub mod auth;
pub mod fields;
pub mod json;
mod json_member;
mod json_obj;
mod json_watch;
pub mod protobuf;
pub mod simple;
pub mod table;

/// Where output goes. Writes to closed pipes are ignored, like Go's
/// `fmt.Print` ignores its errors.
pub struct Streams {
    pub out: Box<dyn Write>,
    pub err: Box<dyn Write>,
}

impl Streams {
    pub fn print(&mut self, s: &str) {
        let _ = self.out.write_all(s.as_bytes());
    }
    pub fn print_bytes(&mut self, b: &[u8]) {
        let _ = self.out.write_all(b);
    }
    pub fn eprint(&mut self, s: &str) {
        let _ = self.out.flush();
        let _ = self.err.write_all(s.as_bytes());
        let _ = self.err.flush();
    }
    pub fn flush(&mut self) {
        let _ = self.out.flush();
        let _ = self.err.flush();
    }
}

/// One endpoint's `Status` result (`epStatus`).
#[derive(Clone, Debug)]
pub struct EpStatus {
    pub ep: String,
    pub resp: StatusResponse,
}

/// One endpoint's `HashKV` result (`epHashKV`).
#[derive(Clone, Debug)]
pub struct EpHashKv {
    pub ep: String,
    pub resp: HashKvResponse,
}

/// One endpoint's health check result (`epHealth`).
#[derive(Clone, Debug, Default)]
pub struct EpHealth {
    pub ep: String,
    pub health: bool,
    pub took: String,
    pub error: String,
}

pub trait Printer {
    /// The `-w` name, used in "not supported" errors and flag checks.
    fn name(&self) -> &'static str;

    /// `--print-value-only` (simple writer only).
    fn set_value_only(&mut self) {}

    fn put(&self, _w: &mut Streams, _r: &PutResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn get(&self, _w: &mut Streams, _r: &RangeResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn del(&self, _w: &mut Streams, _r: &DeleteRangeResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn txn(&self, _w: &mut Streams, _r: &TxnResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    /// etcdctl prints compaction results the same way for every writer.
    fn compaction(&self, w: &mut Streams, rev: i64) -> Result<()> {
        w.print(&format!("compacted revision {rev}\n"));
        Ok(())
    }
    fn endpoint_status(&self, _w: &mut Streams, _s: &[EpStatus]) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn endpoint_health(&self, _w: &mut Streams, _h: &[EpHealth]) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn endpoint_hashkv(&self, _w: &mut Streams, _h: &[EpHashKv]) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn member_list(&self, _w: &mut Streams, _r: &MemberListResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    /// `member add`. `name` is the new member's name and `peer_urls` the
    /// raw `--peer-urls` value: the simple writer follows its line with the
    /// `ETCD_*` settings for starting the new member.
    fn member_add(
        &self,
        _w: &mut Streams,
        _r: &MemberAddResponse,
        _name: &str,
        _peer_urls: &str,
    ) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    /// `id` is the removed member (the response does not carry it).
    fn member_remove(&self, _w: &mut Streams, _id: u64, _r: &MemberRemoveResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn member_update(&self, _w: &mut Streams, _id: u64, _r: &MemberUpdateResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    /// etcdctl 3.5 prints a promotion with the simple writer only: every
    /// other writer calls a method of a nil printer, a Go panic (exit 2)
    /// after the member was promoted.
    fn member_promote(&self, _w: &mut Streams, _id: u64, _r: &MemberPromoteResponse) -> Result<()> {
        Err(CtlError::nil_pointer_panic())
    }
    /// One endpoint's `defrag` result (`error` is `None` on success).
    /// etcdctl prints these lines itself, the same for every writer.
    fn defrag(&self, w: &mut Streams, ep: &str, error: Option<&CtlError>) -> Result<()> {
        match error {
            None => w.print(&format!("Finished defragmenting etcd member[{ep}]\n")),
            Some(e) => w.eprint(&format!("Failed to defragment etcd member[{ep}] ({e})\n")),
        }
        Ok(())
    }
    fn lease_grant(&self, _w: &mut Streams, _r: &LeaseGrantResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    /// `id` is the revoked lease (the response does not carry it).
    fn lease_revoke(&self, _w: &mut Streams, _id: i64, _r: &LeaseRevokeResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn lease_keep_alive(&self, _w: &mut Streams, _r: &LeaseKeepAliveResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    /// `keys`: whether `--keys` was given.
    fn lease_time_to_live(
        &self,
        _w: &mut Streams,
        _r: &LeaseTimeToLiveResponse,
        _keys: bool,
    ) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn lease_list(&self, _w: &mut Streams, _r: &LeaseLeasesResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    /// `alarm list` and `alarm disarm`.
    fn alarm(&self, _w: &mut Streams, _r: &AlarmResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn move_leader(
        &self,
        _w: &mut Streams,
        _leader: u64,
        _target: u64,
        _r: &MoveLeaderResponse,
    ) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    /// One watch response as the client library delivers it.
    fn watch(&self, _w: &mut Streams, _r: &WatchResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    /// `snapshot status` (etcdutl's `DBStatus`).
    fn snapshot_status(&self, _w: &mut Streams, _s: &SnapshotStatus) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    /// A user or role change: `message` is the simple writer's line, the
    /// others print the (header-only) response.
    fn auth_change(
        &self,
        _w: &mut Streams,
        _message: &str,
        _h: &Option<ResponseHeader>,
    ) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn auth_status(&self, _w: &mut Streams, _r: &AuthStatusResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn user_get(&self, _w: &mut Streams, _name: &str, _r: &AuthUserGetResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn user_list(&self, _w: &mut Streams, _r: &AuthUserListResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn role_get(&self, _w: &mut Streams, _name: &str, _r: &AuthRoleGetResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
    fn role_list(&self, _w: &mut Streams, _r: &AuthRoleListResponse) -> Result<()> {
        Err(CtlError::Unsupported(self.name()))
    }
}

/// `NewPrinter`: `None` for an unknown writer name.
pub fn new(kind: &str, hex: bool) -> Option<Box<dyn Printer>> {
    Some(match kind {
        "simple" => Box::new(simple::SimplePrinter {
            hex,
            value_only: false,
        }),
        "json" => Box::new(json::JsonPrinter { hex }),
        "fields" => Box::new(fields::FieldsPrinter),
        "protobuf" => Box::new(protobuf::ProtobufPrinter),
        "table" => Box::new(table::TablePrinter),
        _ => return None,
    })
}

/// Rows shared by the simple and table member list output.
pub fn member_list_rows(r: &MemberListResponse) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let hdr = vec![
        "ID",
        "Status",
        "Name",
        "Peer Addrs",
        "Client Addrs",
        "Is Learner",
    ];
    let rows = r
        .members
        .iter()
        .map(|m| {
            vec![
                format!("{:x}", m.id),
                if m.name.is_empty() {
                    "unstarted"
                } else {
                    "started"
                }
                .to_string(),
                m.name.clone(),
                m.peer_ur_ls.join(","),
                m.client_ur_ls.join(","),
                m.is_learner.to_string(),
            ]
        })
        .collect();
    (hdr, rows)
}

/// Rows shared by the simple and table endpoint status output.
pub fn endpoint_status_rows(list: &[EpStatus]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let hdr = vec![
        "endpoint",
        "ID",
        "version",
        "db size",
        "is leader",
        "is learner",
        "raft term",
        "raft index",
        "raft applied index",
        "errors",
    ];
    let rows = list
        .iter()
        .map(|s| {
            let h = header(&s.resp.header);
            vec![
                s.ep.clone(),
                format!("{:x}", h.member_id),
                s.resp.version.clone(),
                crate::gofmt::humanize_bytes(s.resp.db_size as u64),
                (s.resp.leader == h.member_id).to_string(),
                s.resp.is_learner.to_string(),
                s.resp.raft_term.to_string(),
                s.resp.raft_index.to_string(),
                s.resp.raft_applied_index.to_string(),
                s.resp.errors.join(", "),
            ]
        })
        .collect();
    (hdr, rows)
}

/// The row of the simple and table `snapshot status` output: the hash in
/// `%x`, the size humanized.
pub fn snapshot_status_row(s: &SnapshotStatus) -> (Vec<&'static str>, Vec<String>) {
    let hdr = vec!["hash", "revision", "total keys", "total size"];
    let row = vec![
        format!("{:x}", s.hash),
        s.revision.to_string(),
        s.total_key.to_string(),
        crate::gofmt::humanize_bytes(s.total_size),
    ];
    (hdr, row)
}

/// Rows shared by the table endpoint health output.
pub fn endpoint_health_rows(list: &[EpHealth]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let hdr = vec!["endpoint", "health", "took", "error"];
    let rows = list
        .iter()
        .map(|h| {
            vec![
                h.ep.clone(),
                h.health.to_string(),
                h.took.clone(),
                h.error.clone(),
            ]
        })
        .collect();
    (hdr, rows)
}

/// A lease ID as Go's `%016x` prints an int64 (a negative one keeps its
/// sign inside the width).
pub fn lease_hex(id: i64) -> String {
    if id < 0 {
        format!("-{:015x}", id.unsigned_abs())
    } else {
        format!("{id:016x}")
    }
}

/// Go's `Event_EventType.String()`: `PUT`, `DELETE`, or the number.
pub fn event_type_name(v: i32) -> String {
    match oxcd_proto::mvccpb::event::EventType::try_from(v) {
        Ok(t) => t.as_str_name().to_string(),
        Err(_) => v.to_string(),
    }
}

/// Go's `AlarmType.String()`: the enum name, or the number if unknown.
pub fn alarm_type_name(v: i32) -> String {
    match AlarmType::try_from(v) {
        Ok(t) => t.as_str_name().to_string(),
        Err(_) => v.to_string(),
    }
}

/// The protobuf compact text form (`%v` of a gogoproto message): every
/// non-zero field as `name:value ` (note the trailing space).
pub fn alarm_text(a: &AlarmMember) -> String {
    let mut s = String::new();
    if a.member_id != 0 {
        s.push_str(&format!("memberID:{} ", a.member_id));
    }
    if a.alarm != 0 {
        s.push_str(&format!("alarm:{} ", alarm_type_name(a.alarm)));
    }
    s
}

/// The compact text form of a response header (`<nil>` when absent).
pub fn header_text(h: &Option<ResponseHeader>) -> String {
    let Some(h) = h else {
        return "<nil>".to_string();
    };
    let mut s = String::new();
    let mut field = |name: &str, v: String| {
        if v != "0" {
            s.push_str(&format!("{name}:{v} "));
        }
    };
    field("cluster_id", h.cluster_id.to_string());
    field("member_id", h.member_id.to_string());
    field("revision", h.revision.to_string());
    field("raft_term", h.raft_term.to_string());
    s
}

/// A missing header prints as zeros (Go would dereference nil; a server
/// always sends one).
pub fn header(h: &Option<ResponseHeader>) -> ResponseHeader {
    h.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_ids_like_go() {
        assert_eq!(lease_hex(0x694da2185ef91805), "694da2185ef91805");
        assert_eq!(lease_hex(0x1234), "0000000000001234");
        assert_eq!(lease_hex(-1), "-000000000000001");
    }

    #[test]
    fn compact_text_forms() {
        let a = AlarmMember {
            member_id: 10276657743932975437,
            alarm: AlarmType::Nospace as i32,
        };
        assert_eq!(
            alarm_text(&a),
            "memberID:10276657743932975437 alarm:NOSPACE "
        );
        assert_eq!(alarm_text(&AlarmMember::default()), "");
        assert_eq!(alarm_type_name(7), "7");
        let h = Some(ResponseHeader {
            cluster_id: 1,
            member_id: 2,
            revision: 0,
            raft_term: 3,
        });
        assert_eq!(header_text(&h), "cluster_id:1 member_id:2 raft_term:3 ");
        assert_eq!(header_text(&None), "<nil>");
    }
}
