//! `put [options] <key> <value>`; the value may come from stdin.

use super::{kvops, Ctx};
use crate::client::Client;
use crate::error::Result;

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let mut stdin = std::io::stdin();
    let req = kvops::put_op(&ctx.flags, &ctx.args, Some(&mut stdin))?;
    let (cfg, printer) = ctx.client_config()?;
    let client = Client::connect(&cfg).await?;
    let resp = client.call(client.kv().put(client.req(req))).await?;
    printer.put(&mut ctx.w, &resp)
}
