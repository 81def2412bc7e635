//! `compaction [options] <revision>`

use oxcd_proto::etcdserverpb::CompactionRequest;

use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::gofmt;

#[derive(clap::Args, Debug)]
pub struct CompactionArgs {
    /// 'true' to wait for compaction to physically remove all old revisions
    #[arg(long, default_value = "false")]
    pub physical: crate::flags::Bool,
}

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() != 1 {
        return Err(CtlError::BadArgs(
            "compaction command needs 1 argument".into(),
        ));
    }
    // etcdctl exits 1 (not 128) for an unparsable revision.
    let rev = gofmt::parse_int(&ctx.args[0], 10).map_err(CtlError::General)?;
    let (cfg, printer) = ctx.client_config()?;
    let client = Client::connect(&cfg).await?;
    let req = CompactionRequest {
        revision: rev,
        physical: *ctx.flags.get::<CompactionArgs>().physical,
    };
    client
        .rpc(|c| {
            let (mut s, r) = (c.kv(), c.req(req));
            async move { s.compact(r).await }
        })
        .await?;
    printer.compaction(&mut ctx.w, rev)
}
