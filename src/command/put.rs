//! `put [options] <key> <value>`; the value may come from stdin.

pub use super::kvops::PutArgs;
use super::{kvops, Ctx};
use crate::client::Client;
use crate::error::Result;

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

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let mut stdin = std::io::stdin();
    let req = kvops::put_op(&ctx.flags.get(), &ctx.args, Some(&mut stdin))?;
    let (cfg, printer) = ctx.client_config()?;
    let client = Client::connect(&cfg).await?;
    let resp = client
        .rpc(|c| {
            let (mut s, r) = (c.kv(), c.req(req.clone()));
            async move { s.put(r).await }
        })
        .await?;
    printer.put(&mut ctx.w, &resp)
}
