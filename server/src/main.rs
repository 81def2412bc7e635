//! The `oxcd` binary: parse etcd's flags, open the data dir, serve.

use oxcd::apply::Op;
use oxcd::config::{normalize_args, Config};
use oxcd::node::Server;
use oxcd_proto::etcdserverpb::LeaseRevokeRequest;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("oxcd: error: {msg}");
    std::process::exit(1);
}

async fn bind(u: &url::Url) -> TcpListener {
    let host = u
        .host_str()
        .unwrap_or("localhost")
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = u.port().unwrap_or(0);
    match TcpListener::bind((host, port)).await {
        Ok(l) => l,
        Err(e) => die(format!("listen tcp {host}:{port}: {e}")),
    }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Revokes leases whose TTL ran out, through the log like any write.
async fn expire_leases(srv: Arc<Server>) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let expired = match srv.state.read() {
            Ok(s) => s.lessor.expired(Instant::now()),
            Err(_) => return,
        };
        for id in expired {
            let _ = srv
                .propose(Op::LeaseRevoke(LeaseRevokeRequest { id }))
                .await;
        }
    }
}

fn main() {
    let cfg = match Config::from_args(normalize_args(std::env::args())) {
        Ok(c) => c,
        Err(Ok(clap_err)) => clap_err.exit(),
        Err(Err(msg)) => die(msg),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => die(format!("cannot start the runtime: {e}")),
    };
    rt.block_on(async move {
        let client_urls = cfg.listen_client_urls.clone();
        let peer_urls = cfg.listen_peer_urls.clone();
        // bind before opening the store so a busy port fails fast and cleanly
        let mut listeners = Vec::new();
        for u in &client_urls {
            listeners.push((u.clone(), bind(u).await));
        }
        // the peer port is held (raft transport comes with clustering) so
        // that a conflict shows up now rather than later
        let mut peers = Vec::new();
        for u in &peer_urls {
            peers.push(bind(u).await);
        }
        let (srv, parts) = match tokio::task::spawn_blocking(move || Server::open(cfg)).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => die(e),
            Err(e) => die(e),
        };
        let srv = Arc::new(srv);
        let node_srv = srv.clone();
        let node = std::thread::Builder::new()
            .name("oxcd-node".into())
            .spawn(move || node_srv.run(parts))
            .unwrap_or_else(|e| die(format!("cannot start the node thread: {e}")));
        eprintln!(
            "oxcd: member {:x} of cluster {:x} ready, serving client traffic on {}",
            srv.member_id,
            srv.cluster_id,
            client_urls
                .iter()
                .map(|u| u.as_str().trim_end_matches('/'))
                .collect::<Vec<_>>()
                .join(",")
        );
        let expiry = tokio::spawn(expire_leases(srv.clone()));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut servers = Vec::new();
        for (u, l) in listeners {
            let mut rx = stop_rx.clone();
            let srv = srv.clone();
            servers.push(tokio::spawn(async move {
                let stop = async move {
                    let _ = rx.changed().await;
                };
                if let Err(e) = oxcd::api::serve(srv, l, stop).await {
                    eprintln!("oxcd: serving {u}: {e}");
                }
            }));
        }
        shutdown_signal().await;
        eprintln!("oxcd: shutting down");
        let _ = stop_tx.send(true);
        for s in servers {
            let _ = s.await;
        }
        expiry.abort();
        drop(peers);
        srv.close();
        drop(srv);
        let _ = tokio::task::spawn_blocking(move || node.join()).await;
    });
}
