//! Peer transport: raft messages between members over our `Peer` gRPC
//! service on `--listen-peer-urls`. One task per peer keeps a long-lived
//! stream and sends whatever queued up since its last send as one batch;
//! snapshots go on their own stream with the database in chunks.

mod client;
mod probe;
pub mod server;
mod wire;

use crate::consensus::{Network, NodeMsg, NodeSender};
use crate::export::SnapshotView;
use crate::shared::Shared;
use oxcd_proto::etcdserverpb::Member;
use raft::eraftpb::Message;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// What the transport needs of its member: the shared state (identity,
/// members, removed members, peers' activity, data dir) and the node
/// loop's way in.
#[derive(Clone)]
pub struct Host {
    pub shared: Arc<Shared>,
    pub node: Arc<NodeSender>,
}

impl Host {
    /// Tells the node loop; a stopped loop no longer listens.
    fn report(&self, m: NodeMsg) {
        let _ = self.node.send(m);
    }
}

/// Messages queued per peer before new ones are dropped (and raft told
/// the peer is unreachable), as etcd's stream buffer.
const QUEUE: usize = 4096;

struct Peer {
    urls: Vec<String>,
    tx: mpsc::Sender<Message>,
    task: tokio::task::JoinHandle<()>,
}

pub struct Transport {
    cluster_id: u64,
    member_id: u64,
    rt: tokio::runtime::Handle,
    host: Host,
    peers: Mutex<HashMap<u64, Peer>>,
}

impl Transport {
    pub fn new(host: Host, rt: tokio::runtime::Handle) -> Transport {
        Transport {
            cluster_id: host.shared.cluster_id,
            member_id: host.shared.member_id,
            rt,
            host,
            peers: Mutex::new(HashMap::new()),
        }
    }
}

impl Network for Transport {
    fn send(&self, m: Message) {
        let to = m.to;
        let heartbeat = m.get_msg_type() == raft::eraftpb::MessageType::MsgHeartbeat;
        let full = match self.peers.lock() {
            Ok(peers) => match peers.get(&to) {
                Some(p) => p.tx.try_send(m).is_err(),
                None => false,
            },
            Err(_) => false,
        };
        if full {
            let m = &crate::metrics::M;
            m.peer_sent_failures
                .with_label_values(&[&crate::metrics::peer_label(to)])
                .inc();
            if heartbeat {
                m.heartbeat_send_failures.inc();
            }
            self.host.report(NodeMsg::Unreachable(to));
        }
    }

    fn send_snapshot(&self, m: Message, view: SnapshotView) {
        let to = m.to;
        let url = self
            .peers
            .lock()
            .ok()
            .and_then(|p| p.get(&to).and_then(|p| p.urls.first().cloned()));
        let Some(url) = url else {
            self.host.report(NodeMsg::SnapshotSent { to, ok: false });
            return;
        };
        let host = self.host.clone();
        let (cluster_id, from) = (self.cluster_id, self.member_id);
        self.rt.spawn(async move {
            let ok = match client::send_snapshot(
                url,
                cluster_id,
                from,
                m,
                view,
                &host.shared.cfg.peer_tls,
            )
            .await
            {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!("remote-peer-id" = %crate::log::Id(to), error = %e, "failed to send database snapshot to peer");
                    false
                }
            };
            host.report(NodeMsg::SnapshotSent { to, ok });
        });
    }

    /// Starts a sender for every member not yet known, stops those of
    /// members no longer listed, and follows peer URL changes.
    fn update_peers(&self, members: &[Member]) {
        let Ok(mut peers) = self.peers.lock() else {
            return;
        };
        peers.retain(|id, p| {
            let keep = members
                .iter()
                .any(|m| m.id == *id && m.peer_ur_ls == p.urls);
            if !keep {
                p.task.abort();
            }
            keep
        });
        for m in members {
            if m.id == self.member_id || peers.contains_key(&m.id) || m.peer_ur_ls.is_empty() {
                continue;
            }
            let (tx, rx) = mpsc::channel(QUEUE);
            let ctx = client::PeerCtx {
                cluster_id: self.cluster_id,
                from: self.member_id,
                to: m.id,
                url: m.peer_ur_ls[0].clone(),
                host: self.host.clone(),
            };
            // the prober lives as long as the sender
            let task = self.rt.spawn(async move {
                tokio::select! {
                    _ = probe::run(&ctx) => {}
                    _ = client::run_peer(&ctx, rx) => {}
                }
            });
            peers.insert(
                m.id,
                Peer {
                    urls: m.peer_ur_ls.clone(),
                    tx,
                    task,
                },
            );
        }
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        if let Ok(peers) = self.peers.lock() {
            for p in peers.values() {
                p.task.abort();
            }
        }
    }
}

pub use client::{already_bootstrapped, channel, fetch_members, peer_hash_kv};
