//! One module per command, as in etcdctl's `ctlv3/command`. Each `run`
//! validates its arguments first (etcdctl's exit 128 checks), then builds
//! the client configuration (environment, writer), calls the server and
//! hands the response to the printer.
//!
//! The commands sit below the tree ([`crate::cli`] holds their `Args`) and
//! never use it: what they need of it comes in [`Ctx`]. `completion`, which
//! renders the whole tree, is the exception, run by [`crate::run`].

use crate::error::{CtlError, Result};
use crate::flags::Flags;
use crate::global::{self, ClientConfig, Globals};
use crate::printer::{Printer, Streams};

pub mod alarm;
pub mod auth;
pub mod check;
mod check_load;
mod check_metrics;
mod child;
pub mod compaction;
pub mod completion;
pub mod defrag;
pub mod del;
pub mod elect;
pub mod endpoint;
pub mod get;
pub mod kvops;
pub mod lease;
pub mod lock;
pub mod make_mirror;
pub mod member;
pub mod member_add;
mod member_common;
pub mod member_promote;
pub mod member_remove;
pub mod member_update;
pub mod move_leader;
pub mod put;
pub mod role;
mod session;
pub mod snapshot;
mod snapshot_pick;
mod snapshot_save;
pub mod txn;
pub mod user;
pub mod version;
pub mod watch;
mod watch_common;
mod watch_interactive;

/// Everything a command needs: its parsed flags and arguments, the
/// environment and the output streams.
pub struct Ctx {
    pub path: Vec<String>,
    pub flags: Flags,
    /// The flags the command inherits ([`crate::cli::inherited`]), which
    /// `ETCDCTL_*` variables may set.
    pub inherited: Vec<clap::Arg>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub w: Streams,
}

impl Ctx {
    /// etcdctl's `clientConfigFromCmd`.
    pub fn client_config(&mut self) -> Result<(ClientConfig, Box<dyn Printer>)> {
        let g = Globals {
            path: &self.path,
            flags: &mut self.flags,
            inherited: &self.inherited,
            env: &self.env,
        };
        global::client_config(g, &mut *self.w.err)
    }

    /// [`Ctx::client_config`] for commands that print no response.
    pub fn client_config_only(&mut self) -> Result<ClientConfig> {
        let g = Globals {
            path: &self.path,
            flags: &mut self.flags,
            inherited: &self.inherited,
            env: &self.env,
        };
        global::client_config_only(g, &mut *self.w.err)
    }
}

/// Runs the (runnable) command at `ctx.path` (`completion` aside).
pub async fn dispatch(ctx: &mut Ctx) -> Result<()> {
    let path = ctx.path.clone();
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["get"] => get::run(ctx).await,
        ["put"] => put::run(ctx).await,
        ["del"] => del::run(ctx).await,
        ["txn"] => txn::run(ctx).await,
        ["compaction"] => compaction::run(ctx).await,
        ["version"] => version::run(ctx),
        ["endpoint", "status"] => endpoint::status(ctx).await,
        ["endpoint", "health"] => endpoint::health(ctx).await,
        ["endpoint", "hashkv"] => endpoint::hashkv(ctx).await,
        ["member", "list"] => member::list(ctx).await,
        ["member", "add"] => member_add::run(ctx).await,
        ["member", "remove"] => member_remove::run(ctx).await,
        ["member", "update"] => member_update::run(ctx).await,
        ["member", "promote"] => member_promote::run(ctx).await,
        ["defrag"] => defrag::run(ctx).await,
        ["lease", "grant"] => lease::grant(ctx).await,
        ["lease", "revoke"] => lease::revoke(ctx).await,
        ["lease", "timetolive"] => lease::timetolive(ctx).await,
        ["lease", "list"] => lease::list(ctx).await,
        ["lease", "keep-alive"] => lease::keep_alive(ctx).await,
        ["alarm", "list"] => alarm::list(ctx).await,
        ["alarm", "disarm"] => alarm::disarm(ctx).await,
        ["watch"] => watch::run(ctx).await,
        ["auth", "enable"] => auth::enable(ctx).await,
        ["auth", "disable"] => auth::disable(ctx).await,
        ["auth", "status"] => auth::status(ctx).await,
        ["user", "add"] => user::add(ctx).await,
        ["user", "delete"] => user::delete(ctx).await,
        ["user", "get"] => user::get(ctx).await,
        ["user", "list"] => user::list(ctx).await,
        ["user", "passwd"] => user::passwd(ctx).await,
        ["user", "grant-role"] => user::grant_role(ctx).await,
        ["user", "revoke-role"] => user::revoke_role(ctx).await,
        ["role", "add"] => role::add(ctx).await,
        ["role", "delete"] => role::delete(ctx).await,
        ["role", "get"] => role::get(ctx).await,
        ["role", "list"] => role::list(ctx).await,
        ["role", "grant-permission"] => role::grant_permission(ctx).await,
        ["role", "revoke-permission"] => role::revoke_permission(ctx).await,
        ["lock"] => lock::run(ctx).await,
        ["elect"] => elect::run(ctx).await,
        ["check", "perf"] => check::perf(ctx).await,
        ["check", "datascale"] => check::datascale(ctx).await,
        ["make-mirror"] => make_mirror::run(ctx).await,
        ["move-leader"] => move_leader::run(ctx).await,
        ["snapshot", "save"] => snapshot_save::save(ctx).await,
        ["snapshot", "status"] => snapshot::status(ctx),
        ["snapshot", "restore"] => snapshot::restore(ctx),
        _ => Err(CtlError::General(format!(
            "command {:?} is not implemented",
            path.join(" ")
        ))),
    }
}
