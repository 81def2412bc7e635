//! `check perf` and `check datascale`: load the cluster as etcdctl's
//! models do and judge it by etcdctl's thresholds (throughput above 90%
//! of the model's rate, slowest put at most 0.5 s, standard deviation at
//! most 0.1 s), or report the memory the first endpoint's process took
//! for the keys (its `/metrics` `process_resident_memory_bytes`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::check_load::{self as load, Progress};
use super::child::Interrupts;
use super::Ctx;
use crate::error::{CtlError, Result};

#[derive(clap::Subcommand, Debug)]
pub enum CheckCmd {
    /// Check the performance of the etcd cluster
    #[command(override_usage = "perf [options]")]
    Perf(PerfArgs),
    #[command(
        about = "Check the memory usage of holding data for different workloads on a given server endpoint.",
        long_about = "If no endpoint is provided, localhost will be used. If multiple endpoints are provided, first endpoint will be used.",
        override_usage = "datascale [options]"
    )]
    Datascale(DatascaleArgs),
}

#[derive(clap::Args, Debug)]
pub struct PerfArgs {
    #[arg(
        long,
        default_value = "s",
        help = "The performance check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)"
    )]
    pub load: crate::flags::Text,
    #[arg(
        long,
        default_value = "/etcdctl-check-perf/",
        help = "The prefix for writing the performance check's keys."
    )]
    pub prefix: crate::flags::Text,
    #[command(flatten)]
    pub after: AfterArgs,
}

#[derive(clap::Args, Debug)]
pub struct DatascaleArgs {
    #[arg(
        long,
        default_value = "s",
        help = "The datascale check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)"
    )]
    pub load: crate::flags::Text,
    #[arg(
        long,
        default_value = "/etcdctl-check-datascale/",
        help = "The prefix for writing the datascale check's keys."
    )]
    pub prefix: crate::flags::Text,
    #[command(flatten)]
    pub after: AfterArgs,
}

/// What both checks do once done.
#[derive(clap::Args, Debug)]
pub struct AfterArgs {
    #[arg(
        long = "auto-compact",
        id = "auto-compact",
        default_value = "false",
        help = "Compact storage with last revision after test is finished."
    )]
    pub auto_compact: crate::flags::Bool,
    #[arg(
        long = "auto-defrag",
        id = "auto-defrag",
        default_value = "false",
        help = "Defragment storage after test is finished."
    )]
    pub auto_defrag: crate::flags::Bool,
}

/// perf's models: writes a second, clients; each runs 60 s.
const PERF: [(u32, usize); 4] = [(150, 50), (1000, 200), (8000, 500), (15000, 1000)];
const PERF_SECS: u64 = 60;
/// datascale's models: puts, clients (each key and value 512 bytes).
const SCALE: [(u64, usize); 4] = [
    (10_000, 50),
    (100_000, 200),
    (1_000_000, 500),
    (3_000_000, 1000),
];

pub async fn perf(ctx: &mut Ctx) -> Result<()> {
    let a: PerfArgs = ctx.flags.get();
    let (rate, n) = PERF[load::model(&a.load.0)?];
    let cfg = ctx.client_config_only()?;
    let prefix = a.prefix.0.clone().into_bytes();
    let clients = load::clients(&cfg, n).await?;
    let c = clients[0].clone();
    let until = tokio::time::Instant::now() + Duration::from_secs(PERF_SECS);
    match tokio::time::timeout_at(until, load::check_empty(&c, &prefix, true)).await {
        Ok(r) => r?,
        Err(_) => return Err(CtlError::Rpc(crate::client::DEADLINE.into())),
    }
    let started = Instant::now();
    let bar = Progress::start(PERF_SECS, move || started.elapsed().as_secs());
    // Ctrl-C ends the run early; what ran is judged (as etcdctl)
    let (stop, cancel) = tokio::sync::watch::channel(false);
    let mut sig = Interrupts::catch();
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = interrupted.clone();
    let watcher = tokio::spawn(async move {
        sig.recv().await;
        flag.store(true, Ordering::Relaxed);
        let _ = stop.send(true);
    });
    let p = prefix.clone();
    let stats = load::put_all(
        &clients,
        move || Some(load::random_key(&p, 256)),
        vec![0; 1024],
        Some(rate),
        until,
        Arc::new(AtomicU64::new(0)),
        cancel,
    )
    .await;
    watcher.abort();
    let interrupted = interrupted.load(Ordering::Relaxed);
    if !interrupted {
        // the bar counts its 60 seconds whatever the puts did, as etcdctl's
        tokio::time::sleep_until((started + Duration::from_secs(PERF_SECS)).into()).await;
    }
    let frames = bar.end(PERF_SECS, !interrupted, started).await;
    ctx.w.print(&frames);
    load::clean_up(ctx, &c, &prefix, *a.after.auto_compact).await?;
    if *a.after.auto_defrag {
        load::defrag_all(ctx, &cfg).await?;
    }
    let mut ok = true;
    if !stats.errors.is_empty() {
        ctx.w.print(&load::error_lines(&stats));
        ok = false;
    }
    let rps = stats.rps();
    let writes = rps as i64 + 1;
    if rps / f64::from(rate) <= 0.9 {
        ctx.w
            .print(&format!("FAIL: Throughput too low: {writes} writes/s\n"));
        ok = false;
    } else {
        ctx.w
            .print(&format!("PASS: Throughput is {writes} writes/s\n"));
    }
    let slowest = stats.slowest();
    if slowest > 0.5 {
        ctx.w
            .print(&format!("Slowest request took too long: {slowest:.6}s\n"));
        ok = false;
    } else {
        ctx.w
            .print(&format!("PASS: Slowest request took {slowest:.6}s\n"));
    }
    let stddev = stats.stddev();
    if stddev > 0.1 {
        ctx.w.print(&format!("Stddev too high: {stddev:.6}s\n"));
        ok = false;
    } else {
        ctx.w.print(&format!("PASS: Stddev is {stddev:.6}s\n"));
    }
    if ok {
        ctx.w.print("PASS\n");
        Ok(())
    } else {
        ctx.w.print("FAIL\n");
        Err(CtlError::Silent(1))
    }
}

pub async fn datascale(ctx: &mut Ctx) -> Result<()> {
    let a: DatascaleArgs = ctx.flags.get();
    let (total, n) = SCALE[load::model(&a.load.0)?];
    let cfg = ctx.client_config_only()?;
    let prefix = a.prefix.0.clone().into_bytes();
    let clients = load::clients(&cfg, n).await?;
    let c = clients[0].clone();
    load::check_empty(&c, &prefix, false).await?;
    let ep = cfg.endpoints.first().cloned().unwrap_or_default();
    let Some(before) = super::check_metrics::resident_bytes(&mut ctx.w, &cfg, &ep).await else {
        ctx.w.print(
            "FAIL: Could not read process_resident_memory_bytes before the put operations.\n",
        );
        return Err(CtlError::Silent(1));
    };
    ctx.w.print(&format!(
        "Start data scale check for work load [{total} key-value pairs, 1024 bytes per key-value, {n} concurrent clients].\n"
    ));
    ctx.w.flush();
    let done = Arc::new(AtomicU64::new(0));
    let seen = done.clone();
    let started = Instant::now();
    let bar = Progress::start(total, move || seen.load(Ordering::Relaxed));
    let mut left = total;
    let p = prefix.clone();
    let keys = move || {
        left = left.checked_sub(1)?;
        Some(load::random_key(&p, 512))
    };
    let far = tokio::time::Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
    let (_never, cancel) = tokio::sync::watch::channel(false);
    let stats = load::put_all(&clients, keys, vec![0; 512], None, far, done, cancel).await;
    let frames = bar.end(total, true, started).await;
    ctx.w.print(&frames);
    let Some(after) = super::check_metrics::resident_bytes(&mut ctx.w, &cfg, &ep).await else {
        ctx.w.print(
            "FAIL: Could not read process_resident_memory_bytes after the put operations.\n",
        );
        return Err(CtlError::Silent(1));
    };
    let d = oxcd_proto::etcdserverpb::DeleteRangeRequest {
        key: prefix.clone(),
        range_end: crate::keys::prefix_end(&prefix),
        ..Default::default()
    };
    let rev = c
        .call_untimed(c.kv().delete_range(c.req_untimed(d)))
        .await?
        .header
        .map_or(0, |h| h.revision);
    if *a.after.auto_compact {
        load::compact_at(ctx, &c, rev).await?;
    }
    if *a.after.auto_defrag {
        load::defrag_all(ctx, &cfg).await?;
    }
    if !stats.errors.is_empty() {
        ctx.w.print(&load::error_lines(&stats));
        return Err(CtlError::Silent(1));
    }
    let mb = (after - before) / (1024.0 * 1024.0);
    ctx.w.print(&format!(
        "PASS: Approximate system memory used : {mb:.2} MB.\n"
    ));
    Ok(())
}
