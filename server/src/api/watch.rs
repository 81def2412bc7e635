//! The Watch service: one bidirectional stream carries many watchers.

use super::Api;
use crate::auth::AuthHeader;
use crate::error::EtcdError;
use crate::node::Server;
use crate::watch::{Msg, Outbox, Watcher, MAX_EVENTS_PER_RESPONSE};
use oxcd_proto::authpb::permission::Type as PermType;
use oxcd_proto::etcdserverpb::watch_server::Watch;
use oxcd_proto::etcdserverpb::{
    watch_create_request::FilterType, watch_request::RequestUnion, ResponseHeader,
    WatchCreateRequest, WatchRequest, WatchResponse,
};
use std::pin::Pin;
use std::sync::Arc;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

/// etcd's text for a watch ID already in use on the stream.
const DUPLICATE_ID: &str = "mvcc: duplicate watch ID provided on the WatchStream";
const EMPTY_RANGE: &str = "mvcc: watcher range is empty";

pub(super) type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Watch for Api {
    type WatchStream = WatchStream;

    async fn watch(
        &self,
        req: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        // the stream's credentials, checked against each watch's range
        let sender = self.sender(&req)?;
        Ok(Response::new(self.watch_stream(sender, req.into_inner())))
    }
}

impl Api {
    /// The watch stream for the requests of `inbound` (a gRPC stream, or
    /// the JSON gateway's), sent by `sender`.
    pub(super) fn watch_stream<S>(&self, sender: AuthHeader, mut inbound: S) -> WatchStream
    where
        S: Stream<Item = Result<WatchRequest, Status>> + Send + Unpin + 'static,
    {
        let srv = self.srv.clone();
        let (stream, out, delivery) = srv.hub.open();
        tokio::spawn(async move {
            let mut next_id = 0i64;
            while let Some(Ok(msg)) = inbound.next().await {
                match msg.request_union {
                    Some(RequestUnion::CreateRequest(c)) => {
                        // etcd refuses a range that holds no key ("\0"
                        // as the end means every key from `key`), then a
                        // watch ID in use on the stream
                        let empty =
                            !c.range_end.is_empty() && c.range_end != [0] && c.key >= c.range_end;
                        let refused = if empty {
                            Some(EMPTY_RANGE)
                        } else if c.watch_id != 0 && srv.hub.contains(stream, c.watch_id) {
                            Some(DUPLICATE_ID)
                        } else {
                            None
                        };
                        if let Some(reason) = refused {
                            let _ = out.send(Msg::Response(Ok(WatchResponse {
                                header: Some(srv.header(srv.current_rev())),
                                watch_id: -1,
                                created: true,
                                canceled: true,
                                cancel_reason: reason.into(),
                                ..Default::default()
                            })));
                            continue;
                        }
                        // as etcd's: only an ID the stream picks moves its
                        // counter, past the IDs clients chose
                        let id = if c.watch_id != 0 {
                            c.watch_id
                        } else {
                            while srv.hub.contains(stream, next_id) {
                                next_id += 1;
                            }
                            next_id += 1;
                            next_id - 1
                        };
                        if let Err(e) = create(&srv, stream, id, c, &out, &sender) {
                            let _ = out.send(Msg::Response(Err(e.into())));
                        }
                    }
                    Some(RequestUnion::CancelRequest(c)) if srv.hub.remove(stream, c.watch_id) => {
                        let _ = out.send(Msg::Response(Ok(WatchResponse {
                            header: Some(srv.header(srv.current_rev())),
                            watch_id: c.watch_id,
                            canceled: true,
                            ..Default::default()
                        })));
                    }
                    Some(RequestUnion::ProgressRequest(_)) => {
                        // a progress notification carries no watch ID (-1)
                        let _ = out.send(Msg::Response(Ok(WatchResponse {
                            header: Some(srv.header(srv.current_rev())),
                            watch_id: -1,
                            ..Default::default()
                        })));
                    }
                    Some(RequestUnion::CancelRequest(_)) | None => {}
                }
            }
            srv.hub.close(stream);
        });
        Box::pin(delivery)
    }
}

/// Registers a watcher, first sending its history from `start_revision`
/// when that lies in the past. Runs under the state read lock so that no
/// batch is applied between the history and the registration.
fn create(
    srv: &Arc<Server>,
    stream: u64,
    id: i64,
    c: WatchCreateRequest,
    out: &Outbox,
    sender: &AuthHeader,
) -> Result<(), EtcdError> {
    let mut w = Watcher {
        id,
        prev_kv: c.prev_kv,
        no_put: c.filters.contains(&(FilterType::Noput as i32)),
        no_delete: c.filters.contains(&(FilterType::Nodelete as i32)),
        progress_notify: c.progress_notify,
        key: c.key,
        end: c.range_end,
        // its history is selected first; live events from the next revision
        from_rev: 0,
    };
    srv.read(|st, kv| {
        let cur = st.store.current_rev;
        let header = srv.header(cur);
        if st
            .auth
            .check(sender, &w.key, &w.end, PermType::Read)
            .is_err()
        {
            // etcd cancels such a watch at once, with the gRPC error's text
            let _ =
                out.send(Msg::Response(Ok(WatchResponse {
                    header: Some(header),
                    watch_id: id,
                    created: true,
                    canceled: true,
                    cancel_reason:
                        "rpc error: code = PermissionDenied desc = etcdserver: permission denied"
                            .into(),
                    ..Default::default()
                })));
            return Ok(());
        }
        let created = WatchResponse {
            header: Some(header),
            watch_id: id,
            created: true,
            ..Default::default()
        };
        if out.send(Msg::Response(Ok(created))).is_err() {
            return Ok(());
        }
        let start = c.start_revision;
        if start > 0 && start < st.store.compact_rev {
            // etcd's shape: the header without a revision, no reason
            let _ = out.send(Msg::Response(Ok(WatchResponse {
                header: Some(ResponseHeader {
                    revision: 0,
                    ..header
                }),
                watch_id: id,
                canceled: true,
                compact_revision: st.store.compact_rev,
                ..Default::default()
            })));
            return Ok(());
        }
        if start > 0 && start <= cur {
            let send = |events: Vec<oxcd_proto::mvccpb::Event>| {
                for r in w.responses(&header, events) {
                    let _ = out.send(Msg::Response(Ok(r)));
                }
            };
            let mut events = Vec::new();
            crate::watch::for_each_event(&st.store, kv, start, cur, w.prev_kv, |e| {
                events.extend(w.select([&e]));
                if events.len() >= MAX_EVENTS_PER_RESPONSE {
                    send(std::mem::take(&mut events));
                }
                Ok(())
            })?;
            if !events.is_empty() {
                send(events);
            }
        }
        // live events from the next revision, or from the one asked for
        // when it lies in the future
        w.from_rev = (cur + 1).max(start);
        srv.hub.add(stream, w);
        Ok(())
    })
}
