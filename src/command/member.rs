//! The `member` commands and `member list`.

use oxcd_proto::etcdserverpb::MemberListRequest;

use super::Ctx;
use crate::client::Client;
use crate::error::Result;

const LIST_LONG: &str = "When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.
The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.";

// In etcdctl's registration order.
#[derive(clap::Subcommand, Debug)]
pub enum MemberCmd {
    /// Adds a member into the cluster
    #[command(override_usage = "add <memberName> [options]")]
    Add(super::member_add::AddArgs),
    /// Removes a member from the cluster
    #[command(override_usage = "remove <memberID>")]
    Remove,
    /// Updates a member in the cluster
    #[command(override_usage = "update <memberID> [options]")]
    Update(super::member_update::UpdateArgs),
    /// Lists all members in the cluster
    #[command(long_about = LIST_LONG, override_usage = "list")]
    List,
    /// Promotes a non-voting member in the cluster
    #[command(
        long_about = "Promotes a non-voting learner member to a voting one in the cluster.",
        override_usage = "promote <memberID>"
    )]
    Promote,
}

pub async fn list(ctx: &mut Ctx) -> Result<()> {
    let (cfg, printer) = ctx.client_config()?;
    let client = Client::connect(&cfg).await?;
    // etcd 3.5's client asks for a linearizable list.
    let req = MemberListRequest { linearizable: true };
    let resp = client
        .rpc(|c| {
            let (mut s, r) = (c.cluster(), c.req(req));
            async move { s.member_list(r).await }
        })
        .await?;
    printer.member_list(&mut ctx.w, &resp)
}
