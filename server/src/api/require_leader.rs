//! The require-leader metadata (`hasleader: true`, what etcd's Go client
//! sends for `WithRequireLeader`, as Kubernetes' API server does for its
//! watches), as etcd 3.5 honours it:
//! - a call carrying it on a member without a leader is refused at once
//!   with UNAVAILABLE `etcdserver: no leader`, unary or stream;
//! - a stream carrying it is ended with that status once the member has
//!   been without a leader for three election timeouts in a row (checked
//!   every election timeout, see [`monitor`]), so that its client moves to
//!   a healthy member instead of waiting on a silent one.
//!
//! A layer around the client port's gRPC services does both: it answers
//! the refusal itself, and it wraps a stream's body so that it ends with
//! the status when the monitor signals.

use crate::error::EtcdError;
use crate::node::Server;
use http_body::{Body, Frame};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::body::BoxBody;
use tonic::codegen::http;

/// Consecutive checks without a leader before require-leader streams end.
const CHECKS: u32 = 3;

/// Signals the end of require-leader streams while the member has had no
/// leader for [`CHECKS`] election timeouts in a row (one check per
/// election timeout, as etcd's `monitorLeader`). Runs until aborted.
pub async fn monitor(srv: Arc<Server>) {
    let every = std::time::Duration::from_millis(srv.cfg.election_ms.max(1));
    let mut without = 0;
    loop {
        tokio::time::sleep(every).await;
        if srv.leader() != 0 {
            without = 0;
            continue;
        }
        without += 1;
        if without >= CHECKS {
            srv.no_leader.send_modify(|n| *n += 1);
        }
    }
}

#[derive(Clone)]
pub struct RequireLeaderLayer {
    pub srv: Arc<Server>,
}

impl<S> tower::Layer<S> for RequireLeaderLayer {
    type Service = RequireLeader<S>;

    fn layer(&self, inner: S) -> RequireLeader<S> {
        RequireLeader {
            inner,
            srv: self.srv.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RequireLeader<S> {
    inner: S,
    srv: Arc<Server>,
}

type Resp = http::Response<BoxBody>;

fn requires_leader<B>(req: &http::Request<B>) -> bool {
    let grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    // etcd compares the first value only
    grpc && req
        .headers()
        .get("hasleader")
        .is_some_and(|v| v.as_bytes() == b"true")
}

impl<S, B> tower::Service<http::Request<B>> for RequireLeader<S>
where
    S: tower::Service<http::Request<B>, Response = Resp>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Resp;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Resp, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if !requires_leader(&req) {
            return Box::pin(self.inner.call(req));
        }
        if self.srv.leader() == 0 {
            let refused = tonic::Status::from(EtcdError::NoLeader).into_http();
            return Box::pin(async move { Ok(refused) });
        }
        let mut signal = self.srv.no_leader.subscribe();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            let ended: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
                // a closed channel (the member stopping) ends nothing
                if signal.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            });
            Ok(resp.map(|body| {
                tonic::body::boxed(Ending {
                    inner: body,
                    ended: Some(ended),
                    done: false,
                })
            }))
        })
    }
}

/// A response body that ends with UNAVAILABLE `etcdserver: no leader` once
/// `ended` resolves (between two frames of the inner body).
struct Ending {
    inner: BoxBody,
    ended: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    done: bool,
}

impl Body for Ending {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(f) = self.ended.as_mut() {
            if f.as_mut().poll(cx).is_ready() {
                self.done = true;
                let status = tonic::Status::from(EtcdError::NoLeader);
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", (status.code() as i32).into());
                if let Ok(v) = http::HeaderValue::from_str(status.message()) {
                    trailers.insert("grpc-message", v);
                }
                return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
            }
        }
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = r {
            self.done = true;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One data frame, then nothing ever again (an open watch stream).
    struct Open(bool);

    impl Body for Open {
        type Data = bytes::Bytes;
        type Error = tonic::Status;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            if std::mem::replace(&mut self.0, true) {
                Poll::Pending
            } else {
                Poll::Ready(Some(Ok(Frame::data(bytes::Bytes::from_static(b"x")))))
            }
        }
    }

    async fn next(b: &mut Ending) -> Option<Frame<bytes::Bytes>> {
        std::future::poll_fn(|cx| Pin::new(&mut *b).poll_frame(cx))
            .await
            .map(|f| f.expect("a frame"))
    }

    #[tokio::test]
    async fn an_open_stream_ends_with_no_leader_when_signalled() {
        let (tx, mut rx) = tokio::sync::watch::channel(0u64);
        let mut b = Ending {
            inner: tonic::body::boxed(Open(false)),
            ended: Some(Box::pin(async move {
                let _ = rx.changed().await;
            })),
            done: false,
        };
        let first = next(&mut b).await.expect("the inner frame");
        assert_eq!(first.into_data().ok().as_deref(), Some(&b"x"[..]));
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(50), next(&mut b)).await;
        assert!(quiet.is_err(), "the stream ended before the signal");
        tx.send_modify(|n| *n += 1);
        let last = next(&mut b).await.expect("the trailers");
        let t = last.into_trailers().expect("trailers");
        assert_eq!(t.get("grpc-status").map(|v| v.as_bytes()), Some(&b"14"[..]));
        assert_eq!(
            t.get("grpc-message").map(|v| v.as_bytes()),
            Some(&b"etcdserver: no leader"[..])
        );
        assert!(next(&mut b).await.is_none());
        assert!(b.is_end_stream());
    }
}
