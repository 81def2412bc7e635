//! The gRPC front: etcd's v3 services over the node, served on every
//! `--listen-client-urls` address.

mod access;
mod auth;
mod cluster;
mod deadline;
mod election;
mod gateway;
mod grpc_metrics;
mod http;
mod kv;
mod lease;
mod local;
mod lock;
mod maintenance;
pub mod require_leader;
pub use maintenance::ETCD_VERSION;
mod watch;

use crate::apply::{Applied, Op};
use crate::auth::AuthHeader;
use crate::error::EtcdError;
use crate::node::Server;
use oxcd_proto::etcdserverpb::{
    alarm_request::AlarmAction, auth_server::AuthServer, cluster_server::ClusterServer,
    kv_server::KvServer, lease_server::LeaseServer, maintenance_server::MaintenanceServer,
    watch_server::WatchServer, AlarmRequest, AlarmType,
};
use oxcd_proto::v3electionpb::election_server::ElectionServer;
use oxcd_proto::v3lockpb::lock_server::LockServer;
use std::sync::Arc;
use tonic::Status;

#[derive(Clone)]
pub struct Api {
    pub srv: Arc<Server>,
    /// serving the peer port: requests forwarded by another member are
    /// answered here, never forwarded again
    pub peer: bool,
}

impl Api {
    /// Who sent `req` (etcd's AuthInfoFromCtx): the user of its `token`
    /// metadata, else the common name of its verified client certificate,
    /// else nobody (refused once auth is on). A token this member does
    /// not know is refused.
    pub(crate) fn sender<T>(&self, req: &tonic::Request<T>) -> Result<AuthHeader, EtcdError> {
        let st = self
            .srv
            .state
            .read()
            .map_err(|_| EtcdError::Storage("state lock poisoned".into()))?;
        let a = &st.auth;
        let token = req.metadata().get("token");
        if !a.enabled {
            // etcd looks a token up with auth off too: one it does not
            // know (the tokens went with `auth disable`) is refused
            if let Some(t) = token {
                let t = t.to_str().map_err(|_| EtcdError::InvalidAuthToken)?;
                if a.tokens.info(t).is_none() {
                    return Err(EtcdError::InvalidAuthToken);
                }
            }
            return Ok(AuthHeader::default());
        }
        if let Some(t) = token {
            let t = t.to_str().map_err(|_| EtcdError::InvalidAuthToken)?;
            let (username, revision) = a.tokens.info(t).ok_or(EtcdError::InvalidAuthToken)?;
            return Ok(AuthHeader {
                username,
                revision: revision.unwrap_or(a.revision),
            });
        }
        let cn = req
            .extensions()
            .get::<crate::net::ConnInfo>()
            .and_then(|c| c.certs.as_ref())
            .and_then(|c| c.first())
            .and_then(|leaf| crate::tls::common_name(leaf.as_ref()));
        Ok(match cn {
            Some(username) if !username.is_empty() => AuthHeader {
                username,
                revision: a.revision,
            },
            _ => AuthHeader::default(),
        })
    }

    /// The sender, who must be an admin (hold the root role) once auth is
    /// on: etcd's membership-operation check.
    pub(crate) fn admin<T>(&self, req: &tonic::Request<T>) -> Result<AuthHeader, EtcdError> {
        let h = self.sender(req)?;
        self.srv
            .state
            .read()
            .map_err(|_| EtcdError::Storage("state lock poisoned".into()))?
            .auth
            .check_admin(&h)?;
        Ok(h)
    }

    /// The maintenance services' admin check, answered with the errors
    /// etcd's maintenance layer gives (`auth: …`, gRPC code Unknown).
    pub(crate) fn maintenance_admin<T>(&self, req: &tonic::Request<T>) -> Result<(), EtcdError> {
        match self.admin(req) {
            Ok(_) => Ok(()),
            Err(EtcdError::UserEmpty) => Err(EtcdError::AuthUnmapped("user name is empty")),
            Err(EtcdError::PermissionDenied) => Err(EtcdError::AuthUnmapped("permission denied")),
            Err(e) => Err(e),
        }
    }
}

/// etcd's `--max-request-bytes` check on what a request would log.
pub(crate) fn check_size<M: prost::Message>(srv: &Server, m: &M) -> Result<(), EtcdError> {
    if m.encoded_len() > srv.cfg.max_request_bytes {
        return Err(EtcdError::RequestTooLarge);
    }
    Ok(())
}

/// etcd's quota: once the store passes `--quota-backend-bytes` a NOSPACE
/// alarm is raised, and writes are refused until it is disarmed. A
/// CORRUPT alarm (`crate::corrupt`) refuses them first.
pub(crate) async fn no_space(srv: &Server) -> Result<(), Status> {
    let raised = |alarm: AlarmType| {
        srv.state
            .read()
            .map(|s| s.alarms.iter().any(|(_, a)| *a == alarm as i32))
            .unwrap_or(false)
    };
    if raised(AlarmType::Corrupt) {
        return Err(EtcdError::Corrupt.into());
    }
    if raised(AlarmType::Nospace) {
        return Err(EtcdError::NoSpace.into());
    }
    over_quota(srv).await
}

/// etcd's quota check proper: a store past `--quota-backend-bytes` raises
/// the NOSPACE alarm and refuses the request. Read-only txns pass only
/// this check (as etcd's): once compaction and defragmentation bring the
/// store back under the quota they are served though the alarm stands.
pub(crate) async fn over_quota(srv: &Server) -> Result<(), Status> {
    if srv.db_size() > srv.cfg.quota_backend_bytes {
        let req = AlarmRequest {
            action: AlarmAction::Activate as i32,
            member_id: srv.member_id,
            alarm: AlarmType::Nospace as i32,
        };
        if let Applied::Alarm(_) = srv.propose(Op::Alarm(req)).await? {}
        return Err(EtcdError::NoSpace.into());
    }
    Ok(())
}

/// gRPC-go answers a message over the receive limit with RESOURCE_EXHAUSTED,
/// tonic with OUT_OF_RANGE: give etcd clients the code they expect.
fn etcd_limit_code(
    mut resp: tonic::codegen::http::Response<tonic::body::BoxBody>,
) -> tonic::codegen::http::Response<tonic::body::BoxBody> {
    let h = resp.headers_mut();
    let too_large = h.get("grpc-status").map(|v| v.as_bytes()) == Some(b"11")
        && h.get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|m| {
                m.contains("decoded%20message%20length%20too%20large")
                    || m.contains("decoded message length too large")
            });
    if too_large {
        h.insert(
            "grpc-status",
            tonic::codegen::http::HeaderValue::from_static("8"),
        );
    }
    resp
}

/// Serves the client API on `listener` until `shutdown` resolves.
pub async fn serve(
    srv: Arc<Server>,
    listener: tokio::net::TcpListener,
    security: crate::net::Security,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let api = Api {
        srv: srv.clone(),
        peer: false,
    };
    let incoming = crate::net::incoming(listener, security);
    let keepalive = (
        srv.cfg.grpc_keepalive_interval,
        srv.cfg.grpc_keepalive_timeout,
    );
    // gRPC accepts a little more than a request may hold so that an
    // oversized request gets etcd's own error rather than a transport one
    let limit = srv.cfg.max_request_bytes + 512 * 1024;
    let grpc =
        tonic::service::Routes::new(KvServer::new(api.clone()).max_decoding_message_size(limit))
            .add_service(LeaseServer::new(api.clone()).max_decoding_message_size(limit))
            .add_service(ClusterServer::new(api.clone()).max_decoding_message_size(limit))
            .add_service(MaintenanceServer::new(api.clone()).max_decoding_message_size(limit))
            .add_service(AuthServer::new(api.clone()).max_decoding_message_size(limit))
            .add_service(WatchServer::new(api.clone()).max_decoding_message_size(limit))
            .add_service(LockServer::new(api.clone()).max_decoding_message_size(limit))
            .add_service(ElectionServer::new(api.clone()).max_decoding_message_size(limit));
    // HTTP/1 and HTTP/2 on the same port: gRPC by path, then etcd's
    // HTTP endpoints and JSON gateway, then Go's 404
    let acl = Arc::new(access::Access {
        cors: srv.cfg.cors.clone(),
        hosts: srv.cfg.host_whitelist.clone(),
    });
    let guarded = |r: axum::Router| {
        r.layer(axum::middleware::from_fn_with_state(
            acl.clone(),
            access::check,
        ))
    };
    let fallback = guarded(axum::Router::new().fallback(
        |uri: axum::http::Uri, headers: axum::http::HeaderMap| async move {
            if is_grpc(&headers) {
                unknown_service(uri.path())
            } else if gateway::is_gateway_path(uri.path()) {
                gateway::not_found()
            } else {
                http::not_found().await
            }
        },
    ));
    let router = grpc
        .into_axum_router()
        .merge(guarded(
            http::routes(srv.clone()).merge(gateway::routes(api)),
        ))
        .fallback_service(fallback);
    tonic::transport::Server::builder()
        .accept_http1(true)
        // etcd's server pings: an idle connection whose client does not
        // answer within the timeout is closed
        .http2_keepalive_interval(keepalive.0)
        .http2_keepalive_timeout(keepalive.1)
        .layer(
            tower::ServiceBuilder::new()
                .layer(grpc_metrics::GrpcMetricsLayer)
                .layer(tower::util::MapResponseLayer::new(etcd_limit_code))
                .layer(deadline::DeadlineLayer)
                .layer(require_leader::RequireLeaderLayer { srv: srv.clone() }),
        )
        .add_routes(tonic::service::Routes::from(router))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

fn is_grpc(h: &axum::http::HeaderMap) -> bool {
    h.get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// A gRPC call to a service this server does not have: grpc-go's
/// Unimplemented answer (not the HTTP 404 the other paths get), so clients
/// report it cleanly.
fn unknown_service(path: &str) -> axum::response::Response {
    let service = path
        .trim_start_matches('/')
        .rsplit_once('/')
        .map_or(path, |(s, _)| s);
    let (parts, _) = tonic::Status::unimplemented(format!("unknown service {service}"))
        .into_http()
        .into_parts();
    axum::response::Response::from_parts(parts, axum::body::Body::empty())
}

/// Serves `--listen-metrics-urls`: `/metrics` and `/health`, as etcd.
pub async fn serve_metrics(
    srv: Arc<Server>,
    listener: tokio::net::TcpListener,
    security: crate::net::Security,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let router = http::metrics_routes(srv).fallback(http::not_found);
    tonic::transport::Server::builder()
        .accept_http1(true)
        .add_routes(tonic::service::Routes::from(router))
        .serve_with_incoming_shutdown(crate::net::incoming(listener, security), shutdown)
        .await
}

/// The client services a follower forwards to the leader's peer port
/// (lease keep-alives and TTL queries, learner promotion), answered there
/// and never forwarded again.
pub fn forwarded_routes(srv: Arc<Server>) -> tonic::service::Routes {
    let api = Api { srv, peer: true };
    tonic::service::Routes::new(LeaseServer::new(api.clone())).add_service(ClusterServer::new(api))
}
