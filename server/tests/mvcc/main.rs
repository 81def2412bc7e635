//! MVCC semantics through the gRPC API. Each scenario asserts concrete
//! values and records every response; it runs first against real etcd 3.5.1
//! (when installed: this proves the expectations), then against oxcd, and the
//! two transcripts must then be identical (headers compared by revision only).

#[path = "../common/mod.rs"]
mod common;
mod kv;
mod options;
mod txn;

use common::*;
use kv::*;
use options::*;
use oxcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use oxcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use oxcd_proto::etcdserverpb::{
    request_op, response_op, CompactionRequest, CompactionResponse, Compare, DeleteRangeRequest,
    DeleteRangeResponse, LeaseGrantRequest, LeaseRevokeRequest, PutRequest, PutResponse,
    RangeRequest, RangeResponse, RequestOp, ResponseHeader, TxnRequest, TxnResponse,
};
use oxcd_proto::mvccpb::KeyValue;
use std::time::Duration;
use tonic::{Code, Status};
use txn::*;

const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
const FUTURE: &str = "etcdserver: mvcc: required revision is a future revision";

// ---- recording client ---------------------------------------------------

fn norm_header(h: &mut Option<ResponseHeader>) {
    if let Some(h) = h {
        h.cluster_id = 0;
        h.member_id = 0;
        h.raft_term = 0;
    }
}

fn norm_txn(t: &mut TxnResponse) {
    norm_header(&mut t.header);
    for op in &mut t.responses {
        match &mut op.response {
            Some(response_op::Response::ResponseRange(r)) => norm_header(&mut r.header),
            Some(response_op::Response::ResponsePut(r)) => norm_header(&mut r.header),
            Some(response_op::Response::ResponseDeleteRange(r)) => norm_header(&mut r.header),
            Some(response_op::Response::ResponseTxn(r)) => norm_txn(r),
            None => {}
        }
    }
}

/// One server's client plus the transcript of what it answered.
struct Run {
    who: &'static str,
    c: Clients,
    log: Vec<String>,
}

fn rev_of(h: &Option<ResponseHeader>) -> i64 {
    h.as_ref().expect("response has a header").revision
}

impl Run {
    fn record<T: std::fmt::Debug>(&mut self, step: &str, r: &Result<T, Status>) {
        let line = match r {
            Ok(v) => format!("{step}: {v:?}"),
            Err(e) => format!("{step}: ERR {:?} {}", e.code(), e.message()),
        };
        self.log.push(line);
    }

    async fn put(&mut self, step: &str, req: PutRequest) -> Result<PutResponse, Status> {
        let r = self.c.kv.put(req).await.map(|r| {
            let mut r = r.into_inner();
            norm_header(&mut r.header);
            r
        });
        self.record(step, &r);
        r
    }

    /// A put that must succeed with revision `rev`.
    async fn put_ok(&mut self, key: &str, value: &str, rev: i64) {
        let step = format!("put {key}={value}");
        let r = self.put(&step, put_req(key, value)).await;
        let r = r.unwrap_or_else(|e| panic!("{}: {step}: {e}", self.who));
        assert_eq!(rev_of(&r.header), rev, "{}: revision of {step}", self.who);
    }

    async fn range(&mut self, step: &str, req: RangeRequest) -> Result<RangeResponse, Status> {
        let r = self.c.kv.range(req).await.map(|r| {
            let mut r = r.into_inner();
            norm_header(&mut r.header);
            r
        });
        self.record(step, &r);
        r
    }

    async fn range_ok(&mut self, step: &str, req: RangeRequest) -> RangeResponse {
        let who = self.who;
        self.range(step, req)
            .await
            .unwrap_or_else(|e| panic!("{who}: {step}: {e}"))
    }

    async fn delete(
        &mut self,
        step: &str,
        req: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, Status> {
        let r = self.c.kv.delete_range(req).await.map(|r| {
            let mut r = r.into_inner();
            norm_header(&mut r.header);
            r
        });
        self.record(step, &r);
        r
    }

    async fn txn(&mut self, step: &str, req: TxnRequest) -> Result<TxnResponse, Status> {
        let r = self.c.kv.txn(req).await.map(|r| {
            let mut r = r.into_inner();
            norm_txn(&mut r);
            r
        });
        self.record(step, &r);
        r
    }

    async fn txn_ok(&mut self, step: &str, req: TxnRequest) -> TxnResponse {
        let who = self.who;
        self.txn(step, req)
            .await
            .unwrap_or_else(|e| panic!("{who}: {step}: {e}"))
    }

    async fn compact(&mut self, step: &str, revision: i64) -> Result<CompactionResponse, Status> {
        let r = self
            .c
            .kv
            .compact(CompactionRequest {
                revision,
                physical: true,
            })
            .await
            .map(|r| {
                let mut r = r.into_inner();
                norm_header(&mut r.header);
                r
            });
        self.record(step, &r);
        r
    }

    async fn grant(&mut self, id: i64, ttl: i64) {
        let r = self
            .c
            .lease
            .lease_grant(LeaseGrantRequest { ttl, id })
            .await
            .map(|r| {
                let mut r = r.into_inner();
                norm_header(&mut r.header);
                r
            });
        self.record(&format!("grant {id:x}"), &r);
        let r = r.unwrap_or_else(|e| panic!("{}: lease grant: {e}", self.who));
        assert_eq!(r.id, id, "{}: granted lease id", self.who);
    }

    async fn revoke(&mut self, id: i64) -> i64 {
        let r = self
            .c
            .lease
            .lease_revoke(LeaseRevokeRequest { id })
            .await
            .map(|r| {
                let mut r = r.into_inner();
                norm_header(&mut r.header);
                r
            });
        self.record(&format!("revoke {id:x}"), &r);
        let r = r.unwrap_or_else(|e| panic!("{}: lease revoke: {e}", self.who));
        rev_of(&r.header)
    }

    async fn rev(&mut self) -> i64 {
        let r = self
            .range_ok(
                "current revision",
                RangeRequest {
                    key: b"\0".to_vec(),
                    count_only: true,
                    ..Default::default()
                },
            )
            .await;
        rev_of(&r.header)
    }
}

fn put_req(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn get(key: &str) -> RangeRequest {
    RangeRequest {
        key: key.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn get_range(key: &str, end: &str) -> RangeRequest {
    RangeRequest {
        key: key.as_bytes().to_vec(),
        range_end: end.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn del(key: &str, end: &str) -> DeleteRangeRequest {
    DeleteRangeRequest {
        key: key.as_bytes().to_vec(),
        range_end: end.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn op_put(key: &str, value: &str) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(put_req(key, value))),
    }
}

fn op_get(req: RangeRequest) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestRange(req)),
    }
}

fn op_del(req: DeleteRangeRequest) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestDeleteRange(req)),
    }
}

fn op_txn(t: TxnRequest) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestTxn(t)),
    }
}

fn cmp(key: &str, target: CompareTarget, result: CompareResult, tu: TargetUnion) -> Compare {
    Compare {
        result: result as i32,
        target: target as i32,
        key: key.as_bytes().to_vec(),
        range_end: Vec::new(),
        target_union: Some(tu),
    }
}

fn keys(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

fn values(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter()
        .map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
        .collect()
}

fn kv_summary(kv: &KeyValue) -> (String, String, i64, i64, i64, i64) {
    (
        String::from_utf8_lossy(&kv.key).into_owned(),
        String::from_utf8_lossy(&kv.value).into_owned(),
        kv.create_revision,
        kv.mod_revision,
        kv.version,
        kv.lease,
    )
}

fn s(
    k: &str,
    v: &str,
    create: i64,
    m: i64,
    ver: i64,
    lease: i64,
) -> (String, String, i64, i64, i64, i64) {
    (k.into(), v.into(), create, m, ver, lease)
}

fn expect_status<T: std::fmt::Debug>(
    who: &str,
    step: &str,
    r: Result<T, Status>,
    code: Code,
    msg: &str,
) {
    match r {
        Ok(v) => panic!("{who}: {step}: expected {code:?} {msg:?}, got {v:?}"),
        Err(e) => assert_eq!(
            (e.code(), e.message()),
            (code, msg),
            "{who}: {step}: wrong status"
        ),
    }
}

fn range_resp(r: &response_op::Response) -> &RangeResponse {
    match r {
        response_op::Response::ResponseRange(p) => p,
        other => panic!("expected a range response, got {other:?}"),
    }
}

fn txn_resp(r: &response_op::Response) -> &TxnResponse {
    match r {
        response_op::Response::ResponseTxn(p) => p,
        other => panic!("expected a txn response, got {other:?}"),
    }
}

fn del_resp(r: &response_op::Response) -> &DeleteRangeResponse {
    match r {
        response_op::Response::ResponseDeleteRange(p) => p,
        other => panic!("expected a delete response, got {other:?}"),
    }
}

fn resp(t: &TxnResponse, i: usize) -> &response_op::Response {
    t.responses[i]
        .response
        .as_ref()
        .expect("response op is set")
}

/// Runs `$scenario` against real etcd (when installed), then oxcd, and
/// compares the transcripts.
macro_rules! against_etcd_and_oxcd {
    ($scenario:ident) => {
        bounded(Duration::from_secs(55), async {
            let mut etcd_log = None;
            if let Some(bin) = etcd_bin() {
                let dir = tempfile::tempdir().expect("tempdir");
                let srv = Server::start_bin(&bin, dir.path(), &[]).await;
                let mut run = Run {
                    who: "etcd 3.5.1",
                    c: srv.clients().await,
                    log: Vec::new(),
                };
                $scenario(&mut run).await;
                etcd_log = Some(run.log);
            }
            let dir = tempfile::tempdir().expect("tempdir");
            let srv = Oxcd::start(dir.path(), &[]).await;
            let mut run = Run {
                who: "oxcd",
                c: srv.clients().await,
                log: Vec::new(),
            };
            $scenario(&mut run).await;
            srv.assert_no_panic();
            if let Some(want) = etcd_log {
                for (i, (e, o)) in want.iter().zip(run.log.iter()).enumerate() {
                    assert_eq!(
                        o, e,
                        "step {i}: oxcd (left) differs from etcd 3.5.1 (right)"
                    );
                }
                assert_eq!(run.log.len(), want.len(), "transcript lengths");
            }
        })
        .await
    };
}

// ---- tests --------------------------------------------------------------

#[tokio::test]
async fn mvcc_revisions() {
    against_etcd_and_oxcd!(revisions)
}

#[tokio::test]
async fn mvcc_compaction() {
    against_etcd_and_oxcd!(compaction)
}

#[tokio::test]
async fn mvcc_range_options() {
    against_etcd_and_oxcd!(range_options)
}

#[tokio::test]
async fn mvcc_txn_semantics() {
    against_etcd_and_oxcd!(txn_semantics)
}

#[tokio::test]
async fn mvcc_nested_txn_branches() {
    against_etcd_and_oxcd!(nested_txn_branches)
}

#[tokio::test]
async fn mvcc_put_and_delete_options() {
    against_etcd_and_oxcd!(put_and_delete_options)
}
