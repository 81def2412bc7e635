//! `member update <memberID> --peer-urls=…`.

use oxcd_proto::etcdserverpb::MemberUpdateRequest;

use super::{member_common, Ctx};
use crate::error::{CtlError, Result};

#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    #[arg(
        long = "peer-urls",
        id = "peer-urls",
        default_value = "",
        help = "comma separated peer URLs for the updated member."
    )]
    pub peer_urls: crate::flags::Text,
}

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let id = member_common::id_arg(&ctx.args)?;
    let flag = ctx.flags.get::<UpdateArgs>().peer_urls.0;
    if flag.is_empty() {
        return Err(CtlError::BadArgs("member peer urls not provided".into()));
    }
    let (cfg, printer) = ctx.client_config()?;
    let peer_ur_ls = member_common::peer_urls(&flag);
    let c = member_common::connect_checked(&cfg, &peer_ur_ls).await?;
    let req = MemberUpdateRequest { id, peer_ur_ls };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.cluster(), c.req(req.clone()));
            async move { s.member_update(r).await }
        })
        .await?;
    printer.member_update(&mut ctx.w, id, &resp)
}
