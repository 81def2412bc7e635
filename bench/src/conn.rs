//! Connections: plain or TLS channels, and the auth token.

use crate::opts::Opts;
use oxcd_proto::etcdserverpb::{auth_client::AuthClient, AuthenticateRequest};
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

pub type Token = Option<MetadataValue<Ascii>>;

/// A request carrying the auth token, if any.
pub fn request<T>(msg: T, token: &Token) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Some(t) = token {
        req.metadata_mut().insert("token", t.clone());
    }
    req
}

/// The endpoint URLs of `--endpoint a,b,c` (`http://` when no scheme is given).
pub fn urls(endpoint: &str) -> Vec<String> {
    endpoint
        .split(',')
        .filter(|e| !e.is_empty())
        .map(|e| {
            if e.contains("://") {
                e.to_string()
            } else {
                format!("http://{e}")
            }
        })
        .collect()
}

/// The rustls client configuration for `https://` endpoints.
pub fn tls(o: &Opts) -> Result<oxctl::tls::Config, String> {
    let read = |p: &str| std::fs::read(p).map_err(|e| format!("{p}: {e}"));
    let roots = match &o.cacert {
        Some(p) => Some(oxctl::tls::parse_ca(p, &read(p)?)?),
        None => None,
    };
    let identity = match (&o.cert, &o.key) {
        (Some(c), Some(k)) => Some(oxctl::tls::parse_identity(&read(c)?, &read(k)?)?),
        _ => None,
    };
    oxctl::tls::client_config(roots, identity, false)
}

pub async fn connect(url: &str, tls: Option<&oxctl::tls::Config>) -> Result<Channel, String> {
    let Some(cfg) = tls else {
        let ep = Endpoint::from_shared(url.to_string()).map_err(|e| e.to_string())?;
        return ep
            .connect_timeout(Duration::from_secs(3))
            .connect()
            .await
            .map_err(|e| e.to_string());
    };
    let rest = url.trim_start_matches("https://");
    let host = rest.rsplit_once(':').map_or(rest, |(h, _)| h);
    let connector = oxctl::tls::Connector::new(cfg.clone(), host)?;
    let ep = Endpoint::from_shared(format!("http://{rest}"))
        .map_err(|e| e.to_string())?
        .origin(url.parse().map_err(|e| format!("{url}: {e}"))?);
    ep.connect_timeout(Duration::from_secs(3))
        .connect_with_connector(connector)
        .await
        .map_err(|e| e.to_string())
}

/// Logs in as `name:password`.
pub async fn log_in(ch: &Channel, user: &str) -> Result<MetadataValue<Ascii>, String> {
    let (name, password) = user.split_once(':').ok_or("--user needs name:password")?;
    let resp = AuthClient::new(ch.clone())
        .authenticate(AuthenticateRequest {
            name: name.into(),
            password: password.into(),
        })
        .await
        .map_err(|e| e.message().to_string())?;
    MetadataValue::try_from(resp.into_inner().token.as_str()).map_err(|e| e.to_string())
}
