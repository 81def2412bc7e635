//! The receiving side: the `Peer` service on `--listen-peer-urls`.

use super::client::MAX_MESSAGE;
use crate::consensus::NodeMsg;
use crate::node::Server;
use oxcd_proto::oxcdpeerpb::peer_server::{Peer, PeerServer};
use oxcd_proto::oxcdpeerpb::*;
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use std::io::Write;
use std::sync::Arc;
use tonic::{Request, Response, Status, Streaming};

pub struct PeerService {
    srv: Arc<Server>,
}

impl PeerService {
    /// Why a peer's request is refused, if it is.
    fn refuse(&self, cluster_id: u64, from: u64) -> Option<Status> {
        if cluster_id != self.srv.cluster_id {
            return Some(Status::failed_precondition("cluster ID mismatch"));
        }
        let removed = self
            .srv
            .removed
            .lock()
            .map(|r| r.contains(&from))
            .unwrap_or(false);
        if removed {
            return Some(Status::failed_precondition(
                "the member has been permanently removed from the cluster",
            ));
        }
        None
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn raft(&self, req: Request<Streaming<RaftBatch>>) -> Result<Response<Ack>, Status> {
        let mut stream = req.into_inner();
        let mut active: Option<Active> = None;
        while let Some(batch) = stream.message().await? {
            if let Some(e) = self.refuse(batch.cluster_id, batch.from) {
                return Err(e);
            }
            if active.is_none() {
                active = Some(Active::new(&self.srv, batch.from));
            }
            for b in batch.msgs {
                let m = Message::parse_from_bytes(&b)
                    .map_err(|e| Status::invalid_argument(format!("bad raft message: {e}")))?;
                if m.from != batch.from || m.to != self.srv.member_id {
                    return Err(Status::invalid_argument("raft message for another member"));
                }
                // raft-rs assumes these carry an entry (it would panic)
                let needs_entry = matches!(
                    m.get_msg_type(),
                    MessageType::MsgPropose | MessageType::MsgReadIndex
                );
                if needs_entry && m.entries.is_empty() {
                    return Err(Status::invalid_argument("raft message without its entry"));
                }
                self.srv
                    .send(NodeMsg::Step(m))
                    .map_err(|_| Status::unavailable("member is stopping"))?;
            }
        }
        Ok(Response::new(Ack {}))
    }

    async fn snapshot(
        &self,
        req: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<Ack>, Status> {
        let mut stream = req.into_inner();
        let first = stream
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("empty snapshot stream"))?;
        if let Some(e) = self.refuse(first.cluster_id, first.from) {
            return Err(e);
        }
        let msg = Message::parse_from_bytes(&first.msg)
            .map_err(|e| Status::invalid_argument(format!("bad raft message: {e}")))?;
        let md = msg.get_snapshot().get_metadata();
        let dir = self.srv.cfg.data_dir.join("member").join("snap");
        let path = dir.join(format!("{:016x}-{:016x}.snap.db", md.term, md.index));
        let part = dir.join(format!("{:016x}-{:016x}.snap.db.part", md.term, md.index));
        let io = |e: std::io::Error| Status::internal(format!("snapshot file: {e}"));
        // a transfer cut short leaves nothing behind
        let received = async {
            let mut f = std::fs::File::create(&part).map_err(io)?;
            let mut chunk = Some(first);
            while let Some(c) = match chunk.take() {
                Some(c) => Some(c),
                None => stream.message().await?,
            } {
                f.write_all(&c.data).map_err(io)?;
                // no fsync: the file only carries the data to the store,
                // whose commit is the durable step
                if c.done {
                    return Ok(());
                }
            }
            Err(Status::aborted("snapshot stream ended early"))
        }
        .await;
        if let Err(e) = received {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
        std::fs::rename(&part, &path).map_err(io)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.srv
            .send(NodeMsg::InstallSnapshot {
                msg,
                path,
                done: tx,
            })
            .map_err(|_| Status::unavailable("member is stopping"))?;
        match rx.await {
            Ok(Ok(())) => Ok(Response::new(Ack {})),
            Ok(Err(e)) => Err(Status::internal(e.to_string())),
            Err(_) => Err(Status::unavailable("member is stopping")),
        }
    }

    async fn members(
        &self,
        _: Request<MembersRequest>,
    ) -> Result<Response<MembersResponse>, Status> {
        Ok(Response::new(MembersResponse {
            cluster_id: self.srv.cluster_id,
            members: self.srv.members_sorted(),
        }))
    }
}

/// Marks a peer active while a stream from it is open (counted: a new
/// stream may open before the old one is seen to close).
struct Active {
    srv: Arc<Server>,
    id: u64,
}

impl Active {
    fn new(srv: &Arc<Server>, id: u64) -> Active {
        if let Ok(mut a) = srv.peers_active.lock() {
            a.entry(id)
                .or_insert_with(|| (std::time::Instant::now(), 0))
                .1 += 1;
        }
        Active {
            srv: srv.clone(),
            id,
        }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Ok(mut a) = self.srv.peers_active.lock() {
            if let Some(e) = a.get_mut(&self.id) {
                e.1 -= 1;
                if e.1 == 0 {
                    a.remove(&self.id);
                }
            }
        }
    }
}

/// Serves the peer protocol on `listener` until `shutdown` resolves.
pub async fn serve(
    srv: Arc<Server>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let incoming = crate::api::nodelay(listener);
    let api = crate::api::Api {
        srv: srv.clone(),
        peer: true,
    };
    tonic::transport::Server::builder()
        // a peer that vanished without closing its connection (a partition,
        // a dead host) stops counting as connected
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(2)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(5)))
        .add_service(
            PeerServer::new(PeerService { srv })
                .max_decoding_message_size(MAX_MESSAGE + 1024 * 1024),
        )
        // followers forward lease keep-alives, TTL queries and learner
        // promotions to the leader
        .add_service(oxcd_proto::etcdserverpb::lease_server::LeaseServer::new(
            api.clone(),
        ))
        .add_service(oxcd_proto::etcdserverpb::cluster_server::ClusterServer::new(api))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
