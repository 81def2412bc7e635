//! What `watch` and interactive `watch -i` share: the flags
//! ([`WatchArgs`]), argument errors, the create request, and delivering a response (printing it, running the
//! exec command per event).

use oxcd_proto::etcdserverpb::{WatchCreateRequest, WatchResponse};

use super::kvops::prefix_end;
use super::Ctx;
use crate::error::{CtlError, Result};
use crate::gofmt::quote;
use crate::printer::{event_type_name, Printer};

#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// Interactive mode
    #[arg(short = 'i', long, default_value = "false")]
    pub interactive: crate::flags::Bool,
    /// Watch on a prefix if prefix is set
    #[arg(long, default_value = "false")]
    pub prefix: crate::flags::Bool,
    /// Revision to start watching
    #[arg(long, default_value = "0")]
    pub rev: crate::flags::Int,
    /// get the previous key-value pair before the event happens
    #[arg(long = "prev-kv", id = "prev-kv", default_value = "false")]
    pub prev_kv: crate::flags::Bool,
    /// get periodic watch progress notification from server
    #[arg(
        long = "progress-notify",
        id = "progress-notify",
        default_value = "false"
    )]
    pub progress_notify: crate::flags::Bool,
}

pub(super) const BAD_ARGS: &str = "bad number of arguments";
pub(super) const CONFLICT_ENV: &str = "bad number of arguments (found conflicting environment key)";
pub(super) const NO_COMMAND: &str = "bad number of arguments (found separator --, but no commands)";

pub(super) fn env<'a>(ctx: &'a Ctx, key: &str) -> &'a str {
    ctx.env
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// The create request for `args` (a third argument and beyond are ignored,
/// as etcdctl does); `--prefix`, `--rev` and `--prev-kv` come from `flags`.
pub(super) fn create_request(
    flags: &WatchArgs,
    progress_notify: bool,
    args: &[String],
) -> Result<WatchCreateRequest> {
    let Some(key) = args.first() else {
        return Err(CtlError::BadArgs(BAD_ARGS.into()));
    };
    let prefix = *flags.prefix;
    let mut req = WatchCreateRequest {
        key: crate::flags::unescape_arg(key),
        start_revision: *flags.rev,
        prev_kv: *flags.prev_kv,
        progress_notify,
        ..WatchCreateRequest::default()
    };
    if args.len() == 2 {
        if prefix {
            return Err(CtlError::BadArgs(
                "`range_end` and `--prefix` are mutually exclusive".into(),
            ));
        }
        req.range_end = crate::flags::unescape_arg(&args[1]);
    }
    if prefix {
        if req.key.is_empty() {
            req.key = vec![0];
            req.range_end = vec![0];
        } else {
            req.range_end = prefix_end(&req.key);
        }
    }
    Ok(req)
}

/// What a watch response did to its watch.
pub(super) enum Delivered {
    Open,
    Canceled,
}

/// Hands one (non-creation) response to the user as clientv3 and etcdctl
/// do: a cancel without compaction is silent, a compacted watch reports
/// why; a progress notification gets its own line; each event runs the
/// exec command.
pub(super) fn deliver(
    ctx: &mut Ctx,
    printer: &dyn Printer,
    resp: &WatchResponse,
    exec: &[String],
) -> Result<Delivered> {
    if resp.canceled && resp.compact_revision == 0 {
        return Ok(Delivered::Canceled);
    }
    if resp.canceled {
        ctx.w.eprint(
            "watch was canceled (etcdserver: mvcc: required revision has been compacted)\n",
        );
    }
    let header_rev = resp.header.map_or(0, |h| h.revision);
    if resp.events.is_empty() && !resp.canceled && resp.compact_revision == 0 && header_rev != 0 {
        ctx.w.print(&format!("progress notify: {header_rev}\n"));
    }
    printer.watch(&mut ctx.w, resp)?;
    ctx.w.flush();
    if resp.canceled {
        return Ok(Delivered::Canceled);
    }
    for e in &resp.events {
        run_exec(ctx, exec, header_rev, e)?;
    }
    Ok(Delivered::Open)
}

/// The exec form: runs the command with the event in `ETCD_WATCH_*`.
fn run_exec(ctx: &mut Ctx, exec: &[String], rev: i64, e: &oxcd_proto::mvccpb::Event) -> Result<()> {
    let Some((prog, rest)) = exec.split_first() else {
        return Ok(());
    };
    let kv = e.kv.clone().unwrap_or_default();
    ctx.w.flush();
    let status = std::process::Command::new(prog)
        .args(rest)
        .env("ETCD_WATCH_REVISION", rev.to_string())
        .env(
            "ETCD_WATCH_EVENT_TYPE",
            quote(event_type_name(e.r#type).as_bytes()),
        )
        .env("ETCD_WATCH_KEY", quote(&kv.key))
        .env("ETCD_WATCH_VALUE", quote(&kv.value))
        .status();
    let Some((err, _)) = super::child::failure(prog, status) else {
        return Ok(());
    };
    let list: Vec<String> = exec.iter().map(|a| quote(a.as_bytes())).collect();
    ctx.w
        .eprint(&format!("command [{}] error ({err})\n", list.join(" ")));
    Err(CtlError::Silent(1))
}
