//! Requests over the limits and invalid requests: etcd's codes and texts,
//! nothing written, no panic, and the server keeps serving. Covered: the
//! request size and txn-ops limits, the gRPC receive limit, txns writing one
//! key twice, empty keys, and the backend quota (NOSPACE alarm, what still
//! works, the alarm surviving a restart). The checks also run against real
//! etcd 3.5.1 when it is installed, proving the expectations.

mod common;

use common::*;
use oxcd_proto::etcdserverpb::alarm_request::AlarmAction;
use oxcd_proto::etcdserverpb::{
    request_op, AlarmRequest, AlarmType, Compare, DeleteRangeRequest, LeaseGrantRequest,
    PutRequest, RangeRequest, RequestOp, StatusRequest, TxnRequest,
};
use std::time::Duration;
use tonic::Code;

fn put_op(key: &[u8], value: &[u8]) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            ..Default::default()
        })),
    }
}

fn expect_err(what: &str, r: Result<impl std::fmt::Debug, tonic::Status>, code: Code, msg: &str) {
    match r {
        Ok(v) => panic!("{what}: expected {code:?} {msg:?}, got success {v:?}"),
        Err(e) => {
            assert_eq!(
                (e.code(), e.message()),
                (code, msg),
                "{what}: wrong gRPC status"
            );
        }
    }
}

/// Is `key` absent, and is the revision still `rev`?
async fn assert_not_written(c: &mut Clients, what: &str, key: &[u8], rev: i64) {
    let r =
        c.kv.range(RangeRequest {
            key: key.to_vec(),
            ..Default::default()
        })
        .await
        .expect("range")
        .into_inner();
    assert_eq!(r.count, 0, "{what}: the rejected key was written");
    assert_eq!(
        r.header.expect("header").revision,
        rev,
        "{what}: a rejected request changed the revision"
    );
}

const LIMIT_FLAGS: [&str; 4] = ["--max-request-bytes", "4096", "--max-txn-ops", "4"];

/// `--max-request-bytes 4096 --max-txn-ops 4`.
async fn check_limits(c: &mut Clients, who: &str) {
    let rev = put(c, "base", "x").await;
    // under the limit: fine
    let small = vec![b's'; 3000];
    let r =
        c.kv.put(PutRequest {
            key: b"small".to_vec(),
            value: small,
            ..Default::default()
        })
        .await;
    assert!(
        r.is_ok(),
        "{who}: a 3000-byte put under a 4096 limit failed: {r:?}"
    );
    let rev = rev + 1;
    // over it: etcd's own error, nothing written
    let big = vec![b'b'; 8000];
    let r =
        c.kv.put(PutRequest {
            key: b"big".to_vec(),
            value: big.clone(),
            ..Default::default()
        })
        .await;
    expect_err(
        &format!("{who}: 8000-byte put"),
        r,
        Code::InvalidArgument,
        "etcdserver: request is too large",
    );
    assert_not_written(c, &format!("{who}: big put"), b"big", rev).await;
    let r =
        c.kv.txn(TxnRequest {
            success: vec![put_op(b"big", &big)],
            ..Default::default()
        })
        .await;
    expect_err(
        &format!("{who}: 8000-byte txn"),
        r,
        Code::InvalidArgument,
        "etcdserver: request is too large",
    );
    assert_not_written(c, &format!("{who}: big txn"), b"big", rev).await;
    // max-txn-ops: 4 ops fine (one revision), 5 refused
    let four: Vec<RequestOp> = (0..4)
        .map(|i| put_op(format!("t{i}").as_bytes(), b"v"))
        .collect();
    let r =
        c.kv.txn(TxnRequest {
            success: four,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{who}: txn with 4 ops under --max-txn-ops 4: {e}"))
        .into_inner();
    assert_eq!(
        r.header.expect("header").revision,
        rev + 1,
        "{who}: 4-op txn"
    );
    let rev = rev + 1;
    let five: Vec<RequestOp> = (0..5)
        .map(|i| put_op(format!("u{i}").as_bytes(), b"v"))
        .collect();
    let r =
        c.kv.txn(TxnRequest {
            success: five,
            ..Default::default()
        })
        .await;
    expect_err(
        &format!("{who}: 5-op txn"),
        r,
        Code::InvalidArgument,
        "etcdserver: too many operations in txn request",
    );
    assert_not_written(c, &format!("{who}: 5-op txn"), b"u0", rev).await;
    let r =
        c.kv.txn(TxnRequest {
            failure: (0..5)
                .map(|i| put_op(format!("u{i}").as_bytes(), b"v"))
                .collect(),
            ..Default::default()
        })
        .await;
    expect_err(
        &format!("{who}: 5 failure ops"),
        r,
        Code::InvalidArgument,
        "etcdserver: too many operations in txn request",
    );
    let cmp: Vec<Compare> = (0..5)
        .map(|i| Compare {
            key: format!("t{i}").into_bytes(),
            ..Default::default()
        })
        .collect();
    let r =
        c.kv.txn(TxnRequest {
            compare: cmp,
            success: vec![put_op(b"u0", b"v")],
            ..Default::default()
        })
        .await;
    expect_err(
        &format!("{who}: 5 compares"),
        r,
        Code::InvalidArgument,
        "etcdserver: too many operations in txn request",
    );
    assert_not_written(c, &format!("{who}: 5 compares"), b"u0", rev).await;
}

/// Far over `--max-request-bytes` 4096, beyond the gRPC receive limit
/// (limit + 512 KiB): grpc-go's ResourceExhausted, nothing written.
async fn check_grpc_recv_limit(c: &mut Clients, who: &str) {
    let rev = put(c, "base", "x").await;
    // far over it (beyond the gRPC receive limit of limit + 512 KiB)
    let huge = vec![b'h'; 700 * 1024];
    let r =
        c.kv.put(PutRequest {
            key: b"huge".to_vec(),
            value: huge,
            ..Default::default()
        })
        .await;
    match r {
        Ok(_) => panic!("{who}: a 700 KiB put succeeded under a 4096-byte limit"),
        Err(e) => assert_eq!(e.code(), Code::ResourceExhausted, "{who}: huge put: {e:?}"),
    }
    assert_not_written(c, &format!("{who}: huge put"), b"huge", rev).await;

    // and the connection still serves
    assert_eq!(
        put(c, "next", "x").await,
        rev + 1,
        "{who}: put after the huge one"
    );
}

async fn check_invalid_requests(c: &mut Clients, who: &str) {
    let rev = put(c, "base", "x").await;
    let dup = TxnRequest {
        success: vec![put_op(b"d", b"1"), put_op(b"d", b"2")],
        ..Default::default()
    };
    expect_err(
        &format!("{who}: two puts of one key"),
        c.kv.txn(dup).await,
        Code::InvalidArgument,
        "etcdserver: duplicate key given in txn request",
    );
    let del = RequestOp {
        request: Some(request_op::Request::RequestDeleteRange(
            DeleteRangeRequest {
                key: b"c".to_vec(),
                range_end: b"e".to_vec(),
                ..Default::default()
            },
        )),
    };
    let clash = TxnRequest {
        success: vec![put_op(b"d", b"1"), del],
        ..Default::default()
    };
    expect_err(
        &format!("{who}: put inside a deleted range"),
        c.kv.txn(clash).await,
        Code::InvalidArgument,
        "etcdserver: duplicate key given in txn request",
    );
    assert_not_written(c, &format!("{who}: duplicate"), b"d", rev).await;
    // the same key in the success and the failure branch is fine
    let ok = TxnRequest {
        success: vec![put_op(b"d", b"1")],
        failure: vec![put_op(b"d", b"2")],
        ..Default::default()
    };
    let r =
        c.kv.txn(ok)
            .await
            .unwrap_or_else(|e| panic!("{who}: one key in both branches: {e}"))
            .into_inner();
    assert!(r.succeeded, "{who}: txn without compares succeeds");
    let rev = rev + 1;

    let empty = "etcdserver: key is not provided";
    expect_err(
        &format!("{who}: put with empty key"),
        c.kv.put(PutRequest {
            value: b"v".to_vec(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        empty,
    );
    expect_err(
        &format!("{who}: range with empty key"),
        c.kv.range(RangeRequest::default()).await,
        Code::InvalidArgument,
        empty,
    );
    expect_err(
        &format!("{who}: delete with empty key"),
        c.kv.delete_range(DeleteRangeRequest::default()).await,
        Code::InvalidArgument,
        empty,
    );
    expect_err(
        &format!("{who}: txn put with empty key"),
        c.kv.txn(TxnRequest {
            success: vec![put_op(b"", b"v")],
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        empty,
    );
    // a nested txn gets the op budget its parent left (128 - 1)
    let nested = RequestOp {
        request: Some(request_op::Request::RequestTxn(TxnRequest {
            success: (0..128)
                .map(|i| put_op(format!("n{i}").as_bytes(), b"v"))
                .collect(),
            ..Default::default()
        })),
    };
    expect_err(
        &format!("{who}: 128 ops in a nested txn"),
        c.kv.txn(TxnRequest {
            success: vec![nested],
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "etcdserver: too many operations in txn request",
    );
    expect_err(
        &format!("{who}: an empty txn op"),
        c.kv.txn(TxnRequest {
            success: vec![RequestOp { request: None }],
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "etcdserver: key not found",
    );
    // every op is checked before the duplicates, the fields before the size
    expect_err(
        &format!("{who}: a duplicate and an empty key"),
        c.kv.txn(TxnRequest {
            success: vec![put_op(b"d", b"1"), put_op(b"d", b"2")],
            failure: vec![put_op(b"", b"v")],
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        empty,
    );
    expect_err(
        &format!("{who}: an empty key with a too large value"),
        c.kv.put(PutRequest {
            value: vec![b'v'; 1536 * 1024 + 10],
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        empty,
    );
    assert_eq!(
        current_rev(c).await,
        rev,
        "{who}: rejected requests changed the revision"
    );
}

/// Runs `$check` against real etcd (when installed: it proves the
/// expectations) and then against oxcd, each started with `$flags`.
macro_rules! etcd_then_oxcd {
    ($check:ident, $flags:expr) => {
        if let Some(etcd) = etcd_bin() {
            let dir = tempfile::tempdir().expect("tempdir");
            let e = Server::start_bin(&etcd, dir.path(), $flags).await;
            let mut c = e.clients().await;
            $check(&mut c, "etcd 3.5.1").await;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let srv = Oxcd::start(dir.path(), $flags).await;
        let mut c = srv.clients().await;
        $check(&mut c, "oxcd").await;
        srv.assert_no_panic();
    };
}

#[tokio::test]
async fn request_limits_match_etcd() {
    bounded(Duration::from_secs(55), async {
        etcd_then_oxcd!(check_limits, &LIMIT_FLAGS);
    })
    .await
}

#[tokio::test]
async fn grpc_receive_limit_matches_etcd() {
    bounded(Duration::from_secs(55), async {
        etcd_then_oxcd!(check_grpc_recv_limit, &LIMIT_FLAGS);
    })
    .await
}

#[tokio::test]
async fn invalid_requests_match_etcd() {
    bounded(Duration::from_secs(55), async {
        etcd_then_oxcd!(check_invalid_requests, &[]);
    })
    .await
}

async fn db_size(c: &mut Clients) -> i64 {
    c.maint
        .status(StatusRequest {})
        .await
        .expect("status")
        .into_inner()
        .db_size
}

async fn alarms(c: &mut Clients) -> Vec<(u64, i32)> {
    c.maint
        .alarm(AlarmRequest {
            action: AlarmAction::Get as i32,
            member_id: 0,
            alarm: 0,
        })
        .await
        .expect("alarm get")
        .into_inner()
        .alarms
        .into_iter()
        .map(|a| (a.member_id, a.alarm))
        .collect()
}

const NOSPACE: &str = "etcdserver: mvcc: database space exceeded";

/// Fills a server started with a small quota until it refuses writes, then
/// checks the alarm, what still works, and that it survives a restart.
async fn check_quota(bin: &std::path::Path, who: &str) {
    // the size of a fresh data dir, measured on a throwaway server
    let initial = {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Server::start_bin(bin, dir.path(), &[]).await;
        let mut c = s.clients().await;
        db_size(&mut c).await
    };
    assert!(initial > 0, "{who}: Status reports dbSize {initial}");
    let quota = (initial + 256 * 1024).to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut srv = Server::start_bin(bin, dir.path(), &["--quota-backend-bytes", &quota]).await;
    let mut c = srv.clients().await;
    let member = c
        .maint
        .status(StatusRequest {})
        .await
        .expect("status")
        .into_inner()
        .header
        .expect("header")
        .member_id;
    assert!(
        alarms(&mut c).await.is_empty(),
        "{who}: alarm before filling"
    );

    let value = vec![b'q'; 16 * 1024];
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..2000 {
        let key = format!("fill/{i:05}");
        let r =
            c.kv.put(PutRequest {
                key: key.clone().into_bytes(),
                value: value.clone(),
                ..Default::default()
            })
            .await;
        match r {
            Ok(r) => acked.push((key, r.into_inner().header.expect("header").revision)),
            Err(e) => {
                refused = Some((key, e));
                break;
            }
        }
    }
    let (refused_key, e) = refused
        .unwrap_or_else(|| panic!("{who}: 2000 puts of 16 KiB never hit a quota of {quota} bytes"));
    assert_eq!(
        (e.code(), e.message()),
        (Code::ResourceExhausted, NOSPACE),
        "{who}: error when the quota is exceeded"
    );
    assert!(
        !acked.is_empty(),
        "{who}: the quota refused the very first put"
    );
    let rev = acked.last().expect("acked").1;
    assert_not_written(
        &mut c,
        &format!("{who}: refused put"),
        refused_key.as_bytes(),
        rev,
    )
    .await;
    assert_eq!(
        alarms(&mut c).await,
        vec![(member, AlarmType::Nospace as i32)],
        "{who}: alarm list after the quota was hit"
    );

    // writes stay refused, even small ones and lease grants ...
    expect_err(
        &format!("{who}: small put under NOSPACE"),
        c.kv.put(PutRequest {
            key: b"tiny".to_vec(),
            value: b"1".to_vec(),
            ..Default::default()
        })
        .await,
        Code::ResourceExhausted,
        NOSPACE,
    );
    expect_err(
        &format!("{who}: write txn under NOSPACE"),
        c.kv.txn(TxnRequest {
            success: vec![put_op(b"tiny", b"1")],
            ..Default::default()
        })
        .await,
        Code::ResourceExhausted,
        NOSPACE,
    );
    expect_err(
        &format!("{who}: lease grant under NOSPACE"),
        c.lease
            .lease_grant(LeaseGrantRequest { ttl: 60, id: 0 })
            .await,
        Code::ResourceExhausted,
        NOSPACE,
    );
    // ... while reads (and read-only txns) work and see every acknowledged put
    let r =
        c.kv.range(RangeRequest {
            key: b"fill/".to_vec(),
            range_end: b"fill0".to_vec(),
            keys_only: true,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{who}: range under NOSPACE: {e}"))
        .into_inner();
    assert_eq!(
        r.count as usize,
        acked.len(),
        "{who}: keys readable under NOSPACE"
    );
    // delete is allowed (it is how space is freed)
    let d =
        c.kv.delete_range(DeleteRangeRequest {
            key: acked[0].0.clone().into_bytes(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{who}: delete under NOSPACE: {e}"))
        .into_inner();
    assert_eq!(d.deleted, 1, "{who}: delete under NOSPACE");

    // the alarm survives a restart
    drop(c);
    srv.stop().await;
    srv.restart().await;
    let mut c = srv.clients().await;
    assert_eq!(
        alarms(&mut c).await,
        vec![(member, AlarmType::Nospace as i32)],
        "{who}: alarm list after a restart"
    );
    expect_err(
        &format!("{who}: put after restart under NOSPACE"),
        c.kv.put(PutRequest {
            key: b"tiny".to_vec(),
            value: b"1".to_vec(),
            ..Default::default()
        })
        .await,
        Code::ResourceExhausted,
        NOSPACE,
    );
    assert!(!srv.all_stderr().contains("panicked"), "{who}: panicked");
}

#[tokio::test]
async fn quota_exceeded_raises_nospace() {
    bounded(Duration::from_secs(58), async {
        check_quota(&oxcd_bin(), "oxcd").await;
    })
    .await
}

#[tokio::test]
async fn quota_exceeded_raises_nospace_on_etcd_too() {
    bounded(Duration::from_secs(58), async {
        if let Some(etcd) = etcd_bin() {
            check_quota(&etcd, "etcd 3.5.1").await;
        }
    })
    .await
}
