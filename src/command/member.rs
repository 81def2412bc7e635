//! `member list` (the other member commands are not implemented yet).

use oxcd_proto::etcdserverpb::MemberListRequest;

use super::Ctx;
use crate::client::Client;
use crate::error::Result;

pub async fn list(ctx: &mut Ctx) -> Result<()> {
    let (cfg, printer) = ctx.client_config()?;
    let client = Client::connect(&cfg).await?;
    // etcd 3.5's client asks for a linearizable list.
    let req = MemberListRequest { linearizable: true };
    let resp = client
        .call(client.cluster().member_list(client.req(req)))
        .await?;
    printer.member_list(&mut ctx.w, &resp)
}
