//! Helpers of the lease, watch and maintenance scenarios: lazily connected
//! channels, retries of transient gRPC errors, lease grant / time-to-live /
//! keep-alive streams, and puts and gets with retries.

use crate::harness::*;
use oxcd_proto::etcdserverpb::lease_client::LeaseClient;
use oxcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse, PutRequest, RangeRequest,
};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, Streaming};

/// How long [`retry`] keeps retrying transient errors.
pub(crate) const RETRY_LIMIT: Duration = Duration::from_secs(20);

/// A lazily connected channel; `None`: no per-call timeout (for streams).
pub(crate) fn channel(port: u16, timeout: Option<Duration>) -> Channel {
    let mut e = Endpoint::from_shared(url(port))
        .expect("valid endpoint")
        .connect_timeout(Duration::from_secs(1));
    if let Some(t) = timeout {
        e = e.timeout(t);
    }
    e.connect_lazy()
}

pub(crate) fn lease_client(port: u16) -> LeaseClient<Channel> {
    LeaseClient::new(channel(port, Some(RPC_TIMEOUT)))
}

/// Errors worth retrying: no leader yet, a leader change, a timeout, or an
/// endpoint that is (re)starting.
pub(crate) fn transient(s: &Status) -> bool {
    let m = s.message();
    matches!(s.code(), Code::Unavailable | Code::DeadlineExceeded)
        || m.contains("leader changed")
        || m.contains("no leader")
        || m.contains("timed out")
        || m.contains("timeout")
        || m.contains("transport error")
}

/// Retries `f` on [`transient`] errors (logged) with a backoff from 100 ms
/// to 1 s, for up to `limit`; panics on any other error.
pub(crate) async fn retry<T, F, Fut>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let started = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if transient(&e) && started.elapsed() < limit => {
                eprintln!(
                    "{what}: transient error after {:.1?}: {:?} {:?}; retrying in {backoff:?}",
                    started.elapsed(),
                    e.code(),
                    e.message()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) => panic!(
                "{what}: {:?} {:?} (after {:.1?})",
                e.code(),
                e.message(),
                started.elapsed()
            ),
        }
    }
}

pub(crate) async fn grant(port: u16, ttl: i64) -> i64 {
    let cl = lease_client(port);
    let r = retry(&format!("LeaseGrant on :{port}"), RETRY_LIMIT, || {
        let mut cl = cl.clone();
        async move {
            cl.lease_grant(LeaseGrantRequest { ttl, id: 0 })
                .await
                .map(|r| r.into_inner())
        }
    })
    .await;
    assert!(r.error.is_empty(), "LeaseGrant error: {}", r.error);
    assert_eq!(r.ttl, ttl, "granted TTL");
    assert_ne!(r.id, 0, "lease ID");
    r.id
}

pub(crate) async fn time_to_live(port: u16, id: i64) -> LeaseTimeToLiveResponse {
    let cl = lease_client(port);
    retry(&format!("LeaseTimeToLive on :{port}"), RETRY_LIMIT, || {
        let mut cl = cl.clone();
        async move {
            cl.lease_time_to_live(LeaseTimeToLiveRequest { id, keys: true })
                .await
                .map(|r| r.into_inner())
        }
    })
    .await
}

/// A put with a lease; the header revision.
pub(crate) async fn put_with_lease(port: u16, key: &str, value: &str, lease: i64) -> i64 {
    let cl = clients(port, RPC_TIMEOUT);
    retry(&format!("put {key} on :{port}"), RETRY_LIMIT, || {
        let mut cl = cl.clone();
        let req = PutRequest {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            lease,
            ..Default::default()
        };
        async move {
            cl.kv
                .put(req)
                .await
                .map(|r| r.into_inner().header.expect("header").revision)
        }
    })
    .await
}

/// A put that retries transient errors; the header revision.
pub(crate) async fn put_retry(port: u16, key: &str, value: &str) -> i64 {
    put_with_lease(port, key, value, 0).await
}

/// A linearizable get that retries transient errors.
pub(crate) async fn get_retry(port: u16, key: &str) -> Option<Vec<u8>> {
    let cl = clients(port, RPC_TIMEOUT);
    retry(&format!("get {key} on :{port}"), RETRY_LIMIT, || {
        let mut cl = cl.clone();
        let req = RangeRequest {
            key: key.as_bytes().to_vec(),
            ..Default::default()
        };
        async move {
            cl.kv
                .range(req)
                .await
                .map(|r| r.into_inner().kvs.first().map(|kv| kv.value.clone()))
        }
    })
    .await
}

/// One LeaseKeepAlive stream.
pub(crate) struct KeepAlive {
    tx: mpsc::Sender<LeaseKeepAliveRequest>,
    rx: Streaming<LeaseKeepAliveResponse>,
    id: i64,
    port: u16,
}

impl KeepAlive {
    /// Opens the stream with a first keep-alive (servers may send no
    /// response headers before the first answer); the stream and that TTL.
    pub(crate) async fn open(
        port: u16,
        id: i64,
        limit: Duration,
    ) -> Result<(KeepAlive, i64), Status> {
        let (tx, rx) = mpsc::channel(4);
        tx.send(LeaseKeepAliveRequest { id })
            .await
            .expect("queue the first keep-alive");
        let mut cl = LeaseClient::new(channel(port, None));
        let rx = tokio::time::timeout(limit, cl.lease_keep_alive(ReceiverStream::new(rx)))
            .await
            .map_err(|_| Status::deadline_exceeded("opening LeaseKeepAlive timed out"))??
            .into_inner();
        let mut ka = KeepAlive { tx, rx, id, port };
        let ttl = ka.answer(limit).await?;
        Ok((ka, ttl))
    }

    /// Sends one keep-alive; the TTL answered.
    pub(crate) async fn renew(&mut self, limit: Duration) -> Result<i64, Status> {
        self.tx
            .send(LeaseKeepAliveRequest { id: self.id })
            .await
            .map_err(|_| Status::unavailable("keep-alive stream closed"))?;
        self.answer(limit).await
    }

    pub(crate) async fn answer(&mut self, limit: Duration) -> Result<i64, Status> {
        match tokio::time::timeout(limit, self.rx.message()).await {
            Err(_) => Err(Status::deadline_exceeded(format!(
                "no keep-alive answer from :{} within {limit:?}",
                self.port
            ))),
            Ok(Err(e)) => Err(e),
            Ok(Ok(None)) => Err(Status::unavailable("keep-alive stream ended")),
            Ok(Ok(Some(r))) => {
                assert_eq!(r.id, self.id, "keep-alive answered for another lease");
                Ok(r.ttl)
            }
        }
    }
}
