//! The `protobuf` writer: the raw marshalled response, no trailing newline.
//! Endpoint results are not protobuf messages, so etcdctl (and we) refuse.

use prost::Message;

use oxcd_proto::etcdserverpb::{
    DeleteRangeResponse, MemberListResponse, PutResponse, RangeResponse, TxnResponse,
};

use super::{Printer, Streams};
use crate::error::Result;

pub struct ProtobufPrinter;

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
}
