//! What clients get from a member cut off from its leader (the two others
//! stopped), against etcd 3.5.1 and oxcd alike:
//! - a request or watch carrying the require-leader metadata (`hasleader:
//!   true`, what etcd's Go client sends for `WithRequireLeader`) is refused
//!   at once with UNAVAILABLE `etcdserver: no leader`;
//! - a require-leader watch opened before is ended with that status a few
//!   election timeouts after the leader is lost; a plain watch stays open;
//! - without the metadata, a linearizable range fails after the request
//!   timeout with UNAVAILABLE `etcdserver: request timed out` and a put with
//!   UNKNOWN `context deadline exceeded`;
//! - a client deadline that runs out first ends a put with `context
//!   deadline exceeded` (never CANCELLED);
//! - a member restarted without a quorum serves nothing until it has
//!   published itself through raft.

use crate::harness::*;
use crate::rpc::channel;
use oxcd_proto::etcdserverpb::kv_client::KvClient;
use oxcd_proto::etcdserverpb::watch_client::WatchClient;
use oxcd_proto::etcdserverpb::{
    watch_request, PutRequest, RangeRequest, WatchCreateRequest, WatchRequest, WatchResponse,
};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status, Streaming};

/// `req` with the require-leader metadata.
fn require_leader<T>(req: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(req);
    r.metadata_mut().insert(
        "hasleader",
        tonic::metadata::MetadataValue::from_static("true"),
    );
    r
}

/// A watch stream on `key` (with the require-leader metadata if `rl`); the
/// sender keeps the request side open. Err: the stream was refused.
async fn watch(
    port: u16,
    key: &str,
    rl: bool,
) -> Result<(mpsc::Sender<WatchRequest>, Streaming<WatchResponse>), Status> {
    let (tx, rx) = mpsc::channel(4);
    let create = WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(
            WatchCreateRequest {
                key: key.as_bytes().to_vec(),
                ..Default::default()
            },
        )),
    };
    tx.send(create).await.expect("queue the create request");
    let mut c = WatchClient::new(channel(port, None));
    let stream = ReceiverStream::new(rx);
    let resp = if rl {
        c.watch(require_leader(stream)).await
    } else {
        c.watch(stream).await
    };
    let mut s = resp?.into_inner();
    let created = tokio::time::timeout(RPC_TIMEOUT, s.message())
        .await
        .map_err(|_| Status::deadline_exceeded("no created response"))??
        .ok_or_else(|| Status::unknown("the stream ended before its created response"))?;
    assert!(created.created, "{created:?}");
    Ok((tx, s))
}

/// A KV client over a bare HTTP/2 client: a deadline it sends is kept by
/// the server only (tonic's channels keep it too, and answer first).
fn raw_kv(
    port: u16,
) -> KvClient<
    hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        tonic::body::BoxBody,
    >,
> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let origin = url(port).parse().expect("an endpoint URI");
    KvClient::with_origin(client, origin)
}

fn expect(what: &str, r: Result<impl std::fmt::Debug, Status>, code: Code, msg: &str) {
    match r {
        Ok(v) => panic!("{what}: answered {v:?}, wanted {code:?} {msg:?}"),
        Err(s) => assert_eq!(
            (s.code(), s.message()),
            (code, msg),
            "{what}: wrong status {s:?}"
        ),
    }
}

pub async fn leaderless_member(kind: Kind) {
    let mut c = Cluster::start(kind, 3, &[]).await;
    let port = c.members[0].client_port;
    let (_keep_rl, mut rl_watch) = watch(port, "w", true).await.expect("require-leader watch");
    let (_keep, mut plain_watch) = watch(port, "w", false).await.expect("plain watch");
    c.stop(1).await;
    c.stop(2).await;
    let lost = Instant::now();
    eventually("m1 to lose its leader", ELECTION_TIMEOUT, || async {
        match c.status(0).await {
            Ok(s) if s.leader == 0 => Ok(()),
            Ok(s) => Err(format!("leader still {:x}", s.leader)),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;

    // refused at once with the metadata
    let mut kv = KvClient::new(channel(port, Some(RPC_TIMEOUT)));
    let t = Instant::now();
    let get = RangeRequest {
        key: b"k".to_vec(),
        ..Default::default()
    };
    let r = kv.range(require_leader(get.clone())).await;
    expect(
        "require-leader range",
        r,
        Code::Unavailable,
        "etcdserver: no leader",
    );
    let put = PutRequest {
        key: b"k".to_vec(),
        value: b"v".to_vec(),
        ..Default::default()
    };
    let r = kv.put(require_leader(put.clone())).await;
    expect(
        "require-leader put",
        r,
        Code::Unavailable,
        "etcdserver: no leader",
    );
    let r = watch(port, "w2", true).await.map(|_| ());
    expect(
        "require-leader watch",
        r,
        Code::Unavailable,
        "etcdserver: no leader",
    );
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "refusals took {:?}",
        t.elapsed()
    );

    // the open require-leader watch ends; the plain one stays open
    let end = tokio::time::timeout(Duration::from_secs(15), rl_watch.message())
        .await
        .expect("the require-leader watch was not ended within 15 s");
    expect(
        "open require-leader watch",
        end,
        Code::Unavailable,
        "etcdserver: no leader",
    );
    eprintln!(
        "leaderless ({kind:?}): require-leader watch ended {:?} after the leader was lost",
        lost.elapsed()
    );
    let quiet = tokio::time::timeout(Duration::from_millis(500), plain_watch.message()).await;
    assert!(
        quiet.is_err(),
        "the plain watch did not stay open: {quiet:?}"
    );

    // a client deadline that runs out first, as the server answers it
    let mut short = tonic::Request::new(put.clone());
    short.set_timeout(Duration::from_secs(1));
    let t = Instant::now();
    let r = tokio::time::timeout(RPC_TIMEOUT, raw_kv(port).put(short))
        .await
        .expect("the server did not answer a deadline that ran out");
    let s = r.expect_err("a put without a leader succeeded");
    assert_eq!(s.message(), "context deadline exceeded", "{s:?}");
    assert!(
        matches!(s.code(), Code::DeadlineExceeded | Code::Unknown),
        "deadline: {s:?}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );

    // the request timeout (7 s with default flags), both at once
    let mut kv = KvClient::new(channel(port, Some(Duration::from_secs(30))));
    let mut kv2 = kv.clone();
    let t = Instant::now();
    let (r, p) = tokio::join!(kv.range(get), kv2.put(put));
    eprintln!(
        "leaderless ({kind:?}): range {r:?}, put {p:?} after {:?}",
        t.elapsed()
    );
    expect(
        "range",
        r,
        Code::Unavailable,
        "etcdserver: request timed out",
    );
    expect("put", p, Code::Unknown, "context deadline exceeded");
}

/// A member restarted while it cannot reach a quorum serves no client
/// until it has published itself through raft (etcd's ready point): its
/// client port answers nothing, not even a serializable read of what it
/// held; once a peer is back it serves, with its data.
pub async fn restart_without_quorum(kind: Kind) {
    let mut c = Cluster::start(kind, 3, &[]).await;
    c.put(0, "k", "v1").await;
    c.wait_caught_up(1).await;
    c.stop(0).await;
    c.stop(1).await;
    c.stop(2).await;
    c.restart(0);
    let port = c.members[0].client_port;
    let get = RangeRequest {
        key: b"k".to_vec(),
        serializable: true,
        ..Default::default()
    };
    // long enough for a member to open its data dir and take peers' calls
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut kv = KvClient::new(channel(port, Some(Duration::from_secs(1))));
    let r = kv.range(get.clone()).await;
    assert!(
        r.is_err(),
        "{kind:?}: a member without quorum answered before it was ready: {r:?}"
    );
    c.restart(1);
    let got = eventually("m1 to serve once a peer is back", ELECTION_TIMEOUT, || {
        let (mut kv, get) = (kv.clone(), get.clone());
        async move { kv.range(get).await.map_err(|e| e.to_string()) }
    })
    .await
    .into_inner();
    assert_eq!(got.kvs.len(), 1, "{got:?}");
    assert_eq!(got.kvs[0].value, b"v1");
}
