//! Bad flags, busy ports, garbage on the wire and requests over the limits:
//! clean errors (etcd's codes and texts), nothing written, no panic, and the
//! server keeps serving. The request checks also run against real etcd
//! 3.5.1 when it is installed.

mod common;

use common::*;
use oxcd_proto::etcdserverpb::alarm_request::AlarmAction;
use oxcd_proto::etcdserverpb::{
    request_op, AlarmRequest, AlarmType, Compare, DeleteRangeRequest, LeaseGrantRequest,
    PutRequest, RangeRequest, RequestOp, StatusRequest, TxnRequest,
};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;
use tonic::Code;

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn assert_failed(what: &str, status: std::process::ExitStatus, stderr: &str) {
    assert!(
        !status.success(),
        "{what}: expected a non-zero exit, got {status}; stderr:\n{}",
        tail(stderr, 2000)
    );
    assert!(
        status.code().is_some(),
        "{what}: killed by a signal ({status}) instead of exiting with an error; stderr:\n{}",
        tail(stderr, 2000)
    );
    assert!(
        !stderr.contains("panicked"),
        "{what}: panicked:\n{}",
        tail(stderr, 2000)
    );
}

#[test]
fn unknown_flag_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let a = args(&[
        "--data-dir",
        data.to_str().expect("utf-8 path"),
        "--bogus-flag",
        "1",
    ]);
    let (st, err) = run_to_exit(&oxcd_bin(), &a);
    assert_failed("unknown flag", st, &err);
    assert!(
        err.contains("bogus-flag"),
        "the error does not name the unknown flag:\n{err}"
    );
    assert!(
        !data.exists(),
        "the data dir was created despite the bad flag"
    );
}

#[test]
fn malformed_listen_client_urls_are_rejected() {
    for bad in [
        "notaurl",
        "http://127.0.0.1",
        "ftp://127.0.0.1:2379",
        "http://127.0.0.1:notaport",
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let peer = format!("http://127.0.0.1:{}", free_port());
        let a = args(&[
            "--data-dir",
            data.to_str().expect("utf-8 path"),
            "--listen-client-urls",
            bad,
            "--advertise-client-urls",
            "http://127.0.0.1:2379",
            "--listen-peer-urls",
            &peer,
        ]);
        let (st, err) = run_to_exit(&oxcd_bin(), &a);
        assert_failed(&format!("--listen-client-urls {bad}"), st, &err);
        // the flag, and the value (or at least its offending scheme)
        let shown = bad.split("://").next().expect("split");
        assert!(
            err.contains("listen-client-urls") && err.contains(shown),
            "the error for --listen-client-urls {bad} does not name the flag and the value:\n{err}"
        );
        assert!(
            !data.exists(),
            "data dir created for --listen-client-urls {bad}"
        );
    }
}

#[test]
fn name_missing_from_initial_cluster_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (c, p) = (free_port(), free_port());
    let peer = format!("http://127.0.0.1:{p}");
    let client = format!("http://127.0.0.1:{c}");
    let a = args(&[
        "--name",
        "x",
        "--data-dir",
        dir.path().to_str().expect("utf-8 path"),
        "--listen-client-urls",
        &client,
        "--advertise-client-urls",
        &client,
        "--listen-peer-urls",
        &peer,
        "--initial-advertise-peer-urls",
        &peer,
        "--initial-cluster",
        &format!("default={peer}"),
    ]);
    let (st, err) = run_to_exit(&oxcd_bin(), &a);
    assert_failed("--name x", st, &err);
    assert!(
        err.contains(r#"couldn't find local name "x" in the initial cluster configuration"#),
        "etcd's message is missing:\n{err}"
    );
}

fn busy_port_case(which: &str) {
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind a port to hold");
    let busy = holder.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let (c, p) = if which == "client" {
        (busy, free_port())
    } else {
        (free_port(), busy)
    };
    let a = base_args("default", dir.path(), c, p);
    let (st, err) = run_to_exit(&oxcd_bin(), &a);
    assert_failed(&format!("busy {which} port"), st, &err);
    assert!(
        err.contains(&format!("127.0.0.1:{busy}"))
            && err.to_lowercase().contains("address already in use"),
        "the error for the busy {which} port {busy} is unclear:\n{err}"
    );
    drop(holder);
}

#[test]
fn busy_client_port_is_reported() {
    busy_port_case("client");
}

#[test]
fn busy_peer_port_is_reported() {
    busy_port_case("peer");
}

/// Writes `bytes` on a raw connection, reads whatever comes back for a
/// moment, and closes.
fn raw_send(port: u16, bytes: &[u8]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("raw connect");
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("read timeout");
    s.set_write_timeout(Some(Duration::from_secs(2)))
        .expect("write timeout");
    // the server may close on the first bad bytes: a failed write is fine
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf);
}

#[tokio::test]
async fn garbage_on_the_client_port_does_not_hurt() {
    bounded(Duration::from_secs(50), async {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut srv = Oxcd::start(dir.path(), &[]).await;
        let mut c = srv.clients().await;
        let rev = put(&mut c, "before", "intact").await;
        let port = srv.client_port;
        let mut rng = Rng::new(0x5eed_0bad_cafe);
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        let mut h2_garbage = preface.to_vec();
        h2_garbage.extend(rng.bytes(16 * 1024));
        // an HTTP/2 frame header claiming a 16 MiB DATA frame on stream 1
        let mut huge_frame = preface.to_vec();
        huge_frame.extend([0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]);
        huge_frame.extend(rng.bytes(100));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("random bytes", rng.bytes(64 * 1024)),
            ("nothing", Vec::new()),
            (
                "HTTP/1.1 GET",
                b"GET /etcdserverpb.KV/Range HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            ),
            ("h2 preface + random", h2_garbage),
            ("h2 oversized frame", huge_frame),
            ("NUL bytes", vec![0u8; 8192]),
        ];
        for (what, bytes) in &cases {
            let b = bytes.clone();
            tokio::task::spawn_blocking(move || raw_send(port, &b))
                .await
                .expect("raw sender");
            assert!(
                srv.is_running(),
                "oxcd died after {what}:\n{}",
                srv.stderr()
            );
        }
        // the old connection still works, and so does a new one
        let r =
            c.kv.range(RangeRequest {
                key: b"before".to_vec(),
                ..Default::default()
            })
            .await
            .expect("range after garbage")
            .into_inner();
        assert_eq!(r.kvs.len(), 1, "key written before the garbage");
        assert_eq!(r.kvs[0].value, b"intact");
        assert_eq!(r.kvs[0].mod_revision, rev);
        assert_eq!(
            current_rev(&mut c).await,
            rev,
            "garbage changed the revision"
        );
        let mut fresh = srv.clients().await;
        assert_eq!(put(&mut fresh, "after", "ok").await, rev + 1);
        srv.assert_no_panic();
    })
    .await
}

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
