//! etcd's access controller in front of the client port's HTTP (`/health`,
//! `/version`, `/metrics`, the `/v3/` gateway; not gRPC): on a plain
//! connection the `Host` header must be one of `--host-whitelist` (a guard
//! against DNS rebinding, CVE-2018-5702; refused with 421 and etcd's
//! text), `--cors` origins get the CORS headers, and `OPTIONS` is
//! answered at once.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// `--cors` and `--host-whitelist`, `*` meaning any.
#[derive(Debug, Clone)]
pub struct Access {
    pub cors: Vec<String>,
    pub hosts: Vec<String>,
}

impl Access {
    fn host_allowed(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h == "*" || h == host)
    }

    /// The origin to answer with, if any.
    fn cors_origin(&self, origin: Option<&str>) -> Option<String> {
        if self.cors.iter().any(|c| c == "*") {
            return Some("*".into());
        }
        let origin = origin?;
        self.cors
            .iter()
            .any(|c| c == origin)
            .then(|| origin.to_string())
    }
}

/// The host name of a `Host` header, without its port.
fn hostname(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn misdirected(host: &str) -> Response {
    let text = format!(
        "\netcd received your request, but the Host header was unrecognized.\n\n\
         To fix this, choose one of the following options:\n\
         - Enable TLS, then any HTTPS request will be allowed.\n\
         - Add the hostname you want to use to the whitelist in settings.\n  \
         - e.g. etcd --host-whitelist {host:?}\n\n\
         This requirement has been added to help prevent \"DNS Rebinding\" attacks (CVE-2018-5702).\n\n"
    );
    Response::builder()
        .status(StatusCode::MISDIRECTED_REQUEST)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(Body::from(text))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The middleware: checks, then the route (or `OPTIONS`' empty 200).
pub async fn check(State(acl): State<Arc<Access>>, req: Request, next: Next) -> Response {
    let tls = req
        .extensions()
        .get::<crate::net::ConnInfo>()
        .is_some_and(|c| c.tls);
    if !tls {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or_default();
        let name = hostname(host).to_string();
        if !acl.host_allowed(&name) {
            tracing::warn!(
                host = %name,
                "rejecting HTTP request to prevent DNS rebinding attacks"
            );
            return misdirected(&name);
        }
    }
    let origin = acl.cors_origin(
        req.headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok()),
    );
    let mut resp = if req.method() == Method::OPTIONS {
        Response::new(Body::empty())
    } else {
        next.run(req).await
    };
    if let Some(origin) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        let h = resp.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, GET, OPTIONS, PUT, DELETE"),
        );
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("accept, content-type, authorization"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins() {
        let any = Access {
            cors: vec!["*".into()],
            hosts: vec!["*".into()],
        };
        assert!(any.host_allowed("evil.example"));
        assert_eq!(any.cors_origin(None).as_deref(), Some("*"));
        let some = Access {
            cors: vec!["https://ui.example:8443".into()],
            hosts: vec!["localhost".into(), "127.0.0.1".into()],
        };
        assert!(some.host_allowed("localhost") && !some.host_allowed("evil.example"));
        assert_eq!(
            some.cors_origin(Some("https://ui.example:8443")).as_deref(),
            Some("https://ui.example:8443")
        );
        assert_eq!(some.cors_origin(Some("https://other:1")), None);
        assert_eq!(some.cors_origin(None), None);
        assert_eq!(hostname("127.0.0.1:2379"), "127.0.0.1");
        assert_eq!(hostname("[::1]:2379"), "::1");
        assert_eq!(hostname("localhost"), "localhost");
    }
}
