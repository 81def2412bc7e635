//! `member remove <memberID>`.

use oxcd_proto::etcdserverpb::MemberRemoveRequest;

use super::{member_common, Ctx};
use crate::client::Client;
use crate::error::Result;

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let id = member_common::id_arg(&ctx.args)?;
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let req = MemberRemoveRequest { id };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.cluster(), c.req(req));
            async move { s.member_remove(r).await }
        })
        .await?;
    printer.member_remove(&mut ctx.w, id, &resp)
}
