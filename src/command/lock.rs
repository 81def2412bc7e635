//! `lock <lockname> [exec-command arg1 arg2 ...]`: holds the named lock,
//! either while a command runs (which learns the lock from
//! `ETCD_LOCK_KEY`/`ETCD_LOCK_REV`) or, without one, printing the lock's
//! key until SIGINT/SIGTERM. Interrupted or done, the key is deleted; the
//! lease (`--ttl`) is left to expire, as etcdctl leaves it.

use oxcd_proto::etcdserverpb::RangeRequest;
use oxcd_proto::v3lockpb::{LockRequest, UnlockRequest};

use super::child::{self, Interrupts};
use super::session::Session;
use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};

#[derive(clap::Args, Debug)]
pub struct LockArgs {
    /// timeout for session
    #[arg(long, default_value = "10")]
    pub ttl: crate::flags::Int,
}

const CANCELED: &str = "context canceled";

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.is_empty() {
        return Err(CtlError::BadArgs(
            "lock takes a lock name argument and an optional command to execute".into(),
        ));
    }
    let ttl = ctx.flags.get::<LockArgs>().ttl.0;
    let (cfg, printer) = ctx.client_config()?;
    let c = Client::connect(&cfg).await?;
    let mut session = Session::new(&c, &cfg, ttl).await?;
    let name = ctx.args[0].clone().into_bytes();
    let req = LockRequest {
        name: name.clone(),
        lease: session.lease,
    };
    let mut sig = Interrupts::catch();
    let mut lc = c.lock();
    let locked = tokio::select! {
        r = c.call_untimed(lc.lock(c.req_untimed(req))) => r?,
        _ = sig.recv() => {
            // the server withdraws the waiting key when the call is
            // dropped; deleting it here too means it is gone on exit
            let key = session.key(&name);
            let _ = unlock(&c, key).await;
            return Err(CtlError::General(CANCELED.into()));
        }
    };
    let key = locked.key;
    let rev = locked.header.map_or(0, |h| h.revision);
    if let Some((prog, rest)) = ctx.args[1..].split_first() {
        ctx.w.flush();
        let status = std::process::Command::new(prog)
            .args(rest)
            .env("ETCD_LOCK_KEY", String::from_utf8_lossy(&key).as_ref())
            .env("ETCD_LOCK_REV", rev.to_string())
            .stdin(std::process::Stdio::null())
            .status();
        let failed = child::failure(prog, status);
        let unlocked = unlock(&c, key).await;
        if let Some((message, code)) = failed {
            return Err(CtlError::Child { message, code });
        }
        return unlocked;
    }
    let got = c
        .call_untimed(c.kv().range(c.req_untimed(RangeRequest {
            key: key.clone(),
            ..Default::default()
        })))
        .await?;
    if got.kvs.is_empty() {
        return Err(CtlError::General("lock lost on init".into()));
    }
    printer.get(&mut ctx.w, &got)?;
    ctx.w.flush();
    tokio::select! {
        _ = sig.recv() => unlock(&c, key).await,
        _ = session.done() => Err(CtlError::General("session expired".into())),
    }
}

async fn unlock(c: &Client, key: Vec<u8>) -> Result<()> {
    c.call_untimed(c.lock().unlock(c.req_untimed(UnlockRequest { key })))
        .await
        .map(|_| ())
}
