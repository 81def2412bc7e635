//! The `oxcd` binary: parse etcd's flags, open the data dir, serve.

use oxcd::apply::Op;
use oxcd::config::{normalize_args, Config};
use oxcd::node::Server;
use oxcd_proto::etcdserverpb::{LeaseRevokeRequest, Member};
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
/// leader exists, as etcd does after it starts (retried until it lands).
async fn publish_attributes(srv: Arc<Server>) {
    let me = Member {
        id: srv.member_id,
        name: srv.cfg.name.clone(),
        client_ur_ls: srv.cfg.advertise_client_urls.clone(),
        ..Default::default()
    };
    loop {
        let current = srv
            .members_sorted()
            .into_iter()
            .find(|m| m.id == me.id)
            .map(|m| (m.name, m.client_ur_ls));
        if current == Some((me.name.clone(), me.client_ur_ls.clone())) {
            return;
        }
        if current.is_some() && srv.propose(Op::MemberAttrs(me.clone())).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
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
        let mut peers = Vec::new();
        for u in &peer_urls {
            peers.push(bind(u).await);
        }
        // a member joining a running cluster learns its ID and the
        // membership from its peers first (a restart has them already)
        let fresh = !cfg.data_dir.join("member").exists();
        if fresh {
            if let Some(e) = &cfg.bootstrap_error {
                die(e);
            }
        }
        let join = if cfg.join_existing && fresh {
            match oxcd::transport::fetch_members(&cfg).await {
                Ok(j) => Some(j),
                Err(e) => die(e),
            }
        } else {
            if fresh && cfg.initial_members.len() > 1 {
                // a member whose data was lost must not start as new in a
                // cluster that already knows it (etcd refuses the same)
                if oxcd::transport::already_bootstrapped(&cfg).await {
                    die(format!(
                        "member {:x} has already been bootstrapped",
                        cfg.member_id
                    ));
                }
            }
            None
        };
        let (srv, parts) = match tokio::task::spawn_blocking(move || Server::open(cfg, join)).await
        {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => die(e),
            Err(e) => die(e),
        };
        let srv = Arc::new(srv);
        let transport = oxcd::transport::Transport::new(&srv, tokio::runtime::Handle::current());
        transport.update_peers(&srv.members_sorted());
        let _ = srv.transport.set(transport);
        let node_srv = srv.clone();
        let node = std::thread::Builder::new()
            .name("oxcd-node".into())
            .spawn(move || {
                // the node thread owns consensus: if it fails, the member
                // must stop rather than keep answering with stale state
                let r =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| node_srv.run(parts)));
                if r.is_err() {
                    eprintln!("oxcd: fatal: the raft node stopped unexpectedly");
                    std::process::exit(1);
                }
            })
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
        let publish = tokio::spawn(publish_attributes(srv.clone()));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut servers = Vec::new();
        // peers hold their streams open for good: the peer port is closed
        // by aborting its server, not by waiting for them to leave
        let mut peer_servers = Vec::new();
        for l in peers {
            let mut rx = stop_rx.clone();
            let srv = srv.clone();
            peer_servers.push(tokio::spawn(async move {
                let stop = async move {
                    let _ = rx.changed().await;
                };
                if let Err(e) = oxcd::transport::server::serve(srv, l, stop).await {
                    eprintln!("oxcd: serving peers: {e}");
                }
            }));
        }
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
        let removed = srv.clone();
        tokio::select! {
            _ = shutdown_signal() => eprintln!("oxcd: shutting down"),
            _ = async move {
                while !removed.stopped_removed.load(std::sync::atomic::Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            } => eprintln!("oxcd: stopping: this member was removed from the cluster"),
        }
        let _ = stop_tx.send(true);
        for s in peer_servers {
            s.abort();
        }
        for s in servers {
            let _ = s.await;
        }
        expiry.abort();
        publish.abort();
        srv.close();
        drop(srv);
        let _ = tokio::task::spawn_blocking(move || node.join()).await;
    });
}
