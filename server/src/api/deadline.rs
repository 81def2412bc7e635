//! A client's deadline (the `grpc-timeout` header) as grpc-go serves it:
//! when it runs out before the handler answers, the call ends with
//! DEADLINE_EXCEEDED `context deadline exceeded`, which etcd's Go client
//! tells apart from its caller's own cancellation.
//!
//! tonic keeps the same deadline with a timer of its own, outside every
//! layer, and answers CANCELLED `Timeout expired`. This layer's timer is
//! set a millisecond earlier, and tonic polls the service before its own
//! timer, so the answer is always this one.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::codegen::http;

/// How much sooner than tonic's this layer's timer fires (tokio's timers
/// tick by the millisecond).
const AHEAD: Duration = Duration::from_millis(1);

#[derive(Clone, Default)]
pub struct DeadlineLayer;

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline { inner }
    }
}

#[derive(Clone)]
pub struct Deadline<S> {
    inner: S,
}

type Resp = http::Response<tonic::body::BoxBody>;

impl<S, B> tower::Service<http::Request<B>> for Deadline<S>
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
        let limit = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| parse(v.as_bytes()));
        let fut = self.inner.call(req);
        let Some(limit) = limit else {
            return Box::pin(fut);
        };
        Box::pin(async move {
            match tokio::time::timeout(limit.saturating_sub(AHEAD), fut).await {
                Ok(r) => r,
                Err(_) => {
                    Ok(tonic::Status::deadline_exceeded("context deadline exceeded").into_http())
                }
            }
        })
    }
}

/// A `grpc-timeout` value: at most 8 digits and a unit (H, M, S, m, u, n).
/// Anything else is ignored, as tonic and grpc-go ignore it.
fn parse(v: &[u8]) -> Option<Duration> {
    let (&unit, digits) = v.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_values() {
        assert_eq!(parse(b"5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse(b"99999999m"), Some(Duration::from_millis(99_999_999)));
        assert_eq!(parse(b"2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse(b"1500u"), Some(Duration::from_micros(1500)));
        for bad in [
            &b""[..],
            b"S",
            b"5",
            b"5s",
            b"123456789m",
            b"-1S",
            b"1.5S",
            b"\xffS",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
