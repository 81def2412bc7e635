//! `get [options] <key> [range_end]`

use super::{kvops, Ctx};
use crate::client::Client;
use crate::error::{CtlError, Result};

use clap::Args;

use crate::flags::{Bool, Int, Text};

// etcdctl's `get` flags, in its order.
#[derive(Args, Debug)]
pub struct GetArgs {
    /// Linearizable(l) or Serializable(s)
    #[arg(long, default_value = "l")]
    pub consistency: Text,
    /// Order of results; ASCEND or DESCEND (ASCEND by default)
    #[arg(long, default_value = "")]
    pub order: Text,
    /// Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION
    #[arg(long = "sort-by", id = "sort-by", default_value = "")]
    pub sort_by: Text,
    /// Maximum number of results
    #[arg(long, default_value = "0")]
    pub limit: Int,
    /// Get keys with matching prefix
    #[arg(long, default_value = "false")]
    pub prefix: Bool,
    /// Get keys that are greater than or equal to the given key using byte compare
    #[arg(long = "from-key", id = "from-key", default_value = "false")]
    pub from_key: Bool,
    /// Specify the kv revision
    #[arg(long, default_value = "0")]
    pub rev: Int,
    /// Get only the keys
    #[arg(long = "keys-only", id = "keys-only", default_value = "false")]
    pub keys_only: Bool,
    /// Get only the count
    #[arg(long = "count-only", id = "count-only", default_value = "false")]
    pub count_only: Bool,
    /// Only write values when using the "simple" output format
    #[arg(
        long = "print-value-only",
        id = "print-value-only",
        default_value = "false"
    )]
    pub print_value_only: Bool,
}

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let flags: GetArgs = ctx.flags.get();
    let req = kvops::get_op(&flags, &ctx.args)?;
    let (cfg, mut printer) = ctx.client_config()?;
    let client = Client::connect(&cfg).await?;
    let resp = client.call(client.kv().range(client.req(req))).await?;
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
