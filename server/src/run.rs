//! The library entry point: [`run`] runs one member from its configuration
//! and listeners bound beforehand, until `shutdown` resolves, the member is
//! removed from the cluster, or its node loop fails. The `oxcd` binary
//! only parses flags, binds, and calls it.
//!
//! Threads: the node loop (raft, the WAL, the store's writes) runs on a
//! thread of its own; the gRPC servers, the peer transport and the timers
//! below run on the caller's tokio runtime.

use crate::api;
use crate::apply::Op;
use crate::config::Config;
use crate::consensus::{self, Network};
use crate::error::Fatal;
use crate::net::Security;
use crate::node::Server;
use crate::tls::{self, ServerTls};
use crate::transport::{self, Host, Transport};
use oxcd_proto::etcdserverpb::{LeaseRevokeRequest, Member};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// The sockets a member serves on, bound by the caller (so that a busy
/// port fails before the data dir is touched).
pub struct Listeners {
    /// one per `--listen-client-urls` entry, with its URL
    pub client: Vec<(url::Url, TcpListener)>,
    /// one per `--listen-peer-urls` entry, with its URL
    pub peer: Vec<(url::Url, TcpListener)>,
    /// one per `--listen-metrics-urls` entry (`/metrics`, `/health`)
    pub metrics: Vec<(url::Url, TcpListener)>,
}

/// Runs a member until `shutdown` resolves (then stops cleanly: the
/// servers first, then the node loop, which makes what it applied durable),
/// until it is removed from the cluster, or until it fails.
pub async fn run(
    cfg: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Fatal> {
    let client_urls: Vec<String> = listeners
        .client
        .iter()
        .map(|(u, _)| u.as_str().trim_end_matches('/').to_string())
        .collect();
    let mut cfg = cfg;
    tracing::info!(
        "etcd-version" = crate::api::ETCD_VERSION,
        "oxcd-version" = env!("CARGO_PKG_VERSION"),
        name = %cfg.name,
        "data-dir" = %cfg.data_dir.display(),
        "initial-cluster" = %cfg
            .initial_members
            .iter()
            .flat_map(|m| m.peer_urls.iter().map(move |u| format!("{}={u}", m.name)))
            .collect::<Vec<_>>()
            .join(","),
        "initial-cluster-state" = if cfg.join_existing { "existing" } else { "new" },
        "snapshot-count" = cfg.snapshot_count,
        "heartbeat-interval" = %format_args!("{}ms", cfg.heartbeat_ms),
        "election-timeout" = %format_args!("{}ms", cfg.election_ms),
        "quota-backend-bytes" = cfg.quota_backend_bytes,
        "max-request-bytes" = cfg.max_request_bytes,
        "starting an etcd server"
    );
    crate::apply::set_warning_apply_duration(cfg.warning_apply_duration);
    if matches!(cfg.auth_token, crate::auth::TokenConfig::Simple { .. }) {
        // as etcd: simple tokens are guessable once auth is on
        tracing::warn!("simple token is not cryptographically signed");
    }
    let (client_sec, peer_sec) = security(&mut cfg, &listeners)?;
    let join = join_or_check(&mut cfg).await?;
    let (shared, node_tx, parts) =
        match tokio::task::spawn_blocking(move || consensus::open::open(cfg, join)).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Err(Fatal::Start(e)),
            Err(e) => return Err(Fatal::Start(e.to_string())),
        };
    let shared = Arc::new(shared);
    let node_tx = Arc::new(node_tx);
    let host = Host {
        shared: shared.clone(),
        node: node_tx.clone(),
    };
    let net = Arc::new(Transport::new(
        host.clone(),
        tokio::runtime::Handle::current(),
    ));
    net.update_peers(&shared.members_sorted());
    let srv = Arc::new(Server::new(shared.clone(), node_tx));
    // before the node runs: a member whose data differs from its peers'
    // must not take part
    if srv.cfg.initial_corrupt_check {
        crate::corrupt::initial_check(&srv)
            .await
            .map_err(Fatal::Start)?;
    }

    let (node_done_tx, mut node_done) = tokio::sync::oneshot::channel();
    let loop_shared = shared.clone();
    let loop_net: Arc<dyn Network> = net.clone();
    let node = std::thread::Builder::new()
        .name("oxcd-node".into())
        .spawn(move || {
            // the node thread owns consensus: if it fails, the member must
            // stop rather than keep answering with stale state
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                consensus::run(&loop_shared, parts, loop_net)
            }))
            .unwrap_or(Err(Fatal::Panicked));
            let _ = node_done_tx.send(r);
        })
        .map_err(|e| Fatal::Start(format!("cannot start the node thread: {e}")))?;
    tracing::info!(
        "local-member-id" = %crate::log::Id(shared.member_id),
        "cluster-id" = %crate::log::Id(shared.cluster_id),
        "starting local member"
    );
    tracing::info!(
        "local-member-id" = %crate::log::Id(shared.member_id),
        "initial-advertise-peer-urls" = ?crate::log::Json(
            srv.cfg
                .initial_members
                .iter()
                .find(|m| m.id == shared.member_id)
                .map(|m| m.peer_urls.clone())
                .unwrap_or_default()
        ),
        "listen-peer-urls" = ?crate::log::Json(url_strings(listeners.peer.iter().map(|l| &l.0))),
        "advertise-client-urls" = ?crate::log::Json(&srv.cfg.advertise_client_urls),
        "listen-client-urls" = ?crate::log::Json(&client_urls),
        "listen-metrics-urls" = ?crate::log::Json(url_strings(listeners.metrics.iter().map(|l| &l.0))),
        "now serving peer/client/metrics"
    );
    let expiry = tokio::spawn(expire_leases(srv.clone()));
    let leaderless = tokio::spawn(api::require_leader::monitor(srv.clone()));
    let disk = tokio::spawn(crate::diskwatch::run(srv.clone()));
    let compactor = srv
        .cfg
        .auto_compaction
        .map(|how| tokio::spawn(crate::compactor::run(srv.clone(), how)));
    let progress = srv
        .cfg
        .watch_progress_notify_interval
        .map(|every| tokio::spawn(watch_progress(srv.clone(), every)));
    let corrupt_check = srv
        .cfg
        .corrupt_check_time
        .map(|every| tokio::spawn(crate::corrupt::run_periodic(srv.clone(), every)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.changed().await;
    };
    // peers hold their streams open for good: the peer port is closed by
    // aborting its server, not by waiting for them to leave
    let mut peer_servers = Vec::new();
    for (u, l) in listeners.peer {
        let (host, stop) = (host.clone(), stopped(stop_rx.clone()));
        let forwarded = api::forwarded_routes(srv.clone());
        let sec = scheme_security(&u, &peer_sec);
        peer_servers.push(tokio::spawn(async move {
            if let Err(e) = transport::server::serve(host, l, sec, forwarded, stop).await {
                tracing::error!(error = %e, "stopped serving peer traffic");
            }
        }));
    }
    let mut servers = Vec::new();
    // clients are served once this member has published itself through
    // raft and applied that (etcd's ready point): a member never serves
    // an older state than its own start. Until then connections wait in
    // the listeners' backlog, as etcd's do.
    let (ready_srv, ready_stop) = (srv.clone(), stopped(stop_rx.clone()));
    let ready_sec = client_sec.clone();
    let client_stops: Vec<_> = listeners
        .client
        .iter()
        .map(|_| stopped(stop_rx.clone()))
        .collect();
    servers.push(tokio::spawn(async move {
        tokio::select! {
            _ = publish_attributes(ready_srv.clone(), client_urls) => {}
            _ = ready_stop => return,
        }
        // aborting this task aborts the servers too (the set drops them)
        let mut set = tokio::task::JoinSet::new();
        for ((u, l), stop) in listeners.client.into_iter().zip(client_stops) {
            let srv = ready_srv.clone();
            let sec = scheme_security(&u, &ready_sec);
            set.spawn(async move {
                if let Err(e) = api::serve(srv, l, sec, stop).await {
                    tracing::error!(address = %u, error = %e, "stopped serving client traffic");
                }
            });
        }
        while set.join_next().await.is_some() {}
    }));
    // the metrics URLs: https ones with the client side's certificate,
    // as etcd does
    for (u, l) in listeners.metrics {
        let (srv, stop) = (srv.clone(), stopped(stop_rx.clone()));
        let sec = scheme_security(&u, &client_sec);
        servers.push(tokio::spawn(async move {
            if let Err(e) = api::serve_metrics(srv, l, sec, stop).await {
                tracing::error!(address = %u, error = %e, "stopped serving metrics");
            }
        }));
    }
    let removed = shared.clone();
    let mut outcome = Ok(());
    let mut node_ended = false;
    tokio::select! {
        _ = shutdown => tracing::info!("received signal; shutting down"),
        _ = async move {
            while !removed.stopped_removed.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        } => {}
        r = &mut node_done => {
            outcome = r.unwrap_or(Err(Fatal::Panicked));
            node_ended = true;
        }
    }
    if outcome.is_ok() && shared.stopped_removed.load(Ordering::SeqCst) {
        tracing::warn!("stopping: this member was removed from the cluster");
    }
    tracing::info!(
        name = %shared.cfg.name,
        "data-dir" = %shared.cfg.data_dir.display(),
        "closing etcd server"
    );
    let _ = stop_tx.send(true);
    for s in peer_servers {
        s.abort();
    }
    // clients get a graceful stop (open streams may finish) unless the node
    // loop failed, before or meanwhile: then the servers are aborted. Each
    // server leaves the list once stopped, so a cut-short wait leaves only
    // those still running.
    let drain = async {
        while let Some(s) = servers.last_mut() {
            let _ = s.await;
            servers.pop();
        }
    };
    if outcome.is_ok() && !node_ended {
        tokio::select! {
            _ = drain => {}
            r = &mut node_done => {
                node_ended = true;
                if let Err(e) = r.unwrap_or(Err(Fatal::Panicked)) {
                    outcome = Err(e);
                }
            }
        }
    }
    if outcome.is_err() {
        for s in &servers {
            s.abort();
        }
    }
    for s in servers {
        let _ = s.await;
    }
    expiry.abort();
    leaderless.abort();
    disk.abort();
    for t in compactor.into_iter().chain(corrupt_check).chain(progress) {
        t.abort();
    }
    srv.close();
    drop(srv);
    let _ = tokio::task::spawn_blocking(move || node.join()).await;
    if outcome.is_ok() && !node_ended {
        // the loop ended after the stop: its own failure, if any
        if let Ok(r) = node_done.try_recv() {
            outcome = r;
        }
    }
    tracing::info!(
        name = %shared.cfg.name,
        "data-dir" = %shared.cfg.data_dir.display(),
        "closed etcd server"
    );
    outcome
}

fn url_strings<'a>(urls: impl Iterator<Item = &'a url::Url>) -> Vec<String> {
    urls.map(|u| u.as_str().trim_end_matches('/').to_string())
        .collect()
}

/// One side's server TLS, when it has https URLs.
type SideTls = Option<Arc<ServerTls>>;

/// The TLS of each side, loaded before anything else so that a bad
/// certificate stops the start: `--auto-tls`/`--peer-auto-tls` make (or
/// reuse) a self-signed certificate under the data dir, as etcd.
fn security(cfg: &mut Config, listeners: &Listeners) -> Result<(SideTls, SideTls), Fatal> {
    let hosts = |l: &[(url::Url, TcpListener)]| -> Vec<String> {
        l.iter()
            .filter_map(|(u, _)| u.host_str().map(str::to_string))
            .collect()
    };
    let fixtures = cfg.data_dir.join("fixtures");
    let start = |e: tls::TlsError| Fatal::Start(e.to_string());
    let validity = cfg.self_signed_cert_validity;
    // a generated certificate keeps the side's cipher suites
    let generate = |dir: &str, l: &[(url::Url, TcpListener)], info: &tls::TlsInfo| {
        tls::self_signed(&fixtures.join(dir), &hosts(l), validity)
            .map(|generated| tls::TlsInfo {
                cipher_suites: info.cipher_suites.clone(),
                ..generated
            })
            .map_err(start)
    };
    if cfg.auto_tls {
        cfg.client_tls = generate("client", &listeners.client, &cfg.client_tls)?;
    }
    if cfg.peer_auto_tls {
        cfg.peer_tls = generate("peer", &listeners.peer, &cfg.peer_tls)?;
    }
    let side = |info: &tls::TlsInfo, l: &[&[(url::Url, TcpListener)]], what: &str| {
        let https = l
            .iter()
            .flat_map(|l| l.iter())
            .any(|(u, _)| u.scheme() == "https");
        if !https && !info.is_empty() {
            tracing::warn!("the {what} URLs are http while key and cert files are present; ignoring them on those URLs");
        }
        match https {
            true => ServerTls::new(info.clone())
                .map(|t| Some(Arc::new(t)))
                .map_err(start),
            false => Ok(None),
        }
    };
    // the metrics URLs use the client side's certificate
    let client = side(
        &cfg.client_tls,
        &[&listeners.client, &listeners.metrics],
        "client",
    )?;
    let peer = side(&cfg.peer_tls, &[&listeners.peer], "peer")?;
    Ok((client, peer))
}

/// How the listener for `u` secures its connections.
fn scheme_security(u: &url::Url, tls: &SideTls) -> Security {
    match (u.scheme(), tls) {
        ("https", Some(t)) => Security::Tls {
            peer_san: t.info().client_cert_auth && !t.info().skip_client_san,
            tls: t.clone(),
        },
        _ => Security::Plain,
    }
}

/// A member joining a running cluster learns its ID and the membership
/// from its peers first; a fresh member of a new cluster checks that the
/// cluster does not know it already. A restart has its data already.
async fn join_or_check(cfg: &mut Config) -> Result<Option<consensus::open::Join>, Fatal> {
    let fresh = !cfg.data_dir.join("member").exists();
    if !fresh {
        return Ok(None);
    }
    crate::discovery::bootstrap(cfg)
        .await
        .map_err(Fatal::Start)?;
    if let Some(e) = &cfg.bootstrap_error {
        return Err(Fatal::Start(e.clone()));
    }
    if cfg.join_existing {
        return transport::fetch_members(cfg)
            .await
            .map(Some)
            .map_err(Fatal::Start);
    }
    // a member whose data was lost must not start as new in a cluster that
    // already knows it (etcd refuses the same)
    if cfg.initial_members.len() > 1 && transport::already_bootstrapped(cfg).await {
        return Err(Fatal::Start(format!(
            "member {:x} has already been bootstrapped",
            cfg.member_id
        )));
    }
    Ok(None)
}

/// Watch progress notifications, every `every`: under the state lock, so
/// that each watcher has had every event up to the revision it is told.
async fn watch_progress(srv: Arc<Server>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let _ = srv.read(|st, _| {
            srv.hub.progress(srv.header(st.store.current_rev));
            Ok(())
        });
    }
}

/// Revokes leases whose TTL ran out, through the log like any write.
/// Only the leader does: followers' clocks do not see keep-alives.
async fn expire_leases(srv: Arc<Server>) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if !srv.is_leader() {
            continue;
        }
        let expired = match srv.state.read() {
            Ok(s) => s.lessor.expired(Instant::now()),
            Err(_) => return,
        };
        for id in expired {
            if !srv.is_leader() {
                break;
            }
            let _ = srv
                .propose_as_leader(Op::LeaseRevoke(LeaseRevokeRequest { id }))
                .await;
        }
    }
}

/// Publishes this member's name and client URLs through the log once a
/// leader exists, as etcd does after it starts (retried until it lands),
/// then logs the lines etcd's operators and harnesses wait for.
async fn publish_attributes(srv: Arc<Server>, client_urls: Vec<String>) {
    publish(&srv).await;
    tracing::info!(
        "cluster-version" = "3.5",
        "enabled capabilities for version"
    );
    tracing::info!(
        "local-member-id" = %crate::log::Id(srv.member_id),
        "local-member-attributes" = %format_args!(
            "{{Name:{} ClientURLs:[{}]}}",
            srv.cfg.name,
            srv.cfg.advertise_client_urls.join(" ")
        ),
        "cluster-id" = %crate::log::Id(srv.cluster_id),
        "published local member to cluster through raft"
    );
    tracing::info!("ready to serve client requests");
    notify_ready();
    for u in client_urls {
        let address = u.split("://").nth(1).unwrap_or(&u);
        if u.starts_with("https") {
            tracing::info!(address, "serving client traffic securely");
        } else {
            tracing::info!(
                address,
                "serving client traffic insecurely; this is strongly discouraged!"
            );
        }
    }
}

/// Tells systemd (a `Type=notify` unit: `NOTIFY_SOCKET` set) that the
/// member serves clients now, with etcd's log lines around it; without
/// the socket nothing is sent.
fn notify_ready() {
    tracing::info!("notifying init daemon");
    match sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        Ok(()) => tracing::info!("successfully notified init daemon"),
        Err(e) => tracing::error!(error = %e, "failed to notify systemd for readiness"),
    }
}

async fn publish(srv: &Server) {
    let me = Member {
        id: srv.member_id,
        name: srv.cfg.name.clone(),
        client_ur_ls: srv.cfg.advertise_client_urls.clone(),
        ..Default::default()
    };
    // on every start, as etcd: the entry applied here is the ready point,
    // even when the attributes are already the member's (a member that
    // joined waits until it holds its own record)
    loop {
        let known = srv.members_sorted().iter().any(|m| m.id == me.id);
        if known && srv.propose(Op::MemberAttrs(me.clone())).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
