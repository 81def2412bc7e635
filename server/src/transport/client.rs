//! The sending side: a task per peer with a long-lived `Raft` stream, the
//! snapshot sender, and the membership fetch of a joining member.

use super::Host;
use crate::consensus::open::Join;
use crate::consensus::NodeMsg;
use crate::error::EtcdError;
use crate::export::SnapshotView;
use crate::tls::TlsInfo;
use oxcd_proto::oxcdpeerpb::peer_client::PeerClient;
use oxcd_proto::oxcdpeerpb::{MembersRequest, RaftBatch, SnapshotChunk};
use protobuf::Message as _;
use raft::eraftpb::Message;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};
use tonic::Status;

/// Largest batch or chunk we send; receivers accept more than this.
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;
const RECONNECT: Duration = Duration::from_millis(50);
/// How long a starting member waits for a peer's membership answer.
const BOOTSTRAP_WAIT: Duration = Duration::from_secs(1);

pub struct PeerCtx {
    pub cluster_id: u64,
    pub from: u64,
    pub to: u64,
    pub url: String,
    pub host: Host,
}

/// A lazily connected channel to a member's peer URL, over TLS (this
/// member's peer certificate and CA) when the URL is `https`.
pub fn channel(url: &str, tls: &TlsInfo) -> Result<Channel, String> {
    let ep = Endpoint::from_shared(url.to_string())
        .map_err(|e| format!("bad peer URL {url}: {e}"))?
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(5));
    if url.starts_with("https://") {
        let config = crate::tls::client_config(tls).map_err(|e| e.to_string())?;
        return Ok(ep.connect_with_connector_lazy(crate::tls::Connector { config }));
    }
    Ok(ep.connect_lazy())
}

fn client(url: &str, tls: &TlsInfo) -> Result<PeerClient<Channel>, String> {
    Ok(PeerClient::new(channel(url, tls)?)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE))
}

/// Sends queued messages to one peer until the task is aborted. A broken
/// stream is reopened; what was in flight is lost (raft resends) and raft
/// hears the peer was unreachable.
pub async fn run_peer(ctx: &PeerCtx, mut rx: mpsc::Receiver<Message>) {
    let mut warned = false;
    loop {
        let Ok(mut c) = client(&ctx.url, &ctx.host.shared.cfg.peer_tls) else {
            return;
        };
        let (btx, brx) = mpsc::channel::<RaftBatch>(64);
        let mut call = tokio::spawn(async move {
            c.raft(tokio_stream::wrappers::ReceiverStream::new(brx))
                .await
        });
        let batch = |msgs: Vec<Message>| RaftBatch {
            cluster_id: ctx.cluster_id,
            from: ctx.from,
            to: ctx.to,
            msgs: msgs
                .iter()
                .filter_map(|m| m.write_to_bytes().ok())
                .collect(),
        };
        // the stream opens at once, with an empty batch, and stays open
        // while idle: the peer counts this member as connected (etcd's
        // membership checks need every voter connected)
        let _ = btx.send(batch(Vec::new())).await;
        let mut finished = None;
        loop {
            let first = tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => m,
                    None => return,
                },
                r = &mut call => {
                    finished = Some(r);
                    break;
                }
            };
            let mut msgs = vec![first];
            let mut size = 0usize;
            while size < MAX_MESSAGE / 2 {
                match rx.try_recv() {
                    Ok(m) => {
                        size += m.compute_size() as usize;
                        msgs.push(m)
                    }
                    Err(_) => break,
                }
            }
            if btx.send(batch(msgs)).await.is_err() {
                break;
            }
        }
        drop(btx);
        let result = match finished {
            Some(r) => r,
            None => call.await,
        };
        match result {
            Ok(Err(status)) => {
                let msg = status.message().to_string();
                if msg.contains("permanently removed") {
                    tracing::warn!("remote-peer-id" = %crate::log::Id(ctx.to), "the member has been permanently removed from the cluster");
                    ctx.host
                        .shared
                        .stopped_removed
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    ctx.host.node.close();
                    return;
                }
                if !warned {
                    tracing::warn!("remote-peer-id" = %crate::log::Id(ctx.to), url = %ctx.url, error = %msg, "peer refused a message");
                    warned = true;
                }
            }
            Ok(Ok(_)) => warned = false,
            Err(_) => {}
        }
        crate::metrics::M
            .peer_sent_failures
            .with_label_values(&[&crate::metrics::peer_label(ctx.to)])
            .inc();
        ctx.host.report(NodeMsg::Unreachable(ctx.to));
        tokio::time::sleep(RECONNECT).await;
    }
}

/// Streams a snapshot: the raft message with the view's head, then its
/// key records as the view reads them (see `snapstream`).
pub async fn send_snapshot(
    url: String,
    cluster_id: u64,
    from: u64,
    m: Message,
    view: SnapshotView,
    tls: &TlsInfo,
) -> Result<(), String> {
    let to = m.to;
    let started = std::time::Instant::now();
    let msg = m.write_to_bytes().map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel::<SnapshotChunk>(4);
    let reader = tokio::task::spawn_blocking(move || {
        let mut first = Some(msg);
        view.stream(&mut |data, done| {
            let chunk = SnapshotChunk {
                cluster_id,
                from,
                to,
                msg: first.take().unwrap_or_default(),
                data,
                done,
            };
            tx.blocking_send(chunk)
                .map_err(|_| EtcdError::Storage("peer closed the snapshot stream".into()))
        })
        .map_err(|e| e.to_string())
    });
    let mut c = client(&url, tls)?;
    let r = c
        .snapshot_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await;
    let read = reader.await.map_err(|e| e.to_string())?;
    // the receiver's answer decides: it may stop reading once it knows it
    // holds that much already
    r.map_err(|s| s.message().to_string())?;
    if let Err(e) = read {
        tracing::debug!(error = %e, "snapshot stream stopped early");
    }
    tracing::info!("remote-peer-id" = %crate::log::Id(to), took = ?started.elapsed(), "sent database snapshot to peer");
    Ok(())
}

/// Asks one peer for its HashKV at `revision`, within `wait`.
pub async fn peer_hash_kv(
    url: &str,
    tls: &TlsInfo,
    (cluster_id, from): (u64, u64),
    revision: i64,
    wait: Duration,
) -> Result<oxcd_proto::etcdserverpb::HashKvResponse, Status> {
    let mut c = client(url, tls).map_err(Status::unavailable)?;
    let req = oxcd_proto::oxcdpeerpb::PeerHashKvRequest {
        cluster_id,
        from,
        revision,
    };
    match tokio::time::timeout(wait, c.hash_kv(req)).await {
        Ok(r) => r.map(|r| r.into_inner()),
        Err(_) => Err(Status::deadline_exceeded(format!("{url}: timed out"))),
    }
}

/// Asks one peer for the cluster's membership, within `wait`.
pub(super) async fn ask_members(
    url: &str,
    cluster_id: u64,
    wait: Duration,
    tls: &TlsInfo,
) -> Result<oxcd_proto::oxcdpeerpb::MembersResponse, String> {
    let mut c = client(url, tls)?;
    match tokio::time::timeout(wait, c.members(MembersRequest { cluster_id })).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) => Err(format!("{url}: {}", s.message())),
        Err(_) => Err(format!("{url}: timed out")),
    }
}

/// The peer URLs of every other member in `--initial-cluster`.
fn other_peer_urls(cfg: &crate::config::Config) -> impl Iterator<Item = &String> {
    cfg.initial_members
        .iter()
        .filter(|m| m.name != cfg.name)
        .flat_map(|m| m.peer_urls.iter())
}

/// Does a running peer of this cluster already know this member as
/// started (it has published its client URLs)? Peers that do not answer
/// within a second are taken as not started yet (etcd's bootstrap timeout).
/// All are asked at once: members started together each wait here before
/// they serve their peer port, so asking one after the other made a cold
/// start wait a timeout per peer.
pub async fn already_bootstrapped(cfg: &crate::config::Config) -> bool {
    let mut asks = tokio::task::JoinSet::new();
    for url in other_peer_urls(cfg) {
        let (url, tls, cluster_id) = (url.clone(), cfg.peer_tls.clone(), cfg.cluster_id);
        asks.spawn(async move {
            ask_members(&url, cluster_id, BOOTSTRAP_WAIT, &tls)
                .await
                .ok()
        });
    }
    while let Some(r) = asks.join_next().await {
        let Ok(Some(r)) = r else {
            continue;
        };
        if r.cluster_id == cfg.cluster_id
            && r.members
                .iter()
                .any(|x| x.id == cfg.member_id && !x.client_ur_ls.is_empty())
        {
            return true;
        }
    }
    false
}

/// A joining member (`--initial-cluster-state existing`) asks the peers
/// in `--initial-cluster` for the membership, and finds itself in it by
/// its advertised peer URLs.
pub async fn fetch_members(cfg: &crate::config::Config) -> Result<Join, String> {
    let mut mine: Vec<String> = cfg
        .initial_members
        .iter()
        .find(|m| m.name == cfg.name)
        .map(|m| m.peer_urls.clone())
        .unwrap_or_default();
    mine.sort();
    let mut last_err = String::from("no other member in --initial-cluster");
    for url in other_peer_urls(cfg) {
        let resp = match ask_members(url, 0, Duration::from_secs(5), &cfg.peer_tls).await {
            Ok(r) => r,
            Err(e) => {
                last_err = e;
                continue;
            }
        };
        let me = resp.members.iter().find(|x| {
            let mut u = x.peer_ur_ls.clone();
            u.sort();
            u == mine
        });
        return match me {
            Some(me) => Ok(Join {
                cluster_id: resp.cluster_id,
                member_id: me.id,
                members: resp.members.clone(),
            }),
            None => Err(format!(
                "member count is unequal: the cluster has no member with peer URLs {} (add it with `member add` first)",
                mine.join(",")
            )),
        };
    }
    Err(format!(
        "cannot fetch cluster info from peer urls: {last_err}"
    ))
}
