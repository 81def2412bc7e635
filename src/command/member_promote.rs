//! `member promote <memberID>`: a learner that caught up with the leader
//! becomes a voting member.

use oxcd_proto::etcdserverpb::MemberPromoteRequest;

use super::{member_common, Ctx};
use crate::client::Client;
use crate::error::Result;

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let id = member_common::id_arg(&ctx.args)?;
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let req = MemberPromoteRequest { id };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.cluster(), c.req(req));
            async move { s.member_promote(r).await }
        })
        .await?;
    printer.member_promote(&mut ctx.w, id, &resp)
}
