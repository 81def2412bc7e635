//! `del [options] <key> [range_end]`

use super::{kvops, Ctx};
use crate::client::Client;
use crate::error::Result;

use clap::Args;

use crate::flags::Bool;

#[derive(Args, Debug)]
pub struct DelArgs {
    /// delete keys with matching prefix
    #[arg(long, default_value = "false")]
    pub prefix: Bool,
    /// return deleted key-value pairs
    #[arg(long = "prev-kv", id = "prev-kv", default_value = "false")]
    pub prev_kv: Bool,
    /// delete keys that are greater than or equal to the given key using byte compare
    #[arg(long = "from-key", id = "from-key", default_value = "false")]
    pub from_key: Bool,
}

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let req = kvops::del_op(&ctx.flags.get(), &ctx.args)?;
    let (cfg, printer) = ctx.client_config()?;
    let client = Client::connect(&cfg).await?;
    let resp = client
        .call(client.kv().delete_range(client.req(req)))
        .await?;
    printer.del(&mut ctx.w, &resp)
}
