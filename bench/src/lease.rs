//! `--op keepalive` and `--op grant`.

use crate::conn::{request, Token};
use crate::opts::Opts;
use crate::stats::{join, Limit, Report};
use oxcd_proto::etcdserverpb::{
    lease_client::LeaseClient, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
};
use std::time::Instant;
use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

const TTL: i64 = 60;

/// Grants a lease of TTL 60 s; its ID.
async fn grant_one(lease: &mut LeaseClient<Channel>, token: &Token) -> Result<i64, String> {
    let resp = lease
        .lease_grant(request(LeaseGrantRequest { ttl: TTL, id: 0 }, token))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    if !resp.error.is_empty() {
        return Err(resp.error);
    }
    Ok(resp.id)
}

/// One client's keep-alive stream, open, with its lease.
struct KeepAlive {
    id: i64,
    tx: mpsc::Sender<LeaseKeepAliveRequest>,
    rx: Streaming<LeaseKeepAliveResponse>,
}

async fn open(ch: Channel, token: Token) -> Result<KeepAlive, String> {
    let mut lease = LeaseClient::new(ch);
    let id = grant_one(&mut lease, &token)
        .await
        .map_err(|e| format!("lease grant: {e}"))?;
    // the first keep-alive goes with the call: a gRPC server may not answer
    // the call (send its headers) before its first message
    let (tx, rx) = mpsc::channel(1);
    tx.send(LeaseKeepAliveRequest { id })
        .await
        .map_err(|_| "the stream's sender is gone".to_string())?;
    let mut k = KeepAlive {
        id,
        tx,
        rx: lease
            .lease_keep_alive(request(ReceiverStream::new(rx), &token))
            .await
            .map_err(|e| format!("lease keep-alive stream: {e}"))?
            .into_inner(),
    };
    k.answer()
        .await
        .map_err(|e| format!("first keep-alive: {e}"))?;
    Ok(k)
}

impl KeepAlive {
    /// Sends a keep-alive and waits for its answer.
    async fn round_trip(&mut self) -> Result<(), String> {
        self.tx
            .send(LeaseKeepAliveRequest { id: self.id })
            .await
            .map_err(|_| "the stream's sender is gone".to_string())?;
        self.answer().await
    }

    /// Waits for the answer to a keep-alive.
    async fn answer(&mut self) -> Result<(), String> {
        let resp = self
            .rx
            .message()
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the server closed the stream")?;
        if resp.id != self.id || resp.ttl <= 0 {
            return Err(format!(
                "lease {:x}: answered ID {:x} TTL {} (lease not found?)",
                self.id, resp.id, resp.ttl
            ));
        }
        Ok(())
    }
}

/// Each client grants its own lease and opens its own keep-alive stream
/// (before the clock starts), then sends a keep-alive and waits for the
/// answer, again and again: one operation is one round trip.
pub async fn keepalive(o: &Opts, chans: &[Channel], token: &Token) -> Result<Report, String> {
    let setup: Vec<_> = (0..o.clients)
        .map(|c| tokio::spawn(open(chans[c % chans.len()].clone(), token.clone())))
        .collect();
    let mut streams = Vec::new();
    for s in setup {
        match s.await {
            Ok(Ok(k)) => streams.push(k),
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(format!("client task failed: {e}")),
        }
    }
    let limit = Limit::new(o);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut k in streams {
        let limit = limit.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while limit.next().is_some() {
                let t = Instant::now();
                k.round_trip().await?;
                lat.push(t.elapsed());
            }
            Ok(lat)
        }));
    }
    let lat = join(tasks, "keep-alive").await?;
    Ok(Report::from_latencies(lat, start.elapsed().as_secs_f64()))
}

/// Each client grants leases of TTL 60 s, one after another (not revoked).
pub async fn grant(o: &Opts, chans: &[Channel], token: &Token) -> Result<Report, String> {
    let limit = Limit::new(o);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..o.clients {
        let mut lease = LeaseClient::new(chans[c % chans.len()].clone());
        let limit = limit.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while limit.next().is_some() {
                let t = Instant::now();
                grant_one(&mut lease, &token).await?;
                lat.push(t.elapsed());
            }
            Ok(lat)
        }));
    }
    let lat = join(tasks, "lease grant").await?;
    Ok(Report::from_latencies(lat, start.elapsed().as_secs_f64()))
}
