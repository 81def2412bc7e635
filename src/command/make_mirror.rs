//! `make-mirror [options] <destination>`: copies the source's keys (under
//! `--prefix`) to the destination cluster at one revision, then follows the
//! source's watch, replaying each revision's puts and deletes in one txn
//! (at most `--max-txn-ops` ops each). The running count of copied keys and
//! events is printed every 30 s, as etcdctl does; it runs until stopped.
//!
//! `--rev` and `--max-txn-ops` are etcdctl 3.6's (3.5.1 has neither):
//! `--rev N` skips the copy and replays from revision N, so a mirror
//! restarted with the last revision it applied also replays the deletes it
//! missed meanwhile. Unlike 3.6, `--dest-prefix` defaults to `--prefix` with
//! `--rev` too.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use oxcd_proto::etcdserverpb::{
    request_op, watch_request::RequestUnion, DeleteRangeRequest, PutRequest, RangeRequest,
    RequestOp, TxnRequest, WatchCreateRequest, WatchRequest,
};
use oxcd_proto::mvccpb::event::EventType;
use tonic::codegen::tokio_stream;

use super::Ctx;
use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::global::{Auth, ClientConfig};
use crate::tls_files::{load_tls, SecureCfg};

#[derive(clap::Args, Debug)]
pub struct MakeMirrorArgs {
    /// Key-value prefix to mirror
    #[arg(long, default_value = "")]
    pub prefix: crate::flags::Text,
    /// Specify the kv revision to start to mirror
    #[arg(long, default_value = "0")]
    pub rev: crate::flags::Int,
    #[arg(
        long = "max-txn-ops",
        id = "max-txn-ops",
        default_value = "128",
        help = "Maximum number of operations permitted in a transaction during syncing updates."
    )]
    pub max_txn_ops: crate::flags::Int,
    /// destination prefix to mirror a prefix to a different prefix in the destination cluster
    #[arg(long = "dest-prefix", id = "dest-prefix", default_value = "")]
    pub dest_prefix: crate::flags::Text,
    /// mirror key-values to the root of the destination cluster
    #[arg(
        long = "no-dest-prefix",
        id = "no-dest-prefix",
        default_value = "false"
    )]
    pub no_dest_prefix: crate::flags::Bool,
    /// Identify secure client using this TLS certificate file for the destination cluster
    #[arg(long = "dest-cert", id = "dest-cert", default_value = "")]
    pub dest_cert: crate::flags::Text,
    /// Identify secure client using this TLS key file
    #[arg(long = "dest-key", id = "dest-key", default_value = "")]
    pub dest_key: crate::flags::Text,
    /// Verify certificates of TLS enabled secure servers using this CA bundle
    #[arg(long = "dest-cacert", id = "dest-cacert", default_value = "")]
    pub dest_cacert: crate::flags::Text,
    /// Disable transport security for client connections
    #[arg(
        long = "dest-insecure-transport",
        id = "dest-insecure-transport",
        default_value = "true"
    )]
    pub dest_insecure_transport: crate::flags::Bool,
    /// Destination username[:password] for authentication (prompt if password is not supplied)
    #[arg(long = "dest-user", id = "dest-user", default_value = "")]
    pub dest_user: crate::flags::Text,
    #[arg(
        long = "dest-password",
        id = "dest-password",
        default_value = "",
        help = "Destination password for authentication (if this option is used, --user option shouldn't include password)"
    )]
    pub dest_password: crate::flags::Text,
}

/// How many keys the copy reads at a time (clientv3's mirror syncer).
const BATCH: i64 = 1000;
/// How often the running count is printed.
const REPORT_EVERY: Duration = Duration::from_secs(30);

pub async fn run(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() != 1 {
        return Err(CtlError::BadArgs(
            "make-mirror takes one destination argument".into(),
        ));
    }
    let a: MakeMirrorArgs = ctx.flags.get();
    let cfg = ctx.client_config_only()?;
    let dest_cfg = dest_config(&a, &cfg, &ctx.args[0])?;
    if *a.no_dest_prefix && !a.dest_prefix.0.is_empty() {
        return Err(CtlError::BadArgs(
            "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one"
                .into(),
        ));
    }
    if a.max_txn_ops.0 < 1 {
        return Err(CtlError::BadArgs("--max-txn-ops must be at least 1".into()));
    }
    let dest = Client::connect(&dest_cfg).await?;
    let src = Client::connect(&cfg).await?;
    let m = Mirror {
        prefix: a.prefix.0.clone().into_bytes(),
        dest_prefix: if *a.no_dest_prefix || !a.dest_prefix.0.is_empty() {
            a.dest_prefix.0.clone().into_bytes()
        } else {
            a.prefix.0.clone().into_bytes()
        },
        max_ops: a.max_txn_ops.0 as usize,
        total: Arc::new(AtomicI64::new(0)),
    };
    let work = m.run(&cfg, src, &dest, a.rev.0);
    tokio::pin!(work);
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + REPORT_EVERY, REPORT_EVERY);
    loop {
        tokio::select! {
            r = &mut work => return r,
            _ = tick.tick() => {
                ctx.w.print(&format!("{}\n", m.total.load(Ordering::Relaxed)));
                ctx.w.flush();
            }
        }
    }
}

/// The destination's client settings: its own TLS and auth flags, the
/// global timeouts.
fn dest_config(a: &MakeMirrorArgs, cfg: &ClientConfig, endpoint: &str) -> Result<ClientConfig> {
    let sec = SecureCfg {
        cert: a.dest_cert.0.clone(),
        key: a.dest_key.0.clone(),
        cacert: a.dest_cacert.0.clone(),
        insecure_transport: *a.dest_insecure_transport,
        ..Default::default()
    };
    let user = a.dest_user.0.clone();
    let auth = if user.is_empty() {
        None
    } else if !a.dest_password.0.is_empty() {
        Some(Auth {
            user,
            password: a.dest_password.0.clone(),
        })
    } else {
        match user.split_once(':') {
            Some((u, p)) => Some(Auth {
                user: u.to_string(),
                password: p.to_string(),
            }),
            None => Some(Auth {
                password: crate::password::ask("Destination Password: "),
                user,
            }),
        }
    };
    Ok(ClientConfig {
        endpoints: vec![endpoint.to_string()],
        tls: load_tls(&sec)?,
        auth,
        ..cfg.clone()
    })
}

struct Mirror {
    prefix: Vec<u8>,
    dest_prefix: Vec<u8>,
    max_ops: usize,
    total: Arc<AtomicI64>,
}

impl Mirror {
    async fn run(&self, cfg: &ClientConfig, src: Client, dest: &Client, rev: i64) -> Result<()> {
        let from = if rev > 0 {
            rev
        } else {
            self.copy(&src, dest).await? + 1
        };
        self.follow(cfg, src, dest, from).await
    }

    /// The source's range under the prefix (every key without one).
    fn range(&self) -> (Vec<u8>, Vec<u8>) {
        if self.prefix.is_empty() {
            (vec![0], vec![0])
        } else {
            (self.prefix.clone(), crate::keys::prefix_end(&self.prefix))
        }
    }

    /// `strings.Replace(key, prefix, dest_prefix, 1)`, as etcdctl maps keys
    /// (the first occurrence, wherever it is).
    fn dest_key(&self, key: &[u8]) -> Vec<u8> {
        if self.prefix.is_empty() {
            return [self.dest_prefix.as_slice(), key].concat();
        }
        match key
            .windows(self.prefix.len())
            .position(|w| w == self.prefix)
        {
            Some(i) => [
                &key[..i],
                &self.dest_prefix[..],
                &key[i + self.prefix.len()..],
            ]
            .concat(),
            None => key.to_vec(),
        }
    }

    /// Copies every key at the source's current revision; returns it.
    async fn copy(&self, src: &Client, dest: &Client) -> Result<i64> {
        let probe = RangeRequest {
            key: b"foo".to_vec(),
            ..Default::default()
        };
        let rev = src
            .call_untimed(src.kv().range(src.req_untimed(probe)))
            .await?
            .header
            .map_or(0, |h| h.revision);
        let (mut key, end) = self.range();
        loop {
            let page = RangeRequest {
                key: key.clone(),
                range_end: end.clone(),
                limit: BATCH,
                revision: rev,
                ..Default::default()
            };
            let r = src
                .call_untimed(src.kv().range(src.req_untimed(page)))
                .await?;
            for kv in &r.kvs {
                let put = PutRequest {
                    key: self.dest_key(&kv.key),
                    value: kv.value.clone(),
                    ..Default::default()
                };
                dest.call_untimed(dest.kv().put(dest.req_untimed(put)))
                    .await?;
                self.total.fetch_add(1, Ordering::Relaxed);
            }
            match r.kvs.last() {
                Some(last) if r.more => {
                    key = last.key.clone();
                    key.push(0);
                }
                _ => return Ok(rev),
            }
        }
    }

    /// Replays the source's events from revision `from` on, reconnecting
    /// (and resuming after the last revision applied) when the source's
    /// stream breaks, as clientv3's watch does.
    async fn follow(
        &self,
        cfg: &ClientConfig,
        src: Client,
        dest: &Client,
        mut from: i64,
    ) -> Result<()> {
        let (key, range_end) = self.range();
        let mut src = Some(src);
        loop {
            let c = match src.take() {
                Some(c) => c,
                None => Client::connect_wait(cfg).await?,
            };
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let _ = tx.try_send(WatchRequest {
                request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                    key: key.clone(),
                    range_end: range_end.clone(),
                    start_revision: from,
                    ..Default::default()
                })),
            });
            let req = c.req_untimed(tokio_stream::wrappers::ReceiverStream::new(rx));
            let mut stream = match c.watch().watch(req).await {
                Ok(s) => s.into_inner(),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            while let Ok(Some(resp)) = stream.message().await {
                if resp.compact_revision != 0 {
                    return Err(CtlError::General(
                        "etcdserver: mvcc: required revision has been compacted".into(),
                    ));
                }
                self.apply(dest, &resp.events).await?;
                if let Some(kv) = resp.events.last().and_then(|e| e.kv.as_ref()) {
                    from = kv.mod_revision + 1;
                }
            }
            drop(tx);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// One watch response's events: a txn per source revision, split at
    /// `max_ops`.
    async fn apply(&self, dest: &Client, events: &[oxcd_proto::mvccpb::Event]) -> Result<()> {
        let mut ops: Vec<RequestOp> = Vec::new();
        let mut last_rev = 0;
        for ev in events {
            let Some(kv) = &ev.kv else { continue };
            if (last_rev != 0 && kv.mod_revision > last_rev) || ops.len() == self.max_ops {
                commit(dest, std::mem::take(&mut ops)).await?;
            }
            last_rev = kv.mod_revision;
            let key = self.dest_key(&kv.key);
            let op = if ev.r#type == EventType::Delete as i32 {
                request_op::Request::RequestDeleteRange(DeleteRangeRequest {
                    key,
                    ..Default::default()
                })
            } else {
                request_op::Request::RequestPut(PutRequest {
                    key,
                    value: kv.value.clone(),
                    ..Default::default()
                })
            };
            ops.push(RequestOp { request: Some(op) });
            self.total.fetch_add(1, Ordering::Relaxed);
        }
        if !ops.is_empty() {
            commit(dest, ops).await?;
        }
        Ok(())
    }
}

async fn commit(dest: &Client, ops: Vec<RequestOp>) -> Result<()> {
    let t = TxnRequest {
        success: ops,
        ..Default::default()
    };
    dest.call_untimed(dest.kv().txn(dest.req_untimed(t)))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror(prefix: &str, dest: &str) -> Mirror {
        Mirror {
            prefix: prefix.into(),
            dest_prefix: dest.into(),
            max_ops: 128,
            total: Arc::default(),
        }
    }

    #[test]
    fn keys_map_as_etcdctl_replaces_the_prefix() {
        assert_eq!(mirror("a/", "b/").dest_key(b"a/x"), b"b/x");
        assert_eq!(mirror("a/", "").dest_key(b"a/x"), b"x");
        assert_eq!(mirror("", "m/").dest_key(b"x"), b"m/x");
        // the first occurrence, as Go's strings.Replace(…, 1)
        assert_eq!(mirror("a", "b").dest_key(b"xaa"), b"xba");
    }
}
