//! The receiving side: the `Peer` service on `--listen-peer-urls`.

use super::client::MAX_MESSAGE;
use super::Host;
use crate::consensus::NodeMsg;
use crate::shared::Shared;
use oxcd_proto::oxcdpeerpb::peer_server::{Peer, PeerServer};
use oxcd_proto::oxcdpeerpb::*;
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use std::sync::Arc;
use tonic::{Request, Response, Status, Streaming};

/// How long a snapshot stream may go quiet before it is dropped.
const PIECE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct PeerService {
    host: Host,
}

impl PeerService {
    /// Why a peer's request is refused, if it is: another cluster, a
    /// member removed, or a sender that is not a member.
    fn refuse(&self, cluster_id: u64, from: u64) -> Option<Status> {
        if cluster_id != self.host.shared.cluster_id {
            return Some(Status::failed_precondition("cluster ID mismatch"));
        }
        let member = self
            .host
            .shared
            .members
            .read()
            .map(|m| m.iter().any(|m| m.id == from))
            .unwrap_or(false);
        if !member && !self.is_removed(from) {
            return Some(Status::permission_denied(format!(
                "{from:x} is not a member of this cluster"
            )));
        }
        if self.is_removed(from) {
            return Some(Status::failed_precondition(
                "the member has been permanently removed from the cluster",
            ));
        }
        None
    }

    fn is_removed(&self, id: u64) -> bool {
        self.host
            .shared
            .removed
            .lock()
            .map(|r| r.contains(&id))
            .unwrap_or(false)
    }
}

/// Decodes a raft message from a peer, bounded first (see [`super::wire`]).
fn decode(b: &[u8]) -> Result<Message, Box<Status>> {
    let bad = |e: String| Box::new(Status::invalid_argument(format!("bad raft message: {e}")));
    super::wire::check_message(b).map_err(bad)?;
    Message::parse_from_bytes(b).map_err(|e| bad(e.to_string()))
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
                active = Some(Active::new(&self.host.shared, batch.from));
            }
            for b in batch.msgs {
                let m = decode(&b).map_err(|e| *e)?;
                if m.from != batch.from || m.to != self.host.shared.member_id {
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
                self.host
                    .node
                    .send(NodeMsg::Step(m))
                    .map_err(|_| Status::unavailable("member is stopping"))?;
            }
        }
        Ok(Response::new(Ack {}))
    }

    async fn snapshot_stream(
        &self,
        req: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<Ack>, Status> {
        let mut stream = req.into_inner();
        let first = match tokio::time::timeout(PIECE_WAIT, stream.message()).await {
            Ok(m) => m?.ok_or_else(|| Status::invalid_argument("empty snapshot stream"))?,
            Err(_) => return Err(Status::deadline_exceeded("snapshot stream stalled")),
        };
        if let Some(e) = self.refuse(first.cluster_id, first.from) {
            return Err(e);
        }
        let msg = decode(&first.msg).map_err(|e| *e)?;
        if msg.from != first.from
            || msg.to != self.host.shared.member_id
            || msg.get_msg_type() != MessageType::MsgSnapshot
        {
            return Err(Status::invalid_argument(
                "snapshot message for another member",
            ));
        }
        if first.done {
            return Err(Status::invalid_argument("snapshot stream without records"));
        }
        // the node loop inserts each piece as it comes
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        self.host
            .node
            .send(NodeMsg::InstallSnapshot {
                msg,
                head: first.data,
                rest: rx,
                done: done_tx,
            })
            .map_err(|_| Status::unavailable("member is stopping"))?;
        // every wait is bounded: the node loop waits on these pieces while
        // it holds the store
        loop {
            let piece = match tokio::time::timeout(PIECE_WAIT, stream.message()).await {
                Ok(Ok(Some(c))) => Ok((c.data, c.done)),
                Ok(Ok(None)) => Err("the snapshot stream ended early".to_string()),
                Ok(Err(s)) => Err(format!("the snapshot stream broke: {}", s.message())),
                Err(_) => Err("the snapshot stream stalled".to_string()),
            };
            let stop = !matches!(piece, Ok((_, false)));
            // a node loop that no longer reads has its answer ready
            if tx.send(piece).await.is_err() || stop {
                break;
            }
        }
        drop(tx);
        match done_rx.await {
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
            cluster_id: self.host.shared.cluster_id,
            members: self.host.shared.members_sorted(),
        }))
    }

    async fn hash_kv(
        &self,
        req: Request<PeerHashKvRequest>,
    ) -> Result<Response<oxcd_proto::etcdserverpb::HashKvResponse>, Status> {
        let r = req.into_inner();
        if let Some(s) = self.refuse(r.cluster_id, r.from) {
            return Err(s);
        }
        let shared = &self.host.shared;
        let (hash, current, compact_revision) =
            shared.read(|st, kv| st.store.hash_kv(kv, r.revision))?;
        Ok(Response::new(oxcd_proto::etcdserverpb::HashKvResponse {
            header: Some(shared.header(current)),
            hash,
            compact_revision,
        }))
    }
}

/// Marks a peer active while a stream from it is open (counted: a new
/// stream may open before the old one is seen to close).
struct Active {
    shared: Arc<Shared>,
    id: u64,
}

impl Active {
    fn new(shared: &Arc<Shared>, id: u64) -> Active {
        if let Ok(mut a) = shared.peers_active.lock() {
            a.entry(id)
                .or_insert_with(|| (std::time::Instant::now(), 0))
                .1 += 1;
        }
        Active {
            shared: shared.clone(),
            id,
        }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Ok(mut a) = self.shared.peers_active.lock() {
            if let Some(e) = a.get_mut(&self.id) {
                e.1 -= 1;
                if e.1 == 0 {
                    a.remove(&self.id);
                }
            }
        }
    }
}

/// Serves the peer protocol on `listener` until `shutdown` resolves, with
/// `forwarded`: the client services followers forward to the leader
/// (lease keep-alives and TTL queries, learner promotion).
pub async fn serve(
    host: Host,
    listener: tokio::net::TcpListener,
    security: crate::net::Security,
    forwarded: tonic::service::Routes,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        // a peer that vanished without closing its connection (a partition,
        // a dead host) stops counting as connected
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(2)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(5)))
        .add_routes(forwarded)
        .add_service(
            PeerServer::new(PeerService { host })
                .max_decoding_message_size(MAX_MESSAGE + 1024 * 1024),
        )
        .serve_with_incoming_shutdown(crate::net::incoming(listener, security), shutdown)
        .await
}
