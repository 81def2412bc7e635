//! The Lease service: grants and revokes go through the log; keep-alives
//! and TTL queries are answered from the leader's lessor (a follower
//! forwards them to the leader's peer port).

use super::{no_space, Api};
use crate::apply::{Applied, Op};
use crate::auth::AuthHeader;
use crate::error::EtcdError;
use crate::lease::MAX_TTL;
use oxcd_proto::authpb::permission::Type as PermType;
use oxcd_proto::etcdserverpb::lease_client::LeaseClient;
use oxcd_proto::etcdserverpb::lease_server::Lease;
use oxcd_proto::etcdserverpb::*;
use std::pin::Pin;
use std::time::Instant;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

#[tonic::async_trait]
impl Lease for Api {
    async fn lease_grant(
        &self,
        req: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        let sender = self.sender(&req)?;
        let mut r = req.into_inner();
        if r.ttl > MAX_TTL {
            return Err(EtcdError::LeaseTtlTooLarge.into());
        }
        no_space(&self.srv).await?;
        if r.id == 0 {
            r.id = self.srv.next_lease_id();
        }
        match self.srv.propose_by(Op::LeaseGrant(r), sender).await? {
            Applied::LeaseGrant(mut g) => {
                self.srv.fill(&mut g.header);
                Ok(Response::new(g))
            }
            other => Err(Status::internal(format!(
                "unexpected apply result {other:?}"
            ))),
        }
    }

    async fn lease_revoke(
        &self,
        req: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        // every attached key must be writable by the sender: checked when
        // the revoke is applied
        let sender = self.sender(&req)?;
        match self
            .srv
            .propose_by(Op::LeaseRevoke(req.into_inner()), sender)
            .await?
        {
            Applied::LeaseRevoke(mut g) => {
                self.srv.fill(&mut g.header);
                Ok(Response::new(g))
            }
            other => Err(Status::internal(format!(
                "unexpected apply result {other:?}"
            ))),
        }
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        req: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        Ok(Response::new(self.keep_alive_stream(req.into_inner())))
    }

    async fn lease_time_to_live(
        &self,
        req: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let sender = if self.peer {
            AuthHeader::default()
        } else {
            self.sender(&req)?
        };
        let r = req.into_inner();
        if r.keys && !self.peer {
            // listing the keys reads them (checked here, before a follower
            // forwards the question)
            let st = self
                .srv
                .state
                .read()
                .map_err(|_| Status::internal("state lock poisoned"))?;
            for k in st.lessor.keys(r.id) {
                st.auth.check(&sender, k, &[], PermType::Read)?;
            }
        }
        if self.peer && !self.srv.is_leader() {
            return Err(EtcdError::NotLeader.into());
        }
        if !self.peer && !self.srv.is_leader() {
            let mut c = leader_client(&self.srv)?;
            let mut resp = c.lease_time_to_live(r).await?.into_inner();
            resp.header = Some(self.srv.header(self.srv.current_rev()));
            return Ok(Response::new(resp));
        }
        let st = self
            .srv
            .state
            .read()
            .map_err(|_| Status::internal("state lock poisoned"))?;
        let rev = st.store.current_rev;
        let resp = match st.lessor.leases.get(&r.id) {
            Some(l) => LeaseTimeToLiveResponse {
                header: Some(self.srv.header(rev)),
                id: r.id,
                ttl: l.remaining(Instant::now()),
                granted_ttl: l.ttl,
                keys: if r.keys {
                    l.keys.iter().cloned().collect()
                } else {
                    Vec::new()
                },
            },
            // etcd answers an unknown lease with TTL -1 rather than an error
            None => LeaseTimeToLiveResponse {
                header: Some(self.srv.header(rev)),
                id: r.id,
                ttl: -1,
                ..Default::default()
            },
        };
        Ok(Response::new(resp))
    }

    async fn lease_leases(
        &self,
        _: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        let st = self
            .srv
            .state
            .read()
            .map_err(|_| Status::internal("state lock poisoned"))?;
        let mut ids: Vec<i64> = st.lessor.leases.keys().copied().collect();
        ids.sort_unstable();
        Ok(Response::new(LeaseLeasesResponse {
            header: Some(self.srv.header(st.store.current_rev)),
            leases: ids.into_iter().map(|id| LeaseStatus { id }).collect(),
        }))
    }
}

/// The leader's Lease service, on its peer port.
fn leader_client(
    srv: &crate::node::Server,
) -> Result<LeaseClient<tonic::transport::Channel>, EtcdError> {
    Ok(LeaseClient::new(srv.leader_channel()?))
}

/// Renews a lease on the leader; returns the TTL it answers.
async fn forward_keep_alive(srv: &crate::node::Server, id: i64) -> Result<i64, Status> {
    let mut c = leader_client(srv)?;
    let req = tokio_stream::iter(vec![LeaseKeepAliveRequest { id }]);
    let mut answers = c.lease_keep_alive(req).await?.into_inner();
    match answers.message().await? {
        Some(r) => Ok(r.ttl),
        None => Err(Status::from(crate::error::EtcdError::NoLeader)),
    }
}

/// A response stream fed by a task through a bounded channel.
fn async_stream<T, F, Fut>(f: F) -> impl Stream<Item = T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(f(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

pub(super) type KeepAliveStream =
    Pin<Box<dyn Stream<Item = Result<LeaseKeepAliveResponse, Status>> + Send>>;

impl Api {
    /// Keep-alives for the requests of `inbound` (a gRPC stream, or the
    /// JSON gateway's).
    pub(super) fn keep_alive_stream<S>(&self, mut inbound: S) -> KeepAliveStream
    where
        S: Stream<Item = Result<LeaseKeepAliveRequest, Status>> + Send + Unpin + 'static,
    {
        let srv = self.srv.clone();
        let peer = self.peer;
        let out = async_stream(move |tx| async move {
            while let Some(Ok(r)) = inbound.next().await {
                // only the leader's clock counts: a follower passes it on,
                // and a member that is no longer leader refuses a forward
                if peer && !srv.is_leader() {
                    let _ = tx.send(Err(EtcdError::NotLeader.into())).await;
                    break;
                }
                let forwarded = if !peer && !srv.is_leader() {
                    match forward_keep_alive(&srv, r.id).await {
                        Ok(ttl) => Some(ttl),
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            break;
                        }
                    }
                } else {
                    None
                };
                // an unknown lease answers TTL 0, which clients read as "expired"
                let ttl = forwarded.unwrap_or_else(|| {
                    srv.state
                        .write()
                        .ok()
                        .and_then(|mut s| s.lessor.renew(r.id))
                        .unwrap_or(0)
                });
                let resp = LeaseKeepAliveResponse {
                    header: Some(srv.header(srv.current_rev())),
                    id: r.id,
                    ttl,
                };
                if tx.send(Ok(resp)).await.is_err() {
                    break;
                }
            }
        });
        Box::pin(out)
    }
}
