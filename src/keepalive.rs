//! clientv3's lease keep-alive loop, shared by `lease keep-alive` and the
//! sessions of `lock` and `elect`.

use std::time::Duration;

use oxcd_proto::etcdserverpb::{LeaseKeepAliveRequest, LeaseKeepAliveResponse};
use tokio::time::Instant;
use tonic::codegen::tokio_stream;

use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::global::ClientConfig;

/// How often clientv3's keep-alive loops wake up.
const TICK: Duration = Duration::from_millis(500);

/// clientv3 `KeepAlive` as etcdctl drives it: a request now and then every
/// TTL/3 after each answer, each answer handed to `on_answer`. It ends (Ok) when the
/// server reports the lease gone, or when no answer came before the
/// deadline (TTL after the last answer; dial timeout + 1s, or 5s,
/// at first). A broken stream is reopened every 500ms meanwhile.
pub async fn run(
    cfg: &ClientConfig,
    early: Option<Client>,
    id: i64,
    mut on_answer: impl FnMut(&LeaseKeepAliveResponse) -> Result<()>,
) -> Result<()> {
    let first = Duration::from_nanos(cfg.dial_timeout.max(0) as u64) + Duration::from_secs(1);
    let first = if first == Duration::from_secs(1) {
        Duration::from_secs(5)
    } else {
        first
    };
    let mut deadline = Instant::now() + first;
    let mut next_send = Instant::now();
    let mut client = early;
    let mut conn = None;
    loop {
        if Instant::now() > deadline {
            return Ok(());
        }
        if client.is_none() {
            match tokio::time::timeout_at(deadline, Client::connect(cfg)).await {
                Ok(Ok(c)) => client = Some(c),
                Ok(Err(CtlError::Rpc(_))) => {
                    tokio::time::sleep(TICK).await;
                    continue;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(()),
            }
        }
        let c = client.as_ref().expect("connected above");
        if conn.is_none() {
            // grpc-go servers send the response headers with the first
            // answer, so a request is queued before the stream opens.
            let (tx, rx) = tokio::sync::mpsc::channel(16);
            let _ = tx.try_send(LeaseKeepAliveRequest { id });
            next_send = Instant::now() + TICK;
            let reqs = tokio_stream::wrappers::ReceiverStream::new(rx);
            let mut lc = c.lease();
            let open = c.call_untimed(lc.lease_keep_alive(c.req_untimed(reqs)));
            match tokio::time::timeout_at(deadline, open).await {
                Ok(Ok(stream)) => conn = Some((tx, stream)),
                Ok(Err(_)) => {
                    tokio::time::sleep(TICK).await;
                    continue;
                }
                Err(_) => return Ok(()),
            }
        }
        let (tx, stream) = conn.as_mut().expect("opened above");
        let now = Instant::now();
        if now >= next_send {
            if tx.send(LeaseKeepAliveRequest { id }).await.is_err() {
                conn = None;
                continue;
            }
            // Sent again on the next tick unless an answer comes first.
            next_send = now + TICK;
        }
        let wake = (now + TICK).min(next_send);
        tokio::select! {
            msg = stream.message() => match msg {
                Ok(Some(r)) => {
                    if r.ttl <= 0 {
                        return Ok(());
                    }
                    let now = Instant::now();
                    let ttl = Duration::from_secs(r.ttl as u64);
                    next_send = now + ttl / 3;
                    deadline = now + ttl;
                    on_answer(&r)?;
                }
                Ok(None) | Err(_) => {
                    conn = None;
                    tokio::time::sleep(TICK).await;
                }
            },
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}
