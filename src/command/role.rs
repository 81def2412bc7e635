//! `role add|delete|get|list|grant-permission|revoke-permission`.

use oxcd_proto::authpb::{permission::Type as PermType, Permission};
use oxcd_proto::etcdserverpb::{
    AuthRoleAddRequest, AuthRoleDeleteRequest, AuthRoleGetRequest, AuthRoleGrantPermissionRequest,
    AuthRoleListRequest, AuthRoleRevokePermissionRequest,
};

use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::flags::Bool;
use crate::keys::prefix_end;

#[derive(clap::Subcommand, Debug)]
pub enum RoleCmd {
    /// Adds a new role
    #[command(override_usage = "add <role name>")]
    Add,
    /// Deletes a role
    #[command(override_usage = "delete <role name>")]
    Delete,
    /// Gets detailed information of a role
    #[command(override_usage = "get <role name>")]
    Get,
    /// Lists all roles
    #[command(override_usage = "list")]
    List,
    /// Grants a key to a role
    #[command(
        override_usage = "grant-permission [options] <role name> <permission type> <key> [endkey]"
    )]
    GrantPermission(GrantArgs),
    /// Revokes a key from a role
    #[command(override_usage = "revoke-permission <role name> <key> [endkey]")]
    RevokePermission(RevokeArgs),
}

#[derive(clap::Args, Debug)]
pub struct GrantArgs {
    /// grant a prefix permission
    #[arg(long, default_value = "false")]
    pub prefix: Bool,
    /// grant a permission of keys that are greater than or equal to the given key using byte compare
    #[arg(long = "from-key", id = "from-key", default_value = "false")]
    pub from_key: Bool,
}

#[derive(clap::Args, Debug)]
pub struct RevokeArgs {
    /// revoke a prefix permission
    #[arg(long, default_value = "false")]
    pub prefix: Bool,
    /// revoke a permission of keys that are greater than or equal to the given key using byte compare
    #[arg(long = "from-key", id = "from-key", default_value = "false")]
    pub from_key: Bool,
}

fn one_name(ctx: &Ctx, what: &str) -> Result<String> {
    match ctx.args.as_slice() {
        [name] => Ok(name.clone()),
        _ => Err(CtlError::BadArgs(format!(
            "role {what} command requires role name as its argument"
        ))),
    }
}

/// etcdctl's `permRange`: the key and range end `args` (key [end]) and
/// the flags name. An empty key stands for every key (`\0`, and with
/// `--prefix`/`--from-key` an open end); its end argument is ignored.
fn perm_range(args: &[String], prefix: bool, from_key: bool) -> Result<(Vec<u8>, Vec<u8>)> {
    let bad = |m: &str| Err(CtlError::BadArgs(m.into()));
    let exclusive = "--from-key and --prefix flags are mutually exclusive";
    let key = args[0].as_bytes();
    if key.is_empty() {
        if prefix && from_key {
            return bad(exclusive);
        }
        let end = if prefix || from_key { vec![0] } else { vec![] };
        return Ok((vec![0], end));
    }
    let end = match (args.get(1), prefix, from_key) {
        (None, true, true) => return bad(exclusive),
        (None, true, false) => prefix_end(key),
        (None, false, true) => vec![0],
        (None, false, false) => vec![],
        (Some(_), true, _) => return bad("unexpected endkey argument with --prefix flag"),
        (Some(_), _, true) => return bad("unexpected endkey argument with --from-key flag"),
        (Some(e), false, false) => e.as_bytes().to_vec(),
    };
    Ok((key.to_vec(), end))
}

pub async fn add(ctx: &mut Ctx) -> Result<()> {
    let name = one_name(ctx, "add")?;
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let req = AuthRoleAddRequest { name: name.clone() };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.auth(), c.req(req.clone()));
            async move { s.role_add(r).await }
        })
        .await?;
    printer.auth_change(&mut ctx.w, &format!("Role {name} created"), &resp.header)
}

pub async fn delete(ctx: &mut Ctx) -> Result<()> {
    let name = one_name(ctx, "delete")?;
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let req = AuthRoleDeleteRequest { role: name.clone() };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.auth(), c.req(req.clone()));
            async move { s.role_delete(r).await }
        })
        .await?;
    printer.auth_change(&mut ctx.w, &format!("Role {name} deleted"), &resp.header)
}

pub async fn get(ctx: &mut Ctx) -> Result<()> {
    let name = one_name(ctx, "get")?;
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let req = AuthRoleGetRequest { role: name.clone() };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.auth(), c.req(req.clone()));
            async move { s.role_get(r).await }
        })
        .await?;
    printer.role_get(&mut ctx.w, &name, &resp)
}

pub async fn list(ctx: &mut Ctx) -> Result<()> {
    if !ctx.args.is_empty() {
        return Err(CtlError::BadArgs(
            "role list command requires no arguments".into(),
        ));
    }
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.auth(), c.req(AuthRoleListRequest {}));
            async move { s.role_list(r).await }
        })
        .await?;
    printer.role_list(&mut ctx.w, &resp)
}

pub async fn grant_permission(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() < 3 {
        return Err(CtlError::BadArgs(
            "role grant command requires role name, permission type, and key [endkey] as its argument"
                .into(),
        ));
    }
    let perm_type = match ctx.args[1].to_uppercase().as_str() {
        "READ" => PermType::Read,
        "WRITE" => PermType::Write,
        "READWRITE" => PermType::Readwrite,
        _ => {
            return Err(CtlError::BadArgs(format!(
                "invalid permission type: {}",
                ctx.args[1]
            )))
        }
    };
    let flags: GrantArgs = ctx.flags.get();
    let (key, range_end) = perm_range(&ctx.args[2..], *flags.prefix, *flags.from_key)?;
    let name = ctx.args[0].clone();
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let req = AuthRoleGrantPermissionRequest {
        name: name.clone(),
        perm: Some(Permission {
            perm_type: perm_type as i32,
            key,
            range_end,
        }),
    };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.auth(), c.req(req.clone()));
            async move { s.role_grant_permission(r).await }
        })
        .await?;
    printer.auth_change(&mut ctx.w, &format!("Role {name} updated"), &resp.header)
}

pub async fn revoke_permission(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() < 2 {
        return Err(CtlError::BadArgs(
            "role revoke-permission command requires role name and key [endkey] as its argument"
                .into(),
        ));
    }
    let flags: RevokeArgs = ctx.flags.get();
    let (key, range_end) = perm_range(&ctx.args[1..], *flags.prefix, *flags.from_key)?;
    let (role, typed) = (ctx.args[0].clone(), ctx.args[1].clone());
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let req = AuthRoleRevokePermissionRequest {
        role: role.clone(),
        key,
        range_end: range_end.clone(),
    };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.auth(), c.req(req.clone()));
            async move { s.role_revoke_permission(r).await }
        })
        .await?;
    // the key as typed, the end as computed
    let msg = match range_end.as_slice() {
        [] => format!("Permission of key {typed} is revoked from role {role}"),
        [0] => format!("Permission of range [{typed}, <open ended> is revoked from role {role}"),
        end => format!(
            "Permission of range [{typed}, {}) is revoked from role {role}",
            String::from_utf8_lossy(end)
        ),
    };
    printer.auth_change(&mut ctx.w, &msg, &resp.header)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn perm_ranges_as_etcdctl() {
        let r = |a: &[&str], p, f| perm_range(&s(a), p, f);
        assert_eq!(r(&["k"], false, false).unwrap(), (b"k".to_vec(), vec![]));
        assert_eq!(
            r(&["pre"], true, false).unwrap(),
            (b"pre".to_vec(), b"prf".to_vec())
        );
        assert_eq!(r(&["k"], false, true).unwrap(), (b"k".to_vec(), vec![0]));
        assert_eq!(
            r(&["a", "b"], false, false).unwrap(),
            (b"a".to_vec(), b"b".to_vec())
        );
        assert_eq!(r(&["", "z"], true, false).unwrap(), (vec![0], vec![0]));
        assert_eq!(r(&[""], false, false).unwrap(), (vec![0], vec![]));
        assert!(r(&["a", "b"], true, false).is_err());
        assert!(r(&["a", "b"], false, true).is_err());
        assert!(r(&["a"], true, true).is_err());
        assert!(r(&[""], true, true).is_err());
    }
}
