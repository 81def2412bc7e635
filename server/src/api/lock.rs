//! The Lock service (`v3lockpb`), as etcd 3.5's: a lock named `name` is
//! held by the oldest key under `name/`; a caller writes its own key
//! `name/<lease hex>` on its lease and waits until every older key is
//! deleted (unlocked, revoked or expired). Nothing here keeps the lease
//! alive: that is the caller's part.

use super::local::{self, unknown, Cleanup, Local};
use super::Api;
use oxcd_proto::etcdserverpb::TxnRequest;
use oxcd_proto::v3lockpb::lock_server::Lock;
use oxcd_proto::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};
use tonic::{Request, Response, Status};

/// The caller's key was deleted while it waited (etcd's text).
const SESSION_EXPIRED: &str = "mutex: session is expired";

#[tonic::async_trait]
impl Lock for Api {
    async fn lock(&self, req: Request<LockRequest>) -> Result<Response<LockResponse>, Status> {
        let c = Local::new(self, &req);
        let r = req.into_inner();
        let lease = c.session(r.lease).await?;
        let mut prefix = r.name;
        prefix.push(b'/');
        let key = local::own_key(&prefix, lease);
        let t = c
            .txn(TxnRequest {
                compare: vec![local::created_at(&key, 0)],
                success: vec![
                    local::put_op(&key, b"", lease),
                    local::range_op(local::first_created(&prefix)),
                ],
                failure: vec![
                    local::get_op(&key),
                    local::range_op(local::first_created(&prefix)),
                ],
            })
            .await?;
        // a caller that already holds a key under the name (same lease)
        // keeps its place in the queue
        let my_rev = if t.succeeded {
            t.header.as_ref().map_or(0, |h| h.revision)
        } else {
            local::range_kvs(&t, 0)
                .first()
                .map_or(0, |kv| kv.create_revision)
        };
        let owner = local::range_kvs(&t, 1).first().map(|kv| kv.create_revision);
        if owner.is_none_or(|rev| rev == my_rev) {
            return Ok(Response::new(LockResponse {
                header: t.header,
                key,
            }));
        }
        // if the caller goes away while waiting, its key goes too
        let guard = {
            let (c, key) = (c.clone(), key.clone());
            Cleanup::new(move || {
                tokio::spawn(async move { c.delete(&key).await });
            })
        };
        let got = async {
            c.wait_deletes(&prefix, my_rev - 1).await?;
            c.get(&key).await
        }
        .await;
        guard.disarm();
        let got = match got {
            Ok(g) => g,
            Err(e) => {
                let _ = c.delete(&key).await;
                return Err(e);
            }
        };
        if got.kvs.is_empty() {
            return Err(Status::unknown(SESSION_EXPIRED));
        }
        Ok(Response::new(LockResponse {
            header: got.header,
            key,
        }))
    }

    async fn unlock(
        &self,
        req: Request<UnlockRequest>,
    ) -> Result<Response<UnlockResponse>, Status> {
        let c = Local::new(self, &req);
        let d = c.delete(&req.into_inner().key).await.map_err(unknown)?;
        Ok(Response::new(UnlockResponse { header: d.header }))
    }
}
