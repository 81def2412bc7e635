//! `member add <memberName> --peer-urls=… [--learner]`.

use oxcd_proto::etcdserverpb::MemberAddRequest;

use super::{member_common, Ctx};
use crate::error::{CtlError, Result};

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    #[arg(
        long = "peer-urls",
        id = "peer-urls",
        default_value = "",
        help = "comma separated peer URLs for the new member."
    )]
    pub peer_urls: crate::flags::Text,
    /// indicates if the new member is raft learner
    #[arg(long, default_value = "false")]
    pub learner: crate::flags::Bool,
}

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let Some(name) = ctx.args.first().cloned() else {
        return Err(CtlError::BadArgs("member name not provided".into()));
    };
    if ctx.args.len() > 1 {
        // Peer URLs given as arguments get a hint each.
        let mut msg = String::from("too many arguments");
        for a in &ctx.args {
            if a.len() >= 4 && a.as_bytes()[..4].eq_ignore_ascii_case(b"http") {
                msg.push_str(&format!(", did you mean --peer-urls={a}"));
            }
        }
        return Err(CtlError::BadArgs(msg));
    }
    let flags: AddArgs = ctx.flags.get();
    let flag = flags.peer_urls.0;
    if flag.is_empty() {
        return Err(CtlError::BadArgs("member peer urls not provided".into()));
    }
    let is_learner = *flags.learner;
    let (cfg, printer) = ctx.client_config()?;
    let peer_ur_ls = member_common::peer_urls(&flag);
    let c = member_common::connect_checked(&cfg, &peer_ur_ls).await?;
    let req = MemberAddRequest {
        peer_ur_ls,
        is_learner,
    };
    let resp = c
        .rpc(|c| {
            let (mut s, r) = (c.cluster(), c.req(req.clone()));
            async move { s.member_add(r).await }
        })
        .await?;
    printer.member_add(&mut ctx.w, &resp, &name, &flag)
}
