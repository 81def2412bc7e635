//! `--op watch`: `--watchers` watchers of the prefix `bench-watch/`, spread
//! over `--streams` watch streams (round robin over the connections). Once
//! every watcher is created, `--clients` putters write `bench-watch/<i>`
//! for `--seconds` (or `--total` puts); then every event of every put must
//! arrive (30 s of grace after the last put, else an error). The rate is the
//! events delivered per second from the first put to the last event; the
//! latencies are of event delivery, from the put being sent to the event
//! being received (the put's send time travels in its value's first 8 bytes).

use crate::conn::{request, Token};
use crate::opts::Opts;
use crate::stats::{join, Histogram, Limit, Report};
use oxcd_proto::etcdserverpb::{
    kv_client::KvClient, watch_client::WatchClient, watch_request::RequestUnion, PutRequest,
    WatchCreateRequest, WatchRequest, WatchResponse,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

const PREFIX: &[u8] = b"bench-watch/";
/// The end of the range of PREFIX (`/` + 1 is `0`).
const PREFIX_END: &[u8] = b"bench-watch0";
const CREATE_TIMEOUT: Duration = Duration::from_secs(60);
const GRACE: Duration = Duration::from_secs(30);

/// What the stream tasks share with the run.
struct Shared {
    /// when the run began: put send times and event times count from here
    epoch: Instant,
    events: AtomicU64,
    /// nanoseconds after `epoch` of the last event received
    last_event: AtomicU64,
    latency: Histogram,
    /// the first error of a stream, once its watchers were created
    error: Mutex<Option<String>>,
}

impl Shared {
    fn count(&self, resp: &WatchResponse) {
        if resp.events.is_empty() {
            return;
        }
        let now = self.epoch.elapsed();
        for ev in &resp.events {
            let sent = ev
                .kv
                .as_ref()
                .and_then(|kv| kv.value.get(..8))
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes);
            if let Some(sent) = sent {
                self.latency
                    .add(now.saturating_sub(Duration::from_nanos(sent)));
            }
        }
        self.events
            .fetch_add(resp.events.len() as u64, Ordering::Relaxed);
        self.last_event
            .fetch_max(now.as_nanos() as u64, Ordering::Relaxed);
    }

    fn fail(&self, e: String) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(e);
    }

    fn take_error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Opens a watch stream with `n` watchers; returns once all are created
/// (with the stream's sender, which must live as long as the stream).
async fn open(
    ch: Channel,
    n: usize,
    token: Token,
    shared: &Shared,
) -> Result<(mpsc::Sender<WatchRequest>, Streaming<WatchResponse>), String> {
    let (tx, rx) = mpsc::channel(n);
    for _ in 0..n {
        let create = WatchCreateRequest {
            key: PREFIX.to_vec(),
            range_end: PREFIX_END.to_vec(),
            ..Default::default()
        };
        tx.send(WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(create)),
        })
        .await
        .map_err(|_| "the stream's sender is gone".to_string())?;
    }
    let mut stream = WatchClient::new(ch)
        .max_decoding_message_size(usize::MAX)
        .watch(request(ReceiverStream::new(rx), &token))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    let mut created = 0;
    while created < n {
        let resp = stream
            .message()
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the server closed the stream")?;
        if resp.canceled {
            return Err(format!("watch canceled: {}", resp.cancel_reason));
        }
        if resp.created {
            created += 1;
        }
        shared.count(&resp);
    }
    Ok((tx, stream))
}

pub async fn watch(o: &Opts, chans: &[Channel], token: &Token) -> Result<Report, String> {
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        events: AtomicU64::new(0),
        last_event: AtomicU64::new(0),
        latency: Histogram::new(),
        error: Mutex::new(None),
    });
    let (ready_tx, mut ready_rx) = mpsc::channel::<Result<(), String>>(o.streams);
    for s in 0..o.streams {
        let n = o.watchers / o.streams + usize::from(s < o.watchers % o.streams);
        let ch = chans[s % chans.len()].clone();
        let (token, shared, ready) = (token.clone(), shared.clone(), ready_tx.clone());
        tokio::spawn(async move {
            let (_tx, mut stream) = match open(ch, n, token, &shared).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready.send(Err(e)).await;
                    return;
                }
            };
            let _ = ready.send(Ok(())).await;
            loop {
                match stream.message().await {
                    Ok(Some(resp)) if resp.canceled => {
                        shared.fail(format!("watch canceled: {}", resp.cancel_reason));
                        return;
                    }
                    Ok(Some(resp)) => shared.count(&resp),
                    Ok(None) => {
                        shared.fail("the server closed a watch stream".into());
                        return;
                    }
                    Err(e) => {
                        shared.fail(format!("watch stream: {e}"));
                        return;
                    }
                }
            }
        });
    }
    drop(ready_tx);
    let created_by = Instant::now() + CREATE_TIMEOUT;
    for _ in 0..o.streams {
        match tokio::time::timeout_at(created_by.into(), ready_rx.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(e))) => return Err(format!("creating watchers: {e}")),
            Ok(None) => return Err("creating watchers: a stream task ended".into()),
            Err(_) => {
                return Err(format!(
                    "the {} watchers were not all created within {}s",
                    o.watchers,
                    CREATE_TIMEOUT.as_secs()
                ))
            }
        }
    }
    let before = shared.events.load(Ordering::Relaxed);
    if before > 0 {
        return Err(format!(
            "{before} events before the first put: is something else writing {}?",
            String::from_utf8_lossy(PREFIX)
        ));
    }

    let limit = Limit::new(o);
    let start = shared.epoch.elapsed();
    let mut tasks = Vec::new();
    for c in 0..o.clients {
        let mut kv = KvClient::new(chans[c % chans.len()].clone());
        let (limit, token, epoch) = (limit.clone(), token.clone(), shared.epoch);
        let size = o.value_size.max(8);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while let Some(i) = limit.next() {
                let mut value = vec![b'x'; size];
                let t = Instant::now();
                let sent = t.duration_since(epoch).as_nanos() as u64;
                value[..8].copy_from_slice(&sent.to_le_bytes());
                let mut key = PREFIX.to_vec();
                key.extend_from_slice(i.to_string().as_bytes());
                let req = PutRequest {
                    key,
                    value,
                    ..Default::default()
                };
                kv.put(request(req, &token))
                    .await
                    .map_err(|e| e.to_string())?;
                lat.push(t.elapsed());
            }
            Ok(lat)
        }));
    }
    let puts = join(tasks, "put").await?.len() as u64;
    let expected = puts * o.watchers as u64;
    let grace_end = Instant::now() + GRACE;
    loop {
        if let Some(e) = shared.take_error() {
            return Err(e);
        }
        let got = shared.events.load(Ordering::Relaxed);
        if got >= expected {
            break;
        }
        if Instant::now() >= grace_end {
            return Err(format!(
                "only {got} of the {expected} events ({puts} puts x {} watchers) arrived \
                 within {}s of the last put",
                o.watchers,
                GRACE.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ops = shared.events.load(Ordering::Relaxed);
    let last = Duration::from_nanos(shared.last_event.load(Ordering::Relaxed));
    Ok(Report {
        ops,
        seconds: last.saturating_sub(start).as_secs_f64(),
        p50_ms: shared.latency.quantile_ms(0.5),
        p99_ms: shared.latency.quantile_ms(0.99),
        watch: Some((o.watchers, puts)),
    })
}
