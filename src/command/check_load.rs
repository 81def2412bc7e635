//! What `check perf` and `check datascale` share: the load models, a pool
//! of clients (one connection each, as etcdctl's) putting keys, etcdctl's
//! latency statistics (its `pkg/report`), the clean-up, and pb.v1's
//! progress frames.
//!
//! The frames are written by hand: etcdctl prints them to stdout, where
//! scripts capture them, and no progress crate writes pb.v1's text
//! (`\r 12 / 60   20.00% 00m48s`); on a terminal an indicatif bar is drawn
//! instead.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oxcd_proto::etcdserverpb::{
    CompactionRequest, DefragmentRequest, DeleteRangeRequest, PutRequest, RangeRequest,
};

use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::global::ClientConfig;

/// `--load`'s names (etcdctl's alias table).
pub fn model(load: &str) -> Result<usize> {
    match load {
        "s" | "small" => Ok(0),
        "m" | "medium" => Ok(1),
        "l" | "large" => Ok(2),
        "xl" | "xLarge" => Ok(3),
        other => Err(CtlError::BadFeature(format!("unknown load option {other}"))),
    }
}

/// A key under `prefix`: a buffer of `len` zero bytes starting with a
/// random number as a Go varint (etcdctl's `binary.PutVarint`).
pub fn random_key(prefix: &[u8], len: usize) -> Vec<u8> {
    let x = (rand_u64() >> 1) as i64;
    let mut buf = vec![0u8; len];
    // zig-zag, then base-128 groups, as binary.PutVarint
    let mut ux = (x as u64) << 1;
    if x < 0 {
        ux = !ux;
    }
    let mut i = 0;
    while ux >= 0x80 && i < len {
        buf[i] = (ux as u8) | 0x80;
        ux >>= 7;
        i += 1;
    }
    if i < len {
        buf[i] = ux as u8;
    }
    [prefix, &buf].concat()
}

/// A cheap random number (keys only need to differ).
fn rand_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Refuses a prefix that already holds keys (exit 3); `quote_cmd` puts the
/// suggested command in quotes, as `check perf` does and `datascale` not.
pub async fn check_empty(c: &Client, prefix: &[u8], quote_cmd: bool) -> Result<()> {
    let q = RangeRequest {
        key: prefix.to_vec(),
        range_end: crate::keys::prefix_end(prefix),
        limit: 1,
        ..Default::default()
    };
    let r = c.call_untimed(c.kv().range(c.req_untimed(q))).await?;
    if r.kvs.is_empty() {
        return Ok(());
    }
    let p = String::from_utf8_lossy(prefix);
    let cmd = if quote_cmd {
        format!("'etcdctl del --prefix {p}'")
    } else {
        format!("etcdctl del --prefix {p}")
    };
    Err(CtlError::InvalidInput(format!(
        "prefix {} has keys. Delete with {cmd} first",
        crate::gofmt::quote(prefix)
    )))
}

/// One client per worker, as etcdctl opens them.
pub async fn clients(cfg: &ClientConfig, n: usize) -> Result<Vec<Arc<Client>>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(Arc::new(Client::connect(cfg).await?));
    }
    Ok(out)
}

/// etcdctl's `pkg/report` statistics over the finished puts.
#[derive(Default)]
pub struct Stats {
    lats: Vec<f64>,
    pub errors: BTreeMap<String, u64>,
    started: Option<Instant>,
    total: Duration,
}

impl Stats {
    pub fn rps(&self) -> f64 {
        self.lats.len() as f64 / self.total.as_secs_f64().max(f64::MIN_POSITIVE)
    }
    pub fn slowest(&self) -> f64 {
        self.lats.iter().copied().fold(0.0, f64::max)
    }
    pub fn stddev(&self) -> f64 {
        if self.lats.is_empty() {
            return 0.0;
        }
        let n = self.lats.len() as f64;
        let avg = self.lats.iter().sum::<f64>() / n;
        (self.lats.iter().map(|l| (l - avg) * (l - avg)).sum::<f64>() / n).sqrt()
    }
}

/// Puts `keys` (each made when taken) with `clients`, at most `per_sec`
/// a second when given, until `keys` ends or `until`. `done` counts the
/// finished puts (for the progress frames).
pub async fn put_all(
    clients: &[Arc<Client>],
    mut keys: impl FnMut() -> Option<Vec<u8>> + Send,
    value: Vec<u8>,
    per_sec: Option<u32>,
    until: tokio::time::Instant,
    done: Arc<std::sync::atomic::AtomicU64>,
    mut cancel: tokio::sync::watch::Receiver<bool>,
) -> Stats {
    let stats = Arc::new(Mutex::new(Stats {
        started: Some(Instant::now()),
        ..Default::default()
    }));
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(clients.len().max(1));
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let value = Arc::new(value);
    let mut workers = Vec::new();
    for c in clients {
        let (c, rx, stats, value, done) = (
            c.clone(),
            rx.clone(),
            stats.clone(),
            value.clone(),
            done.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let Some(key) = rx.lock().await.recv().await else {
                    break;
                };
                let put = PutRequest {
                    key,
                    value: value.to_vec(),
                    ..Default::default()
                };
                let st = Instant::now();
                let r = c.call_untimed(c.kv().put(c.req_untimed(put))).await;
                let lat = st.elapsed().as_secs_f64();
                if let Ok(mut s) = stats.lock() {
                    match r {
                        Ok(_) => s.lats.push(lat),
                        Err(e) => *s.errors.entry(e.to_string()).or_default() += 1,
                    }
                }
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    let mut pace = per_sec.map(|n| {
        let mut i = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(n.max(1))));
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    loop {
        if let Some(p) = pace.as_mut() {
            tokio::select! {
                _ = p.tick() => {}
                _ = tokio::time::sleep_until(until) => break,
                _ = cancel.changed() => break,
            }
        }
        let Some(k) = keys() else { break };
        tokio::select! {
            r = tx.send(k) => if r.is_err() { break },
            _ = tokio::time::sleep_until(until) => break,
            _ = cancel.changed() => break,
        }
    }
    drop(tx);
    for w in workers {
        let _ = w.await;
    }
    let mut s = std::mem::take(&mut *stats.lock().unwrap_or_else(|p| p.into_inner()));
    s.total = s.started.map_or(Duration::ZERO, |t| t.elapsed());
    s
}

/// Deletes the prefix (30 s at most); with `compact`, compacts
/// physically at the delete's revision, as etcdctl's `attemptCleanup`.
pub async fn clean_up(ctx: &mut Ctx, c: &Client, prefix: &[u8], compact: bool) -> Result<()> {
    let d = DeleteRangeRequest {
        key: prefix.to_vec(),
        range_end: crate::keys::prefix_end(prefix),
        ..Default::default()
    };
    let mut r = c.req_untimed(d);
    r.set_timeout(Duration::from_secs(30));
    let rev = match c.call_untimed(c.kv().delete_range(r)).await {
        Ok(d) => d.header.map_or(0, |h| h.revision),
        Err(e) => {
            ctx.w.print(&format!(
                "FAIL: Cleanup failed during key deletion: ERROR({e})\n"
            ));
            return Ok(());
        }
    };
    if compact {
        compact_at(ctx, c, rev).await?;
    }
    Ok(())
}

pub async fn compact_at(ctx: &mut Ctx, c: &Client, rev: i64) -> Result<()> {
    ctx.w.print(&format!("Compacting with revision {rev}\n"));
    let mut r = c.req_untimed(CompactionRequest {
        revision: rev,
        physical: true,
    });
    r.set_timeout(Duration::from_secs(30));
    c.call_untimed(c.kv().compact(r)).await?;
    ctx.w.print(&format!("Compacted with revision {rev}\n"));
    Ok(())
}

/// Defragments every endpoint, each through a connection of its own.
pub async fn defrag_all(ctx: &mut Ctx, cfg: &ClientConfig) -> Result<()> {
    for ep in &cfg.endpoints {
        ctx.w.print(&format!(
            "Defragmenting {}\n",
            crate::gofmt::quote(ep.as_bytes())
        ));
        let c = Client::connect_one(cfg, ep, cfg.auth.is_some()).await?;
        let mut r = c.req_untimed(DefragmentRequest {});
        r.set_timeout(Duration::from_secs(30));
        c.call_untimed(c.maintenance().defragment(r)).await?;
        ctx.w.print(&format!(
            "Defragmented {}\n",
            crate::gofmt::quote(ep.as_bytes())
        ));
    }
    Ok(())
}

/// The error lines of a run with failed puts.
pub fn error_lines(s: &Stats) -> String {
    let mut out = String::from("FAIL: too many errors\n");
    for (e, n) in &s.errors {
        out.push_str(&format!("FAIL: ERROR({e}) -> {n}\n"));
    }
    out
}

/// pb.v1's progress frames on stdout (`\r cur / total  pct% left`), or an
/// indicatif bar when stdout is a terminal. Runs until stopped.
pub struct Progress {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<String>,
}

impl Progress {
    /// `count` gives the current value of a bar out of `total`.
    pub fn start(total: u64, count: impl Fn() -> u64 + Send + 'static) -> Progress {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            if std::io::stdout().is_terminal() {
                let bar = indicatif::ProgressBar::new(total);
                loop {
                    bar.set_position(count().min(total));
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                        _ = stopped.changed() => break,
                    }
                }
                bar.set_position(count().min(total));
                bar.finish();
                return String::new();
            }
            let mut out = frame(0, total, started, false);
            let mut last_change = (0, started);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stopped.changed() => break,
                }
                let cur = count().min(total);
                if cur != last_change.0 {
                    last_change = (cur, Instant::now());
                }
                out.push_str(&frame(cur, total, started, false));
            }
            out
        });
        Progress { stop, task }
    }

    /// Ends the frames: the final one and a newline when `finished`, else
    /// none (an interrupted run ends mid-line, as etcdctl's). Returns the
    /// text to print (non-terminal).
    pub async fn end(self, total: u64, finished: bool, started: Instant) -> String {
        let _ = self.stop.send(true);
        let mut out = self.task.await.unwrap_or_default();
        if finished && !std::io::stdout().is_terminal() {
            out.push_str(&frame(total, total, started, true));
            out.push('\n');
        }
        out
    }
}

/// One pb.v1 frame without a terminal (no bar): `\r cur / total  pct%`
/// with the time left while running, the time spent at the end.
fn frame(cur: u64, total: u64, started: Instant, last: bool) -> String {
    let pct = if total == 0 {
        0.0
    } else {
        cur as f64 * 100.0 / total as f64
    };
    let mut f = format!("\r {cur} / {total}  {pct:6.2}%");
    let spent = started.elapsed();
    if last {
        f.push(' ');
        f.push_str(&go_duration(spent.as_secs()));
    } else if cur > 0 && cur < total {
        let left = spent.as_secs_f64() / cur as f64 * (total - cur) as f64;
        let left = left as u64;
        if left > 0 {
            f.push_str(&format!(" {:02}m{:02}s", left / 60, left % 60));
        }
    }
    f
}

/// Go's `time.Duration.String()` of whole seconds (`1m0s`, `1s`).
fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_as_pb_v1_without_a_terminal() {
        let now = Instant::now();
        assert_eq!(frame(0, 60, now, false), "\r 0 / 60    0.00%");
        assert_eq!(frame(60, 60, now, true), "\r 60 / 60  100.00% 0s");
        assert_eq!(go_duration(60), "1m0s");
        assert_eq!(go_duration(1), "1s");
        assert_eq!(go_duration(3661), "1h1m1s");
    }

    #[test]
    fn keys_are_the_prefix_and_a_zero_padded_varint() {
        let k = random_key(b"/p/", 256);
        assert_eq!(k.len(), 259);
        assert!(k.starts_with(b"/p/"));
        assert!(k[3..].iter().skip(10).all(|b| *b == 0));
    }

    #[test]
    fn loads_by_etcdctls_names() {
        assert_eq!(model("small").ok(), Some(0));
        assert_eq!(model("xLarge").ok(), Some(3));
        assert_eq!(
            model("XL").err().map(|e| e.to_string()),
            Some("unknown load option XL".into())
        );
    }
}
