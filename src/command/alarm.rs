//! `alarm list` and `alarm disarm` (no arguments allowed).

use oxcd_proto::etcdserverpb::{
    alarm_request::AlarmAction, AlarmRequest, AlarmResponse, AlarmType,
};

use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};

#[derive(clap::Subcommand, Debug)]
pub enum AlarmCmd {
    /// Disarms all alarms
    #[command(override_usage = "disarm")]
    Disarm,
    /// Lists all alarms
    #[command(override_usage = "list")]
    List,
}

fn no_args(ctx: &Ctx, name: &str) -> Result<()> {
    if ctx.args.is_empty() {
        return Ok(());
    }
    Err(CtlError::BadArgs(format!(
        "alarm {name} command accepts no arguments"
    )))
}

/// Every alarm of every member (clientv3 `AlarmList`).
async fn alarm_list(c: &Client) -> Result<AlarmResponse> {
    let req = AlarmRequest {
        action: AlarmAction::Get as i32,
        member_id: 0,
        alarm: AlarmType::None as i32,
    };
    c.rpc(|c| {
        let (mut s, r) = (c.maintenance(), c.req(req));
        async move { s.alarm(r).await }
    })
    .await
}

pub async fn list(ctx: &mut Ctx) -> Result<()> {
    no_args(ctx, "list")?;
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let resp = alarm_list(&c).await?;
    printer.alarm(&mut ctx.w, &resp)
}

/// clientv3 `AlarmDisarm` with an empty member: lists the alarms and
/// deactivates each one. The combined response has no header.
pub async fn disarm(ctx: &mut Ctx) -> Result<()> {
    no_args(ctx, "disarm")?;
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let mut out = AlarmResponse::default();
    for a in alarm_list(&c).await?.alarms {
        let req = AlarmRequest {
            action: AlarmAction::Deactivate as i32,
            member_id: a.member_id,
            alarm: a.alarm,
        };
        let r = c
            .rpc(|c| {
                let (mut s, r) = (c.maintenance(), c.req(req));
                async move { s.alarm(r).await }
            })
            .await?;
        out.alarms.extend(r.alarms);
    }
    printer.alarm(&mut ctx.w, &out)
}
