//! go-grpc-prometheus's server counters, which etcd exports:
//! `grpc_server_started_total` and `grpc_server_handled_total` by
//! `grpc_type`, `grpc_service`, `grpc_method` (and `grpc_code`), counted
//! by a tower layer around the gRPC services.
//!
//! The code is read from the response headers where a refused call's
//! status is; otherwise from the trailers that end the response body (a
//! stream's status), and a body dropped before them — the client went
//! away — counts as `Canceled`, as go-grpc-prometheus counts it.

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use tonic::codegen::http;

use prometheus::{IntCounterVec, Opts};

struct Counters {
    started: IntCounterVec,
    handled: IntCounterVec,
}

static C: LazyLock<Counters> = LazyLock::new(|| {
    let vec = |name: &str, help: &str, labels: &[&str]| {
        let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
        let _ = prometheus::register(Box::new(c.clone()));
        c
    };
    Counters {
        started: vec(
            "grpc_server_started_total",
            "Total number of RPCs started on the server.",
            &["grpc_method", "grpc_service", "grpc_type"],
        ),
        handled: vec(
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            &["grpc_code", "grpc_method", "grpc_service", "grpc_type"],
        ),
    }
});

/// The streaming kind of one of etcd's RPCs, as go-grpc-prometheus names it.
fn grpc_type(service: &str, method: &str) -> &'static str {
    match (service, method) {
        ("etcdserverpb.Watch", "Watch") | ("etcdserverpb.Lease", "LeaseKeepAlive") => "bidi_stream",
        ("etcdserverpb.Maintenance", "Snapshot") | ("v3electionpb.Election", "Observe") => {
            "server_stream"
        }
        _ => "unary",
    }
}

/// Go's names of the gRPC codes.
fn code_name(code: &str) -> &'static str {
    match code {
        "0" => "OK",
        "1" => "Canceled",
        "2" => "Unknown",
        "3" => "InvalidArgument",
        "4" => "DeadlineExceeded",
        "5" => "NotFound",
        "6" => "AlreadyExists",
        "7" => "PermissionDenied",
        "8" => "ResourceExhausted",
        "9" => "FailedPrecondition",
        "10" => "Aborted",
        "11" => "OutOfRange",
        "12" => "Unimplemented",
        "13" => "Internal",
        "14" => "Unavailable",
        "15" => "DataLoss",
        "16" => "Unauthenticated",
        _ => "Unknown",
    }
}

#[derive(Clone, Default)]
pub struct GrpcMetricsLayer;

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> GrpcMetrics<S> {
        GrpcMetrics { inner }
    }
}

#[derive(Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::BoxBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let grpc = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"));
        let names = grpc
            .then(|| {
                let path = req.uri().path().trim_start_matches('/');
                path.split_once('/')
                    .map(|(s, m)| (s.to_string(), m.to_string()))
            })
            .flatten();
        if let Some((service, method)) = &names {
            let ty = grpc_type(service, method);
            C.started.with_label_values(&[method, service, ty]).inc();
        }
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            let Some((service, method)) = names else {
                return Ok(resp);
            };
            let ty = grpc_type(&service, &method);
            let labels = Labels {
                method,
                service,
                ty,
            };
            // a trailers-only answer (a refused call) has its status here
            if let Some(code) = resp.headers().get("grpc-status") {
                labels.count(code.to_str().map_or("Unknown", code_name));
                return Ok(resp);
            }
            Ok(resp.map(|body| {
                tonic::body::boxed(Counted {
                    inner: body,
                    labels: Some(labels),
                })
            }))
        })
    }
}

struct Labels {
    method: String,
    service: String,
    ty: &'static str,
}

impl Labels {
    fn count(&self, code: &str) {
        C.handled
            .with_label_values(&[code, &self.method, &self.service, self.ty])
            .inc();
    }
}

/// A response body that counts its call as handled when its trailers
/// pass (or when it is dropped without them).
struct Counted {
    inner: tonic::body::BoxBody,
    /// taken once counted
    labels: Option<Labels>,
}

impl http_body::Body for Counted {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(t) = f.trailers_ref() {
                    let code = t
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .map_or("OK", code_name);
                    if let Some(l) = self.labels.take() {
                        l.count(code);
                    }
                }
            }
            Poll::Ready(None) => {
                if let Some(l) = self.labels.take() {
                    l.count("OK");
                }
            }
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(l) = self.labels.take() {
            l.count("Canceled");
        }
    }
}
