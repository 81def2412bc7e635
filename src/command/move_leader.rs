//! `move-leader <transferee-member-id>`: finds the leader among the
//! `--endpoints` (Status on each, in order) and asks it to hand over.

use oxcd_proto::etcdserverpb::{MoveLeaderRequest, StatusRequest};

use super::Ctx;
use crate::client::{Client, DEADLINE};
use crate::error::{CtlError, Result};
use crate::gofmt;
use crate::printer;

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() != 1 {
        return Err(CtlError::BadArgs(
            "move-leader command needs 1 argument".into(),
        ));
    }
    let target = gofmt::parse_uint(&ctx.args[0], 16).map_err(CtlError::BadArgs)?;
    let (cfg, printer) = ctx.client_config()?;
    if cfg.auth.is_some() {
        // etcdctl creates (and closes) a client for the endpoint list.
        Client::connect(&cfg).await?;
    }
    let eps = cfg.endpoints.clone();
    // One command timeout covers the status queries and the transfer.
    let limit = std::time::Duration::from_nanos(cfg.command_timeout.max(0) as u64);
    let deadline = tokio::time::Instant::now() + limit;
    let mut leader = None;
    for ep in &eps {
        // etcdctl re-reads its configuration (and the environment, with
        // its warnings and conflicts) for every endpoint.
        let (mut one, _) = ctx.client_config()?;
        one.endpoints = vec![ep.clone()];
        let c = Client::connect(&one).await.map_err(|e| match e {
            CtlError::Rpc(m) if one.auth.is_some() => CtlError::Connection(m),
            other => other,
        })?;
        let mut mc = c.maintenance();
        let status = c.call(mc.status(c.req(StatusRequest {})));
        let resp = tokio::time::timeout_at(deadline, status)
            .await
            .map_err(|_| CtlError::Rpc(DEADLINE.into()))??;
        if printer::header(&resp.header).member_id == resp.leader {
            leader = Some((c, resp.leader));
            break;
        }
    }
    let Some((c, leader_id)) = leader else {
        return Err(CtlError::BadArgs(format!(
            "no leader endpoint given at {}",
            gofmt::string_slice(&eps)
        )));
    };
    let req = MoveLeaderRequest { target_id: target };
    let mut mc = c.maintenance();
    let move_leader = c.call(mc.move_leader(c.req(req)));
    let resp = tokio::time::timeout_at(deadline, move_leader)
        .await
        .map_err(|_| CtlError::Rpc(DEADLINE.into()))??;
    printer.move_leader(&mut ctx.w, leader_id, target, &resp)
}
