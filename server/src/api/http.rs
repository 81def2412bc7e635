//! HTTP beside gRPC on the client URLs, as etcd serves it on the same
//! port: `/health` (`?serializable=true`, `?exclude=ALARM`), `/version` and
//! `/metrics` (see [`super::metrics`]); anything else is Go's 404.

use crate::node::Server;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use oxcd_proto::etcdserverpb::AlarmType;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The etcd release and the cluster version oxcd reports.
const SERVER_VERSION: &str = super::maintenance::ETCD_VERSION;
const CLUSTER_VERSION: &str = "3.5.0";

/// How long the health check's read may take (etcd's: one second).
const HEALTH_READ: Duration = Duration::from_secs(1);

/// The HTTP routes, to be merged with the gRPC services' router.
pub fn routes(srv: Arc<Server>) -> axum::Router {
    axum::Router::new()
        .route("/health", axum::routing::get(health))
        .route("/version", axum::routing::get(version))
        .route("/metrics", axum::routing::get(metrics))
        .with_state(srv)
}

/// `--listen-metrics-urls` serve `/health` and `/metrics` only.
pub fn metrics_routes(srv: Arc<Server>) -> axum::Router {
    axum::Router::new()
        .route("/health", axum::routing::get(health))
        .route("/metrics", axum::routing::get(metrics))
        .with_state(srv)
}

/// Go's `http.NotFound`, for paths that are neither HTTP nor gRPC routes.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        "404 page not found\n",
    )
        .into_response()
}

fn alarm_reason(alarm: i32) -> &'static str {
    match AlarmType::try_from(alarm) {
        Ok(AlarmType::Nospace) => "ALARM NOSPACE",
        Ok(AlarmType::Corrupt) => "ALARM CORRUPT",
        _ => "ALARM UNKNOWN",
    }
}

/// etcd's health check: an alarm not excluded, no leader (unless the read
/// may be serializable), or a read that fails within a second make the
/// member unhealthy (503).
async fn check_health(srv: &Server, q: &HashMap<String, String>) -> Result<(), String> {
    let serializable = q.get("serializable").is_some_and(|v| v == "true");
    let excluded: Vec<&str> = q
        .get("exclude")
        .map(|v| v.split(',').collect())
        .unwrap_or_default();
    let alarms: Vec<i32> = srv
        .state
        .read()
        .map(|s| s.alarms.iter().map(|(_, a)| *a).collect())
        .unwrap_or_default();
    for a in alarms {
        let name = AlarmType::try_from(a)
            .map(|t| t.as_str_name())
            .unwrap_or("");
        if !excluded.contains(&name) {
            return Err(alarm_reason(a).into());
        }
    }
    if !serializable && srv.leader() == 0 {
        return Err("RAFT NO LEADER".into());
    }
    if !serializable && !srv.sole_voter() {
        match tokio::time::timeout(HEALTH_READ, srv.linearize()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("QGET ERROR:{e}")),
            Err(_) => return Err("QGET ERROR:context deadline exceeded".into()),
        }
    }
    Ok(())
}

async fn health(State(srv): State<Arc<Server>>, RawQuery(q): RawQuery) -> Response {
    let q: HashMap<String, String> = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let (code, health, reason) = match check_health(&srv, &q).await {
        Ok(()) => (StatusCode::OK, "true", String::new()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, "false", reason),
    };
    // etcd's field order: health, reason; an unhealthy answer goes through
    // Go's http.Error, which ends it with a newline
    let end = if code == StatusCode::OK { "" } else { "\n" };
    let body = format!(
        r#"{{"health":"{health}","reason":{}}}{end}"#,
        serde_json::Value::String(reason)
    );
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn version() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"etcdserver":"{SERVER_VERSION}","etcdcluster":"{CLUSTER_VERSION}"}}"#),
    )
        .into_response()
}

/// Sets the gauges that describe the member as it is now.
fn fill_gauges(srv: &Server) {
    let m = &*crate::metrics::M;
    m.has_leader.set(i64::from(srv.leader() != 0));
    m.is_leader.set(i64::from(srv.is_leader()));
    m.is_learner.set(i64::from(srv.is_learner()));
    m.server_id
        .with_label_values(&[&format!("{:x}", srv.member_id)])
        .set(1);
    m.server_version.with_label_values(&[SERVER_VERSION]).set(1);
    m.cluster_version.with_label_values(&["3.5"]).set(1);
    m.quota_backend_bytes
        .set(i64::try_from(srv.cfg.quota_backend_bytes).unwrap_or(i64::MAX));
    m.proposals_committed
        .set(i64::try_from(srv.raft_index()).unwrap_or(i64::MAX));
    m.proposals_applied
        .set(i64::try_from(srv.applied_index()).unwrap_or(i64::MAX));
    m.db_total_size
        .set(i64::try_from(srv.db_size()).unwrap_or(i64::MAX));
    m.db_total_size_in_use
        .set(i64::try_from(srv.db_in_use()).unwrap_or(i64::MAX));
    if let Ok(st) = srv.state.read() {
        let live = st
            .store
            .index
            .keys
            .values()
            .filter(|k| k.is_alive())
            .count();
        m.keys_total.set(i64::try_from(live).unwrap_or(i64::MAX));
    }
}

async fn metrics(State(srv): State<Arc<Server>>) -> Response {
    fill_gauges(&srv);
    match crate::metrics::render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}
