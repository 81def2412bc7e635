//! The `protobuf` writer: the raw marshalled response, no trailing newline.
//! Endpoint results are not protobuf messages, so etcdctl (and we) refuse.
//!
//! clientv3 wraps most lease responses in structs embedding
//! `*pb.ResponseHeader`, whose promoted `Marshal` is what etcdctl calls: for
//! grant, keep-alive, timetolive and list only the header is written. Its
//! `LeaseRevokeResponse` is a redefined type without methods, which etcdctl
//! refuses to marshal (exit 4, after the revoke ran).

use prost::Message;

use oxcd_proto::etcdserverpb::{
    AlarmResponse, AuthRoleGetResponse, AuthRoleListResponse, AuthStatusResponse,
    AuthUserGetResponse, AuthUserListResponse, DeleteRangeResponse, LeaseGrantResponse,
    LeaseKeepAliveResponse, LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse,
    MemberAddResponse, MemberListResponse, MemberRemoveResponse, MemberUpdateResponse,
    MoveLeaderResponse, PutResponse, RangeResponse, ResponseHeader, TxnResponse, WatchResponse,
};

use super::{Printer, Streams};
use crate::error::{CtlError, Result};

pub struct ProtobufPrinter;

fn header_only(w: &mut Streams, h: &Option<ResponseHeader>) -> Result<()> {
    if let Some(h) = h {
        w.print_bytes(&h.encode_to_vec());
    }
    Ok(())
}

impl Printer for ProtobufPrinter {
    fn name(&self) -> &'static str {
        "protobuf"
    }
    fn put(&self, w: &mut Streams, r: &PutResponse) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
    fn get(&self, w: &mut Streams, r: &RangeResponse) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
    fn del(&self, w: &mut Streams, r: &DeleteRangeResponse) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
    fn txn(&self, w: &mut Streams, r: &TxnResponse) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
    fn member_list(&self, w: &mut Streams, r: &MemberListResponse) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
    fn member_add(
        &self,
        w: &mut Streams,
        r: &MemberAddResponse,
        _name: &str,
        _peer_urls: &str,
    ) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
    fn member_remove(&self, w: &mut Streams, _id: u64, r: &MemberRemoveResponse) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
    fn member_update(&self, w: &mut Streams, _id: u64, r: &MemberUpdateResponse) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
    fn lease_grant(&self, w: &mut Streams, r: &LeaseGrantResponse) -> Result<()> {
        header_only(w, &r.header)
    }
    fn lease_revoke(&self, _w: &mut Streams, _id: i64, r: &LeaseRevokeResponse) -> Result<()> {
        // Go's `%v` of the struct: header, then the XXX_ bookkeeping fields.
        Err(CtlError::BadFeature(format!(
            "marshal unsupported for type clientv3.LeaseRevokeResponse ({{{} {{}} [] 0}})",
            super::header_text(&r.header)
        )))
    }
    fn lease_keep_alive(&self, w: &mut Streams, r: &LeaseKeepAliveResponse) -> Result<()> {
        header_only(w, &r.header)
    }
    fn lease_time_to_live(
        &self,
        w: &mut Streams,
        r: &LeaseTimeToLiveResponse,
        _keys: bool,
    ) -> Result<()> {
        header_only(w, &r.header)
    }
    fn lease_list(&self, w: &mut Streams, r: &LeaseLeasesResponse) -> Result<()> {
        header_only(w, &r.header)
    }
    /// etcdctl rebuilds the message from clientv3's copy: no watch ID, no
    /// fragment flag, no cancel reason.
    fn watch(&self, w: &mut Streams, r: &WatchResponse) -> Result<()> {
        let m = WatchResponse {
            header: Some(super::header(&r.header)),
            events: r.events.clone(),
            compact_revision: r.compact_revision,
            canceled: r.canceled,
            created: r.created,
            ..WatchResponse::default()
        };
        w.print_bytes(&m.encode_to_vec());
        Ok(())
    }
    fn alarm(&self, w: &mut Streams, r: &AlarmResponse) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
    fn move_leader(
        &self,
        w: &mut Streams,
        _leader: u64,
        _target: u64,
        r: &MoveLeaderResponse,
    ) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
    fn auth_change(
        &self,
        w: &mut Streams,
        _message: &str,
        h: &Option<ResponseHeader>,
    ) -> Result<()> {
        // every change's response is its header alone: field 1
        let mut b = Vec::new();
        if let Some(h) = h {
            prost::encoding::message::encode(1, h, &mut b);
        }
        w.print_bytes(&b);
        Ok(())
    }
    fn auth_status(&self, w: &mut Streams, r: &AuthStatusResponse) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
    fn user_get(&self, w: &mut Streams, _name: &str, r: &AuthUserGetResponse) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
    fn user_list(&self, w: &mut Streams, r: &AuthUserListResponse) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
    fn role_get(&self, w: &mut Streams, _name: &str, r: &AuthRoleGetResponse) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
    fn role_list(&self, w: &mut Streams, r: &AuthRoleListResponse) -> Result<()> {
        w.print_bytes(&r.encode_to_vec());
        Ok(())
    }
}
