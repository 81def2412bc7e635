//! Connecting to etcd: endpoints are tried in order; `http://` is plain
//! HTTP/2, `https://` is TLS, and endpoints without a scheme use TLS when a
//! TLS flag is given. `--user` authenticates once and attaches the token to
//! every call.
//! Timeouts follow etcdctl: the dial timeout bounds connecting, the command
//! timeout bounds each RPC, and both surface as `context deadline exceeded`.

use std::future::Future;
use std::time::Duration;

use oxcd_proto::etcdserverpb::auth_client::AuthClient;
use oxcd_proto::etcdserverpb::cluster_client::ClusterClient;
use oxcd_proto::etcdserverpb::kv_client::KvClient;
use oxcd_proto::etcdserverpb::lease_client::LeaseClient;
use oxcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd_proto::etcdserverpb::watch_client::WatchClient;
use oxcd_proto::etcdserverpb::AuthenticateRequest;
use oxcd_proto::v3electionpb::election_client::ElectionClient;
use oxcd_proto::v3lockpb::lock_client::LockClient;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::error::{status_text, CtlError, Result};
use crate::global::ClientConfig;

pub use crate::error::DEADLINE;
/// clientv3's default receive limit (math.MaxInt32): a large range is
/// read whole, as etcdctl reads it.
const MAX_RECV: usize = i32::MAX as usize;
const AUTH_NOT_ENABLED: &str = "etcdserver: authentication is not enabled";

pub struct Client {
    channel: Channel,
    /// the auth token, replaced when the server no longer takes it
    token: std::sync::Mutex<Option<MetadataValue<tonic::metadata::Ascii>>>,
    /// the credentials the token was got with
    auth: Option<crate::global::Auth>,
    command_timeout: i64,
    /// the connection is TLS (for the hint when it breaks at once)
    tls: bool,
}

/// What a server answers a token it no longer knows (expired): clientv3
/// 3.5.1 then logs in again and repeats the call. (A JWT older than the
/// auth store gets `auth: revision in header is old`, on which it does
/// not.)
const STALE_TOKEN: [&str; 1] = ["etcdserver: invalid auth token"];

fn nanos(d: i64) -> Duration {
    Duration::from_nanos(d.max(0) as u64)
}

/// Where and how to dial one endpoint.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// `http://host:port`: the address tonic dials (TLS, when on, is done by
    /// [`crate::tls::Connector`]).
    pub url: String,
    pub tls: bool,
}

/// Splits an `--endpoints` item: `http://` is plaintext, `https://` is TLS,
/// no scheme follows `tls_configured` (a TLS flag was given). Unix sockets
/// are rejected with a clear message.
pub fn endpoint_target(ep: &str, tls_configured: bool) -> std::result::Result<Target, String> {
    let (rest, tls) = if let Some(rest) = ep.strip_prefix("http://") {
        (rest, false)
    } else if let Some(rest) = ep.strip_prefix("https://") {
        (rest, true)
    } else if ep.starts_with("unix://") || ep.starts_with("unixs://") {
        return Err(format!(
            "{ep}: unix socket endpoints are not supported by oxctl"
        ));
    } else {
        (ep, tls_configured)
    };
    Ok(Target {
        url: format!("http://{rest}"),
        tls,
    })
}

/// Dials one endpoint, through the TLS connector when `tls` is given.
async fn dial(
    e: Endpoint,
    tls: Option<crate::tls::Connector>,
) -> std::result::Result<Channel, tonic::transport::Error> {
    match tls {
        Some(c) => e.connect_with_connector(c).await,
        None => e.connect().await,
    }
}

/// The connection broke before any gRPC answer: a plaintext dial to a TLS
/// port (the server's TLS alert reads as a broken HTTP/2 stream), or a
/// client certificate the server refused after the client's side of a TLS
/// 1.3 handshake completed (the stream is cancelled). etcd's Go client
/// waits for a usable connection until the call's deadline, so it reports
/// the deadline.
fn connection_failed(s: &tonic::Status) -> bool {
    match s.code() {
        tonic::Code::Unknown => {
            s.message() == "transport error" || s.message().starts_with("h2 protocol error")
        }
        tonic::Code::Cancelled => s.message() == "operation was canceled",
        _ => false,
    }
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
        let mut last = DEADLINE.to_string();
        let mut channel = None;
        // `https://` endpoints without any TLS flag verify against the
        // system roots; built on first use.
        let mut default_tls: Option<crate::tls::Config> = None;
        for ep in eps {
            let target = match endpoint_target(ep, cfg.tls.is_some()) {
                Ok(t) => t,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let Ok(mut e) = Endpoint::from_shared(target.url) else {
                last = DEADLINE.to_string();
                continue;
            };
            let mut connector = None;
            if target.tls {
                let tls_cfg = match &cfg.tls {
                    Some(t) => t.config.clone(),
                    None => match &default_tls {
                        Some(c) => c.clone(),
                        None => {
                            let c = crate::tls::default_config().map_err(fail)?;
                            default_tls = Some(c.clone());
                            c
                        }
                    },
                };
                let uri = e.uri().clone();
                let host = crate::tls::uri_host(&uri);
                let name = match &cfg.tls {
                    Some(t) if !t.server_name.is_empty() => t.server_name.as_str(),
                    _ => host,
                };
                match crate::tls::Connector::new(tls_cfg, name) {
                    Ok(c) => connector = Some(c),
                    Err(_) => {
                        last = DEADLINE.to_string();
                        continue;
                    }
                }
                // Requests carry the `https` scheme the endpoint names.
                if let Some(auth) = uri.authority() {
                    if let Ok(origin) = format!("https://{auth}").parse() {
                        e = e.origin(origin);
                    }
                }
            }
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
            let attempt = dial(e, connector);
            // what the dial met is kept for a terminal's hint
            let met = |e: tonic::transport::Error| {
                if let Some(c) = crate::hint::cause_of(&e) {
                    crate::hint::note(c);
                }
            };
            let res = if cfg.dial_timeout > 0 {
                match tokio::time::timeout(nanos(cfg.dial_timeout), attempt).await {
                    Ok(r) => r.map_err(met),
                    Err(_) => {
                        crate::hint::note(crate::hint::Cause::DialTimeout);
                        Err(())
                    }
                }
            } else {
                attempt.await.map_err(met)
            };
            match res {
                Ok(c) => {
                    channel = Some((c, target.tls));
                    break;
                }
                Err(()) => last = DEADLINE.to_string(),
            }
        }
        let Some((channel, tls)) = channel else {
            return Err(fail(last));
        };
        let client = Client {
            channel,
            tls,
            token: std::sync::Mutex::new(None),
            auth: if with_auth { cfg.auth.clone() } else { None },
            command_timeout: cfg.command_timeout,
        };
        client
            .log_in()
            .await
            .map_err(|e| CtlError::Connection(e.to_string()))?;
        Ok(client)
    }

    /// Gets a token for the credentials, if any (none while auth is off).
    async fn log_in(&self) -> Result<()> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        let req = AuthenticateRequest {
            name: auth.user.clone(),
            password: auth.password.clone(),
        };
        let mut ac = AuthClient::new(self.channel.clone());
        let token = match self.call(ac.authenticate(req)).await {
            Ok(resp) => MetadataValue::try_from(resp.token.as_str()).ok(),
            // clientv3 goes on without a token when auth is off
            Err(CtlError::Rpc(m)) if m == AUTH_NOT_ENABLED => None,
            Err(e) => return Err(e),
        };
        if let Ok(mut t) = self.token.lock() {
            *t = token;
        }
        Ok(())
    }

    /// One unary RPC (`f` makes it from this client) under the command
    /// timeout; an expired token is renewed once and the RPC made again, as
    /// clientv3 does. The server refuses such a request before acting on
    /// it, so repeating it is safe.
    pub async fn rpc<T, F, Fut>(&self, mut f: F) -> Result<T>
    where
        F: FnMut(&Client) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        match self.call(f(self)).await {
            Err(CtlError::Rpc(m)) if self.auth.is_some() && STALE_TOKEN.contains(&m.as_str()) => {
                self.log_in().await?;
                self.call(f(self)).await
            }
            other => other,
        }
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
        if let Some(t) = self.token.lock().ok().and_then(|t| t.clone()) {
            r.metadata_mut().insert("token", t);
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
            Ok(Err(s)) if connection_failed(&s) => {
                crate::hint::note(if self.tls {
                    crate::hint::Cause::CertRefused
                } else {
                    crate::hint::Cause::NotTls
                });
                Err(CtlError::Rpc(DEADLINE.into()))
            }
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
        KvClient::new(self.channel.clone()).max_decoding_message_size(MAX_RECV)
    }

    pub fn maintenance(&self) -> MaintenanceClient<Channel> {
        MaintenanceClient::new(self.channel.clone()).max_decoding_message_size(MAX_RECV)
    }

    pub fn lease(&self) -> LeaseClient<Channel> {
        LeaseClient::new(self.channel.clone()).max_decoding_message_size(MAX_RECV)
    }

    pub fn watch(&self) -> WatchClient<Channel> {
        WatchClient::new(self.channel.clone()).max_decoding_message_size(MAX_RECV)
    }

    pub fn auth(&self) -> AuthClient<Channel> {
        AuthClient::new(self.channel.clone()).max_decoding_message_size(MAX_RECV)
    }

    pub fn cluster(&self) -> ClusterClient<Channel> {
        ClusterClient::new(self.channel.clone()).max_decoding_message_size(MAX_RECV)
    }

    pub fn lock(&self) -> LockClient<Channel> {
        LockClient::new(self.channel.clone()).max_decoding_message_size(MAX_RECV)
    }

    pub fn election(&self) -> ElectionClient<Channel> {
        ElectionClient::new(self.channel.clone()).max_decoding_message_size(MAX_RECV)
    }
}
