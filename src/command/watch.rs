//! `watch [key or prefix] [range_end] [--] [exec-command arg…]`: prints
//! every event until the process is killed. A watch the server cancels
//! ends with exit 5; the exec form runs a command once per event.

use std::time::Duration;

use oxcd_proto::etcdserverpb::{
    watch_request::RequestUnion, WatchCreateRequest, WatchRequest, WatchResponse,
};
use tonic::codegen::tokio_stream;

use super::kvops::prefix_end;
use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::flags::FlagSet;
use crate::gofmt::quote;
use crate::printer::{event_type_name, Printer};

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

/// Splits the positional arguments at `--` into the watch arguments and
/// the command to run, with the `ETCDCTL_WATCH_*` key and range first.
pub(super) fn split_args(
    args: &[String],
    dash: Option<usize>,
    env_key: &str,
    env_range: &str,
) -> Result<(Vec<String>, Vec<String>)> {
    let before = dash.unwrap_or(args.len()).min(args.len());
    let (watch, exec) = args.split_at(before);
    if dash.is_some() && exec.is_empty() {
        return Err(CtlError::BadArgs(NO_COMMAND.into()));
    }
    let mut watch_args = Vec::new();
    if !env_key.is_empty() {
        if !watch.is_empty() {
            return Err(CtlError::BadArgs(CONFLICT_ENV.into()));
        }
        watch_args.push(env_key.to_string());
        if !env_range.is_empty() {
            watch_args.push(env_range.to_string());
        }
    }
    watch_args.extend(watch.iter().cloned());
    Ok((watch_args, exec.to_vec()))
}

/// The create request for `args` (a third argument and beyond are ignored,
/// as etcdctl does); `--prefix`, `--rev` and `--prev-kv` come from `flags`.
pub(super) fn create_request(
    flags: &FlagSet,
    progress_notify: bool,
    args: &[String],
) -> Result<WatchCreateRequest> {
    let Some(key) = args.first() else {
        return Err(CtlError::BadArgs(BAD_ARGS.into()));
    };
    let prefix = flags.bool("prefix");
    let mut req = WatchCreateRequest {
        key: crate::flags::unescape_arg(key),
        start_revision: flags.int64("rev"),
        prev_kv: flags.bool("prev-kv"),
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

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let env_key = env(ctx, "ETCDCTL_WATCH_KEY").to_string();
    let env_range = env(ctx, "ETCDCTL_WATCH_RANGE_END").to_string();
    if env_key.is_empty() && !env_range.is_empty() {
        return Err(CtlError::BadArgs(format!(
            "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END={}",
            quote(env_range.as_bytes())
        )));
    }
    if ctx.flags.bool("interactive") {
        return super::watch_interactive::run(ctx, &env_key, &env_range).await;
    }
    let (args, exec) = split_args(
        &ctx.args,
        ctx.flags.args_len_at_dash(),
        &env_key,
        &env_range,
    )?;
    let (cfg, printer) = ctx.client_config()?;
    let client = Client::connect_wait(&cfg).await?;
    let req = create_request(&ctx.flags, ctx.flags.bool("progress-notify"), &args)?;
    watch_loop(ctx, &cfg, client, &*printer, req, &exec).await
}

/// Streams one watch, reopening it after the connection broke (resuming
/// after the last revision seen), until the server cancels it.
async fn watch_loop(
    ctx: &mut Ctx,
    cfg: &crate::global::ClientConfig,
    client: Client,
    printer: &dyn Printer,
    mut req: WatchCreateRequest,
    exec: &[String],
) -> Result<()> {
    let mut client = Some(client);
    loop {
        let c = match client.take() {
            Some(c) => c,
            None => Client::connect_wait(cfg).await?,
        };
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let _ = tx.try_send(WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(req.clone())),
        });
        let mut r = c.req_untimed(tokio_stream::wrappers::ReceiverStream::new(rx));
        r.metadata_mut().insert(
            "hasleader",
            tonic::metadata::MetadataValue::from_static("true"),
        );
        let mut stream = match c.watch().watch(r).await {
            Ok(s) => s.into_inner(),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        loop {
            let resp = match stream.message().await {
                Ok(Some(resp)) => resp,
                Ok(None) | Err(_) => break,
            };
            if resp.created && !resp.canceled {
                if req.start_revision == 0 {
                    let rev = resp.header.map_or(0, |h| h.revision);
                    req.start_revision = rev + 1;
                }
                continue;
            }
            if let Delivered::Canceled = deliver(ctx, printer, &resp, exec)? {
                return Err(canceled());
            }
            if let Some(last) = resp.events.last().and_then(|e| e.kv.as_ref()) {
                req.start_revision = last.mod_revision + 1;
            }
        }
        drop(tx);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
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

fn canceled() -> CtlError {
    CtlError::Interrupted("watch is canceled by the server".into())
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
    let err = match status {
        Ok(s) if s.success() => return Ok(()),
        Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(sig)) => format!("signal: {}", signal_name(sig)),
            _ => "unknown exit".to_string(),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !prog.contains('/') => {
            format!(
                "exec: {}: executable file not found in $PATH",
                quote(prog.as_bytes())
            )
        }
        Err(e) => format!("fork/exec {prog}: {e}"),
    };
    let list: Vec<String> = exec.iter().map(|a| quote(a.as_bytes())).collect();
    ctx.w
        .eprint(&format!("command [{}] error ({err})\n", list.join(" ")));
    Err(CtlError::Silent(1))
}

/// Go's `syscall.Signal.String()` for the usual signals.
fn signal_name(sig: i32) -> String {
    match sig {
        1 => "hangup".into(),
        2 => "interrupt".into(),
        9 => "killed".into(),
        13 => "broken pipe".into(),
        15 => "terminated".into(),
        n => format!("signal {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn arguments_split_at_the_separator() {
        let (w, e) = split_args(&s(&["k", "echo", "x"]), Some(1), "", "").unwrap();
        assert_eq!((w, e), (s(&["k"]), s(&["echo", "x"])));
        let (w, e) = split_args(&s(&["echo"]), Some(0), "a", "b").unwrap();
        assert_eq!((w, e), (s(&["a", "b"]), s(&["echo"])));
        let err = split_args(&s(&["k"]), Some(1), "", "").unwrap_err();
        assert_eq!(err.to_string(), NO_COMMAND);
        let err = split_args(&s(&["k"]), None, "a", "").unwrap_err();
        assert_eq!(err.to_string(), CONFLICT_ENV);
    }
}
