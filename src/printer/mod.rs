//! The output writers behind one `Printer` trait (one method per response
//! kind), like etcdctl's `printer` interface. A writer that does not support
//! a response kind keeps the default method, which fails with
//! `<writer> not supported as output format` (exit 4) — after the RPC ran,
//! exactly as etcdctl does.

use std::io::Write;

use oxcd_proto::etcdserverpb::{
    DeleteRangeResponse, MemberListResponse, PutResponse, RangeResponse, ResponseHeader,
    StatusResponse, TxnResponse,
};

use crate::error::{CtlError, Result};

pub mod fields;
pub mod json;
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
    fn member_list(&self, _w: &mut Streams, _r: &MemberListResponse) -> Result<()> {
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

/// A missing header prints as zeros (Go would dereference nil; a server
/// always sends one).
pub fn header(h: &Option<ResponseHeader>) -> ResponseHeader {
    h.unwrap_or_default()
}
