//! `oxbench --endpoint 127.0.0.1:2379 --clients 16 --seconds 5 --value-size 256`
//! Drives puts from N concurrent clients over a small pool of connections for
//! a fixed time and prints `clients=N puts=M seconds=S puts_per_sec=R p50_ms p99_ms`.
//! `--endpoint a,b,c` spreads the connections (and so the clients) over
//! several members, round robin.
//! Used by scripts/bench.sh and scripts/bench-cluster.sh against oxcd and
//! real etcd in the same run.

use oxcd_proto::etcdserverpb::{kv_client::KvClient, PutRequest};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

struct Opts {
    endpoint: String,
    clients: usize,
    seconds: f64,
    value_size: usize,
    conns: usize,
    /// stop after this many puts in all (0: run for `seconds`)
    total: u64,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        endpoint: "127.0.0.1:2379".into(),
        clients: 1,
        seconds: 5.0,
        value_size: 256,
        conns: 0,
        total: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--endpoint" => o.endpoint = val("--endpoint")?,
            "--clients" => {
                o.clients = val("--clients")?
                    .parse()
                    .map_err(|e| format!("--clients: {e}"))?
            }
            "--seconds" => {
                o.seconds = val("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--value-size" => {
                o.value_size = val("--value-size")?
                    .parse()
                    .map_err(|e| format!("--value-size: {e}"))?
            }
            "--conns" => {
                o.conns = val("--conns")?
                    .parse()
                    .map_err(|e| format!("--conns: {e}"))?
            }
            "--total" => {
                o.total = val("--total")?
                    .parse()
                    .map_err(|e| format!("--total: {e}"))?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.clients == 0 {
        return Err("--clients must be at least 1".into());
    }
    if o.conns == 0 {
        // like etcd's benchmark tool: clients share a handful of connections
        o.conns = o.clients.min(16);
    }
    Ok(o)
}

#[tokio::main]
async fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("oxbench: {e}");
            std::process::exit(2);
        }
    };
    let urls: Vec<String> = o
        .endpoint
        .split(',')
        .filter(|e| !e.is_empty())
        .map(|e| {
            if e.contains("://") {
                e.to_string()
            } else {
                format!("http://{e}")
            }
        })
        .collect();
    if urls.is_empty() {
        eprintln!("oxbench: --endpoint needs at least one endpoint");
        std::process::exit(2);
    }
    let mut chans = Vec::new();
    for i in 0..o.conns {
        let url = &urls[i % urls.len()];
        match Channel::from_shared(url.clone()) {
            Ok(ep) => match ep.connect_timeout(Duration::from_secs(3)).connect().await {
                Ok(c) => chans.push(c),
                Err(e) => {
                    eprintln!("oxbench: connect {url}: {e}");
                    std::process::exit(1);
                }
            },
            Err(e) => {
                eprintln!("oxbench: bad endpoint {url}: {e}");
                std::process::exit(2);
            }
        }
    }
    let deadline = if o.total > 0 {
        Instant::now() + Duration::from_secs(24 * 3600)
    } else {
        Instant::now() + Duration::from_secs_f64(o.seconds)
    };
    let issued = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let value = vec![b'x'; o.value_size];
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..o.clients {
        let mut kv = KvClient::new(chans[c % chans.len()].clone());
        let value = value.clone();
        let issued = issued.clone();
        let total = o.total;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                if total > 0 && issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= total {
                    break;
                }
                let t = Instant::now();
                let req = PutRequest {
                    key: format!("bench/{c}/{i}").into_bytes(),
                    value: value.clone(),
                    ..Default::default()
                };
                if let Err(e) = kv.put(req).await {
                    return Err(e.to_string());
                }
                lat.push(t.elapsed());
                i += 1;
            }
            Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(l)) => all.extend(l),
            Ok(Err(e)) => {
                eprintln!("oxbench: put failed: {e}");
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!("oxbench: client task failed: {e}");
                std::process::exit(1);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    println!(
        "clients={} puts={} seconds={:.2} puts_per_sec={:.0} p50_ms={:.2} p99_ms={:.2}",
        o.clients,
        all.len(),
        secs,
        all.len() as f64 / secs,
        pct(0.5),
        pct(0.99)
    );
}
