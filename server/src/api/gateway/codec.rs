//! The gateway's wire format, as etcd's grpc-gateway (v1, `JSONPb` with
//! the proto field names) writes it: requests are proto3 JSON, a unary
//! answer is the response message's JSON, a streamed one a line
//! `{"result":…}` per message, and errors carry the gRPC code and text
//! with the HTTP status grpc-gateway maps the code to.

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_stream::{Stream, StreamExt};
use tonic::{Code, Status};

/// grpc-gateway's `HTTPStatusFromCode`.
pub(super) fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::REQUEST_TIMEOUT,
        Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::Aborted => StatusCode::CONFLICT,
        Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut b = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json");
    if status == StatusCode::OK {
        // what grpc-gateway forwards of the gRPC answer's headers
        b = b.header(GRPC_CONTENT_TYPE, "application/grpc");
    }
    b.body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

const GRPC_CONTENT_TYPE: &str = "grpc-metadata-content-type";

/// A unary answer.
pub(super) fn ok<T: Serialize>(msg: &T) -> Response {
    match serde_json::to_string(msg) {
        Ok(s) => json_response(StatusCode::OK, s),
        Err(e) => error(&Status::internal(e.to_string())),
    }
}

/// Go's `http.Error` text answers of the gateway's mux.
fn plain(status: StatusCode, text: &'static str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("x-content-type-options", "nosniff")
        .body(Body::from(text))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

pub(super) async fn method_not_allowed() -> Response {
    plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n")
}

/// A path under `/v3/` that the gateway does not serve.
pub fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "Not Found\n")
}

/// grpc-gateway's error body: `{"error":…,"code":…,"message":…}`.
pub(super) fn error(s: &Status) -> Response {
    // grpc-gateway's field order
    let msg = serde_json::Value::from(s.message()).to_string();
    let body = format!(
        "{{\"error\":{msg},\"code\":{},\"message\":{msg}}}",
        s.code() as i32
    );
    json_response(http_status(s.code()), body)
}

/// A request message from a whole body; an empty body is the empty
/// message, as grpc-gateway reads it.
pub(super) async fn read<T: DeserializeOwned + Default>(
    body: Body,
    limit: usize,
) -> Result<T, Status> {
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| Status::invalid_argument(e.to_string()))
}

/// The messages of a streaming call's request body, JSON values one
/// after another. A body of known length is read whole first (bad JSON
/// is then etcd's 500, code Unknown, before anything is streamed); an
/// open-ended one is parsed as it arrives. With `hold`, the stream stays
/// open after the body ends until `hold` fires (a watch keeps its
/// watchers); without, it ends with the body (keep-alives).
pub(super) async fn requests<T>(
    body: Body,
    known: bool,
    hold: Option<tokio::sync::oneshot::Receiver<()>>,
) -> Result<impl Stream<Item = Result<T, Status>> + Send + Unpin + 'static, Status>
where
    T: DeserializeOwned + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let mut frames = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut ended = false;
    if known {
        while let Some(b) = frames.next().await {
            let b = b.map_err(|e| Status::unknown(e.to_string()))?;
            buf.extend_from_slice(&b);
        }
        for v in serde_json::Deserializer::from_slice(&buf).into_iter::<T>() {
            v.map_err(|e| Status::unknown(e.to_string()))?;
        }
        ended = true;
    }
    tokio::spawn(async move {
        loop {
            // every complete value at the front of the buffer
            let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<T>();
            let mut used = 0;
            loop {
                match it.next() {
                    Some(Ok(v)) => {
                        used = it.byte_offset();
                        if tx.send(Ok(v)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) if e.is_eof() && !ended => break,
                    Some(Err(e)) => {
                        let _ = tx.send(Err(Status::unknown(e.to_string()))).await;
                        return;
                    }
                    None => {
                        used = buf.len();
                        break;
                    }
                }
            }
            buf.drain(..used);
            if ended {
                break;
            }
            match frames.next().await {
                Some(Ok(b)) => buf.extend_from_slice(&b),
                Some(Err(_)) | None => ended = true,
            }
        }
        if let Some(hold) = hold {
            let _ = hold.await;
        }
        drop(tx);
    });
    Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// A streamed answer: `{"result":…}` a line, and after an error
/// grpc-gateway's `{"error":{…}}` line, which ends it. `guard` lives as
/// long as the answer is read (dropping it releases the request side).
pub(super) fn stream<T, S>(messages: S, guard: Option<tokio::sync::oneshot::Sender<()>>) -> Response
where
    T: Serialize + Send + 'static,
    S: Stream<Item = Result<T, Status>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::convert::Infallible>>(16);
    tokio::spawn(async move {
        let _guard = guard;
        let mut messages = std::pin::pin!(messages);
        loop {
            // a client gone while nothing happens ends it too
            let m = tokio::select! {
                m = messages.next() => m,
                _ = tx.closed() => break,
            };
            let Some(m) = m else { break };
            let (line, end) = match m {
                Ok(msg) => match serde_json::to_string(&msg) {
                    Ok(s) => (format!("{{\"result\":{s}}}\n"), false),
                    Err(e) => (stream_error(&Status::internal(e.to_string())), true),
                },
                Err(s) => (stream_error(&s), true),
            };
            if tx.send(Ok(line)).await.is_err() || end {
                break;
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(GRPC_CONTENT_TYPE, "application/grpc")
        .body(Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// grpc-gateway v1's in-stream error.
fn stream_error(s: &Status) -> String {
    let http = http_status(s.code());
    format!(
        "{{\"error\":{{\"grpc_code\":{},\"http_code\":{},\"message\":{},\"http_status\":{}}}}}\n",
        s.code() as i32,
        http.as_u16(),
        serde_json::Value::from(s.message()),
        serde_json::Value::from(http.canonical_reason().unwrap_or_default()),
    )
}
