//! `watch -i`: reads `watch …` and `progress` lines from stdin. Every watch
//! shares one stream (responses are told apart by watch ID, a progress
//! answer goes to all of them); end of input ends the command (exit 3).

use std::collections::{BTreeMap, VecDeque};
use std::io::BufRead;
use std::time::Duration;

use oxcd_proto::etcdserverpb::{
    watch_request::RequestUnion, WatchCreateRequest, WatchProgressRequest, WatchRequest,
    WatchResponse,
};
use tokio::sync::mpsc;
use tonic::codegen::tokio_stream;

use super::watch_common::{
    create_request, deliver, Delivered, WatchArgs, BAD_ARGS, CONFLICT_ENV, NO_COMMAND,
};
use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::parse;
use crate::printer::Printer;

/// One requested watch and the command its events run.
struct Watch {
    req: WatchCreateRequest,
    exec: Vec<String>,
}

/// The shared stream: its request sender and its responses.
type Stream = (mpsc::Sender<WatchRequest>, tonic::Streaming<WatchResponse>);

/// What a request line asks for.
enum Line {
    Watch(Watch),
    Progress,
    /// Reported on stderr; the next line is read.
    Invalid(String),
}

/// Reads stdin lines on a thread (`None` at end of input or on an error).
fn stdin_lines() -> mpsc::UnboundedReceiver<Option<String>> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        loop {
            let mut buf = Vec::new();
            match lock.read_until(b'\n', &mut buf) {
                Ok(_) if buf.ends_with(b"\n") => {
                    buf.pop();
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    if tx.send(Some(line)).is_err() {
                        return;
                    }
                }
                _ => {
                    let _ = tx.send(None);
                    return;
                }
            }
        }
    });
    rx
}

/// Parses one request line like etcdctl's interactive mode: the watch's
/// own flags only, `--prefix`/`--rev`/`--prev-kv` taken from the line.
fn parse_line(ctx: &Ctx, line: &str, env_key: &str, env_range: &str) -> Result<Line> {
    let words = crate::txn_parse::argify(line.as_bytes())?;
    let args: Vec<String> = words.iter().map(|w| crate::flags::escape_arg(w)).collect();
    match args.first().map(String::as_str) {
        None => {
            return Ok(Line::Invalid(format!(
                "Invalid command: {line} (watch and progress supported)"
            )))
        }
        Some("watch") => {}
        Some("progress") => return Ok(Line::Progress),
        Some(_) => {
            return Ok(Line::Invalid(format!(
                "Invalid command {line} (only support watch)"
            )))
        }
    }
    if args.len() < 2 && env_key.is_empty() {
        return Ok(Line::Invalid(format!(
            "Invalid command {line} (command type or key is not provided)"
        )));
    }
    let rest = &args[1..];
    if rest.last().is_some_and(|a| a == "--") {
        return Err(CtlError::BadArgs(NO_COMMAND.into()));
    }
    let fs = parse::parse_with(parse::own_flags::<WatchArgs>("watch"), rest.to_vec())
        .map_err(CtlError::BadArgs)?;
    let pos = fs.args();
    let dash = fs.args_len_at_dash();
    if dash.is_none() && env_key.is_empty() && pos.is_empty() {
        return Err(CtlError::BadArgs(BAD_ARGS.into()));
    }
    if dash.is_none() && !pos.is_empty() && !env_key.is_empty() {
        return Err(CtlError::BadArgs(CONFLICT_ENV.into()));
    }
    let before = dash.unwrap_or(pos.len()).min(pos.len());
    let mut watch_args = Vec::new();
    if !env_key.is_empty() {
        watch_args.push(env_key.to_string());
        if !env_range.is_empty() {
            watch_args.push(env_range.to_string());
        }
    }
    watch_args.extend(pos[..before].iter().cloned());
    // `--progress-notify` of the command line applies to every watch.
    let progress = *ctx.flags.get::<WatchArgs>().progress_notify;
    match create_request(&fs.get(), progress, &watch_args) {
        Ok(req) => Ok(Line::Watch(Watch {
            req,
            exec: pos[before..].to_vec(),
        })),
        Err(e) => Ok(Line::Invalid(format!("Invalid command {line} ({e})"))),
    }
}

/// Opens the shared stream with `first` queued: grpc-go servers send the
/// response headers only with the first answer.
async fn open(c: &Client, first: &VecDeque<Watch>) -> Option<Stream> {
    if first.is_empty() {
        return None;
    }
    let (tx, rx) = mpsc::channel(16 + first.len());
    for w in first {
        let _ = tx.try_send(create(&w.req));
    }
    let mut r = c.req_untimed(tokio_stream::wrappers::ReceiverStream::new(rx));
    r.metadata_mut().insert(
        "hasleader",
        tonic::metadata::MetadataValue::from_static("true"),
    );
    let s = c.watch().watch(r).await.ok()?.into_inner();
    Some((tx, s))
}

fn create(req: &WatchCreateRequest) -> WatchRequest {
    WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(req.clone())),
    }
}

async fn next(stream: &mut Option<Stream>) -> Option<WatchResponse> {
    match stream {
        Some((_, s)) => s.message().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

pub async fn run(ctx: &mut Ctx, env_key: &str, env_range: &str) -> Result<()> {
    let (cfg, printer) = ctx.client_config()?;
    let client = Client::connect_wait(&cfg).await?;
    let mut lines = stdin_lines();
    let mut stream: Option<Stream> = None;
    let mut pending: VecDeque<Watch> = VecDeque::new();
    let mut active: BTreeMap<i64, Watch> = BTreeMap::new();
    loop {
        tokio::select! {
            line = lines.recv() => {
                let Some(Some(line)) = line else {
                    return Err(CtlError::InvalidInput(
                        "error reading watch request line: EOF".into(),
                    ));
                };
                match parse_line(ctx, &line, env_key, env_range)? {
                    Line::Invalid(msg) => ctx.w.eprint(&format!("{msg}\n")),
                    Line::Watch(w) => {
                        if let Some((tx, _)) = &stream {
                            let _ = tx.send(create(&w.req)).await;
                            pending.push_back(w);
                        } else {
                            pending.push_back(w);
                            stream = open(&client, &pending).await;
                        }
                    }
                    Line::Progress => {
                        if let Some((tx, _)) = &stream {
                            let req = WatchRequest {
                                request_union: Some(RequestUnion::ProgressRequest(
                                    WatchProgressRequest {},
                                )),
                            };
                            let _ = tx.send(req).await;
                        }
                    }
                }
            }
            resp = next(&mut stream) => match resp {
                Some(resp) => handle(ctx, &*printer, resp, &mut pending, &mut active)?,
                None => {
                    // Reopen and recreate every watch where it stopped.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let mut all: VecDeque<Watch> = std::mem::take(&mut active).into_values().collect();
                    all.append(&mut pending);
                    pending = all;
                    stream = open(&client, &pending).await;
                }
            },
        }
    }
}

fn handle(
    ctx: &mut Ctx,
    printer: &dyn Printer,
    resp: WatchResponse,
    pending: &mut VecDeque<Watch>,
    active: &mut BTreeMap<i64, Watch>,
) -> Result<()> {
    if resp.created {
        if let Some(mut w) = pending.pop_front() {
            if resp.canceled {
                return Ok(());
            }
            if w.req.start_revision == 0 {
                w.req.start_revision = resp.header.map_or(0, |h| h.revision) + 1;
            }
            active.insert(resp.watch_id, w);
        }
        return Ok(());
    }
    let ids: Vec<i64> = if resp.watch_id == -1 {
        active.keys().copied().collect()
    } else {
        vec![resp.watch_id]
    };
    for id in ids {
        let Some(w) = active.get_mut(&id) else {
            continue;
        };
        let exec = w.exec.clone();
        if let Some(last) = resp.events.last().and_then(|e| e.kv.as_ref()) {
            w.req.start_revision = last.mod_revision + 1;
        }
        if let Delivered::Canceled = deliver(ctx, printer, &resp, &exec)? {
            active.remove(&id);
        }
    }
    Ok(())
}
