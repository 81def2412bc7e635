//! Run limits (time or count), joining the client tasks, latency
//! percentiles and the report line.

use crate::opts::{Op, Opts};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// When a run stops: at a deadline (`--seconds`) or after `--total`
/// operations issued by all the clients together.
#[derive(Clone)]
pub struct Limit {
    deadline: Instant,
    total: u64,
    issued: Arc<AtomicU64>,
}

impl Limit {
    /// Starts the clock now.
    pub fn new(o: &Opts) -> Limit {
        let deadline = if o.total > 0 {
            Instant::now() + Duration::from_secs(24 * 3600)
        } else {
            Instant::now() + Duration::from_secs_f64(o.seconds)
        };
        Limit {
            deadline,
            total: o.total,
            issued: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The index of the next operation (counting over all clients), or
    /// `None` when the run is over.
    pub fn next(&self) -> Option<u64> {
        if Instant::now() >= self.deadline {
            return None;
        }
        let i = self.issued.fetch_add(1, Ordering::Relaxed);
        (self.total == 0 || i < self.total).then_some(i)
    }
}

pub type Latencies = Vec<Duration>;

/// Waits for every client; the first error (as `"<what> failed: ..."`) wins.
pub async fn join(
    tasks: Vec<JoinHandle<Result<Latencies, String>>>,
    what: &str,
) -> Result<Latencies, String> {
    let mut all = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(l)) => all.extend(l),
            Ok(Err(e)) => return Err(format!("{what} failed: {e}")),
            Err(e) => return Err(format!("client task failed: {e}")),
        }
    }
    Ok(all)
}

/// What a run measured.
pub struct Report {
    pub ops: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// watch only: watchers and puts
    pub watch: Option<(usize, u64)>,
}

impl Report {
    /// From the latency of every operation, over `seconds`.
    pub fn from_latencies(mut lat: Latencies, seconds: f64) -> Report {
        lat.sort();
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or(0.0)
        };
        Report {
            ops: lat.len() as u64,
            seconds,
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
            watch: None,
        }
    }

    pub fn line(&self, op: Op, clients: usize) -> String {
        let rate = self.ops as f64 / self.seconds.max(1e-9);
        if op == Op::Put {
            // unchanged since the first oxbench: the scripts parse it
            return format!(
                "clients={} puts={} seconds={:.2} puts_per_sec={:.0} p50_ms={:.2} p99_ms={:.2}",
                clients, self.ops, self.seconds, rate, self.p50_ms, self.p99_ms
            );
        }
        let mut s = format!(
            "op={} clients={} ops={} seconds={:.2} ops_per_sec={:.0} p50_ms={:.2} p99_ms={:.2}",
            op.name(),
            clients,
            self.ops,
            self.seconds,
            rate,
            self.p50_ms,
            self.p99_ms
        );
        if let Some((watchers, puts)) = self.watch {
            s.push_str(&format!(" watchers={watchers} puts={puts}"));
        }
        s
    }
}

/// A latency histogram that many tasks add to at once: buckets 2% wide
/// from 1 µs to beyond a minute.
pub struct Histogram {
    buckets: Vec<AtomicU64>,
}

const GROWTH: f64 = 1.02;
const BUCKETS: usize = 1000;

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn add(&self, d: Duration) {
        let us = (d.as_secs_f64() * 1e6).max(1.0);
        let i = ((us.ln() / GROWTH.ln()) as usize).min(BUCKETS - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The `p` quantile in milliseconds (0 when empty).
    pub fn quantile_ms(&self, p: f64) -> f64 {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let n: u64 = counts.iter().sum();
        if n == 0 {
            return 0.0;
        }
        let rank = ((n as f64 * p) as u64).min(n - 1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen > rank {
                // the middle of the bucket
                return GROWTH.powf(i as f64 + 0.5) / 1000.0;
            }
        }
        0.0
    }
}
