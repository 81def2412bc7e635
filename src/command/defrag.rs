//! `defrag [--cluster]`: each endpoint (with `--cluster`, each member's
//! client URLs) is defragmented in turn over its own connection. Failures
//! are reported and skipped; any failure ends the command with exit 1 and
//! no `Error:` line, as in etcdctl.

use oxcd_proto::etcdserverpb::DefragmentRequest;

use super::{endpoint, Ctx};
use crate::client::Client;
use crate::error::{CtlError, Result};

#[derive(clap::Args, Debug)]
pub struct DefragArgs {
    #[arg(
        long = "data-dir",
        id = "data-dir",
        default_value = "",
        help = "Optional. If present, defragments a data directory not in use by etcd."
    )]
    pub data_dir: crate::flags::Text,
    // A persistent flag of `defrag` in etcdctl.
    /// use all endpoints from the cluster member list
    #[arg(long, global = true, default_value = "false")]
    pub cluster: crate::flags::Bool,
}

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let data_dir = ctx.flags.get::<DefragArgs>().data_dir.0;
    if !data_dir.is_empty() {
        // etcdctl 3.5 still defragments a data dir offline (etcdutl's code,
        // before any client is built); oxctl leaves that to etcdutl.
        ctx.w.eprint(
            "Use `etcdutl defrag` instead. The --data-dir is going to be decomissioned in v3.6.\n\n",
        );
        return Err(CtlError::General(format!(
            "offline defragmentation (--data-dir) is not supported by oxctl: \
             stop the member and run `etcdutl defrag --data-dir {data_dir}`"
        )));
    }
    let (cfg, printer) = ctx.client_config()?;
    if cfg.auth.is_some() {
        // creating etcdctl's client authenticates
        Client::connect(&cfg).await?;
    }
    let mut failed = false;
    for ep in endpoint::endpoints(ctx, &cfg).await? {
        let res = async {
            let c = Client::connect_one(&cfg, &ep, cfg.auth.is_some()).await?;
            c.rpc(|c| {
                let (mut s, r) = (c.maintenance(), c.req(DefragmentRequest {}));
                async move { s.defragment(r).await }
            })
            .await
        }
        .await;
        let err = res.err();
        failed |= err.is_some();
        printer.defrag(&mut ctx.w, &ep, err.as_ref())?;
    }
    if failed {
        return Err(CtlError::Silent(1));
    }
    Ok(())
}
