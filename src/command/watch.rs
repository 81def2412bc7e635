//! `watch [key or prefix] [range_end] [--] [exec-command arg…]`: prints
//! every event until the process is killed. A watch the server cancels
//! ends with exit 5; the exec form runs a command once per event.

use std::time::Duration;

use oxcd_proto::etcdserverpb::{
    watch_request::RequestUnion, WatchCreateRequest, WatchRequest, WatchResponse,
};
use tonic::codegen::tokio_stream;

pub use super::watch_common::WatchArgs;
use super::watch_common::{create_request, deliver, env, Delivered, CONFLICT_ENV, NO_COMMAND};
use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::gofmt::quote;
use crate::printer::Printer;

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

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let env_key = env(ctx, "ETCDCTL_WATCH_KEY").to_string();
    let env_range = env(ctx, "ETCDCTL_WATCH_RANGE_END").to_string();
    if env_key.is_empty() && !env_range.is_empty() {
        return Err(CtlError::BadArgs(format!(
            "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END={}",
            quote(env_range.as_bytes())
        )));
    }
    let flags: WatchArgs = ctx.flags.get();
    if *flags.interactive {
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
    let req = create_request(&flags, *flags.progress_notify, &args)?;
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
            if resp.created && resp.canceled && !resp.cancel_reason.is_empty() {
                // refused (permission denied): clientv3 closes the watch
                // with the reason and hands over an empty canceled response
                ctx.w
                    .eprint(&format!("watch was canceled ({})\n", resp.cancel_reason));
                let closed = WatchResponse {
                    canceled: true,
                    ..WatchResponse::default()
                };
                printer.watch(&mut ctx.w, &closed)?;
                ctx.w.flush();
                return Err(canceled());
            }
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

fn canceled() -> CtlError {
    CtlError::Interrupted("watch is canceled by the server".into())
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
