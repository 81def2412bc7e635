//! Peer transport: raft messages between members over our `Peer` gRPC
//! service on `--listen-peer-urls`. One task per peer keeps a long-lived
//! stream and sends whatever queued up since its last send as one batch;
//! snapshots go on their own stream with the database in chunks.

mod client;
pub mod server;

use crate::consensus::NodeMsg;
use crate::node::Server;
use crate::snapshot::SnapshotView;
use oxcd_proto::etcdserverpb::Member;
use raft::eraftpb::Message;
use std::collections::HashMap;
use std::sync::{Mutex, Weak};
use tokio::sync::mpsc;

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
    srv: Weak<Server>,
    peers: Mutex<HashMap<u64, Peer>>,
}

impl Transport {
    pub fn new(srv: &std::sync::Arc<Server>, rt: tokio::runtime::Handle) -> Transport {
        Transport {
            cluster_id: srv.cluster_id,
            member_id: srv.member_id,
            rt,
            srv: std::sync::Arc::downgrade(srv),
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// Queues a message for its peer; never blocks the node loop.
    pub fn send(&self, m: Message) {
        let to = m.to;
        let full = match self.peers.lock() {
            Ok(peers) => match peers.get(&to) {
                Some(p) => p.tx.try_send(m).is_err(),
                None => false,
            },
            Err(_) => false,
        };
        if full {
            self.report(NodeMsg::Unreachable(to));
        }
    }

    /// Sends a snapshot message with the database `view` describes.
    pub fn send_snapshot(&self, m: Message, view: SnapshotView) {
        let to = m.to;
        let url = self
            .peers
            .lock()
            .ok()
            .and_then(|p| p.get(&to).and_then(|p| p.urls.first().cloned()));
        let Some(url) = url else {
            self.report(NodeMsg::SnapshotSent { to, ok: false });
            return;
        };
        let srv = self.srv.clone();
        let (cluster_id, from) = (self.cluster_id, self.member_id);
        self.rt.spawn(async move {
            let ok = match client::send_snapshot(url, cluster_id, from, m, view).await {
                Ok(()) => true,
                Err(e) => {
                    eprintln!("oxcd: sending a snapshot to {to:x} failed: {e}");
                    false
                }
            };
            if let Some(s) = srv.upgrade() {
                let _ = s.send(NodeMsg::SnapshotSent { to, ok });
            }
        });
    }

    /// Starts a sender for every member not yet known, stops those of
    /// members no longer listed, and follows peer URL changes.
    pub fn update_peers(&self, members: &[Member]) {
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
            let task = self.rt.spawn(client::run_peer(
                client::PeerCtx {
                    cluster_id: self.cluster_id,
                    from: self.member_id,
                    to: m.id,
                    url: m.peer_ur_ls[0].clone(),
                    srv: self.srv.clone(),
                },
                rx,
            ));
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

    fn report(&self, m: NodeMsg) {
        if let Some(s) = self.srv.upgrade() {
            let _ = s.send(m);
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

pub use client::{already_bootstrapped, channel, fetch_members};
