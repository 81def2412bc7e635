//! Connecting to etcd: endpoints without a scheme are plain HTTP/2, tried in
//! order; `--user` authenticates once and attaches the token to every call.
//! Timeouts follow etcdctl: the dial timeout bounds connecting, the command
//! timeout bounds each RPC, and both surface as `context deadline exceeded`.

use std::future::Future;
use std::time::Duration;

use oxcd_proto::etcdserverpb::auth_client::AuthClient;
use oxcd_proto::etcdserverpb::cluster_client::ClusterClient;
use oxcd_proto::etcdserverpb::kv_client::KvClient;
use oxcd_proto::etcdserverpb::lease_client::LeaseClient;
use oxcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd_proto::etcdserverpb::AuthenticateRequest;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::error::{status_text, CtlError, Result};
use crate::global::ClientConfig;

pub const DEADLINE: &str = "context deadline exceeded";

pub struct Client {
    channel: Channel,
    token: Option<MetadataValue<tonic::metadata::Ascii>>,
    command_timeout: i64,
}

fn nanos(d: i64) -> Duration {
    Duration::from_nanos(d.max(0) as u64)
}

/// `http://host:port` for a bare `host:port`; other schemes are rejected
/// with a clear message (TLS is not built in yet).
pub fn endpoint_url(ep: &str) -> std::result::Result<String, String> {
    if let Some(rest) = ep.strip_prefix("http://") {
        return Ok(format!("http://{rest}"));
    }
    if ep.starts_with("https://") || ep.starts_with("unixs://") {
        return Err(format!(
            "{ep}: TLS endpoints are not supported by this oxctl build"
        ));
    }
    if ep.starts_with("unix://") {
        return Err(format!(
            "{ep}: unix socket endpoints are not supported by oxctl"
        ));
    }
    Ok(format!("http://{ep}"))
}

impl Client {
    /// Connects to the first reachable endpoint. Connection failures are
    /// reported like Go's client: an RPC error (exit 1), or exit 2 when
    /// `--user` makes the connection part of client creation.
    pub async fn connect(cfg: &ClientConfig) -> Result<Client> {
        Self::connect_to(cfg, &cfg.endpoints, cfg.auth.is_some()).await
    }

    /// Connects to a single endpoint (per-endpoint commands).
    pub async fn connect_one(cfg: &ClientConfig, ep: &str, with_auth: bool) -> Result<Client> {
        Self::connect_to(cfg, &[ep.to_string()], with_auth).await
    }

    async fn connect_to(cfg: &ClientConfig, eps: &[String], with_auth: bool) -> Result<Client> {
        let fail = |msg: String| {
            if with_auth {
                CtlError::Connection(msg)
            } else {
                CtlError::Rpc(msg)
            }
        };
        if eps.is_empty() {
            return Err(CtlError::Connection(
                "etcdclient: no available endpoints".into(),
            ));
        }
        if cfg.tls.is_some() {
            return Err(fail(
                "TLS (--cert/--key/--cacert, --insecure-transport=false) is not supported by this oxctl build".into(),
            ));
        }
        let mut last = DEADLINE.to_string();
        let mut channel = None;
        for ep in eps {
            let url = match endpoint_url(ep) {
                Ok(u) => u,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let Ok(mut e) = Endpoint::from_shared(url) else {
                last = DEADLINE.to_string();
                continue;
            };
            // gRPC-Go never pings more often than every 10s; servers
            // reject faster pings, so clamp like it does.
            let ka = nanos(cfg.keepalive_time).max(Duration::from_secs(10));
            e = e
                .http2_keep_alive_interval(ka)
                .keep_alive_timeout(nanos(cfg.keepalive_timeout).max(Duration::from_secs(1)))
                .keep_alive_while_idle(true);
            if cfg.dial_timeout > 0 {
                e = e.connect_timeout(nanos(cfg.dial_timeout));
            }
            let attempt = e.connect();
            let res = if cfg.dial_timeout > 0 {
                match tokio::time::timeout(nanos(cfg.dial_timeout), attempt).await {
                    Ok(r) => r.map_err(|_| ()),
                    Err(_) => Err(()),
                }
            } else {
                attempt.await.map_err(|_| ())
            };
            match res {
                Ok(c) => {
                    channel = Some(c);
                    break;
                }
                Err(()) => last = DEADLINE.to_string(),
            }
        }
        let Some(channel) = channel else {
            return Err(fail(last));
        };
        let mut client = Client {
            channel,
            token: None,
            command_timeout: cfg.command_timeout,
        };
        if let (true, Some(auth)) = (with_auth, &cfg.auth) {
            let req = AuthenticateRequest {
                name: auth.user.clone(),
                password: auth.password.clone(),
            };
            let mut ac = AuthClient::new(client.channel.clone());
            let resp = client
                .call(ac.authenticate(req))
                .await
                .map_err(|e| CtlError::Connection(e.to_string()))?;
            client.token = MetadataValue::try_from(resp.token.as_str()).ok();
        }
        Ok(client)
    }

    /// Connects like [`Client::connect`], but keeps retrying unreachable
    /// endpoints without a deadline: the RPCs etcdctl runs without a command
    /// timeout wait for the server until it answers (or the process is
    /// interrupted). With `--user` the connection is part of client
    /// creation and fails as usual.
    pub async fn connect_wait(cfg: &ClientConfig) -> Result<Client> {
        loop {
            match Self::connect(cfg).await {
                Err(CtlError::Rpc(m)) if cfg.auth.is_none() && m == DEADLINE => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => return other,
            }
        }
    }

    /// Wraps a request message, attaching the auth token (no deadline).
    pub fn req_untimed<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        if let Some(t) = &self.token {
            r.metadata_mut().insert("token", t.clone());
        }
        r
    }

    /// Wraps a request message, attaching the auth token and the command
    /// timeout.
    pub fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = self.req_untimed(msg);
        if self.command_timeout > 0 {
            r.set_timeout(nanos(self.command_timeout));
        }
        r
    }

    /// Runs one RPC under the command timeout and maps its error.
    pub async fn call<T, F>(&self, fut: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        if self.command_timeout <= 0 {
            // A context with a non-positive timeout is already expired.
            return Err(CtlError::Rpc(DEADLINE.into()));
        }
        match tokio::time::timeout(nanos(self.command_timeout), fut).await {
            Err(_) => Err(CtlError::Rpc(DEADLINE.into())),
            Ok(Err(s)) => Err(CtlError::Rpc(status_text(&s))),
            Ok(Ok(r)) => Ok(r.into_inner()),
        }
    }

    /// Runs one RPC without a deadline and maps its error.
    pub async fn call_untimed<T, F>(&self, fut: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        fut.await
            .map(tonic::Response::into_inner)
            .map_err(|s| CtlError::Rpc(status_text(&s)))
    }

    pub fn kv(&self) -> KvClient<Channel> {
        KvClient::new(self.channel.clone())
    }

    pub fn maintenance(&self) -> MaintenanceClient<Channel> {
        MaintenanceClient::new(self.channel.clone())
    }

    pub fn lease(&self) -> LeaseClient<Channel> {
        LeaseClient::new(self.channel.clone())
    }

    pub fn cluster(&self) -> ClusterClient<Channel> {
        ClusterClient::new(self.channel.clone())
    }
}
