//! `txn [options]`: reads compares, success ops and failure ops from stdin
//! (three blocks ended by empty lines); `-i` prints a prompt per block.

use std::io::BufRead;

use oxcd_proto::etcdserverpb::{Compare, RequestOp, TxnRequest};

use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::txn_parse;

#[derive(clap::Args, Debug)]
pub struct TxnArgs {
    /// Input transaction in interactive mode
    #[arg(short = 'i', long, default_value = "false")]
    pub interactive: crate::flags::Bool,
}

/// One line like Go's `bufio.Reader.ReadString('\n')` + `TrimSpace`; a
/// final line without newline is an EOF error, as in etcdctl.
fn read_line(r: &mut dyn BufRead) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match r.read_until(b'\n', &mut buf) {
        Ok(_) if buf.last() == Some(&b'\n') => Ok(buf.trim_ascii().to_vec()),
        Ok(_) => Err(CtlError::InvalidInput("EOF".into())),
        Err(e) => Err(CtlError::InvalidInput(e.to_string())),
    }
}

fn read_block<T>(r: &mut dyn BufRead, parse: fn(&[u8]) -> Result<T>) -> Result<Vec<T>> {
    let mut out = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            return Ok(out);
        }
        out.push(parse(&line)?);
    }
}

/// Reads the whole transaction, printing the interactive prompts.
pub fn read_txn(ctx: &mut Ctx, r: &mut dyn BufRead) -> Result<TxnRequest> {
    let interactive = *ctx.flags.get::<TxnArgs>().interactive;
    let prompt = |ctx: &mut Ctx, s: &str| {
        if interactive {
            ctx.w.print(&format!("{s}\n"));
            ctx.w.flush();
        }
    };
    prompt(ctx, "compares:");
    let compare: Vec<Compare> =
        read_block(r, |l| txn_parse::parse_compare(&String::from_utf8_lossy(l)))?;
    prompt(ctx, "success requests (get, put, del):");
    let success: Vec<RequestOp> = read_block(r, txn_parse::parse_op)?;
    prompt(ctx, "failure requests (get, put, del):");
    let failure: Vec<RequestOp> = read_block(r, txn_parse::parse_op)?;
    Ok(TxnRequest {
        compare,
        success,
        failure,
    })
}

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    if !ctx.args.is_empty() {
        return Err(CtlError::BadArgs(
            "txn command does not accept argument".into(),
        ));
    }
    let (cfg, printer) = ctx.client_config()?;
    // etcdctl creates its client before reading; only with --user does
    // that contact the server.
    let early = if cfg.auth.is_some() {
        Some(Client::connect(&cfg).await?)
    } else {
        None
    };
    let stdin = std::io::stdin();
    let mut lock = stdin.lock();
    let req = read_txn(ctx, &mut lock)?;
    let client = match early {
        Some(c) => c,
        None => Client::connect(&cfg).await?,
    };
    let resp = client
        .rpc(|c| {
            let (mut s, r) = (c.kv(), c.req(req.clone()));
            async move { s.txn(r).await }
        })
        .await?;
    printer.txn(&mut ctx.w, &resp)
}
