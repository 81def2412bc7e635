//! (3) A watch on a follower sees every put made through the leader and
//! through the other follower, once each, in revision order.

use crate::harness::*;
use crate::rpc::*;
use oxcd_proto::etcdserverpb::watch_client::WatchClient;
use oxcd_proto::etcdserverpb::{watch_request, WatchCreateRequest, WatchRequest};
use oxcd_proto::mvccpb::event::EventType;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// (3) A watch on a follower sees every put made through the leader and
/// through the other follower, once each, in revision order.
pub async fn watch_on_follower(kind: Kind) {
    const PER_WRITER: usize = 50;
    let mut c = Cluster::start(kind, 3, &[]).await;
    let l = c.leader().await;
    let f = c.followers().await;
    let (w, other) = (f[0], f[1]);
    let wname = c.members[w].name.clone();
    let rev = c.current_rev(w).await;

    let (tx, rx) = mpsc::channel(4);
    tx.send(WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(
            WatchCreateRequest {
                key: b"w/".to_vec(),
                range_end: b"w0".to_vec(),
                start_revision: rev + 1,
                ..Default::default()
            },
        )),
    })
    .await
    .expect("queue the create request");
    let mut wcl = WatchClient::new(channel(c.members[w].client_port, None));
    let watch = wcl.watch(ReceiverStream::new(rx));
    let mut stream = match tokio::time::timeout(RPC_TIMEOUT, watch).await {
        Err(_) => panic!("Watch on {wname}: no answer within {RPC_TIMEOUT:?}"),
        Ok(Err(e)) => panic!("Watch on {wname}: {e}"),
        Ok(Ok(r)) => r.into_inner(),
    };
    let created = match tokio::time::timeout(RPC_TIMEOUT, stream.message()).await {
        Err(_) => panic!("no created answer from {wname} within {RPC_TIMEOUT:?}"),
        Ok(Err(e)) => panic!("Watch on {wname}: {e}"),
        Ok(Ok(None)) => panic!("Watch stream on {wname} ended"),
        Ok(Ok(Some(r))) => r,
    };
    assert!(created.created, "first watch answer: {created:?}");
    let watch_id = created.watch_id;

    let writers: Vec<_> = [(l, "leader"), (other, "follower")]
        .into_iter()
        .map(|(i, tag)| {
            let port = c.members[i].client_port;
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in 0..PER_WRITER {
                    let key = format!("w/{tag}/{n:03}");
                    let r = put_retry(port, &key, tag).await;
                    acked.push((key, r));
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for t in writers {
        acked.extend(t.await.expect("writer task"));
    }
    acked.sort_by_key(|a| a.1);
    let revs: Vec<i64> = acked.iter().map(|a| a.1).collect();
    let mut dedup = revs.clone();
    dedup.dedup();
    assert_eq!(
        dedup.len(),
        revs.len(),
        "two puts got one revision: {revs:?}"
    );

    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    // Collect until 100 events, then 500 ms more to catch any extra.
    let mut extra_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let until = extra_until.unwrap_or(deadline);
        if now >= until {
            break;
        }
        match tokio::time::timeout(until - now, stream.message()).await {
            Err(_) => break,
            Ok(Err(e)) => panic!("Watch on {wname} failed after {} events: {e}", events.len()),
            Ok(Ok(None)) => panic!("Watch on {wname} ended after {} events", events.len()),
            Ok(Ok(Some(r))) => {
                assert!(
                    !r.canceled,
                    "watch canceled: {:?} (compact revision {})",
                    r.cancel_reason, r.compact_revision
                );
                assert_eq!(r.watch_id, watch_id, "answer for another watch");
                events.extend(r.events);
            }
        }
        if events.len() >= 2 * PER_WRITER && extra_until.is_none() {
            extra_until = Some(Instant::now() + Duration::from_millis(500));
        }
    }
    drop(tx);
    eprintln!(
        "watch_on_follower ({kind:?}): {} events on {wname} for revisions {}..={}",
        events.len(),
        revs[0],
        revs[revs.len() - 1]
    );
    assert_eq!(
        events.len(),
        2 * PER_WRITER,
        "events received on {wname} (puts acked at revisions {revs:?})"
    );
    let seen: Vec<(String, i64)> = events
        .iter()
        .map(|e| {
            assert_eq!(e.r#type, EventType::Put as i32, "event type of {e:?}");
            let kv = e.kv.as_ref().expect("event kv");
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                kv.mod_revision,
            )
        })
        .collect();
    for pair in seen.windows(2) {
        assert!(
            pair[0].1 < pair[1].1,
            "events out of revision order: {pair:?}"
        );
    }
    assert_eq!(
        seen, acked,
        "watched (key, revision) differ from the puts' (key, header revision)"
    );
}
