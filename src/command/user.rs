//! `user add|delete|get|list|passwd|grant-role|revoke-role`.

use oxcd_proto::authpb::UserAddOptions;
use oxcd_proto::etcdserverpb::{
    AuthRoleGetRequest, AuthUserAddRequest, AuthUserChangePasswordRequest, AuthUserDeleteRequest,
    AuthUserGetRequest, AuthUserGrantRoleRequest, AuthUserListRequest, AuthUserRevokeRoleRequest,
};

use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::flags::{Bool, Text};
use crate::password;

#[derive(clap::Subcommand, Debug)]
pub enum UserCmd {
    /// Adds a new user
    #[command(override_usage = "add <user name or user:password> [options]")]
    Add(AddArgs),
    /// Deletes a user
    #[command(override_usage = "delete <user name>")]
    Delete,
    /// Gets detailed information of a user
    #[command(override_usage = "get <user name> [options]")]
    Get(GetArgs),
    /// Lists all users
    #[command(override_usage = "list")]
    List,
    /// Changes password of user
    #[command(override_usage = "passwd <user name> [options]")]
    Passwd(PasswdArgs),
    /// Grants a role to a user
    #[command(override_usage = "grant-role <user name> <role name>")]
    GrantRole,
    /// Revokes a role from a user
    #[command(override_usage = "revoke-role <user name> <role name>")]
    RevokeRole,
}

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// Read password from stdin instead of interactive terminal
    #[arg(long, default_value = "true")]
    pub interactive: Bool,
    /// Supply password from the command line flag
    #[arg(
        long = "new-user-password",
        id = "new-user-password",
        default_value = ""
    )]
    pub new_user_password: Text,
    /// Create a user without password (CN based auth only)
    #[arg(long = "no-password", id = "no-password", default_value = "false")]
    pub no_password: Bool,
}

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// Show permissions of roles granted to the user
    #[arg(long, default_value = "false")]
    pub detail: Bool,
}

#[derive(clap::Args, Debug)]
pub struct PasswdArgs {
    /// If true, read password from stdin instead of interactive terminal
    #[arg(long, default_value = "true")]
    pub interactive: Bool,
}

/// etcdctl's `readPasswordInteractive`: asked twice, neither empty nor
/// different.
fn read_twice(name: &str) -> Result<String> {
    let first = password::ask(&format!("Password of {name}: "));
    if first.is_empty() {
        return Err(CtlError::BadArgs("empty password".into()));
    }
    let again = password::ask(&format!("Type password of {name} again for confirmation: "));
    if first != again {
        return Err(CtlError::BadArgs("given passwords are different".into()));
    }
    Ok(first)
}

fn one_name(ctx: &Ctx, what: &str) -> Result<String> {
    match ctx.args.as_slice() {
        [name] => Ok(name.clone()),
        _ => Err(CtlError::BadArgs(format!(
            "user {what} command requires user name as its argument"
        ))),
    }
}

pub async fn add(ctx: &mut Ctx) -> Result<()> {
    let arg = one_name(ctx, "add")?;
    let flags: AddArgs = ctx.flags.get();
    // the order of etcdctl's rules: no password, the flag's password,
    // `name:password`, standard input, the prompt
    let (name, password, no_password) = if *flags.no_password {
        (arg, String::new(), true)
    } else if !flags.new_user_password.is_empty() {
        (arg, flags.new_user_password.0, false)
    } else if let Some((name, password)) = arg.split_once(':') {
        if name.is_empty() {
            return Err(CtlError::BadArgs("empty user name is not allowed".into()));
        }
        (name.to_string(), password.to_string(), false)
    } else if !*flags.interactive {
        (arg, password::scan_word(), false)
    } else {
        let p = read_twice(&arg)?;
        (arg, p, false)
    };
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let req = AuthUserAddRequest {
        name: name.clone(),
        password,
        options: Some(UserAddOptions { no_password }),
    };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.auth(), c.req(req.clone()));
            async move { s.user_add(r).await }
        })
        .await?;
    printer.auth_change(&mut ctx.w, &format!("User {name} created"), &resp.header)
}

pub async fn delete(ctx: &mut Ctx) -> Result<()> {
    let name = one_name(ctx, "delete")?;
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let req = AuthUserDeleteRequest { name: name.clone() };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.auth(), c.req(req.clone()));
            async move { s.user_delete(r).await }
        })
        .await?;
    printer.auth_change(&mut ctx.w, &format!("User {name} deleted"), &resp.header)
}

/// With `--detail`, the name line, then each role as `role get` prints it.
pub async fn get(ctx: &mut Ctx) -> Result<()> {
    let name = one_name(ctx, "get")?;
    let detail = *ctx.flags.get::<GetArgs>().detail;
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let req = AuthUserGetRequest { name: name.clone() };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.auth(), c.req(req.clone()));
            async move { s.user_get(r).await }
        })
        .await?;
    if !detail {
        return printer.user_get(&mut ctx.w, &name, &resp);
    }
    ctx.w.print(&format!("User: {name}\n"));
    for role in &resp.roles {
        ctx.w.print("\n");
        let req = AuthRoleGetRequest { role: role.clone() };
        let r = c
            .rpc(|c| {
                let (mut s, r) = (c.auth(), c.req(req.clone()));
                async move { s.role_get(r).await }
            })
            .await?;
        printer.role_get(&mut ctx.w, role, &r)?;
    }
    Ok(())
}

pub async fn list(ctx: &mut Ctx) -> Result<()> {
    if !ctx.args.is_empty() {
        return Err(CtlError::BadArgs(
            "user list command requires no arguments".into(),
        ));
    }
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.auth(), c.req(AuthUserListRequest {}));
            async move { s.user_list(r).await }
        })
        .await?;
    printer.user_list(&mut ctx.w, &resp)
}

pub async fn passwd(ctx: &mut Ctx) -> Result<()> {
    let name = one_name(ctx, "passwd")?;
    let interactive = *ctx.flags.get::<PasswdArgs>().interactive;
    let password = if interactive {
        read_twice(&name)?
    } else {
        password::scan_word()
    };
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let req = AuthUserChangePasswordRequest { name, password };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.auth(), c.req(req.clone()));
            async move { s.user_change_password(r).await }
        })
        .await?;
    printer.auth_change(&mut ctx.w, "Password updated", &resp.header)
}

fn user_and_role(ctx: &Ctx, usage: &str) -> Result<(String, String)> {
    match ctx.args.as_slice() {
        [user, role] => Ok((user.clone(), role.clone())),
        _ => Err(CtlError::BadArgs(usage.into())),
    }
}

pub async fn grant_role(ctx: &mut Ctx) -> Result<()> {
    let (user, role) = user_and_role(
        ctx,
        "user grant command requires user name and role name as its argument",
    )?;
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let req = AuthUserGrantRoleRequest {
        user: user.clone(),
        role: role.clone(),
    };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.auth(), c.req(req.clone()));
            async move { s.user_grant_role(r).await }
        })
        .await?;
    let msg = format!("Role {role} is granted to user {user}");
    printer.auth_change(&mut ctx.w, &msg, &resp.header)
}

pub async fn revoke_role(ctx: &mut Ctx) -> Result<()> {
    let (user, role) = user_and_role(
        ctx,
        "user revoke-role requires user name and role name as its argument",
    )?;
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let req = AuthUserRevokeRoleRequest {
        name: user.clone(),
        role: role.clone(),
    };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.auth(), c.req(req.clone()));
            async move { s.user_revoke_role(r).await }
        })
        .await?;
    let msg = format!("Role {role} is revoked from user {user}");
    printer.auth_change(&mut ctx.w, &msg, &resp.header)
}
