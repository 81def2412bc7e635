//! MVCC semantics through the gRPC API. Each scenario asserts concrete
//! values and records every response; it runs first against real etcd 3.5.1
//! (when installed: this proves the expectations), then against oxcd, and the
//! two transcripts must then be identical (headers compared by revision only).

mod common;

use common::*;
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

// ---- scenarios ----------------------------------------------------------

/// One revision per modifying request; none for requests that change nothing.
async fn revisions(r: &mut Run) {
    let who = r.who;
    assert_eq!(r.rev().await, 1, "{who}: a fresh store is at revision 1");
    r.put_ok("a", "1", 2).await;
    r.put_ok("b", "1", 3).await;
    r.put_ok("a", "2", 4).await;

    let d = r
        .delete("delete missing key", del("nothing", ""))
        .await
        .expect("delete");
    assert_eq!(
        (d.deleted, rev_of(&d.header)),
        (0, 4),
        "{who}: deleting nothing"
    );
    let d = r
        .delete("delete empty range", del("x", "y"))
        .await
        .expect("delete");
    assert_eq!(
        (d.deleted, rev_of(&d.header)),
        (0, 4),
        "{who}: deleting an empty range"
    );

    let t = r
        .txn_ok(
            "txn with three puts",
            TxnRequest {
                success: vec![op_put("c", "1"), op_put("d", "1"), op_put("e", "1")],
                ..Default::default()
            },
        )
        .await;
    assert!(t.succeeded);
    assert_eq!(
        rev_of(&t.header),
        5,
        "{who}: a txn of three puts is one revision"
    );
    let g = r.range_ok("c..f", get_range("c", "f")).await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![
            s("c", "1", 5, 5, 1, 0),
            s("d", "1", 5, 5, 1, 0),
            s("e", "1", 5, 5, 1, 0)
        ],
        "{who}: keys written by one txn"
    );

    let t = r
        .txn_ok(
            "txn put + delete",
            TxnRequest {
                success: vec![op_put("c", "2"), op_del(del("d", ""))],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(rev_of(&t.header), 6, "{who}: put + delete in one txn");
    let t = r
        .txn_ok(
            "read-only txn",
            TxnRequest {
                success: vec![op_get(get("a"))],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(rev_of(&t.header), 6, "{who}: read-only txn");
    let t = r
        .txn_ok(
            "failed compare, no failure ops",
            TxnRequest {
                compare: vec![cmp(
                    "a",
                    CompareTarget::Value,
                    CompareResult::Equal,
                    TargetUnion::Value(b"zzz".to_vec()),
                )],
                success: vec![op_put("a", "never")],
                ..Default::default()
            },
        )
        .await;
    assert!(!t.succeeded, "{who}: compare a == zzz");
    assert_eq!(rev_of(&t.header), 6, "{who}: a txn that writes nothing");
    let t = r
        .txn_ok(
            "txn deleting nothing",
            TxnRequest {
                success: vec![op_del(del("nothing", ""))],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(rev_of(&t.header), 6, "{who}: a txn that deletes nothing");

    let d = r
        .delete("delete a..c", del("a", "c"))
        .await
        .expect("delete");
    assert_eq!(
        (d.deleted, rev_of(&d.header)),
        (2, 7),
        "{who}: delete of a and b"
    );

    // historic reads: the header carries the current revision
    for (at, want) in [
        (3, Some(s("a", "1", 2, 2, 1, 0))),
        (4, Some(s("a", "2", 2, 4, 2, 0))),
        (6, Some(s("a", "2", 2, 4, 2, 0))),
        (7, None),
    ] {
        let g = r
            .range_ok(
                &format!("a at {at}"),
                RangeRequest {
                    revision: at,
                    ..get("a")
                },
            )
            .await;
        assert_eq!(
            g.kvs.first().map(kv_summary),
            want,
            "{who}: a at revision {at}"
        );
        assert_eq!(
            rev_of(&g.header),
            7,
            "{who}: header of a read at revision {at}"
        );
    }
    let g = r
        .range_ok(
            "everything at 1",
            RangeRequest {
                revision: 1,
                ..get_range("\0", "\0")
            },
        )
        .await;
    assert_eq!(
        (g.count, g.kvs.len()),
        (0, 0),
        "{who}: the store at revision 1"
    );
    let e = r
        .range(
            "future",
            RangeRequest {
                revision: 8,
                ..get("a")
            },
        )
        .await;
    expect_status(
        who,
        "read at a future revision",
        e,
        Code::OutOfRange,
        FUTURE,
    );

    // leases: grant and revoking an empty lease change nothing; revoking a
    // lease with keys deletes them in one revision
    r.grant(0x1234, 100).await;
    assert_eq!(r.rev().await, 7, "{who}: lease grant");
    let p = r
        .put(
            "put with lease",
            PutRequest {
                lease: 0x1234,
                ..put_req("l1", "v")
            },
        )
        .await
        .expect("put with lease");
    assert_eq!(rev_of(&p.header), 8);
    let p = r
        .put(
            "put with lease",
            PutRequest {
                lease: 0x1234,
                ..put_req("l2", "v")
            },
        )
        .await
        .expect("put with lease");
    assert_eq!(rev_of(&p.header), 9);
    assert_eq!(
        r.revoke(0x1234).await,
        10,
        "{who}: revoking a lease with two keys"
    );
    let g = r.range_ok("l1..l3", get_range("l1", "l3")).await;
    assert_eq!(g.count, 0, "{who}: keys of a revoked lease");
    let g = r
        .range_ok(
            "l1 at 9",
            RangeRequest {
                revision: 9,
                ..get_range("l1", "l3")
            },
        )
        .await;
    assert_eq!(g.count, 2, "{who}: keys of the lease before its revocation");
    r.grant(0x1235, 100).await;
    assert_eq!(
        r.revoke(0x1235).await,
        10,
        "{who}: revoking a lease without keys"
    );
    assert_eq!(r.rev().await, 10);
}

/// Compaction: what stays readable, and the two errors.
async fn compaction(r: &mut Run) {
    let who = r.who;
    for i in 1..=5 {
        r.put_ok("k", &format!("v{i}"), i + 1).await;
    }
    let c = r.compact("compact 4", 4).await.expect("compact 4");
    assert_eq!(rev_of(&c.header), 6, "{who}: compaction header");
    let e = r
        .range(
            "k at 3",
            RangeRequest {
                revision: 3,
                ..get("k")
            },
        )
        .await;
    expect_status(
        who,
        "read below the compaction",
        e,
        Code::OutOfRange,
        COMPACTED,
    );
    let g = r
        .range_ok(
            "k at 4",
            RangeRequest {
                revision: 4,
                ..get("k")
            },
        )
        .await;
    assert_eq!(
        values(&g.kvs),
        vec!["v3"],
        "{who}: read at the compaction revision"
    );
    let e = r.compact("compact 4 again", 4).await;
    expect_status(who, "compact 4 again", e, Code::OutOfRange, COMPACTED);
    let e = r.compact("compact 3", 3).await;
    expect_status(who, "compact below", e, Code::OutOfRange, COMPACTED);
    let e = r.compact("compact 7", 7).await;
    expect_status(who, "compact in the future", e, Code::OutOfRange, FUTURE);
    // a read inside a txn is checked the same way
    let e = r
        .txn(
            "txn reading at 3",
            TxnRequest {
                success: vec![op_get(RangeRequest {
                    revision: 3,
                    ..get("k")
                })],
                ..Default::default()
            },
        )
        .await;
    expect_status(
        who,
        "txn read below the compaction",
        e,
        Code::OutOfRange,
        COMPACTED,
    );
    r.compact("compact 6", 6)
        .await
        .expect("compact at the current revision");
    let e = r
        .range(
            "k at 5",
            RangeRequest {
                revision: 5,
                ..get("k")
            },
        )
        .await;
    expect_status(
        who,
        "read below the second compaction",
        e,
        Code::OutOfRange,
        COMPACTED,
    );
    let g = r
        .range_ok(
            "k at 6",
            RangeRequest {
                revision: 6,
                ..get("k")
            },
        )
        .await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("k", "v5", 2, 6, 5, 0)],
        "{who}: k after compaction keeps its create revision and version"
    );
    // a key deleted before the compaction point is gone; writes go on
    r.put_ok("gone", "x", 7).await;
    let d = r
        .delete("delete gone", del("gone", ""))
        .await
        .expect("delete");
    assert_eq!(rev_of(&d.header), 8);
    r.compact("compact 8", 8).await.expect("compact 8");
    let g = r
        .range_ok(
            "gone at 8",
            RangeRequest {
                revision: 8,
                ..get("gone")
            },
        )
        .await;
    assert_eq!(g.count, 0, "{who}: deleted key after compaction");
    r.put_ok("gone", "y", 9).await;
    let g = r.range_ok("gone", get("gone")).await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("gone", "y", 9, 9, 1, 0)],
        "{who}: a key recreated after compaction starts at version 1"
    );
}

/// Range options: limit, count, more, sort, filters, keys/count only, from-key.
async fn range_options(r: &mut Run) {
    let who = r.who;
    // k1..k5 at revisions 2..6 with values e..a; k2 again at 7; l1 at 8; j at 9
    for (i, v) in ["e", "d", "c", "b", "a"].iter().enumerate() {
        r.put_ok(&format!("k{}", i + 1), v, i as i64 + 2).await;
    }
    r.put_ok("k2", "dd", 7).await;
    r.put_ok("l1", "x", 8).await;
    r.put_ok("j", "x", 9).await;

    let g = r.range_ok("prefix k", get_range("k", "l")).await;
    assert_eq!(
        keys(&g.kvs),
        vec!["k1", "k2", "k3", "k4", "k5"],
        "{who}: prefix k"
    );
    assert_eq!((g.count, g.more), (5, false));
    assert_eq!(rev_of(&g.header), 9);

    for (limit, n, more) in [
        (1, 1, true),
        (2, 2, true),
        (4, 4, true),
        (5, 5, false),
        (6, 5, false),
    ] {
        let g = r
            .range_ok(
                &format!("limit {limit}"),
                RangeRequest {
                    limit,
                    ..get_range("k", "l")
                },
            )
            .await;
        assert_eq!(
            (g.kvs.len(), g.count, g.more),
            (n, 5, more),
            "{who}: (returned, count, more) with limit {limit}"
        );
    }

    let sorted = |target: SortTarget, order: SortOrder, limit: i64| RangeRequest {
        sort_target: target as i32,
        sort_order: order as i32,
        limit,
        ..get_range("k", "l")
    };
    let cases: Vec<(&str, RangeRequest, Vec<&str>)> = vec![
        (
            "value ascend",
            sorted(SortTarget::Value, SortOrder::Ascend, 0),
            vec!["k5", "k4", "k3", "k2", "k1"],
        ),
        (
            "value descend limit 2",
            sorted(SortTarget::Value, SortOrder::Descend, 2),
            vec!["k1", "k2"],
        ),
        (
            "key descend",
            sorted(SortTarget::Key, SortOrder::Descend, 0),
            vec!["k5", "k4", "k3", "k2", "k1"],
        ),
        (
            "key ascend limit 3",
            sorted(SortTarget::Key, SortOrder::Ascend, 3),
            vec!["k1", "k2", "k3"],
        ),
        (
            "mod descend",
            sorted(SortTarget::Mod, SortOrder::Descend, 0),
            vec!["k2", "k5", "k4", "k3", "k1"],
        ),
        (
            "mod ascend limit 2",
            sorted(SortTarget::Mod, SortOrder::Ascend, 2),
            vec!["k1", "k3"],
        ),
        (
            "create descend",
            sorted(SortTarget::Create, SortOrder::Descend, 0),
            vec!["k5", "k4", "k3", "k2", "k1"],
        ),
        // a sort target with order NONE sorts ascending
        (
            "mod none",
            sorted(SortTarget::Mod, SortOrder::None, 0),
            vec!["k1", "k3", "k4", "k5", "k2"],
        ),
    ];
    for (what, req, want) in cases {
        let g = r.range_ok(what, req).await;
        assert_eq!(keys(&g.kvs), want, "{who}: sort {what}");
        assert_eq!(g.count, 5, "{who}: count with sort {what}");
    }
    let g = r
        .range_ok(
            "value descend limit 2: more",
            sorted(SortTarget::Value, SortOrder::Descend, 2),
        )
        .await;
    assert!(g.more, "{who}: more with sort and limit");

    // versions 3, 1, 2: distinct, so the order is defined
    r.put_ok("v/a", "1", 10).await;
    r.put_ok("v/a", "2", 11).await;
    r.put_ok("v/a", "3", 12).await;
    r.put_ok("v/b", "1", 13).await;
    r.put_ok("v/c", "1", 14).await;
    r.put_ok("v/c", "2", 15).await;
    let g = r
        .range_ok(
            "version descend",
            RangeRequest {
                sort_target: SortTarget::Version as i32,
                sort_order: SortOrder::Descend as i32,
                ..get_range("v/", "v0")
            },
        )
        .await;
    assert_eq!(
        keys(&g.kvs),
        vec!["v/a", "v/c", "v/b"],
        "{who}: sort by version"
    );

    let g = r
        .range_ok(
            "count only",
            RangeRequest {
                count_only: true,
                ..get_range("k", "l")
            },
        )
        .await;
    assert_eq!(
        (g.count, g.kvs.len(), g.more),
        (5, 0, false),
        "{who}: count_only"
    );
    let g = r
        .range_ok(
            "count only limit 2",
            RangeRequest {
                count_only: true,
                limit: 2,
                ..get_range("k", "l")
            },
        )
        .await;
    assert_eq!(
        (g.count, g.kvs.len()),
        (5, 0),
        "{who}: count_only with limit"
    );
    let g = r
        .range_ok(
            "keys only",
            RangeRequest {
                keys_only: true,
                ..get_range("k", "l")
            },
        )
        .await;
    assert_eq!(keys(&g.kvs), vec!["k1", "k2", "k3", "k4", "k5"]);
    assert!(
        g.kvs.iter().all(|kv| kv.value.is_empty()),
        "{who}: keys_only returns no values"
    );
    assert_eq!(
        g.kvs[1].mod_revision, 7,
        "{who}: keys_only keeps the metadata"
    );

    // revision filters (applied after the fetch; count is before them)
    let filtered = |min_mod, max_mod, min_create, max_create, limit| RangeRequest {
        min_mod_revision: min_mod,
        max_mod_revision: max_mod,
        min_create_revision: min_create,
        max_create_revision: max_create,
        limit,
        ..get_range("k", "l")
    };
    let cases: Vec<(&str, RangeRequest, Vec<&str>)> = vec![
        (
            "min mod 4",
            filtered(4, 0, 0, 0, 0),
            vec!["k2", "k3", "k4", "k5"],
        ),
        ("max mod 5", filtered(0, 5, 0, 0, 0), vec!["k1", "k3", "k4"]),
        ("mod 4..=6", filtered(4, 6, 0, 0, 0), vec!["k3", "k4", "k5"]),
        (
            "min create 3",
            filtered(0, 0, 3, 0, 0),
            vec!["k2", "k3", "k4", "k5"],
        ),
        (
            "create 3..=5",
            filtered(0, 0, 3, 5, 0),
            vec!["k2", "k3", "k4"],
        ),
        (
            "min mod 4 limit 2",
            filtered(4, 0, 0, 0, 2),
            vec!["k2", "k3"],
        ),
    ];
    for (what, req, want) in cases {
        let g = r.range_ok(what, req).await;
        assert_eq!(keys(&g.kvs), want, "{who}: filter {what}");
    }

    // from-key ranges: range_end "\0" means "to the end"
    let g = r.range_ok("from k3", get_range("k3", "\0")).await;
    assert_eq!(
        keys(&g.kvs),
        vec!["k3", "k4", "k5", "l1", "v/a", "v/b", "v/c"],
        "{who}: from k3"
    );
    let g = r.range_ok("all", get_range("\0", "\0")).await;
    assert_eq!(g.count, 10, "{who}: every key");
    assert_eq!(keys(&g.kvs)[0], "j");
    let g = r
        .range_ok("range_end before key", get_range("k5", "k1"))
        .await;
    assert_eq!(g.count, 0, "{who}: an inverted range is empty");
    let g = r.range_ok("missing key", get("k9")).await;
    assert_eq!((g.count, g.kvs.len()), (0, 0), "{who}: a missing key");
    let g = r
        .range_ok(
            "prefix k at 4",
            RangeRequest {
                revision: 4,
                ..get_range("k", "l")
            },
        )
        .await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![
            s("k1", "e", 2, 2, 1, 0),
            s("k2", "d", 3, 3, 1, 0),
            s("k3", "c", 4, 4, 1, 0)
        ],
        "{who}: prefix k at revision 4"
    );
    assert_eq!(g.count, 3, "{who}: count at revision 4");
}

/// Txn compares on every target, both branches, reads of the txn's own
/// writes, and nested txns.
async fn txn_semantics(r: &mut Run) {
    let who = r.who;
    r.grant(0x77, 100).await;
    r.put_ok("a", "1", 2).await;
    let p = r
        .put(
            "put b with lease",
            PutRequest {
                lease: 0x77,
                ..put_req("b", "x")
            },
        )
        .await
        .expect("put b");
    assert_eq!(rev_of(&p.header), 3);

    use CompareResult::*;
    use CompareTarget::*;
    let cases: Vec<(&str, Compare, bool)> = vec![
        (
            "value a = 1",
            cmp("a", Value, Equal, TargetUnion::Value(b"1".to_vec())),
            true,
        ),
        (
            "value a > 0",
            cmp("a", Value, Greater, TargetUnion::Value(b"0".to_vec())),
            true,
        ),
        (
            "value a < 1",
            cmp("a", Value, Less, TargetUnion::Value(b"1".to_vec())),
            false,
        ),
        (
            "value a != 2",
            cmp("a", Value, NotEqual, TargetUnion::Value(b"2".to_vec())),
            true,
        ),
        (
            "version a = 1",
            cmp("a", Version, Equal, TargetUnion::Version(1)),
            true,
        ),
        (
            "version a > 1",
            cmp("a", Version, Greater, TargetUnion::Version(1)),
            false,
        ),
        (
            "create a = 2",
            cmp("a", Create, Equal, TargetUnion::CreateRevision(2)),
            true,
        ),
        (
            "mod a < 3",
            cmp("a", Mod, Less, TargetUnion::ModRevision(3)),
            true,
        ),
        (
            "mod a = 3",
            cmp("a", Mod, Equal, TargetUnion::ModRevision(3)),
            false,
        ),
        (
            "lease b = 0x77",
            cmp("b", Lease, Equal, TargetUnion::Lease(0x77)),
            true,
        ),
        (
            "lease a = 0",
            cmp("a", Lease, Equal, TargetUnion::Lease(0)),
            true,
        ),
        (
            "missing: version = 0",
            cmp("zz", Version, Equal, TargetUnion::Version(0)),
            true,
        ),
        (
            "missing: create = 0",
            cmp("zz", Create, Equal, TargetUnion::CreateRevision(0)),
            true,
        ),
        (
            "missing: mod = 0",
            cmp("zz", Mod, Equal, TargetUnion::ModRevision(0)),
            true,
        ),
        (
            "missing: value = empty",
            cmp("zz", Value, Equal, TargetUnion::Value(Vec::new())),
            false,
        ),
        (
            "missing: value != x",
            cmp("zz", Value, NotEqual, TargetUnion::Value(b"x".to_vec())),
            false,
        ),
        (
            "range a..c: version > 0",
            Compare {
                range_end: b"c".to_vec(),
                ..cmp("a", Version, Greater, TargetUnion::Version(0))
            },
            true,
        ),
        (
            "range a..c: lease = 0x77",
            Compare {
                range_end: b"c".to_vec(),
                ..cmp("a", Lease, Equal, TargetUnion::Lease(0x77))
            },
            false,
        ),
    ];
    for (what, c, want) in cases {
        let t = r
            .txn_ok(
                &format!("compare {what}"),
                TxnRequest {
                    compare: vec![c],
                    success: vec![op_get(get("a"))],
                    failure: vec![op_get(get("b"))],
                },
            )
            .await;
        assert_eq!(t.succeeded, want, "{who}: compare {what}");
        let g = range_resp(resp(&t, 0));
        assert_eq!(
            keys(&g.kvs),
            vec![if want { "a" } else { "b" }],
            "{who}: branch taken for {what}"
        );
        assert_eq!(rev_of(&t.header), 3, "{who}: read-only txn header");
    }

    // success branch: writes then reads its own writes; responses in order
    let t = r
        .txn_ok(
            "write then read",
            TxnRequest {
                compare: vec![cmp("a", Value, Equal, TargetUnion::Value(b"1".to_vec()))],
                success: vec![
                    op_put("a", "2"),
                    op_get(get("a")),
                    op_put("c", "1"),
                    op_get(get_range("a", "d")),
                ],
                failure: vec![],
            },
        )
        .await;
    assert!(t.succeeded);
    assert_eq!(rev_of(&t.header), 4, "{who}: write txn");
    assert_eq!(t.responses.len(), 4);
    let g = range_resp(resp(&t, 1));
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("a", "2", 2, 4, 2, 0)],
        "{who}: a txn reads its own put"
    );
    assert_eq!(keys(&range_resp(resp(&t, 3)).kvs), vec!["a", "b", "c"]);

    // failure branch with a put and a delete
    let t = r
        .txn_ok(
            "failure branch",
            TxnRequest {
                compare: vec![cmp("a", Version, Equal, TargetUnion::Version(1))],
                success: vec![op_put("never", "x")],
                failure: vec![
                    op_put("f", "1"),
                    op_del(DeleteRangeRequest {
                        prev_kv: true,
                        ..del("c", "")
                    }),
                ],
            },
        )
        .await;
    assert!(!t.succeeded, "{who}: a has version 2");
    assert_eq!(rev_of(&t.header), 5);
    let d = del_resp(resp(&t, 1));
    assert_eq!(d.deleted, 1);
    assert_eq!(
        d.prev_kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("c", "1", 4, 4, 1, 0)],
        "{who}: prev_kv of a delete in a txn"
    );
    let g = r.range_ok("never", get("never")).await;
    assert_eq!(g.count, 0, "{who}: the success branch did not run");

    // nested txns: the inner compare, the inner branch's writes, one revision
    let inner = TxnRequest {
        compare: vec![cmp("a", Value, Equal, TargetUnion::Value(b"2".to_vec()))],
        success: vec![op_put("n2", "inner-success"), op_get(get("n1"))],
        failure: vec![op_put("n2-failure", "inner-failure")],
    };
    let t = r
        .txn_ok(
            "nested",
            TxnRequest {
                compare: vec![cmp("f", Version, Equal, TargetUnion::Version(1))],
                success: vec![op_put("n1", "outer"), op_txn(inner)],
                failure: vec![],
            },
        )
        .await;
    assert!(t.succeeded);
    assert_eq!(
        rev_of(&t.header),
        6,
        "{who}: a nested txn is part of one revision"
    );
    let n = txn_resp(resp(&t, 1));
    assert!(n.succeeded, "{who}: inner compare");
    assert_eq!(
        keys(&range_resp(resp(n, 1)).kvs),
        vec!["n1"],
        "{who}: the inner txn sees the outer put"
    );
    let g = r.range_ok("n1..n3", get_range("n1", "n3")).await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![
            s("n1", "outer", 6, 6, 1, 0),
            s("n2", "inner-success", 6, 6, 1, 0)
        ],
        "{who}: writes of a nested txn"
    );

    // a failing put inside a txn fails the whole txn, writing nothing
    let e = r
        .txn(
            "txn with an unknown lease",
            TxnRequest {
                success: vec![
                    op_put("g", "1"),
                    RequestOp {
                        request: Some(request_op::Request::RequestPut(PutRequest {
                            lease: 0x999,
                            ..put_req("h", "1")
                        })),
                    },
                ],
                ..Default::default()
            },
        )
        .await;
    expect_status(
        who,
        "txn with an unknown lease",
        e,
        Code::NotFound,
        "etcdserver: requested lease not found",
    );
    let g = r.range_ok("g", get("g")).await;
    assert_eq!(g.count, 0, "{who}: a failed txn wrote g");
    assert_eq!(r.rev().await, 6, "{who}: a failed txn changed the revision");

    // the inner compare is evaluated against the state before the txn
    let inner = TxnRequest {
        compare: vec![cmp("n3", Version, Equal, TargetUnion::Version(0))],
        success: vec![op_put("n4", "saw-n3-missing")],
        failure: vec![op_put("n5", "saw-n3-present")],
    };
    r.txn_ok(
        "nested compare after an outer put",
        TxnRequest {
            compare: vec![],
            success: vec![op_put("n3", "x"), op_txn(inner)],
            failure: vec![],
        },
    )
    .await;
    let g = r.range_ok("n4..n6", get_range("n4", "n6")).await;
    assert_eq!(
        values(&g.kvs),
        vec!["saw-n3-missing"],
        "{who}: a nested compare does not see the outer txn's writes"
    );
}

/// The two branches of a nested txn may write the same key (only one runs),
/// also a key the other branch of the outer txn writes.
async fn nested_txn_branches(r: &mut Run) {
    let who = r.who;
    r.put_ok("a", "1", 2).await;
    let inner = TxnRequest {
        compare: vec![cmp(
            "a",
            CompareTarget::Value,
            CompareResult::Equal,
            TargetUnion::Value(b"1".to_vec()),
        )],
        success: vec![op_put("x", "inner-success")],
        failure: vec![op_put("x", "inner-failure")],
    };
    let t = r
        .txn_ok(
            "same key in both inner branches",
            TxnRequest {
                compare: vec![],
                success: vec![op_put("y", "outer"), op_txn(inner)],
                failure: vec![op_put("x", "outer-failure")],
            },
        )
        .await;
    assert!(t.succeeded);
    assert_eq!(rev_of(&t.header), 3, "{who}: nested txn revision");
    let g = r.range_ok("x", get("x")).await;
    assert_eq!(
        values(&g.kvs),
        vec!["inner-success"],
        "{who}: inner success branch ran"
    );
    // but an inner write clashing with an outer write of the same branch is refused
    let inner = TxnRequest {
        compare: vec![],
        success: vec![op_put("y", "inner")],
        failure: vec![],
    };
    let e = r
        .txn(
            "inner put of an outer key",
            TxnRequest {
                compare: vec![],
                success: vec![op_put("y", "outer"), op_txn(inner)],
                failure: vec![],
            },
        )
        .await;
    expect_status(
        who,
        "inner put of an outer key",
        e,
        Code::InvalidArgument,
        "etcdserver: duplicate key given in txn request",
    );
    assert_eq!(r.rev().await, 3, "{who}: refused txn changed the revision");
}

/// Put prev_kv / ignore_value / ignore_lease, lease errors, delete prev_kv.
async fn put_and_delete_options(r: &mut Run) {
    let who = r.who;
    let p = r
        .put(
            "put k prev_kv (new)",
            PutRequest {
                prev_kv: true,
                ..put_req("k", "v1")
            },
        )
        .await
        .expect("put");
    assert_eq!(
        (rev_of(&p.header), p.prev_kv.is_none()),
        (2, true),
        "{who}: prev_kv of a new key"
    );
    let p = r
        .put(
            "put k prev_kv",
            PutRequest {
                prev_kv: true,
                ..put_req("k", "v2")
            },
        )
        .await
        .expect("put");
    assert_eq!(
        p.prev_kv.as_ref().map(kv_summary),
        Some(s("k", "v1", 2, 2, 1, 0)),
        "{who}: prev_kv"
    );
    let p = r
        .put("put k no prev_kv", put_req("k", "v3"))
        .await
        .expect("put");
    assert!(p.prev_kv.is_none(), "{who}: prev_kv not asked for");

    r.grant(0x99, 100).await;
    let p = r
        .put(
            "put k with lease",
            PutRequest {
                lease: 0x99,
                ..put_req("k", "v4")
            },
        )
        .await
        .expect("put");
    assert_eq!(rev_of(&p.header), 5);
    // ignore_lease keeps the lease, takes the new value
    let p = r
        .put(
            "put k ignore_lease",
            PutRequest {
                ignore_lease: true,
                prev_kv: true,
                ..put_req("k", "v5")
            },
        )
        .await
        .expect("put ignore_lease");
    assert_eq!(rev_of(&p.header), 6);
    let g = r.range_ok("k", get("k")).await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("k", "v5", 2, 6, 5, 0x99)],
        "{who}: after ignore_lease"
    );
    // ignore_value keeps the value; the lease follows the request (none here)
    let p = r
        .put(
            "put k ignore_value",
            PutRequest {
                ignore_value: true,
                ..put_req("k", "")
            },
        )
        .await
        .expect("put ignore_value");
    assert_eq!(rev_of(&p.header), 7);
    let g = r.range_ok("k", get("k")).await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("k", "v5", 2, 7, 6, 0)],
        "{who}: after ignore_value without a lease"
    );
    // both: a pure version bump
    let p = r
        .put(
            "put k ignore both",
            PutRequest {
                ignore_value: true,
                ignore_lease: true,
                ..put_req("k", "")
            },
        )
        .await
        .expect("put ignore both");
    assert_eq!(rev_of(&p.header), 8);

    let rev = 8;
    let missing = "etcdserver: key not found";
    let e = r
        .put(
            "ignore_value on a missing key",
            PutRequest {
                ignore_value: true,
                ..put_req("missing", "")
            },
        )
        .await;
    expect_status(
        who,
        "ignore_value on a missing key",
        e,
        Code::InvalidArgument,
        missing,
    );
    let e = r
        .put(
            "ignore_lease on a missing key",
            PutRequest {
                ignore_lease: true,
                ..put_req("missing", "v")
            },
        )
        .await;
    expect_status(
        who,
        "ignore_lease on a missing key",
        e,
        Code::InvalidArgument,
        missing,
    );
    let e = r
        .put(
            "ignore_value with a value",
            PutRequest {
                ignore_value: true,
                ..put_req("k", "v")
            },
        )
        .await;
    expect_status(
        who,
        "ignore_value with a value",
        e,
        Code::InvalidArgument,
        "etcdserver: value is provided",
    );
    let e = r
        .put(
            "ignore_lease with a lease",
            PutRequest {
                ignore_lease: true,
                lease: 0x99,
                ..put_req("k", "v")
            },
        )
        .await;
    expect_status(
        who,
        "ignore_lease with a lease",
        e,
        Code::InvalidArgument,
        "etcdserver: lease is provided",
    );
    let e = r
        .put(
            "unknown lease",
            PutRequest {
                lease: 0x12345,
                ..put_req("k", "v")
            },
        )
        .await;
    expect_status(
        who,
        "put with an unknown lease",
        e,
        Code::NotFound,
        "etcdserver: requested lease not found",
    );
    assert_eq!(
        r.rev().await,
        rev,
        "{who}: refused puts changed the revision"
    );

    // delete with and without prev_kv
    r.put_ok("m1", "1", 9).await;
    r.put_ok("m2", "2", 10).await;
    r.put_ok("m3", "3", 11).await;
    let d = r
        .delete(
            "delete m1..m3 prev_kv",
            DeleteRangeRequest {
                prev_kv: true,
                ..del("m1", "m3")
            },
        )
        .await
        .expect("delete");
    assert_eq!(
        (d.deleted, rev_of(&d.header)),
        (2, 12),
        "{who}: delete m1..m3"
    );
    assert_eq!(
        d.prev_kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("m1", "1", 9, 9, 1, 0), s("m2", "2", 10, 10, 1, 0)],
        "{who}: prev_kvs of the delete"
    );
    let d = r.delete("delete m3", del("m3", "")).await.expect("delete");
    assert_eq!(
        (d.deleted, d.prev_kvs.len()),
        (1, 0),
        "{who}: delete without prev_kv"
    );
    let d = r
        .delete(
            "delete everything prev_kv",
            DeleteRangeRequest {
                prev_kv: true,
                ..del("\0", "\0")
            },
        )
        .await
        .expect("delete all");
    assert_eq!(keys(&d.prev_kvs), vec!["k"], "{who}: delete from \\0");
    assert_eq!(rev_of(&d.header), 14);
    // a deleted key comes back at version 1 with a new create revision
    r.put_ok("k", "again", 15).await;
    let g = r.range_ok("k", get("k")).await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("k", "again", 15, 15, 1, 0)],
        "{who}: recreated key"
    );
    let g = r
        .range_ok(
            "k at 13",
            RangeRequest {
                revision: 13,
                ..get("k")
            },
        )
        .await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("k", "v5", 2, 8, 7, 0)],
        "{who}: k before the delete"
    );
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
