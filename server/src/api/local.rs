//! An in-process client of this member's own KV, Lease and Watch services,
//! as etcd's `v3client`: the Lock and Election services are written
//! against it, so every step they take is an ordinary request, checked and
//! replicated as one, carrying the caller's token and certificate.
//!
//! etcd's services reach their in-process client through a Go client that
//! turns every server error into a plain error value, which gRPC then
//! sends as code Unknown with the error's text: [`unknown`] does the same,
//! so callers see the codes etcd's callers see.

use super::Api;
use crate::net::ConnInfo;
use oxcd_proto::etcdserverpb::{
    compare, kv_server::Kv, lease_server::Lease, range_request, request_op,
    watch_request::RequestUnion, Compare, DeleteRangeRequest, DeleteRangeResponse,
    LeaseGrantRequest, RangeRequest, RangeResponse, RequestOp, ResponseHeader, TxnRequest,
    TxnResponse, WatchCreateRequest, WatchRequest, WatchResponse,
};
use oxcd_proto::mvccpb::{event::EventType, KeyValue};
use tokio_stream::StreamExt;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::{Request, Status};

/// The TTL of a lease the services grant for a caller that brought none
/// (etcd's default session TTL).
pub(super) const SESSION_TTL: i64 = 60;

/// etcd's callers see every error of these services as code Unknown.
pub(super) fn unknown(s: Status) -> Status {
    Status::unknown(s.message().to_string())
}

#[derive(Clone)]
pub(super) struct Local {
    api: Api,
    token: Option<MetadataValue<Ascii>>,
    conn: Option<ConnInfo>,
}

impl Local {
    /// A client with the credentials of `req`.
    pub(super) fn new<T>(api: &Api, req: &Request<T>) -> Local {
        Local {
            api: api.clone(),
            token: req.metadata().get("token").cloned(),
            conn: req.extensions().get::<ConnInfo>().cloned(),
        }
    }

    fn req<T>(&self, m: T) -> Request<T> {
        let mut r = Request::new(m);
        if let Some(t) = &self.token {
            r.metadata_mut().insert("token", t.clone());
        }
        if let Some(c) = &self.conn {
            r.extensions_mut().insert(c.clone());
        }
        r
    }

    pub(super) async fn txn(&self, t: TxnRequest) -> Result<TxnResponse, Status> {
        let r = <Api as Kv>::txn(&self.api, self.req(t)).await;
        Ok(r.map_err(unknown)?.into_inner())
    }

    pub(super) async fn range(&self, q: RangeRequest) -> Result<RangeResponse, Status> {
        let r = <Api as Kv>::range(&self.api, self.req(q)).await;
        Ok(r.map_err(unknown)?.into_inner())
    }

    pub(super) async fn get(&self, key: &[u8]) -> Result<RangeResponse, Status> {
        self.range(RangeRequest {
            key: key.to_vec(),
            ..Default::default()
        })
        .await
    }

    pub(super) async fn delete(&self, key: &[u8]) -> Result<DeleteRangeResponse, Status> {
        let d = DeleteRangeRequest {
            key: key.to_vec(),
            ..Default::default()
        };
        let r = <Api as Kv>::delete_range(&self.api, self.req(d)).await;
        Ok(r.map_err(unknown)?.into_inner())
    }

    /// The lease a request names, or a fresh one of [`SESSION_TTL`] that
    /// nobody keeps alive when it names none (etcd's session).
    pub(super) async fn session(&self, lease: i64) -> Result<i64, Status> {
        if lease != 0 {
            return Ok(lease);
        }
        let g = LeaseGrantRequest {
            ttl: SESSION_TTL,
            id: 0,
        };
        let r = <Api as Lease>::lease_grant(&self.api, self.req(g)).await;
        Ok(r.map_err(unknown)?.into_inner().id)
    }

    /// A watch of `key` (and `range_end`) from `rev`; ends when dropped.
    pub(super) fn watch(&self, key: &[u8], range_end: &[u8], rev: i64) -> Watch {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let create = WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                key: key.to_vec(),
                range_end: range_end.to_vec(),
                start_revision: rev,
                ..Default::default()
            })),
        };
        // the receiver is alive: the send cannot fail
        let _ = tx.send(Ok(create));
        let inbound = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
        let stream = match self.api.sender(&self.req(())) {
            Ok(sender) => self.api.watch_stream(sender, inbound),
            Err(e) => Box::pin(tokio_stream::once(Err(unknown(e.into())))),
        };
        Watch { _keep: tx, stream }
    }

    /// etcd's waitDeletes: until no key under `prefix` created at or
    /// before `max_create_rev` is left, wait for the newest of them to go.
    /// Returns the header of the read that found none.
    pub(super) async fn wait_deletes(
        &self,
        prefix: &[u8],
        max_create_rev: i64,
    ) -> Result<Option<ResponseHeader>, Status> {
        loop {
            let r = self
                .range(RangeRequest {
                    key: prefix.to_vec(),
                    range_end: prefix_end(prefix),
                    limit: 1,
                    sort_order: range_request::SortOrder::Descend as i32,
                    sort_target: range_request::SortTarget::Create as i32,
                    max_create_revision: max_create_rev,
                    ..Default::default()
                })
                .await?;
            let Some(last) = r.kvs.first() else {
                return Ok(r.header);
            };
            let rev = r.header.as_ref().map_or(0, |h| h.revision);
            self.wait_delete(&last.key, rev).await?;
        }
    }

    async fn wait_delete(&self, key: &[u8], rev: i64) -> Result<(), Status> {
        let mut w = self.watch(key, &[], rev);
        loop {
            let r = w.next().await?;
            if r.events
                .iter()
                .any(|e| e.r#type == EventType::Delete as i32)
            {
                return Ok(());
            }
        }
    }

    /// The oldest key under `prefix` (etcd's `WithFirstCreate`).
    pub(super) async fn first_created(&self, prefix: &[u8]) -> Result<RangeResponse, Status> {
        self.range(first_created(prefix)).await
    }
}

/// A watch stream of [`Local::watch`].
pub(super) struct Watch {
    _keep: tokio::sync::mpsc::UnboundedSender<Result<WatchRequest, Status>>,
    stream: super::watch::WatchStream,
}

impl Watch {
    /// The next response with events (or a cancellation, as an error).
    pub(super) async fn next(&mut self) -> Result<WatchResponse, Status> {
        loop {
            let r = match self.stream.next().await {
                Some(r) => r.map_err(unknown)?,
                None => return Err(Status::unknown("lost watcher")),
            };
            if r.canceled {
                let why = if r.compact_revision != 0 {
                    "etcdserver: mvcc: required revision has been compacted".to_string()
                } else {
                    r.cancel_reason
                };
                return Err(Status::unknown(why));
            }
            if !r.events.is_empty() {
                return Ok(r);
            }
        }
    }
}

pub(super) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The range of the oldest key under `prefix`.
pub(super) fn first_created(prefix: &[u8]) -> RangeRequest {
    RangeRequest {
        key: prefix.to_vec(),
        range_end: prefix_end(prefix),
        limit: 1,
        sort_order: range_request::SortOrder::Ascend as i32,
        sort_target: range_request::SortTarget::Create as i32,
        ..Default::default()
    }
}

/// `create_revision(key) == rev`
pub(super) fn created_at(key: &[u8], rev: i64) -> Compare {
    Compare {
        result: compare::CompareResult::Equal as i32,
        target: compare::CompareTarget::Create as i32,
        key: key.to_vec(),
        target_union: Some(compare::TargetUnion::CreateRevision(rev)),
        range_end: Vec::new(),
    }
}

pub(super) fn put_op(key: &[u8], value: &[u8], lease: i64) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(
            oxcd_proto::etcdserverpb::PutRequest {
                key: key.to_vec(),
                value: value.to_vec(),
                lease,
                ..Default::default()
            },
        )),
    }
}

pub(super) fn range_op(q: RangeRequest) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestRange(q)),
    }
}

pub(super) fn get_op(key: &[u8]) -> RequestOp {
    range_op(RangeRequest {
        key: key.to_vec(),
        ..Default::default()
    })
}

pub(super) fn delete_op(key: &[u8]) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestDeleteRange(
            DeleteRangeRequest {
                key: key.to_vec(),
                ..Default::default()
            },
        )),
    }
}

/// The key-values of the `i`th response of a txn, if it was a range.
pub(super) fn range_kvs(t: &TxnResponse, i: usize) -> &[KeyValue] {
    use oxcd_proto::etcdserverpb::response_op::Response as R;
    match t.responses.get(i).and_then(|r| r.response.as_ref()) {
        Some(R::ResponseRange(r)) => &r.kvs,
        _ => &[],
    }
}

/// `name/<lease in lower-case hex>`: the key a lock holder or candidate
/// writes (etcd's `%x` of the lease ID).
pub(super) fn own_key(prefix: &[u8], lease: i64) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(format!("{lease:x}").as_bytes());
    k
}

/// Runs a clean-up step in the background if the request it guards is
/// dropped (the caller went away) before [`Cleanup::disarm`].
pub(super) struct Cleanup(Option<Box<dyn FnOnce() + Send>>);

impl Cleanup {
    pub(super) fn new(f: impl FnOnce() + Send + 'static) -> Cleanup {
        Cleanup(Some(Box::new(f)))
    }
    pub(super) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"a/"), b"a0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn own_keys_are_lower_hex_without_padding() {
        assert_eq!(own_key(b"l/", 0x51c6a24f853ea705), b"l/51c6a24f853ea705");
        assert_eq!(own_key(b"/", 10), b"/a");
    }
}
