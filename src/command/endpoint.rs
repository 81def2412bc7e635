//! `endpoint status` and `endpoint health` (with `--cluster`: the client
//! URLs from the member list, also used by `defrag`).

use std::time::Instant;

use oxcd_proto::etcdserverpb::{
    alarm_request::AlarmAction, AlarmRequest, AlarmType, HashKvRequest, MemberListRequest,
    RangeRequest, StatusRequest,
};

use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::global::ClientConfig;
use crate::gofmt;
use crate::printer::{EpHashKv, EpHealth, EpStatus};

const STATUS_LONG: &str = "When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.";

#[derive(clap::Args, Debug)]
pub struct EndpointCmd {
    /// use all endpoints from the cluster member list
    #[arg(long, global = true, default_value = "false")]
    pub cluster: crate::flags::Bool,
    #[command(subcommand)]
    pub sub: Option<EndpointSub>,
}

#[derive(clap::Subcommand, Debug)]
pub enum EndpointSub {
    /// Checks the healthiness of endpoints specified in `--endpoints` flag
    #[command(override_usage = "health")]
    Health,
    /// Prints out the status of endpoints specified in `--endpoints` flag
    #[command(long_about = STATUS_LONG, override_usage = "status")]
    Status,
    /// Prints the KV history hash for each endpoint in --endpoints
    #[command(override_usage = "hashkv")]
    Hashkv(HashkvArgs),
}

#[derive(clap::Args, Debug)]
pub struct HashkvArgs {
    /// maximum revision to hash (default: all revisions)
    #[arg(long, default_value = "0")]
    pub rev: crate::flags::Int,
}

/// `endpointsFromCluster`: the `--endpoints` values, or with `--cluster`
/// every member's client URLs (fetched without auth, like etcdctl).
pub(crate) async fn endpoints(ctx: &Ctx, cfg: &ClientConfig) -> Result<Vec<String>> {
    if !ctx.flags.bool("cluster") {
        return Ok(ctx.flags.strings("endpoints"));
    }
    let fetch = async {
        let mut anon = cfg.clone();
        anon.auth = None;
        let c = Client::connect(&anon).await?;
        let req = MemberListRequest { linearizable: true };
        c.rpc(|c| {
            let (mut s, r) = (c.cluster(), c.req(req));
            async move { s.member_list(r).await }
        })
        .await
    };
    let resp = fetch.await.map_err(|e| {
        CtlError::General(format!(
            "failed to fetch endpoints from etcd cluster member list: {e}"
        ))
    })?;
    Ok(resp
        .members
        .into_iter()
        .flat_map(|m| m.client_ur_ls)
        .collect())
}

pub async fn status(ctx: &mut Ctx) -> Result<()> {
    let (cfg, printer) = ctx.client_config()?;
    if cfg.auth.is_some() {
        // creating etcdctl's client authenticates
        Client::connect(&cfg).await?;
    }
    let mut list = Vec::new();
    let mut failed = false;
    for ep in endpoints(ctx, &cfg).await? {
        let res = async {
            let c = Client::connect_one(&cfg, &ep, cfg.auth.is_some()).await?;
            c.rpc(|c| {
                let (mut s, r) = (c.maintenance(), c.req(StatusRequest {}));
                async move { s.status(r).await }
            })
            .await
        }
        .await;
        match res {
            Ok(resp) => list.push(EpStatus { ep, resp }),
            Err(e) => {
                failed = true;
                ctx.w.eprint(&format!(
                    "Failed to get the status of endpoint {ep} ({e})\n"
                ));
            }
        }
    }
    printer.endpoint_status(&mut ctx.w, &list)?;
    if failed {
        return Err(CtlError::Silent(1));
    }
    Ok(())
}

/// `endpoint hashkv`: each endpoint's KV history hash up to `--rev`.
/// Failed endpoints are reported and skipped; the last error ends the
/// command (exit 1) after the others were printed.
pub async fn hashkv(ctx: &mut Ctx) -> Result<()> {
    let (cfg, printer) = ctx.client_config()?;
    let revision = *ctx.flags.get::<HashkvArgs>().rev;
    if cfg.auth.is_some() {
        Client::connect(&cfg).await?;
    }
    let mut list = Vec::new();
    let mut last_err = None;
    for ep in endpoints(ctx, &cfg).await? {
        let res = async {
            let c = Client::connect_one(&cfg, &ep, cfg.auth.is_some()).await?;
            c.rpc(|c| {
                let (mut s, r) = (c.maintenance(), c.req(HashKvRequest { revision }));
                async move { s.hash_kv(r).await }
            })
            .await
        }
        .await;
        match res {
            Ok(resp) => list.push(EpHashKv { ep, resp }),
            Err(e) => {
                ctx.w
                    .eprint(&format!("Failed to get the hash of endpoint {ep} ({e})\n"));
                last_err = Some(e);
            }
        }
    }
    printer.endpoint_hashkv(&mut ctx.w, &list)?;
    match last_err {
        Some(e) => Err(CtlError::General(e.to_string())),
        None => Ok(()),
    }
}

/// One endpoint's check: a `Get("health")` (permission denied counts as
/// healthy), then no active alarms.
async fn check(cfg: ClientConfig, ep: String) -> EpHealth {
    let start = Instant::now();
    let took = |s: Instant| gofmt::format_duration(s.elapsed().as_nanos() as i64);
    let client = match Client::connect_one(&cfg, &ep, cfg.auth.is_some()).await {
        Ok(c) => c,
        Err(e) => {
            let error = match e {
                CtlError::Rpc(m) | CtlError::Connection(m) => m,
                other => other.to_string(),
            };
            return EpHealth {
                ep,
                health: false,
                took: took(start),
                error,
            };
        }
    };
    let start = Instant::now();
    let req = RangeRequest {
        key: b"health".to_vec(),
        ..RangeRequest::default()
    };
    let res = client
        .rpc(|c| {
            let (mut s, r) = (c.kv(), c.req(req.clone()));
            async move { s.range(r).await }
        })
        .await;
    let mut h = EpHealth {
        ep,
        health: false,
        took: took(start),
        error: String::new(),
    };
    match res {
        Ok(_) => h.health = true,
        Err(e) if e.to_string() == "etcdserver: permission denied" => h.health = true,
        Err(e) => h.error = e.to_string(),
    }
    if h.health {
        let req = AlarmRequest {
            action: AlarmAction::Get as i32,
            member_id: 0,
            alarm: AlarmType::None as i32,
        };
        match client
            .rpc(|c| {
                let (mut s, r) = (c.maintenance(), c.req(req));
                async move { s.alarm(r).await }
            })
            .await
        {
            Ok(r) if !r.alarms.is_empty() => {
                h.health = false;
                h.error = "Active Alarm(s): ".to_string();
                for a in r.alarms {
                    h.error.push_str(match AlarmType::try_from(a.alarm) {
                        Ok(AlarmType::Nospace) => "NOSPACE ",
                        Ok(AlarmType::Corrupt) => "CORRUPT ",
                        _ => "UNKNOWN ",
                    });
                }
            }
            Ok(_) => {}
            Err(_) => {
                h.health = false;
                h.error = "Unable to fetch the alarm list".to_string();
            }
        }
    }
    h
}

pub async fn health(ctx: &mut Ctx) -> Result<()> {
    let (cfg, printer) = ctx.client_config()?;
    let eps = endpoints(ctx, &cfg).await?;
    // Checks run concurrently; results are listed in completion order.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for ep in eps {
        let (tx, cfg) = (tx.clone(), cfg.clone());
        tokio::spawn(async move {
            let _ = tx.send(check(cfg, ep).await);
        });
    }
    drop(tx);
    let mut list = Vec::new();
    while let Some(h) = rx.recv().await {
        list.push(h);
    }
    let unhealthy = list.iter().any(|h| !h.error.is_empty());
    printer.endpoint_health(&mut ctx.w, &list)?;
    if unhealthy {
        return Err(CtlError::General("unhealthy cluster".into()));
    }
    Ok(())
}
