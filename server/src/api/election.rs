//! The Election service (`v3electionpb`), as etcd 3.5's: candidates of
//! election `name` write `name/<lease hex>` with their proposal; the leader
//! is the oldest such key. Campaign waits until every older candidate is
//! gone, Proclaim rewrites the leader's value, Observe streams each leader
//! (and each proclaimed value) in order.

use super::local::{self, unknown, Cleanup, Local};
use super::Api;
use oxcd_proto::etcdserverpb::{ResponseHeader, TxnRequest};
use oxcd_proto::mvccpb::{event::EventType, KeyValue};
use oxcd_proto::v3electionpb::election_server::Election;
use oxcd_proto::v3electionpb::*;
use std::pin::Pin;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

const NOT_LEADER: &str = "election: not leader";
const NO_LEADER: &str = "election: no leader";
const MISSING_LEADER: &str = "\"leader\" field must be provided";

fn prefix(name: &[u8]) -> Vec<u8> {
    let mut p = name.to_vec();
    p.push(b'/');
    p
}

fn missing_leader() -> Status {
    Status::unknown(MISSING_LEADER)
}

type ObserveStream = Pin<Box<dyn Stream<Item = Result<LeaderResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Election for Api {
    async fn campaign(
        &self,
        req: Request<CampaignRequest>,
    ) -> Result<Response<CampaignResponse>, Status> {
        let c = Local::new(self, &req);
        let r = req.into_inner();
        let lease = c.session(r.lease).await?;
        let pfx = prefix(&r.name);
        let key = local::own_key(&pfx, lease);
        let t = c
            .txn(TxnRequest {
                compare: vec![local::created_at(&key, 0)],
                success: vec![local::put_op(&key, &r.value, lease)],
                failure: vec![local::get_op(&key)],
            })
            .await?;
        let mut rev = t.header.as_ref().map_or(0, |h| h.revision);
        if !t.succeeded {
            // already a candidate on this lease: keep the place, take the
            // new proposal
            let kv = local::range_kvs(&t, 0).first().cloned().unwrap_or_default();
            rev = kv.create_revision;
            if kv.value != r.value {
                if let Err(e) = proclaim(&c, &key, rev, lease, &r.value).await {
                    let _ = resign(&c, &key, rev).await;
                    return Err(e);
                }
            }
        }
        // a candidate that goes away while waiting withdraws
        let guard = {
            let (c, key) = (c.clone(), key.clone());
            Cleanup::new(move || {
                tokio::spawn(async move { resign(&c, &key, rev).await });
            })
        };
        let waited = c.wait_deletes(&pfx, rev - 1).await;
        guard.disarm();
        waited?;
        Ok(Response::new(CampaignResponse {
            header: t.header,
            leader: Some(LeaderKey {
                name: r.name,
                key,
                rev,
                lease,
            }),
        }))
    }

    async fn proclaim(
        &self,
        req: Request<ProclaimRequest>,
    ) -> Result<Response<ProclaimResponse>, Status> {
        let c = Local::new(self, &req);
        let r = req.into_inner();
        let l = r.leader.ok_or_else(missing_leader)?;
        let lease = c.session(l.lease).await?;
        let header = proclaim(&c, &l.key, l.rev, lease, &r.value).await?;
        Ok(Response::new(ProclaimResponse { header }))
    }

    async fn leader(
        &self,
        req: Request<LeaderRequest>,
    ) -> Result<Response<LeaderResponse>, Status> {
        let c = Local::new(self, &req);
        let r = c.first_created(&prefix(&req.into_inner().name)).await?;
        match r.kvs.into_iter().next() {
            Some(kv) => Ok(Response::new(LeaderResponse {
                header: r.header,
                kv: Some(kv),
            })),
            None => Err(Status::unknown(NO_LEADER)),
        }
    }

    type ObserveStream = ObserveStream;

    async fn observe(
        &self,
        req: Request<LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let c = Local::new(self, &req);
        let pfx = prefix(&req.into_inner().name);
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let closed = tx.clone();
            tokio::select! {
                _ = observe(&c, &pfx, &tx) => {}
                _ = closed.closed() => {}
            }
        });
        // gRPC-go sends a stream's headers with its first message: the call
        // answers once there is a leader, as etcd's does
        let mut rx = rx;
        let first = rx.recv().await;
        let rest = tokio_stream::wrappers::ReceiverStream::new(rx);
        Ok(Response::new(Box::pin(
            tokio_stream::iter(first).chain(rest),
        )))
    }

    async fn resign(
        &self,
        req: Request<ResignRequest>,
    ) -> Result<Response<ResignResponse>, Status> {
        let c = Local::new(self, &req);
        let l = req.into_inner().leader.ok_or_else(missing_leader)?;
        let header = resign(&c, &l.key, l.rev).await?;
        Ok(Response::new(ResignResponse { header }))
    }
}

/// Rewrites the leader's value if `key` is still the one created at `rev`.
async fn proclaim(
    c: &Local,
    key: &[u8],
    rev: i64,
    lease: i64,
    value: &[u8],
) -> Result<Option<ResponseHeader>, Status> {
    let t = c
        .txn(TxnRequest {
            compare: vec![local::created_at(key, rev)],
            success: vec![local::put_op(key, value, lease)],
            failure: vec![],
        })
        .await?;
    if !t.succeeded {
        return Err(Status::unknown(NOT_LEADER));
    }
    Ok(t.header)
}

/// Deletes `key` if it is still the one created at `rev`; whether it was is
/// not reported (as etcd).
async fn resign(c: &Local, key: &[u8], rev: i64) -> Result<Option<ResponseHeader>, Status> {
    let t = c
        .txn(TxnRequest {
            compare: vec![local::created_at(key, rev)],
            success: vec![local::delete_op(key)],
            failure: vec![],
        })
        .await
        .map_err(unknown)?;
    Ok(t.header)
}

type Sink = tokio::sync::mpsc::Sender<Result<LeaderResponse, Status>>;

/// etcd's observe loop: send the leader, then each value it proclaims,
/// and when its key goes, the next leader. Ends (the stream with it) on
/// any error, as etcd's.
async fn observe(c: &Local, pfx: &[u8], tx: &Sink) -> Option<()> {
    loop {
        let r = c.first_created(pfx).await.ok()?;
        let (header, kv) = match r.kvs.into_iter().next() {
            Some(kv) => (r.header, kv),
            None => first_put(c, pfx, r.header.map_or(0, |h| h.revision)).await?,
        };
        let from = header.as_ref().map_or(0, |h| h.revision) + 1;
        let key = kv.key.clone();
        send(tx, header, kv).await?;
        let mut w = c.watch(&key, &[], from);
        'leader: loop {
            let r = w.next().await.ok()?;
            for ev in r.events {
                if ev.r#type == EventType::Delete as i32 {
                    break 'leader;
                }
                send(tx, r.header, ev.kv.unwrap_or_default()).await?;
            }
        }
    }
}

/// With no candidate, the first one to appear under `pfx` from `rev` on;
/// its header revision is its own.
async fn first_put(c: &Local, pfx: &[u8], rev: i64) -> Option<(Option<ResponseHeader>, KeyValue)> {
    let mut w = c.watch(pfx, &local::prefix_end(pfx), rev);
    loop {
        let r = w.next().await.ok()?;
        if let Some(kv) = r
            .events
            .into_iter()
            .find(|e| e.r#type == EventType::Put as i32)
            .and_then(|e| e.kv)
        {
            let mut h = r.header.unwrap_or_default();
            h.revision = kv.mod_revision;
            return Some((Some(h), kv));
        }
    }
}

async fn send(tx: &Sink, header: Option<ResponseHeader>, kv: KeyValue) -> Option<()> {
    tx.send(Ok(LeaderResponse {
        header,
        kv: Some(kv),
    }))
    .await
    .ok()
}
