//! `member list`, and what the other member commands share: the hex member
//! ID argument and the client-side peer URL check.

use oxcd_proto::etcdserverpb::MemberListRequest;

use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::global::ClientConfig;
use crate::{gofmt, gourl};

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
        .call(client.cluster().member_list(client.req(req)))
        .await?;
    printer.member_list(&mut ctx.w, &resp)
}

/// The one `<memberID>` argument, in hex (`member remove|update|promote`).
pub(crate) fn id_arg(args: &[String]) -> Result<u64> {
    if args.len() != 1 {
        return Err(CtlError::BadArgs("member ID is not provided".into()));
    }
    gofmt::parse_uint(&args[0], 16)
        .map_err(|e| CtlError::BadArgs(format!("bad member ID arg ({e}), expecting ID in Hex")))
}

/// `--peer-urls` split at commas; the items are sent as given.
pub(crate) fn peer_urls(flag: &str) -> Vec<String> {
    flag.split(',').map(str::to_string).collect()
}

/// The client for `member add|update`. etcdctl creates its client first
/// (with `--user`, that authenticates); clientv3 then checks the peer URLs
/// before sending the request (a bad one fails with exit 1).
pub(crate) async fn connect_checked(cfg: &ClientConfig, urls: &[String]) -> Result<Client> {
    let client = match cfg.auth {
        Some(_) => Some(Client::connect(cfg).await?),
        None => None,
    };
    let items: Vec<&str> = urls.iter().map(String::as_str).collect();
    gourl::new_urls(&items).map_err(CtlError::General)?;
    match client {
        Some(c) => Ok(c),
        None => Client::connect(cfg).await,
    }
}
