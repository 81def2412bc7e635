//! The gRPC front: etcd's v3 services over the node, served on every
//! `--listen-client-urls` address.

mod auth;
mod cluster;
mod kv;
mod lease;
mod maintenance;
mod watch;

use crate::apply::{Applied, Op};
use crate::error::EtcdError;
use crate::node::Server;
use oxcd_proto::etcdserverpb::{
    alarm_request::AlarmAction, auth_server::AuthServer, cluster_server::ClusterServer,
    kv_server::KvServer, lease_server::LeaseServer, maintenance_server::MaintenanceServer,
    watch_server::WatchServer, AlarmRequest, AlarmType,
};
use std::sync::Arc;
use tonic::Status;

#[derive(Clone)]
pub struct Api {
    pub srv: Arc<Server>,
    /// serving the peer port: requests forwarded by another member are
    /// answered here, never forwarded again
    pub peer: bool,
}

/// etcd's `--max-request-bytes` check on what a request would log.
pub(crate) fn check_size<M: prost::Message>(srv: &Server, m: &M) -> Result<(), EtcdError> {
    if m.encoded_len() > srv.cfg.max_request_bytes {
        return Err(EtcdError::RequestTooLarge);
    }
    Ok(())
}

/// etcd's quota: once the store passes `--quota-backend-bytes` a NOSPACE
/// alarm is raised, and writes are refused until it is disarmed.
pub(crate) async fn no_space(srv: &Server) -> Result<(), Status> {
    let nospace = AlarmType::Nospace as i32;
    let raised = srv
        .state
        .read()
        .map(|s| s.alarms.iter().any(|(_, a)| *a == nospace))
        .unwrap_or(false);
    if raised {
        return Err(EtcdError::NoSpace.into());
    }
    if srv.db_size() > srv.cfg.quota_backend_bytes {
        let req = AlarmRequest {
            action: AlarmAction::Activate as i32,
            member_id: srv.member_id,
            alarm: nospace,
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
    // gRPC accepts a little more than a request may hold so that an
    // oversized request gets etcd's own error rather than a transport one
    let limit = srv.cfg.max_request_bytes + 512 * 1024;
    tonic::transport::Server::builder()
        .layer(tower::util::MapResponseLayer::new(etcd_limit_code))
        .add_service(KvServer::new(api.clone()).max_decoding_message_size(limit))
        .add_service(LeaseServer::new(api.clone()).max_decoding_message_size(limit))
        .add_service(ClusterServer::new(api.clone()).max_decoding_message_size(limit))
        .add_service(MaintenanceServer::new(api.clone()).max_decoding_message_size(limit))
        .add_service(AuthServer::new(api.clone()).max_decoding_message_size(limit))
        .add_service(WatchServer::new(api).max_decoding_message_size(limit))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// The client services a follower forwards to the leader's peer port
/// (lease keep-alives and TTL queries, learner promotion), answered there
/// and never forwarded again.
pub fn forwarded_routes(srv: Arc<Server>) -> tonic::service::Routes {
    let api = Api { srv, peer: true };
    tonic::service::Routes::new(LeaseServer::new(api.clone())).add_service(ClusterServer::new(api))
}
