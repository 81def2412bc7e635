//! What a client gets for requests in flight on a member while its leader
//! changes, against etcd 3.5.1 and oxcd alike: the leader is isolated by
//! the peer proxy, a linearizable get and a put are sent to it at once, the
//! two others elect a new leader, and the partition heals 3 s later. When
//! the old leader learns of the new one:
//! - the get fails at once with UNAVAILABLE `etcdserver: leader changed`;
//! - the put (its entry lost with the old term) fails at the request
//!   timeout with UNAVAILABLE `etcdserver: request timed out, possibly due
//!   to connection lost` (the new leader was not connected all along; a
//!   leader elected within two election timeouts of the request's start
//!   would say `possibly due to previous leader failure`);
//! - the put did not happen.

use crate::harness::*;
use crate::rpc::channel;
use oxcd_proto::etcdserverpb::kv_client::KvClient;
use oxcd_proto::etcdserverpb::{PutRequest, RangeRequest};
use std::time::{Duration, Instant};

fn outcome<T>(r: Result<tonic::Response<T>, tonic::Status>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(s) => format!("{:?}: {}", s.code(), s.message()),
    }
}

pub async fn leader_changed_mid_request(kind: Kind) {
    let mut c = Cluster::start_proxied(kind, 3, &[]).await;
    let old = c.leader().await;
    c.put(old, "k", "v0").await;
    let port = c.members[old].client_port;
    c.proxy.as_ref().expect("proxied").isolate(old);
    let t0 = Instant::now();
    let get = tokio::spawn(async move {
        let mut kv = KvClient::new(channel(port, Some(Duration::from_secs(20))));
        let r = kv
            .range(RangeRequest {
                key: b"k".to_vec(),
                ..Default::default()
            })
            .await;
        (outcome(r), t0.elapsed())
    });
    let put = tokio::spawn(async move {
        let mut kv = KvClient::new(channel(port, Some(Duration::from_secs(20))));
        let r = kv
            .put(PutRequest {
                key: b"k".to_vec(),
                value: b"v1".to_vec(),
                ..Default::default()
            })
            .await;
        (outcome(r), t0.elapsed())
    });
    let others: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    c.wait_leader_among(&others, ELECTION_TIMEOUT).await;
    // past two election timeouts from the requests' start
    tokio::time::sleep_until((t0 + Duration::from_secs(3)).into()).await;
    c.proxy.as_ref().expect("proxied").heal();
    let healed = t0.elapsed();
    let (g, p) = (get.await.expect("get task"), put.await.expect("put task"));
    eprintln!("{kind:?}: healed at {healed:?}; get: {g:?}; put: {p:?}");
    assert_eq!(g.0, "Unavailable: etcdserver: leader changed", "{kind:?}");
    assert!(
        g.1 >= healed,
        "{kind:?}: the get ended before the heal: {g:?}"
    );
    assert_eq!(
        p.0, "Unavailable: etcdserver: request timed out, possibly due to connection lost",
        "{kind:?}"
    );
    assert_eq!(c.get(old, "k").await.as_deref(), Some("v0"), "{kind:?}");
}
