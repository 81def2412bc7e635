//! etcd's gRPC gateway: the v3 API as JSON over HTTP POST under `/v3/` on
//! the client port (`curl -X POST http://…:2379/v3/kv/range -d '{"key":…}'`).
//! Each path calls the same service method a gRPC request does, with the
//! `Authorization` header as the token and the connection's certificate;
//! the JSON is proto3's mapping with the proto field names (`codec.rs`).

mod codec;

pub(super) use codec::not_found;

use super::Api;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use oxcd_proto::etcdserverpb::{
    auth_server::Auth, cluster_server::Cluster, kv_server::Kv, lease_server::Lease,
    maintenance_server::Maintenance, LeaseKeepAliveRequest, WatchRequest,
};
use oxcd_proto::v3electionpb::election_server::Election;
use oxcd_proto::v3lockpb::lock_server::Lock;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use tonic::Status;

/// The paths of etcd 3.5's rpc.proto `google.api.http` options, each to
/// its service method, under `/v3/` and etcd's `/v3beta/` alias.
pub(super) fn routes(api: Api) -> Router {
    macro_rules! unary {
        ($router:expr, $svc:ident :: $method:ident, $($path:literal),+) => {
            $router$(.route_both($path, post(|State(api): State<Api>, req: Request| async move {
                unary(api, req, |api: Api, r| async move { <Api as $svc>::$method(&api, r).await })
                    .await
            })))+
        };
    }
    let r = Routes(Router::new());
    let r = unary!(r, Kv::range, "/kv/range");
    let r = unary!(r, Kv::put, "/kv/put");
    let r = unary!(r, Kv::delete_range, "/kv/deleterange");
    let r = unary!(r, Kv::txn, "/kv/txn");
    let r = unary!(r, Kv::compact, "/kv/compaction");
    let r = unary!(r, Lease::lease_grant, "/lease/grant");
    let r = unary!(r, Lease::lease_revoke, "/lease/revoke", "/kv/lease/revoke");
    let r = unary!(
        r,
        Lease::lease_time_to_live,
        "/lease/timetolive",
        "/kv/lease/timetolive"
    );
    let r = unary!(r, Lease::lease_leases, "/lease/leases", "/kv/lease/leases");
    let r = unary!(r, Cluster::member_add, "/cluster/member/add");
    let r = unary!(r, Cluster::member_remove, "/cluster/member/remove");
    let r = unary!(r, Cluster::member_update, "/cluster/member/update");
    let r = unary!(r, Cluster::member_list, "/cluster/member/list");
    let r = unary!(r, Cluster::member_promote, "/cluster/member/promote");
    let r = unary!(r, Maintenance::alarm, "/maintenance/alarm");
    let r = unary!(r, Maintenance::status, "/maintenance/status");
    let r = unary!(r, Maintenance::defragment, "/maintenance/defragment");
    // etcd's proto gives Hash and HashKV one path, where Hash answers;
    // oxcd also serves HashKV on a path of its own
    let r = unary!(r, Maintenance::hash, "/maintenance/hash");
    let r = unary!(r, Maintenance::hash_kv, "/maintenance/hashkv");
    let r = unary!(
        r,
        Maintenance::move_leader,
        "/maintenance/transfer-leadership"
    );
    let r = unary!(r, Maintenance::downgrade, "/maintenance/downgrade");
    let r = unary!(r, Auth::auth_enable, "/auth/enable");
    let r = unary!(r, Auth::auth_disable, "/auth/disable");
    let r = unary!(r, Auth::auth_status, "/auth/status");
    let r = unary!(r, Auth::authenticate, "/auth/authenticate");
    let r = unary!(r, Auth::user_add, "/auth/user/add");
    let r = unary!(r, Auth::user_get, "/auth/user/get");
    let r = unary!(r, Auth::user_list, "/auth/user/list");
    let r = unary!(r, Auth::user_delete, "/auth/user/delete");
    let r = unary!(r, Auth::user_change_password, "/auth/user/changepw");
    let r = unary!(r, Auth::user_grant_role, "/auth/user/grant");
    let r = unary!(r, Auth::user_revoke_role, "/auth/user/revoke");
    let r = unary!(r, Auth::role_add, "/auth/role/add");
    let r = unary!(r, Auth::role_get, "/auth/role/get");
    let r = unary!(r, Auth::role_list, "/auth/role/list");
    let r = unary!(r, Auth::role_delete, "/auth/role/delete");
    let r = unary!(r, Auth::role_grant_permission, "/auth/role/grant");
    let r = unary!(r, Auth::role_revoke_permission, "/auth/role/revoke");
    let r = unary!(r, Lock::lock, "/lock/lock");
    let r = unary!(r, Lock::unlock, "/lock/unlock");
    let r = unary!(r, Election::campaign, "/election/campaign");
    let r = unary!(r, Election::proclaim, "/election/proclaim");
    let r = unary!(r, Election::leader, "/election/leader");
    let r = unary!(r, Election::resign, "/election/resign");
    r.route_both("/watch", post(watch))
        .route_both("/election/observe", post(observe))
        .route_both("/lease/keepalive", post(keep_alive))
        .route_both("/maintenance/snapshot", post(snapshot))
        .0
        .with_state(api)
}

/// A router that adds each path under both prefixes, answering other
/// methods as etcd's gateway mux does.
struct Routes(Router<Api>);

impl Routes {
    fn route_both(self, path: &str, h: axum::routing::MethodRouter<Api>) -> Routes {
        let h = h.fallback(codec::method_not_allowed);
        Routes(
            self.0
                .route(&format!("/v3{path}"), h.clone())
                .route(&format!("/v3beta{path}"), h),
        )
    }
}

/// Whether a path is the gateway's (for its 404).
pub(super) fn is_gateway_path(path: &str) -> bool {
    path.starts_with("/v3/") || path.starts_with("/v3beta/")
}

/// The largest body read: a request as large as the server takes, with
/// room for JSON's base64.
fn body_limit(api: &Api) -> usize {
    api.srv.cfg.max_request_bytes * 2 + 64 * 1024
}

/// A gRPC request carrying the HTTP request's credentials: the
/// `Authorization` header as the `token` metadata (as etcd's gateway
/// passes it), and the connection's TLS certificate.
fn grpc_request<T>(parts: &axum::http::request::Parts, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        if let Ok(v) = tonic::metadata::MetadataValue::try_from(v.as_bytes()) {
            r.metadata_mut().insert("token", v);
        }
    }
    if let Some(ci) = parts.extensions.get::<crate::net::ConnInfo>() {
        r.extensions_mut().insert(ci.clone());
    }
    r
}

async fn unary<Req, Resp, F, Fut>(api: Api, req: Request, call: F) -> Response
where
    Req: DeserializeOwned + Default,
    Resp: Serialize,
    F: FnOnce(Api, tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
{
    let (parts, body) = req.into_parts();
    let msg = match codec::read::<Req>(body, body_limit(&api)).await {
        Ok(m) => m,
        Err(s) => return codec::error(&s),
    };
    match call(api, grpc_request(&parts, msg)).await {
        Ok(resp) => codec::ok(&resp.into_inner()),
        Err(s) => codec::error(&s),
    }
}

async fn snapshot(State(api): State<Api>, req: Request) -> Response {
    server_stream(api, req, |api: Api, r| async move {
        <Api as Maintenance>::snapshot(&api, r).await
    })
    .await
}

async fn observe(State(api): State<Api>, req: Request) -> Response {
    server_stream(api, req, |api: Api, r| async move {
        <Api as Election>::observe(&api, r).await
    })
    .await
}

/// A call answered with a stream of messages.
async fn server_stream<Req, Resp, S, F, Fut>(api: Api, req: Request, call: F) -> Response
where
    Req: DeserializeOwned + Default,
    Resp: Serialize + Send + 'static,
    S: tokio_stream::Stream<Item = Result<Resp, Status>> + Send + 'static,
    F: FnOnce(Api, tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<S>, Status>>,
{
    let (parts, body) = req.into_parts();
    let msg = match codec::read::<Req>(body, body_limit(&api)).await {
        Ok(m) => m,
        Err(s) => return codec::error(&s),
    };
    match call(api, grpc_request(&parts, msg)).await {
        Ok(resp) => codec::stream(resp.into_inner(), None),
        Err(s) => codec::error(&s),
    }
}

/// A body of known length (read whole before answering).
fn has_length(parts: &axum::http::request::Parts) -> bool {
    parts
        .headers
        .contains_key(axum::http::header::CONTENT_LENGTH)
}

async fn watch(State(api): State<Api>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let sender = match api.sender(&grpc_request(&parts, ())) {
        Ok(s) => s,
        Err(e) => return codec::error(&e.into()),
    };
    // a watch stream outlives its request body, as etcd's
    let (guard, done) = tokio::sync::oneshot::channel();
    match codec::requests::<WatchRequest>(body, has_length(&parts), Some(done)).await {
        Ok(inbound) => codec::stream(api.watch_stream(sender, inbound), Some(guard)),
        Err(s) => codec::error(&s),
    }
}

async fn keep_alive(State(api): State<Api>, req: Request) -> Response {
    // keep-alives end with the request body, as etcd's
    let (parts, body) = req.into_parts();
    match codec::requests::<LeaseKeepAliveRequest>(body, has_length(&parts), None).await {
        Ok(inbound) => codec::stream(api.keep_alive_stream(inbound), None),
        Err(s) => codec::error(&s),
    }
}
