//! The hub: every open watch stream, its watchers, and what each stream's
//! task sends ([`Delivery`]).

use super::{Batch, Msg, Outbox, Watcher};
use oxcd_proto::etcdserverpb::{ResponseHeader, WatchResponse};
use oxcd_proto::mvccpb::Event;
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::mpsc::UnboundedReceiver;
use tonic::Status;

/// One stream's watchers, by watch ID: shared by the hub (registration,
/// progress, cancellation) and the stream's [`Delivery`] (selection).
type Watchers = Arc<Mutex<HashMap<i64, Watcher>>>;

struct Stream {
    out: Outbox,
    watchers: Watchers,
    /// batches queued and not yet taken by the stream's [`Delivery`]
    backlog: Arc<AtomicUsize>,
}

/// Batches a stream may have queued: past this (a client that stopped
/// reading) the node thread queues only the events its watchers want, as
/// responses, so what waits is bounded by what the client asked for.
const MAX_BACKLOG: usize = 1024;

#[derive(Default)]
pub struct Hub {
    streams: Mutex<HashMap<u64, Stream>>,
    next_stream: AtomicU64,
    /// watchers over all streams: none means no events need building
    watchers: AtomicUsize,
}

impl Hub {
    /// Opens a watch stream: its number, the outbox its requests answer
    /// into, and the responses to send to the client.
    pub fn open(&self) -> (u64, Outbox, Delivery) {
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let (out, rx) = tokio::sync::mpsc::unbounded_channel();
        let watchers = Watchers::default();
        let backlog = Arc::new(AtomicUsize::new(0));
        if let Ok(mut m) = self.streams.lock() {
            m.insert(
                id,
                Stream {
                    out: out.clone(),
                    watchers: watchers.clone(),
                    backlog: backlog.clone(),
                },
            );
        }
        let delivery = Delivery {
            rx,
            watchers,
            backlog,
            pending: VecDeque::new(),
        };
        (id, out, delivery)
    }

    /// Forgets a stream and its watchers (its client is gone).
    pub fn close(&self, stream: u64) {
        let removed = self.streams.lock().ok().and_then(|mut m| m.remove(&stream));
        if let Some(s) = removed {
            self.forget(&s);
        }
    }

    fn forget(&self, s: &Stream) {
        let n = s
            .watchers
            .lock()
            .map(|mut w| w.drain().count())
            .unwrap_or(0);
        self.watchers.fetch_sub(n, Ordering::Relaxed);
    }

    /// No watcher on any stream.
    pub fn is_empty(&self) -> bool {
        self.watchers.load(Ordering::Relaxed) == 0
    }

    fn with_stream<T>(
        &self,
        stream: u64,
        f: impl FnOnce(&mut HashMap<i64, Watcher>) -> T,
    ) -> Option<T> {
        let m = self.streams.lock().ok()?;
        let mut w = m.get(&stream)?.watchers.lock().ok()?;
        Some(f(&mut w))
    }

    pub fn add(&self, stream: u64, w: Watcher) {
        let new = self.with_stream(stream, |ws| ws.insert(w.id, w).is_none());
        if new == Some(true) {
            self.watchers.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn contains(&self, stream: u64, id: i64) -> bool {
        self.with_stream(stream, |ws| ws.contains_key(&id))
            .unwrap_or(false)
    }

    pub fn remove(&self, stream: u64, id: i64) -> bool {
        let removed = self
            .with_stream(stream, |ws| ws.remove(&id).is_some())
            .unwrap_or(false);
        if removed {
            self.watchers.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Cancels every watcher: the history it needs was compacted away
    /// (a snapshot replaced the store past it).
    pub fn cancel_all(&self, compact_revision: i64, header: ResponseHeader) {
        let Ok(m) = self.streams.lock() else {
            return;
        };
        // etcd's shape: the header without a revision, no reason (clients
        // read the compact revision)
        let header = ResponseHeader {
            revision: 0,
            ..header
        };
        for s in m.values() {
            let Ok(mut ws) = s.watchers.lock() else {
                continue;
            };
            for id in ws.keys() {
                let _ = s.out.send(Msg::Response(Ok(WatchResponse {
                    header: Some(header),
                    watch_id: *id,
                    canceled: true,
                    compact_revision,
                    ..Default::default()
                })));
            }
            self.watchers.fetch_sub(ws.len(), Ordering::Relaxed);
            ws.clear();
        }
    }

    /// Tells every watcher that asked for progress notifications the
    /// revision it has seen everything up to (call it under the state
    /// lock, so that no batch before `header` is still to be handed out;
    /// the stream's queue keeps the order).
    pub fn progress(&self, header: ResponseHeader) {
        let Ok(m) = self.streams.lock() else {
            return;
        };
        for s in m.values() {
            let Ok(ws) = s.watchers.lock() else {
                continue;
            };
            for w in ws.values().filter(|w| w.progress_notify) {
                let _ = s.out.send(Msg::Response(Ok(WatchResponse {
                    header: Some(header),
                    watch_id: w.id,
                    ..Default::default()
                })));
            }
        }
    }

    /// Hands a batch's events to every stream with watchers; forgets
    /// streams whose client is gone.
    pub fn notify(&self, events: Vec<Event>, header: ResponseHeader) {
        let Ok(mut m) = self.streams.lock() else {
            return;
        };
        let batch = Arc::new(Batch { header, events });
        m.retain(|_, s| {
            let open = match s.watchers.lock() {
                Ok(ws) if ws.is_empty() => !s.out.is_closed(),
                Ok(ws) if s.backlog.load(Ordering::Relaxed) >= MAX_BACKLOG => {
                    // a stream not read for a while: its watchers' events
                    // only, picked here
                    ws.values().all(|w| {
                        w.responses_to(&batch)
                            .all(|r| s.out.send(Msg::Response(Ok(r))).is_ok())
                    })
                }
                Ok(_) => {
                    s.backlog.fetch_add(1, Ordering::Relaxed);
                    s.out.send(Msg::Batch(batch.clone())).is_ok()
                }
                Err(_) => false,
            };
            if !open {
                self.forget(s);
            }
            open
        });
    }
}

/// The responses of one watch stream, in order: each batch becomes the
/// responses of the watchers that want some of it, when the client is
/// ready for them.
pub struct Delivery {
    rx: UnboundedReceiver<Msg>,
    watchers: Watchers,
    backlog: Arc<AtomicUsize>,
    pending: VecDeque<Result<WatchResponse, Status>>,
}

impl Delivery {
    fn expand(&mut self, batch: &Batch) {
        let Ok(ws) = self.watchers.lock() else {
            return;
        };
        for w in ws.values() {
            self.pending.extend(w.responses_to(batch).map(Ok));
        }
    }
}

impl tokio_stream::Stream for Delivery {
    type Item = Result<WatchResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Poll::Ready(Some(r));
            }
            match std::task::ready!(self.rx.poll_recv(cx)) {
                Some(Msg::Response(r)) => return Poll::Ready(Some(r)),
                Some(Msg::Batch(b)) => {
                    self.backlog.fetch_sub(1, Ordering::Relaxed);
                    self.expand(&b)
                }
                None => return Poll::Ready(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxcd_proto::mvccpb::{event::EventType, KeyValue};
    use tokio_stream::StreamExt;

    fn put(key: &str, rev: i64) -> Event {
        Event {
            r#type: EventType::Put as i32,
            kv: Some(KeyValue {
                key: key.into(),
                mod_revision: rev,
                ..Default::default()
            }),
            prev_kv: None,
        }
    }

    fn watcher(id: i64, key: &str, end: &str, from_rev: i64) -> Watcher {
        Watcher {
            id,
            key: key.into(),
            end: end.into(),
            prev_kv: false,
            no_put: false,
            no_delete: false,
            progress_notify: false,
            from_rev,
        }
    }

    fn header(revision: i64) -> ResponseHeader {
        ResponseHeader {
            revision,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn each_watcher_gets_its_own_events_once_in_order() {
        let hub = Hub::default();
        let (s, out, mut d) = hub.open();
        assert!(hub.is_empty());
        // a batch queued before the watcher registered at revision 2 (its
        // history covered it) is not delivered again
        hub.notify(vec![put("a", 2)], header(2));
        hub.add(s, watcher(1, "a", "", 3));
        hub.add(s, watcher(2, "b", "c", 3));
        assert!(!hub.is_empty());
        hub.notify(vec![put("a", 3), put("b", 4), put("x", 5)], header(5));
        hub.notify(vec![put("a", 6)], header(6));
        // a marker behind them: nothing else was queued before it
        let marker = WatchResponse {
            watch_id: 99,
            ..Default::default()
        };
        let _ = out.send(Msg::Response(Ok(marker)));
        let mut got = Vec::new();
        loop {
            let r = d.next().await.expect("open").expect("no error");
            if r.watch_id == 99 {
                break;
            }
            let revs: Vec<i64> = r
                .events
                .iter()
                .map(|e| e.kv.as_ref().map_or(0, |k| k.mod_revision))
                .collect();
            got.push((r.watch_id, r.header.map_or(0, |h| h.revision), revs));
        }
        drop(out);
        hub.close(s);
        assert!(hub.is_empty());
        assert!(d.next().await.is_none());
        got.sort_by_key(|g| (g.0, g.1));
        assert_eq!(got, vec![(1, 5, vec![3]), (1, 6, vec![6]), (2, 5, vec![4])]);
    }

    #[tokio::test]
    async fn a_removed_watcher_hears_nothing_more_and_closed_streams_are_forgotten() {
        let hub = Hub::default();
        let (s, out, mut d) = hub.open();
        hub.add(s, watcher(7, "k", "", 1));
        assert!(hub.contains(s, 7));
        assert!(hub.remove(s, 7));
        assert!(!hub.remove(s, 7));
        hub.notify(vec![put("k", 2)], header(2));
        drop(out);
        hub.close(s);
        assert!(d.next().await.is_none());
        // a stream whose delivery is gone is dropped at the next batch
        let (s2, out2, d2) = hub.open();
        hub.add(s2, watcher(1, "k", "", 1));
        drop((out2, d2));
        hub.notify(vec![put("k", 3)], header(3));
        assert!(hub.is_empty());
        assert!(!hub.contains(s2, 1));
    }

    #[tokio::test]
    async fn a_stream_not_read_gets_only_its_watchers_events_queued() {
        let hub = Hub::default();
        let (s, _out, mut d) = hub.open();
        // no watcher yet: nothing is queued for the stream
        hub.notify(vec![put("b", 1)], header(1));
        assert_eq!(d.backlog.load(Ordering::Relaxed), 0);
        hub.add(s, watcher(1, "a", "", 2));
        let n = MAX_BACKLOG as i64;
        for rev in 2..2 + 2 * n {
            // every tenth batch has an event the watcher wants
            let key = if rev % 10 == 0 { "a" } else { "b" };
            hub.notify(vec![put(key, rev)], header(rev));
        }
        // past the bound, batches are no longer queued whole
        assert_eq!(d.backlog.load(Ordering::Relaxed), MAX_BACKLOG);
        let mut got = Vec::new();
        while got.len() < (2 * n / 10) as usize {
            let r = d.next().await.expect("open").expect("no error");
            got.extend(
                r.events
                    .iter()
                    .map(|e| e.kv.as_ref().map_or(0, |k| k.mod_revision)),
            );
        }
        let want: Vec<i64> = (2..2 + 2 * n).filter(|r| r % 10 == 0).collect();
        assert_eq!(got, want, "every wanted event once, in order");
        assert_eq!(d.backlog.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn responses_are_split_at_the_bound() {
        let w = watcher(1, "k", "", 1);
        let events: Vec<Event> = (0..super::super::MAX_EVENTS_PER_RESPONSE + 1)
            .map(|i| put("k", i as i64 + 1))
            .collect();
        let sizes: Vec<usize> = w
            .responses(&header(9), events)
            .map(|r| r.events.len())
            .collect();
        assert_eq!(sizes, vec![super::super::MAX_EVENTS_PER_RESPONSE, 1]);
    }
}
