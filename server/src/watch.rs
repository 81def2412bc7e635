//! Watchers and the hub that hands them the changes of each applied batch.
//! The hub is notified while the state lock is held for writing, and
//! watchers are registered under the read lock, so a new watcher's history
//! catch-up and its live events meet without a gap or an overlap.

use crate::mvcc::in_range;
use oxcd_proto::etcdserverpb::{ResponseHeader, WatchResponse};
use oxcd_proto::mvccpb::{event::EventType, Event};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::sync::mpsc::UnboundedSender;

pub type Outbox = UnboundedSender<Result<WatchResponse, tonic::Status>>;

/// Largest number of events sent in one response.
pub const MAX_EVENTS_PER_RESPONSE: usize = 1000;

pub struct Watcher {
    pub id: i64,
    pub key: Vec<u8>,
    pub end: Vec<u8>,
    pub prev_kv: bool,
    pub no_put: bool,
    pub no_delete: bool,
    /// `progress_notify`: told the current revision every
    /// `--experimental-watch-progress-notify-interval`
    pub progress_notify: bool,
    pub out: Outbox,
}

impl Watcher {
    fn wants(&self, e: &Event) -> bool {
        let Some(kv) = &e.kv else { return false };
        let is_put = e.r#type == EventType::Put as i32;
        if (is_put && self.no_put) || (!is_put && self.no_delete) {
            return false;
        }
        in_range(&kv.key, &self.key, &self.end)
    }

    /// The events this watcher asked for, shaped as it asked.
    pub fn select<'a>(&self, events: impl IntoIterator<Item = &'a Event>) -> Vec<Event> {
        events
            .into_iter()
            .filter(|e| self.wants(e))
            .map(|e| {
                let mut e = e.clone();
                if !self.prev_kv {
                    e.prev_kv = None;
                }
                e
            })
            .collect()
    }

    /// Sends events in responses of bounded size; false once the client is gone.
    pub fn send(&self, header: &ResponseHeader, events: Vec<Event>) -> bool {
        for chunk in events.chunks(MAX_EVENTS_PER_RESPONSE) {
            let resp = WatchResponse {
                header: Some(*header),
                watch_id: self.id,
                events: chunk.to_vec(),
                ..Default::default()
            };
            if self.out.send(Ok(resp)).is_err() {
                return false;
            }
        }
        true
    }
}

/// Calls `f` with the event of every record in revisions `start..=end`,
/// in order, with its previous version when `with_prev`.
pub fn for_each_event<T: redb::ReadableTable<&'static [u8], &'static [u8]>>(
    store: &crate::mvcc::Store,
    kv: &T,
    start: i64,
    end: i64,
    with_prev: bool,
    mut f: impl FnMut(Event) -> crate::error::Result<()>,
) -> crate::error::Result<()> {
    use prost::Message;
    store.for_each_record(kv, start, end, |r, tomb, bytes| {
        let rec = oxcd_proto::mvccpb::KeyValue::decode(bytes)?;
        let prev_kv = if with_prev {
            store.get(kv, &rec.key, r.main - 1).ok().flatten()
        } else {
            None
        };
        f(if tomb {
            Event {
                r#type: EventType::Delete as i32,
                kv: Some(oxcd_proto::mvccpb::KeyValue {
                    mod_revision: r.main,
                    ..rec
                }),
                prev_kv,
            }
        } else {
            Event {
                r#type: EventType::Put as i32,
                kv: Some(rec),
                prev_kv,
            }
        })
    })
}

#[derive(Default)]
pub struct Hub {
    watchers: Mutex<HashMap<(u64, i64), Watcher>>,
    streams: AtomicU64,
}

impl Hub {
    pub fn new_stream(&self) -> u64 {
        self.streams.fetch_add(1, Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.watchers.lock().map(|w| w.is_empty()).unwrap_or(true)
    }

    pub fn add(&self, stream: u64, w: Watcher) {
        if let Ok(mut m) = self.watchers.lock() {
            m.insert((stream, w.id), w);
        }
    }

    pub fn contains(&self, stream: u64, id: i64) -> bool {
        self.watchers
            .lock()
            .map(|m| m.contains_key(&(stream, id)))
            .unwrap_or(false)
    }

    pub fn remove(&self, stream: u64, id: i64) -> bool {
        self.watchers
            .lock()
            .map(|mut m| m.remove(&(stream, id)).is_some())
            .unwrap_or(false)
    }

    pub fn remove_stream(&self, stream: u64) {
        if let Ok(mut m) = self.watchers.lock() {
            m.retain(|(s, _), _| *s != stream);
        }
    }

    /// Cancels every watcher: the history it needs was compacted away
    /// (a snapshot replaced the store past it).
    pub fn cancel_all(&self, compact_revision: i64, header: ResponseHeader) {
        let Ok(mut m) = self.watchers.lock() else {
            return;
        };
        // etcd's shape: the header without a revision, no reason (clients
        // read the compact revision)
        let header = ResponseHeader {
            revision: 0,
            ..header
        };
        for w in m.values() {
            let _ = w.out.send(Ok(WatchResponse {
                header: Some(header),
                watch_id: w.id,
                canceled: true,
                compact_revision,
                ..Default::default()
            }));
        }
        m.clear();
    }

    /// Tells every watcher that asked for progress notifications the
    /// revision it has seen everything up to (call it under the state
    /// lock, so that no batch before `header` is still to be delivered).
    pub fn progress(&self, header: ResponseHeader) {
        let Ok(mut m) = self.watchers.lock() else {
            return;
        };
        m.retain(|_, w| {
            !w.progress_notify
                || w.out
                    .send(Ok(WatchResponse {
                        header: Some(header),
                        watch_id: w.id,
                        ..Default::default()
                    }))
                    .is_ok()
        });
    }

    /// Delivers a batch's events; drops watchers whose client is gone.
    pub fn notify(&self, events: &[Event], header: ResponseHeader) {
        let Ok(mut m) = self.watchers.lock() else {
            return;
        };
        m.retain(|_, w| {
            let mine = w.select(events);
            mine.is_empty() || w.send(&header, mine)
        });
    }
}
