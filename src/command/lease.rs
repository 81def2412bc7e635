//! `lease grant|revoke|timetolive|list|keep-alive`. Grant and revoke run
//! under the command timeout and wrap their errors (`failed to … lease`,
//! exit 1); timetolive, list and keep-alive have no deadline, wait for an
//! unreachable server like etcdctl, and fail with exit code 2.

use oxcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseLeasesRequest,
    LeaseRevokeRequest, LeaseTimeToLiveRequest,
};
use tonic::codegen::tokio_stream;

use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::global::ClientConfig;
use crate::gofmt;
use crate::printer::{lease_hex, Printer};

#[derive(clap::Subcommand, Debug)]
pub enum LeaseCmd {
    /// Creates leases
    #[command(override_usage = "grant <ttl>")]
    Grant,
    /// Revokes leases
    #[command(override_usage = "revoke <leaseID>")]
    Revoke,
    /// Get lease information
    #[command(override_usage = "timetolive <leaseID> [options]")]
    Timetolive(TimeToLiveArgs),
    /// List all active leases
    #[command(override_usage = "list")]
    List,
    /// Keeps leases alive (renew)
    #[command(override_usage = "keep-alive [options] <leaseID>")]
    KeepAlive(KeepAliveArgs),
}

#[derive(clap::Args, Debug)]
pub struct TimeToLiveArgs {
    /// Get keys attached to this lease
    #[arg(long, default_value = "false")]
    pub keys: crate::flags::Bool,
}

#[derive(clap::Args, Debug)]
pub struct KeepAliveArgs {
    /// Resets the keep-alive time to its original value and cobrautl.Exits immediately
    #[arg(long, default_value = "false")]
    pub once: crate::flags::Bool,
}

/// `leaseFromArgs`: a hex lease ID.
pub fn lease_id(arg: &str) -> Result<i64> {
    gofmt::parse_int(arg, 16)
        .map_err(|e| CtlError::BadArgs(format!("bad lease ID arg ({e}), expecting ID in Hex")))
}

/// RPC failures of grant and revoke, including an unreachable endpoint
/// (etcdctl dials lazily, so that surfaces in the RPC too).
fn failed(what: &str, e: CtlError) -> CtlError {
    match e {
        CtlError::Rpc(m) => CtlError::General(format!("failed to {what} lease ({m})")),
        other => other,
    }
}

/// timetolive, list and keep-alive report RPC errors with exit code 2.
fn bad_connection(e: CtlError) -> CtlError {
    match e {
        CtlError::Rpc(m) => CtlError::Connection(m),
        other => other,
    }
}

pub async fn grant(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() != 1 {
        return Err(CtlError::BadArgs(
            "lease grant command needs TTL argument".into(),
        ));
    }
    let ttl = gofmt::parse_int(&ctx.args[0], 10)
        .map_err(|e| CtlError::BadArgs(format!("bad TTL ({e})")))?;
    let (cfg, printer) = ctx.client_config()?;
    let resp = async {
        let c = Client::connect(&cfg).await?;
        let req = LeaseGrantRequest { ttl, id: 0 };
        c.rpc(|c| {
            let (mut s, r) = (c.lease(), c.req(req));
            async move { s.lease_grant(r).await }
        })
        .await
    }
    .await
    .map_err(|e| failed("grant", e))?;
    printer.lease_grant(&mut ctx.w, &resp)
}

pub async fn revoke(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() != 1 {
        return Err(CtlError::BadArgs(
            "lease revoke command needs 1 argument".into(),
        ));
    }
    let id = lease_id(&ctx.args[0])?;
    let (cfg, printer) = ctx.client_config()?;
    let resp = async {
        let c = Client::connect(&cfg).await?;
        c.rpc(|c| {
            let (mut s, r) = (c.lease(), c.req(LeaseRevokeRequest { id }));
            async move { s.lease_revoke(r).await }
        })
        .await
    }
    .await
    .map_err(|e| failed("revoke", e))?;
    printer.lease_revoke(&mut ctx.w, id, &resp)
}

pub async fn timetolive(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() != 1 {
        return Err(CtlError::BadArgs(
            "lease timetolive command needs lease ID as argument".into(),
        ));
    }
    let keys = *ctx.flags.get::<TimeToLiveArgs>().keys;
    // etcdctl builds its client before parsing the ID; only with --user
    // does that contact the server.
    let (cfg, printer) = ctx.client_config()?;
    let early = match cfg.auth {
        Some(_) => Some(Client::connect(&cfg).await?),
        None => None,
    };
    let id = lease_id(&ctx.args[0])?;
    let c = match early {
        Some(c) => c,
        None => Client::connect_wait(&cfg).await?,
    };
    let req = LeaseTimeToLiveRequest { id, keys };
    let resp = c
        .call_untimed(c.lease().lease_time_to_live(c.req_untimed(req)))
        .await
        .map_err(bad_connection)?;
    printer.lease_time_to_live(&mut ctx.w, &resp, keys)
}

/// `lease list` ignores extra arguments.
pub async fn list(ctx: &mut Ctx) -> Result<()> {
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect_wait(&cfg).await?;
    let resp = c
        .call_untimed(c.lease().lease_leases(c.req_untimed(LeaseLeasesRequest {})))
        .await
        .map_err(bad_connection)?;
    printer.lease_list(&mut ctx.w, &resp)
}

pub async fn keep_alive(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() != 1 {
        return Err(CtlError::BadArgs(
            "lease keep-alive command needs lease ID as argument".into(),
        ));
    }
    let id = lease_id(&ctx.args[0])?;
    let (cfg, printer) = ctx.client_config()?;
    if *ctx.flags.get::<KeepAliveArgs>().once {
        let c = Client::connect_wait(&cfg).await?;
        let resp = keep_alive_once(&c, id).await.map_err(bad_connection)?;
        return printer.lease_keep_alive(&mut ctx.w, &resp);
    }
    let early = match cfg.auth {
        Some(_) => Some(Client::connect(&cfg).await.map_err(bad_connection)?),
        None => None,
    };
    keep_alive_stream(ctx, &cfg, early, &*printer, id).await?;
    if printer.name() == "simple" {
        ctx.w
            .print(&format!("lease {} expired or revoked.\n", lease_hex(id)));
    }
    Ok(())
}

/// One request on a fresh keep-alive stream; a TTL of 0 or less means the
/// lease is gone (clientv3 `KeepAliveOnce`).
async fn keep_alive_once(c: &Client, id: i64) -> Result<LeaseKeepAliveResponse> {
    let reqs = tokio_stream::once(LeaseKeepAliveRequest { id });
    let mut stream = c
        .call_untimed(c.lease().lease_keep_alive(c.req_untimed(reqs)))
        .await?;
    match stream.message().await {
        Ok(Some(r)) if r.ttl > 0 => Ok(r),
        Ok(Some(_)) => Err(CtlError::Rpc(
            "etcdserver: requested lease not found".into(),
        )),
        Ok(None) => Err(CtlError::Rpc(
            "rpc error: code = Canceled desc = context canceled".into(),
        )),
        Err(s) => Err(CtlError::Rpc(crate::error::status_text(&s))),
    }
}

/// etcdctl's keep-alive: each answer printed, until the lease is gone or
/// no answer came in time (see [`crate::keepalive`]).
async fn keep_alive_stream(
    ctx: &mut Ctx,
    cfg: &ClientConfig,
    early: Option<Client>,
    printer: &dyn Printer,
    id: i64,
) -> Result<()> {
    let w = &mut ctx.w;
    crate::keepalive::run(cfg, early, id, |r| {
        printer.lease_keep_alive(w, r)?;
        w.flush();
        Ok(())
    })
    .await
    .map_err(bad_connection)
}
