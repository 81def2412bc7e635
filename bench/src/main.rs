//! `oxbench --endpoint 127.0.0.1:2379 --clients 16 --seconds 5 --value-size 256`
//! Drives puts from N concurrent clients over a small pool of connections for
//! a fixed time and prints `clients=N puts=M seconds=S puts_per_sec=R p50_ms p99_ms`.
//! `--endpoint a,b,c` spreads the connections (and so the clients) over
//! several members, round robin.
//! `https://` endpoints use TLS (`--cacert`, and `--cert`/`--key` for client
//! certificate auth, through oxctl's connector); `--user name:password`
//! logs in once and sends the token with every put.
//! Used by scripts/bench.sh, scripts/bench-cluster.sh and
//! scripts/bench-secure.sh against oxcd and real etcd in the same run.

use oxcd_proto::etcdserverpb::{
    auth_client::AuthClient, kv_client::KvClient, AuthenticateRequest, PutRequest,
};
use std::time::{Duration, Instant};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

struct Opts {
    endpoint: String,
    clients: usize,
    seconds: f64,
    value_size: usize,
    conns: usize,
    /// stop after this many puts in all (0: run for `seconds`)
    total: u64,
    cacert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    user: Option<String>,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        endpoint: "127.0.0.1:2379".into(),
        clients: 1,
        seconds: 5.0,
        value_size: 256,
        conns: 0,
        total: 0,
        cacert: None,
        cert: None,
        key: None,
        user: None,
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
            "--cacert" => o.cacert = Some(val("--cacert")?),
            "--cert" => o.cert = Some(val("--cert")?),
            "--key" => o.key = Some(val("--key")?),
            "--user" => o.user = Some(val("--user")?),
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

/// The rustls client configuration for `https://` endpoints.
fn tls(o: &Opts) -> Result<oxctl::tls::Config, String> {
    let read = |p: &str| std::fs::read(p).map_err(|e| format!("{p}: {e}"));
    let roots = match &o.cacert {
        Some(p) => Some(oxctl::tls::parse_ca(p, &read(p)?)?),
        None => None,
    };
    let identity = match (&o.cert, &o.key) {
        (Some(c), Some(k)) => Some(oxctl::tls::parse_identity(&read(c)?, &read(k)?)?),
        _ => None,
    };
    oxctl::tls::client_config(roots, identity, false)
}

async fn connect(url: &str, tls: Option<&oxctl::tls::Config>) -> Result<Channel, String> {
    let Some(cfg) = tls else {
        let ep = Endpoint::from_shared(url.to_string()).map_err(|e| e.to_string())?;
        return ep
            .connect_timeout(Duration::from_secs(3))
            .connect()
            .await
            .map_err(|e| e.to_string());
    };
    let rest = url.trim_start_matches("https://");
    let host = rest.rsplit_once(':').map_or(rest, |(h, _)| h);
    let connector = oxctl::tls::Connector::new(cfg.clone(), host)?;
    let ep = Endpoint::from_shared(format!("http://{rest}"))
        .map_err(|e| e.to_string())?
        .origin(url.parse().map_err(|e| format!("{url}: {e}"))?);
    ep.connect_timeout(Duration::from_secs(3))
        .connect_with_connector(connector)
        .await
        .map_err(|e| e.to_string())
}

/// Logs in as `name:password`.
async fn log_in(ch: &Channel, user: &str) -> Result<MetadataValue<Ascii>, String> {
    let (name, password) = user.split_once(':').ok_or("--user needs name:password")?;
    let resp = AuthClient::new(ch.clone())
        .authenticate(AuthenticateRequest {
            name: name.into(),
            password: password.into(),
        })
        .await
        .map_err(|e| e.message().to_string())?;
    MetadataValue::try_from(resp.into_inner().token.as_str()).map_err(|e| e.to_string())
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
    let tls_cfg = if urls.iter().any(|u| u.starts_with("https://")) {
        match tls(&o) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("oxbench: TLS: {e}");
                std::process::exit(2);
            }
        }
    } else {
        None
    };
    let mut chans = Vec::new();
    for i in 0..o.conns {
        let url = &urls[i % urls.len()];
        let t = tls_cfg.as_ref().filter(|_| url.starts_with("https://"));
        match connect(url, t).await {
            Ok(c) => chans.push(c),
            Err(e) => {
                eprintln!("oxbench: connect {url}: {e}");
                std::process::exit(1);
            }
        }
    }
    let token = match &o.user {
        Some(u) => match log_in(&chans[0], u).await {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("oxbench: log in: {e}");
                std::process::exit(1);
            }
        },
        None => None,
    };
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
        let token = token.clone();
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
                let mut req = tonic::Request::new(req);
                if let Some(t) = &token {
                    req.metadata_mut().insert("token", t.clone());
                }
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
