//! `auth enable`, `auth disable`, `auth status`.

use oxcd_proto::etcdserverpb::{
    AuthEnableRequest, AuthRoleAddRequest, AuthStatusRequest, AuthUserGrantRoleRequest,
};

use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};

#[derive(clap::Subcommand, Debug)]
pub enum AuthCmd {
    /// Returns authentication status
    #[command(override_usage = "status")]
    Status,
    /// Enables authentication
    #[command(override_usage = "enable")]
    Enable,
    /// Disables authentication
    #[command(override_usage = "disable")]
    Disable,
}

fn no_args(ctx: &Ctx, name: &str) -> Result<()> {
    if ctx.args.is_empty() {
        return Ok(());
    }
    Err(CtlError::BadArgs(format!(
        "auth {name} command does not accept any arguments"
    )))
}

const ROOT_ROLE_MISSING: &str = "etcdserver: root user does not have root role";

/// As etcdctl: when the root user lacks the root role, the role is made
/// and granted, and enabling is tried again. Every writer prints the same
/// line.
pub async fn enable(ctx: &mut Ctx) -> Result<()> {
    no_args(ctx, "enable")?;
    let cfg = ctx.client_config_only()?;
    let c = Client::connect(&cfg).await?;
    loop {
        match c
            .call(c.auth().auth_enable(c.req(AuthEnableRequest {})))
            .await
        {
            Ok(_) => break,
            Err(CtlError::Rpc(m)) if m == ROOT_ROLE_MISSING => {
                let role = AuthRoleAddRequest {
                    name: "root".into(),
                };
                c.call(c.auth().role_add(c.req(role))).await?;
                let grant = AuthUserGrantRoleRequest {
                    user: "root".into(),
                    role: "root".into(),
                };
                c.call(c.auth().user_grant_role(c.req(grant))).await?;
            }
            Err(e) => return Err(e),
        }
    }
    ctx.w.print("Authentication Enabled\n");
    Ok(())
}

pub async fn disable(ctx: &mut Ctx) -> Result<()> {
    no_args(ctx, "disable")?;
    let cfg = ctx.client_config_only()?;
    let c = Client::connect(&cfg).await?;
    let req = oxcd_proto::etcdserverpb::AuthDisableRequest {};
    c.call(c.auth().auth_disable(c.req(req))).await?;
    ctx.w.print("Authentication Disabled\n");
    Ok(())
}

pub async fn status(ctx: &mut Ctx) -> Result<()> {
    no_args(ctx, "status")?;
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let resp = c
        .call(c.auth().auth_status(c.req(AuthStatusRequest {})))
        .await?;
    printer.auth_status(&mut ctx.w, &resp)
}
