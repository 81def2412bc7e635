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
            .rpc(|c| {
                let (mut s, r) = (c.auth(), c.req(AuthEnableRequest {}));
                async move { s.auth_enable(r).await }
            })
            .await
        {
            Ok(_) => break,
            Err(CtlError::Rpc(m)) if m == ROOT_ROLE_MISSING => {
                let role = AuthRoleAddRequest {
                    name: "root".into(),
                };
                c.rpc(|c| {
                    let (mut s, r) = (c.auth(), c.req(role.clone()));
                    async move { s.role_add(r).await }
                })
                .await?;
                let grant = AuthUserGrantRoleRequest {
                    user: "root".into(),
                    role: "root".into(),
                };
                c.rpc(|c| {
                    let (mut s, r) = (c.auth(), c.req(grant.clone()));
                    async move { s.user_grant_role(r).await }
                })
                .await?;
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
    c.rpc(|c| {
        let (mut s, r) = (c.auth(), c.req(req));
        async move { s.auth_disable(r).await }
    })
    .await?;
    ctx.w.print("Authentication Disabled\n");
    Ok(())
}

pub async fn status(ctx: &mut Ctx) -> Result<()> {
    no_args(ctx, "status")?;
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.auth(), c.req(AuthStatusRequest {}));
            async move { s.auth_status(r).await }
        })
        .await?;
    printer.auth_status(&mut ctx.w, &resp)
}
