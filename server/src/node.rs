//! The request facade the gRPC services talk to: a member's shared state
//! (read through `Deref`) and the entry points that go through the node
//! loop — propose, membership changes, linearizable reads, leader
//! transfer, defragment — each waiting at most etcd's request timeout
//! (a defragment excepted).

use crate::apply::{Applied, InternalRequest, Op};
use crate::auth::AuthHeader;
use crate::consensus::{NodeMsg, NodeSender};
use crate::error::{EtcdError, Result};
use crate::shared::{request_timeout, Shared};
use prost::Message as _;
use std::ops::Deref;
use std::sync::Arc;
use tokio::sync::oneshot;

pub struct Server {
    shared: Arc<Shared>,
    node: Arc<NodeSender>,
}

impl Deref for Server {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl Server {
    pub fn new(shared: Arc<Shared>, node: Arc<NodeSender>) -> Server {
        Server { shared, node }
    }

    async fn wait<T>(&self, rx: oneshot::Receiver<Result<T>>) -> Result<T> {
        match tokio::time::timeout(request_timeout(&self.cfg), rx).await {
            Ok(r) => r.map_err(|_| EtcdError::Stopped)?,
            // what etcd 3.5.1 answers a read or change that did not go
            // through in time, leader or not
            Err(_) => Err(EtcdError::Timeout),
        }
    }

    /// [`Server::wait`] for a change proposed at `start`: a timeout says
    /// why in etcd's words ([`Shared::timeout_error`]).
    async fn wait_change<T>(
        &self,
        rx: oneshot::Receiver<Result<T>>,
        start: std::time::Instant,
    ) -> Result<T> {
        match self.wait(rx).await {
            Err(EtcdError::Timeout) => Err(self.timeout_error(start)),
            r => r,
        }
    }

    /// Replicates one request of the member's own (no sender to check);
    /// resolves once it is committed and applied here.
    pub async fn propose(&self, op: Op) -> Result<Applied> {
        self.propose_with(op, None, false).await
    }

    /// Replicates a client's request: `sender`'s permissions are checked
    /// when it is applied.
    pub async fn propose_by(&self, op: Op, sender: AuthHeader) -> Result<Applied> {
        self.propose_with(op, Some(sender), false).await
    }

    /// Proposes only while this member leads (etcd's lessor acts only on
    /// the leader): a deposed leader's decision is never queued.
    pub async fn propose_as_leader(&self, op: Op) -> Result<Applied> {
        self.propose_with(op, None, true).await
    }

    async fn propose_with(
        &self,
        op: Op,
        auth: Option<AuthHeader>,
        leader_only: bool,
    ) -> Result<Applied> {
        let (done, rx) = oneshot::channel();
        let id = self.next_req_id();
        let data = InternalRequest {
            op: Some(op),
            id,
            auth,
        }
        .encode_to_vec();
        let m = &*crate::metrics::M;
        m.proposals_pending.inc();
        let start = std::time::Instant::now();
        let r = match self.node.send(NodeMsg::Propose {
            id,
            data,
            done,
            leader_only,
        }) {
            Ok(()) => self.wait_change(rx, start).await,
            Err(e) => Err(e),
        };
        m.proposals_pending.dec();
        // a request's own refusal (a failed compare, a permission) is not
        // a failed proposal; one that never applied is
        if matches!(
            r,
            Err(EtcdError::Timeout
                | EtcdError::TimeoutLeaderFail
                | EtcdError::TimeoutConnectionLost
                | EtcdError::ContextDeadline
                | EtcdError::NoLeader
                | EtcdError::Stopped)
        ) {
            m.proposals_failed.inc();
        }
        r
    }

    /// Proposes a membership change and waits until it is applied.
    pub async fn conf_change(&self, mut cc: raft::eraftpb::ConfChange) -> Result<Applied> {
        let (done, rx) = oneshot::channel();
        cc.id = self.next_req_id();
        let start = std::time::Instant::now();
        self.node.send(NodeMsg::ConfChange { cc, done })?;
        self.wait_change(rx, start).await
    }

    /// Waits until this member has applied everything committed cluster-wide
    /// when called (raft's ReadIndex): reads after it are linearizable.
    pub async fn linearize(&self) -> Result<()> {
        let (done, rx) = oneshot::channel();
        self.node.send(NodeMsg::ReadIndex { done })?;
        self.wait(rx).await
    }

    /// Asks raft to hand leadership to `to` (the caller watches for it).
    pub fn transfer_leader(&self, to: u64) -> Result<()> {
        self.node.send(NodeMsg::Transfer { to })
    }

    /// Defragments the store (redb's compaction) through the node loop,
    /// which first commits what it holds; reads wait meanwhile.
    pub async fn defragment(&self) -> Result<()> {
        let (done, rx) = oneshot::channel();
        self.node.send(NodeMsg::Defragment { done })?;
        // no request timeout: as etcd's, a defragment takes as long as the
        // store's size needs (tens of seconds at 4 GB); the client's
        // deadline still applies
        rx.await.map_err(|_| EtcdError::Stopped)?
    }

    /// Stops taking requests; the node loop ends once those queued are done.
    pub fn close(&self) {
        self.node.close();
    }

    /// A channel to the leader's peer port, to forward what only it can
    /// answer.
    pub fn leader_channel(&self) -> Result<tonic::transport::Channel> {
        let leader = self.leader();
        let url = self
            .members_sorted()
            .into_iter()
            .find(|m| m.id == leader && leader != 0)
            .and_then(|m| m.peer_ur_ls.first().cloned())
            .ok_or(EtcdError::NoLeader)?;
        crate::transport::channel(&url, &self.cfg.peer_tls).map_err(EtcdError::Storage)
    }
}
