//! Watchers, and the hub that hands them the changes of each applied batch.
//!
//! The node thread only hands each watch stream the batch (one shared
//! [`Batch`] per stream, not a copy per watcher); the stream's own task
//! picks the events each of its watchers asked for, on the runtime's
//! threads, as the client reads them ([`hub::Delivery`]). So thousands of
//! watchers do not hold up the apply loop, and the work spreads over the
//! cores.
//!
//! The hub is notified while the state lock is held for writing, and
//! watchers are registered under the read lock, so a new watcher's history
//! catch-up and its live events meet without a gap: a batch already queued
//! for the stream when the watcher registered is skipped by revision
//! (`Watcher::from_rev`), so there is no overlap either.

mod hub;

pub use hub::{Delivery, Hub};

use crate::mvcc::in_range;
use oxcd_proto::etcdserverpb::{ResponseHeader, WatchResponse};
use oxcd_proto::mvccpb::{event::EventType, Event};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// What a watch stream's task receives: a response ready to send, or an
/// applied batch to pick its watchers' events from.
pub enum Msg {
    Response(Result<WatchResponse, tonic::Status>),
    Batch(Arc<Batch>),
}

/// The events of one applied batch, with the header they are sent under.
pub struct Batch {
    pub header: ResponseHeader,
    pub events: Vec<Event>,
}

pub type Outbox = UnboundedSender<Msg>;

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
    /// the first revision it hears of live (the revision it registered at,
    /// plus one): earlier ones came with its history
    pub from_rev: i64,
}

impl Watcher {
    fn wants(&self, e: &Event) -> bool {
        let Some(kv) = &e.kv else { return false };
        let is_put = e.r#type == EventType::Put as i32;
        if (is_put && self.no_put) || (!is_put && self.no_delete) || kv.mod_revision < self.from_rev
        {
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

    /// What of `batch` this watcher asked for, as responses (none when
    /// nothing).
    pub fn responses_to(&self, batch: &Batch) -> impl Iterator<Item = WatchResponse> + '_ {
        self.responses(&batch.header, self.select(&batch.events))
    }

    /// `events` as responses of bounded size.
    pub fn responses(
        &self,
        header: &ResponseHeader,
        events: Vec<Event>,
    ) -> impl Iterator<Item = WatchResponse> + '_ {
        let header = *header;
        let mut events = events.into_iter().peekable();
        std::iter::from_fn(move || {
            events.peek()?;
            Some(WatchResponse {
                header: Some(header),
                watch_id: self.id,
                events: events.by_ref().take(MAX_EVENTS_PER_RESPONSE).collect(),
                ..Default::default()
            })
        })
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
