//! `--experimental-watch-progress-notify-interval`: a watcher created with
//! `progress_notify` is told the current revision every interval (an empty
//! response with its watch ID), one without is told nothing; etcd 3.5.1
//! and oxcd alike.

mod common;

use common::*;
use oxcd_proto::etcdserverpb::watch_client::WatchClient;
use oxcd_proto::etcdserverpb::{
    watch_request::RequestUnion, PutRequest, WatchCreateRequest, WatchRequest, WatchResponse,
};
use std::time::Duration;

/// What a response says, without IDs: (watch ID, revision, events,
/// created, canceled).
type Seen = (i64, i64, usize, bool, bool);

fn seen(r: &WatchResponse) -> Seen {
    (
        r.watch_id,
        r.header.map_or(0, |h| h.revision),
        r.events.len(),
        r.created,
        r.canceled,
    )
}

async fn scenario(bin: &std::path::Path) -> Vec<Seen> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Server::start_bin(
        bin,
        &dir.path().join("data"),
        &["--experimental-watch-progress-notify-interval=1s"],
    )
    .await;
    let ch = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", s.client_port))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    // a write first: the notifications tell revision 2
    let mut kv = connect(s.client_port).await.expect("connect").kv;
    kv.put(PutRequest {
        key: b"k".to_vec(),
        value: b"v".to_vec(),
        ..Default::default()
    })
    .await
    .expect("put");
    let mut w = WatchClient::new(ch);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let create = |key: &str, id: i64, progress: bool| WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: key.as_bytes().to_vec(),
            watch_id: id,
            progress_notify: progress,
            ..Default::default()
        })),
    };
    tx.send(create("k", 7, true)).await.expect("send");
    tx.send(create("other", 8, false)).await.expect("send");
    let mut stream = w
        .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("watch")
        .into_inner();
    let mut out = Vec::new();
    // two created, then two progress notifications (for watch 7 only)
    for _ in 0..4 {
        let r = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("a response within 5 s")
            .expect("no error")
            .expect("the stream goes on");
        out.push(seen(&r));
    }
    drop(tx);
    s.stop().await;
    out
}

#[test]
fn progress_notifications_as_etcd() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut bins = vec![oxcd_bin()];
    bins.extend(etcd_bin());
    for bin in &bins {
        let got = rt.block_on(scenario(bin));
        assert_eq!(
            got,
            vec![
                (7, 2, 0, true, false),
                (8, 2, 0, true, false),
                (7, 2, 0, false, false),
                (7, 2, 0, false, false),
            ],
            "{}",
            bin.display()
        );
    }
}
