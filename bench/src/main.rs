//! `oxbench --endpoint 127.0.0.1:2379 --clients 16 --seconds 5 --value-size 256`
//! A load generator for etcd-compatible servers (benchmarks, not tests):
//! N concurrent clients over a small pool of connections, for a fixed time
//! (`--seconds`) or a fixed count (`--total`).
//!
//! `--op` picks the workload (like etcd's `benchmark` tool):
//! - `put` (the default): puts `bench/<client>/<i>` of `--value-size` bytes
//!   (or, with `--key-space N`, overwrites N keys `bench/<n>`);
//!   prints `clients=N puts=M seconds=S puts_per_sec=R p50_ms=X p99_ms=Y`;
//! - `range`: reads the one key `bench-range-key` (put once first),
//!   `--consistency l` (linearizable, the default) or `s` (serializable);
//! - `keepalive`: each client grants a lease and opens a keep-alive stream,
//!   then one operation is one keep-alive round trip;
//! - `grant`: each client grants leases of TTL 60 s, one after another;
//! - `watch`: `--watchers N` watchers of `bench-watch/` over `--streams S`
//!   streams (default one per 100 watchers), then `--clients` putters; the
//!   operations counted are the events delivered (see watch.rs).
//!
//! Every op but put prints
//! `op=OP clients=N ops=M seconds=S ops_per_sec=R p50_ms=X p99_ms=Y`
//! (watch adds `watchers=N puts=P`). Errors go to stderr with exit code 1;
//! bad arguments exit with 2.
//!
//! `--endpoint a,b,c` spreads the connections (and so the clients) over
//! several members, round robin. `https://` endpoints use TLS (`--cacert`,
//! and `--cert`/`--key` for client certificate auth, through oxctl's
//! connector); `--user name:password` logs in once and sends the token with
//! every request. Used by scripts/bench*.sh against oxcd and real etcd.

mod conn;
mod kv;
mod lease;
mod opts;
mod stats;
mod watch;

use opts::Op;

fn fail(code: i32, msg: impl std::fmt::Display) -> ! {
    eprintln!("oxbench: {msg}");
    std::process::exit(code);
}

#[tokio::main]
async fn main() {
    let o = match opts::parse() {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{}", opts::USAGE);
            return;
        }
        Err(e) => {
            eprintln!("{}", opts::USAGE);
            fail(2, e)
        }
    };
    let urls = conn::urls(&o.endpoint);
    if urls.is_empty() {
        fail(2, "--endpoint needs at least one endpoint");
    }
    let tls_cfg = if urls.iter().any(|u| u.starts_with("https://")) {
        match conn::tls(&o) {
            Ok(c) => Some(c),
            Err(e) => fail(2, format!("TLS: {e}")),
        }
    } else {
        None
    };
    let mut chans = Vec::new();
    for i in 0..o.conns {
        let url = &urls[i % urls.len()];
        let t = tls_cfg.as_ref().filter(|_| url.starts_with("https://"));
        match conn::connect(url, t).await {
            Ok(c) => chans.push(c),
            Err(e) => fail(1, format!("connect {url}: {e}")),
        }
    }
    let token = match &o.user {
        Some(u) => match conn::log_in(&chans[0], u).await {
            Ok(t) => Some(t),
            Err(e) => fail(1, format!("log in: {e}")),
        },
        None => None,
    };
    let report = match o.op {
        Op::Put => kv::put(&o, &chans, &token).await,
        Op::Range => kv::range(&o, &chans, &token).await,
        Op::KeepAlive => lease::keepalive(&o, &chans, &token).await,
        Op::Grant => lease::grant(&o, &chans, &token).await,
        Op::Watch => watch::watch(&o, &chans, &token).await,
    };
    match report {
        Ok(r) => println!("{}", r.line(o.op, o.clients)),
        Err(e) => fail(1, e),
    }
    // the watch streams' tasks are still running: do not wait for them
    std::process::exit(0);
}
