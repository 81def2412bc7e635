//! clientv3's concurrency session as `lock` and `elect` hold one: a lease
//! of the given TTL, kept alive in the background until dropped. The lock
//! and election themselves are the server's (its Lock and Election
//! services), which every etcd since 3.2 serves.

use oxcd_proto::etcdserverpb::LeaseGrantRequest;

use crate::client::Client;
use crate::error::Result;
use crate::global::ClientConfig;

pub struct Session {
    pub lease: i64,
    keeper: tokio::task::JoinHandle<()>,
}

impl Session {
    /// Grants the lease (no deadline, as clientv3's session) and starts
    /// keeping it alive.
    pub async fn new(c: &Client, cfg: &ClientConfig, ttl: i64) -> Result<Session> {
        let g = LeaseGrantRequest { ttl, id: 0 };
        let lease = c
            .call_untimed(c.lease().lease_grant(c.req_untimed(g)))
            .await?
            .id;
        let cfg = cfg.clone();
        let keeper = tokio::spawn(async move {
            let _ = crate::keepalive::run(&cfg, None, lease, |_| Ok(())).await;
        });
        Ok(Session { lease, keeper })
    }

    /// The key this session holds under `name` (the server's
    /// `name/<lease hex>`).
    pub fn key(&self, name: &[u8]) -> Vec<u8> {
        [name, b"/", format!("{:x}", self.lease).as_bytes()].concat()
    }

    /// Resolves when the lease is lost (expired, revoked, or not renewed
    /// in time).
    pub async fn done(&mut self) {
        let _ = (&mut self.keeper).await;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}
