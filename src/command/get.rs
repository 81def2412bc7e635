//! `get [options] <key> [range_end]`

pub use super::kvops::GetArgs;
use super::{kvops, Ctx};
use crate::client::Client;
use crate::error::{CtlError, Result};

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let flags: GetArgs = ctx.flags.get();
    let req = kvops::get_op(&flags, &ctx.args)?;
    let (cfg, mut printer) = ctx.client_config()?;
    let client = Client::connect(&cfg).await?;
    let resp = client
        .rpc(|c| {
            let (mut s, r) = (c.kv(), c.req(req.clone()));
            async move { s.range(r).await }
        })
        .await?;
    // etcdctl checks writer-specific flags only after the request ran.
    if *flags.count_only && printer.name() != "fields" {
        return Err(CtlError::BadArgs(
            "--count-only is only for `--write-out=fields`".into(),
        ));
    }
    if *flags.print_value_only {
        if printer.name() != "simple" {
            return Err(CtlError::BadArgs(
                "print-value-only is only for `--write-out=simple`".into(),
            ));
        }
        printer.set_value_only();
    }
    printer.get(&mut ctx.w, &resp)
}
