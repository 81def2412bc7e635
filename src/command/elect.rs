//! `elect <election-name> [proposal]`: campaigns with the proposal and,
//! once elected, prints the leader key and value until SIGINT/SIGTERM,
//! then resigns; with `-l`, prints each leader as it is elected. The
//! session's lease has clientv3's default TTL of 60 s (etcdctl has no
//! flag for it).

use oxcd_proto::etcdserverpb::RangeRequest;
use oxcd_proto::v3electionpb::{CampaignRequest, LeaderRequest, ResignRequest};

use super::child::Interrupts;
use super::session::Session;
use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::printer::Printer;

#[derive(clap::Args, Debug)]
pub struct ElectArgs {
    /// observation mode
    #[arg(short = 'l', long, default_value = "false")]
    pub listen: crate::flags::Bool,
}

const SESSION_TTL: i64 = 60;

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    let listen = *ctx.flags.get::<ElectArgs>().listen;
    let args = ctx.args.clone();
    if args.is_empty() || args.len() > 2 {
        return Err(CtlError::BadArgs(
            "elect takes one election name argument and an optional proposal argument".into(),
        ));
    }
    if args.len() == 1 && !listen {
        return Err(CtlError::BadArgs(
            "no proposal argument but -l not set".into(),
        ));
    }
    if args.len() == 2 && listen {
        return Err(CtlError::BadArgs("proposal given but -l is set".into()));
    }
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let session = Session::new(&c, &cfg, SESSION_TTL).await?;
    let name = args[0].clone().into_bytes();
    let mut sig = Interrupts::catch();
    match args.get(1) {
        None => observe(ctx, &c, &*printer, &mut sig, name).await,
        Some(p) => campaign(ctx, &c, &*printer, &mut sig, session, name, p.as_bytes()).await,
    }
}

async fn observe(
    ctx: &mut Ctx,
    c: &Client,
    printer: &dyn Printer,
    sig: &mut Interrupts,
    name: Vec<u8>,
) -> Result<()> {
    let req = LeaderRequest { name };
    let observed = async {
        let mut stream = c
            .call_untimed(c.election().observe(c.req_untimed(req)))
            .await?;
        while let Ok(Some(leader)) = stream.message().await {
            // what clientv3's Observe hands etcdctl: a get response with
            // the leader's key and nothing else
            let resp = oxcd_proto::etcdserverpb::RangeResponse {
                header: leader.header,
                kvs: leader.kv.into_iter().collect(),
                ..Default::default()
            };
            printer.get(&mut ctx.w, &resp)?;
            ctx.w.flush();
        }
        Err(CtlError::General("elect: observer lost".into()))
    };
    tokio::select! {
        r = observed => r,
        _ = sig.recv() => Ok(()),
    }
}

async fn campaign(
    ctx: &mut Ctx,
    c: &Client,
    printer: &dyn Printer,
    sig: &mut Interrupts,
    mut session: Session,
    name: Vec<u8>,
    proposal: &[u8],
) -> Result<()> {
    let req = CampaignRequest {
        name: name.clone(),
        lease: session.lease,
        value: proposal.to_vec(),
    };
    let mut ec = c.election();
    let elected = tokio::select! {
        r = c.call_untimed(ec.campaign(c.req_untimed(req))) => r?,
        _ = sig.recv() => {
            // the server withdraws the candidate when the call is dropped;
            // deleting it here too means it is gone on exit
            let key = session.key(&name);
            let del = oxcd_proto::etcdserverpb::DeleteRangeRequest { key, ..Default::default() };
            let _ = c.call_untimed(c.kv().delete_range(c.req_untimed(del))).await;
            return Err(CtlError::General("context canceled".into()));
        }
    };
    let leader = elected.leader.unwrap_or_default();
    let got = c
        .call_untimed(c.kv().range(c.req_untimed(RangeRequest {
            key: leader.key.clone(),
            ..Default::default()
        })))
        .await?;
    printer.get(&mut ctx.w, &got)?;
    ctx.w.flush();
    tokio::select! {
        _ = sig.recv() => {}
        _ = session.done() => return Err(CtlError::General("elect: session expired".into())),
    }
    let resign = ResignRequest {
        leader: Some(leader),
    };
    c.call_untimed(c.election().resign(c.req_untimed(resign)))
        .await
        .map(|_| ())
}
