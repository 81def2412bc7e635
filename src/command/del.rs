//! `del [options] <key> [range_end]`

pub use super::kvops::DelArgs;
use super::{kvops, Ctx};
use crate::client::Client;
use crate::error::Result;

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let req = kvops::del_op(&ctx.flags.get(), &ctx.args)?;
    let (cfg, printer) = ctx.client_config()?;
    let client = Client::connect(&cfg).await?;
    let resp = client
        .rpc(|c| {
            let (mut s, r) = (c.kv(), c.req(req.clone()));
            async move { s.delete_range(r).await }
        })
        .await?;
    printer.del(&mut ctx.w, &resp)
}
