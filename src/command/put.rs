//! `put [options] <key> <value>`; the value may come from stdin.

use super::{kvops, Ctx};
use crate::client::Client;
use crate::error::Result;

use clap::Args;

use crate::flags::{Bool, Text};

pub const LONG: &str = "Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.";

#[derive(Args, Debug)]
pub struct PutArgs {
    /// lease ID (in hexadecimal) to attach to the key
    #[arg(long, default_value = "0")]
    pub lease: Text,
    /// return the previous key-value pair before modification
    #[arg(long = "prev-kv", id = "prev-kv", default_value = "false")]
    pub prev_kv: Bool,
    /// updates the key using its current value
    #[arg(long = "ignore-value", id = "ignore-value", default_value = "false")]
    pub ignore_value: Bool,
    /// updates the key using its current lease
    #[arg(long = "ignore-lease", id = "ignore-lease", default_value = "false")]
    pub ignore_lease: Bool,
}

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let mut stdin = std::io::stdin();
    let req = kvops::put_op(&ctx.flags.get(), &ctx.args, Some(&mut stdin))?;
    let (cfg, printer) = ctx.client_config()?;
    let client = Client::connect(&cfg).await?;
    let resp = client.call(client.kv().put(client.req(req))).await?;
    printer.put(&mut ctx.w, &resp)
}
