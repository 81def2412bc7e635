//! The recorded workload of the fault runs (`faults.rs`): clients pinned to
//! members do put, linearizable and serializable get, compare-and-set,
//! delete, and put-with-lease / lease revoke on a few keys, one request at a
//! time, recording each operation's call and return times and outcome; and
//! watchers, one per member, that follow the key space with the
//! require-leader metadata (as Kubernetes watches) and reconnect from their
//! last revision + 1 after any error.
//!
//! Outcomes: an answer is recorded as it came; a refused connection means
//! the request was never sent (left out); any other error on a write is an
//! unknown outcome (it may have been committed), and on a read it is left
//! out. Every answered request's header revision feeds the monotonic
//! checks.

use crate::rpc::channel;
use oxcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use oxcd_proto::etcdserverpb::kv_client::KvClient;
use oxcd_proto::etcdserverpb::lease_client::LeaseClient;
use oxcd_proto::etcdserverpb::watch_client::WatchClient;
use oxcd_proto::etcdserverpb::watch_request::RequestUnion;
use oxcd_proto::etcdserverpb::{
    request_op, Compare, DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest, PutRequest,
    RangeRequest, RequestOp, TxnRequest, WatchCreateRequest, WatchRequest,
};
use oxcd_proto::mvccpb::event::EventType;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::linearize::{Event, Op, Out};
use testkit::rng::Rng;
use testkit::watchcheck::{AckedWrite, WatchEvent, WatchLog};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Status};

pub const KEYS: usize = 5;
pub const PREFIX: &str = "lin/";
/// Each client request's deadline.
const OP_TIMEOUT: Duration = Duration::from_secs(2);

pub fn key(k: usize) -> String {
    format!("{PREFIX}{k}")
}

/// What one client recorded.
#[derive(Default)]
pub struct ClientLog {
    pub ops: usize,
    /// the linearizability history (linearizable operations only)
    pub events: Vec<Event>,
    pub acked: Vec<AckedWrite>,
    /// (key, value) of every write sent, answered or not
    pub sent: HashSet<(String, String)>,
    /// header revisions of answered linearizable requests, in order
    pub lin_revs: Vec<i64>,
    /// header revisions of answered serializable reads, in order
    pub ser_revs: Vec<i64>,
    /// client-visible errors: "code: message" → count
    pub errors: BTreeMap<String, usize>,
}

/// A request's failure: never sent, or sent without an answer.
enum Failed {
    Unsent,
    NoAnswer,
}

fn classify(s: &Status, errors: &mut BTreeMap<String, usize>) -> Failed {
    let m = s.message();
    let unsent = s.code() == Code::Unavailable
        && (m.contains("error trying to connect") || m.contains("Connection refused"));
    // messages carry addresses and inner details: the first clause is enough
    let short: String = m.split(':').take(2).collect::<Vec<_>>().join(":");
    *errors
        .entry(format!("{:?}: {}", s.code(), short.trim()))
        .or_default() += 1;
    if unsent {
        Failed::Unsent
    } else {
        Failed::NoAnswer
    }
}

fn header_rev(h: Option<&oxcd_proto::etcdserverpb::ResponseHeader>) -> i64 {
    h.map(|h| h.revision).unwrap_or(0)
}

struct Client {
    id: usize,
    kv: KvClient<Channel>,
    lease: LeaseClient<Channel>,
    rng: Rng,
    t0: Instant,
    last_seen: Vec<Option<String>>,
    /// the lease this client last attached to each key
    leases: Vec<i64>,
    log: ClientLog,
}

impl Client {
    fn now(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    /// Records a linearizable operation's outcome.
    fn record(&mut self, k: usize, op: Op, call: u64, out: Result<(Out, i64), Failed>) {
        let ret = self.now();
        let (out, ret) = match out {
            Ok((out, rev)) => {
                self.log.lin_revs.push(rev);
                (out, Some(ret))
            }
            Err(Failed::Unsent) => return,
            Err(Failed::NoAnswer) if op == Op::Get => return,
            Err(Failed::NoAnswer) => (Out::Unknown, None),
        };
        if let Out::Value(v) = &out {
            self.last_seen[k] = v.clone();
        }
        self.log.events.push(Event {
            key: key(k),
            op,
            out,
            call,
            ret,
        });
    }

    async fn put(&mut self, k: usize, value: String, lease: i64) -> Result<(Out, i64), Failed> {
        self.log.sent.insert((key(k), value.clone()));
        let r = self
            .kv
            .put(PutRequest {
                key: key(k).into_bytes(),
                value: value.clone().into_bytes(),
                lease,
                ..Default::default()
            })
            .await
            .map_err(|s| classify(&s, &mut self.log.errors))?;
        let rev = header_rev(r.get_ref().header.as_ref());
        self.log.acked.push(AckedWrite {
            key: key(k),
            value: Some(value),
            rev,
        });
        Ok((Out::Done, rev))
    }

    async fn get(&mut self, k: usize, serializable: bool) -> Result<(Out, i64), Failed> {
        let r = self
            .kv
            .range(RangeRequest {
                key: key(k).into_bytes(),
                serializable,
                ..Default::default()
            })
            .await
            .map_err(|s| classify(&s, &mut self.log.errors))?
            .into_inner();
        let v = r
            .kvs
            .first()
            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
        Ok((Out::Value(v), header_rev(r.header.as_ref())))
    }

    async fn cas(
        &mut self,
        k: usize,
        expect: Option<String>,
        new: String,
    ) -> Result<(Out, i64), Failed> {
        self.log.sent.insert((key(k), new.clone()));
        let compare = match &expect {
            Some(v) => Compare {
                key: key(k).into_bytes(),
                target: CompareTarget::Value as i32,
                result: CompareResult::Equal as i32,
                target_union: Some(TargetUnion::Value(v.clone().into_bytes())),
                ..Default::default()
            },
            None => Compare {
                key: key(k).into_bytes(),
                target: CompareTarget::Version as i32,
                result: CompareResult::Equal as i32,
                target_union: Some(TargetUnion::Version(0)),
                ..Default::default()
            },
        };
        let put = RequestOp {
            request: Some(request_op::Request::RequestPut(PutRequest {
                key: key(k).into_bytes(),
                value: new.clone().into_bytes(),
                ..Default::default()
            })),
        };
        let r = self
            .kv
            .txn(TxnRequest {
                compare: vec![compare],
                success: vec![put],
                failure: vec![],
            })
            .await
            .map_err(|s| classify(&s, &mut self.log.errors))?
            .into_inner();
        let rev = header_rev(r.header.as_ref());
        if r.succeeded {
            self.log.acked.push(AckedWrite {
                key: key(k),
                value: Some(new),
                rev,
            });
        }
        Ok((Out::Swapped(r.succeeded), rev))
    }

    async fn delete(&mut self, k: usize) -> Result<(Out, i64), Failed> {
        let r = self
            .kv
            .delete_range(DeleteRangeRequest {
                key: key(k).into_bytes(),
                ..Default::default()
            })
            .await
            .map_err(|s| classify(&s, &mut self.log.errors))?
            .into_inner();
        let rev = header_rev(r.header.as_ref());
        if r.deleted > 0 {
            self.log.acked.push(AckedWrite {
                key: key(k),
                value: None,
                rev,
            });
        }
        Ok((Out::Done, rev))
    }

    /// A new lease (60 s: it never expires within a run); None if refused.
    async fn grant(&mut self) -> Option<i64> {
        match self
            .lease
            .lease_grant(LeaseGrantRequest { ttl: 60, id: 0 })
            .await
        {
            Ok(r) => Some(r.into_inner().id),
            Err(s) => {
                classify(&s, &mut self.log.errors);
                None
            }
        }
    }

    /// Ok(Some) revoked, Ok(None) the lease was gone already (no change).
    async fn revoke(&mut self, lease: i64) -> Result<Option<(Out, i64)>, Failed> {
        match self
            .lease
            .lease_revoke(LeaseRevokeRequest { id: lease })
            .await
        {
            Ok(r) => Ok(Some((Out::Done, header_rev(r.get_ref().header.as_ref())))),
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(classify(&s, &mut self.log.errors)),
        }
    }

    async fn one(&mut self) {
        let k = self.rng.below(KEYS);
        self.log.ops += 1;
        let value = format!("c{}-{}", self.id, self.log.ops);
        let call = self.now();
        let failed = match self.rng.below(20) {
            0..=3 => {
                let out = self.put(k, value.clone(), 0).await;
                let failed = out.is_err();
                self.record(k, Op::Put(value), call, out);
                failed
            }
            4..=7 => {
                let out = self.get(k, false).await;
                let failed = out.is_err();
                self.record(k, Op::Get, call, out);
                failed
            }
            8..=9 => match self.get(k, true).await {
                Ok((_, rev)) => {
                    self.log.ser_revs.push(rev);
                    false
                }
                Err(_) => true,
            },
            10..=13 => {
                let expect = self.last_seen[k].clone();
                let out = self.cas(k, expect.clone(), value.clone()).await;
                let failed = out.is_err();
                let op = Op::Cas { expect, new: value };
                self.record(k, op, call, out);
                failed
            }
            14..=15 => {
                let out = self.delete(k).await;
                let failed = out.is_err();
                self.record(k, Op::Delete, call, out);
                failed
            }
            16..=17 => match self.grant().await {
                Some(lease) => {
                    let call = self.now();
                    let out = self.put(k, value.clone(), lease).await;
                    let failed = out.is_err();
                    self.leases[k] = lease;
                    self.record(k, Op::PutLease(value, lease), call, out);
                    failed
                }
                None => true,
            },
            _ => {
                let lease = std::mem::take(&mut self.leases[k]);
                if lease == 0 {
                    return;
                }
                match self.revoke(lease).await {
                    Ok(None) => false,
                    Ok(Some(out)) => {
                        self.record(k, Op::Revoke(lease), call, Ok(out));
                        false
                    }
                    Err(f) => {
                        self.record(k, Op::Revoke(lease), call, Err(f));
                        true
                    }
                }
            }
        };
        if failed {
            // a member that is down refuses at once: do not spin on it
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Client `id` on the member at `port` until `end`.
pub async fn client(id: usize, port: u16, t0: Instant, end: Instant) -> ClientLog {
    let ch = channel(port, Some(OP_TIMEOUT));
    let mut c = Client {
        id,
        kv: KvClient::new(ch.clone()),
        lease: LeaseClient::new(ch),
        rng: Rng::new(0x5eed_0000 + id as u64 * 7919),
        t0,
        last_seen: vec![None; KEYS],
        leases: vec![0; KEYS],
        log: ClientLog::default(),
    };
    while Instant::now() < end {
        c.one().await;
    }
    c.log
}

/// Until when a watcher keeps going: the final revision to reach, and a
/// deadline for reaching it (set once the run has converged).
pub type WatchStop = Arc<Mutex<Option<(i64, Instant)>>>;

/// One watch stream on the whole key space from `from`, with the
/// require-leader metadata; returns the first error or cancellation.
async fn watch_once(
    port: u16,
    from: i64,
    log: &mut WatchLog,
    stop: &WatchStop,
) -> Result<(), String> {
    let (tx, rx) = mpsc::channel(1);
    let create = WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: PREFIX.as_bytes().to_vec(),
            range_end: b"lin0".to_vec(),
            start_revision: from,
            ..Default::default()
        })),
    };
    tx.send(create).await.map_err(|e| e.to_string())?;
    let mut req = tonic::Request::new(ReceiverStream::new(rx));
    req.metadata_mut().insert(
        "hasleader",
        tonic::metadata::MetadataValue::from_static("true"),
    );
    let mut client = WatchClient::new(channel(port, None));
    let connect = tokio::time::timeout(OP_TIMEOUT, client.watch(req));
    let mut stream = match connect.await {
        Ok(r) => r.map_err(|s| s.message().to_string())?.into_inner(),
        Err(_) => return Err("watch not established in time".into()),
    };
    loop {
        if done(log, stop) {
            return Ok(());
        }
        let msg = match tokio::time::timeout(Duration::from_millis(200), stream.message()).await {
            Err(_) => continue,
            Ok(m) => m.map_err(|s| s.message().to_string())?,
        };
        let Some(resp) = msg else {
            return Err("stream ended".into());
        };
        if resp.compact_revision != 0 {
            return Err(format!("compacted at {}", resp.compact_revision));
        }
        if !resp.events.is_empty() {
            let events = resp
                .events
                .iter()
                .filter_map(|e| {
                    let kv = e.kv.as_ref()?;
                    Some(WatchEvent {
                        rev: kv.mod_revision,
                        key: String::from_utf8_lossy(&kv.key).into_owned(),
                        put: e.r#type == EventType::Put as i32,
                        value: String::from_utf8_lossy(&kv.value).into_owned(),
                    })
                })
                .collect();
            log.responses.push(events);
        }
        if resp.canceled {
            return Err(format!("canceled: {}", resp.cancel_reason));
        }
    }
}

fn done(log: &WatchLog, stop: &WatchStop) -> bool {
    match stop.lock().ok().and_then(|s| *s) {
        Some((target, deadline)) => log.last_rev() >= target || Instant::now() > deadline,
        None => false,
    }
}

/// A watcher on the member at `port` from revision 1, reconnecting from its
/// last revision + 1; returns what it received and how many times it had
/// to reconnect.
pub async fn watcher(port: u16, stop: WatchStop) -> (WatchLog, usize) {
    let mut log = WatchLog {
        start_rev: 1,
        responses: Vec::new(),
    };
    let mut reconnects = 0;
    loop {
        let from = log.last_rev() + 1;
        let r = watch_once(port, from, &mut log, &stop).await;
        if done(&log, &stop) {
            return (log, reconnects);
        }
        if let Err(e) = r {
            if e.starts_with("compacted") {
                // nothing is compacted in a run: give up, the check fails
                return (log, reconnects);
            }
        }
        reconnects += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every event of the key space from revision 1 up to `until`, read by a
/// fresh watch on the member at `port` (the final history).
pub async fn history(port: u16, until: i64) -> Result<Vec<WatchEvent>, String> {
    let stop: WatchStop = Arc::new(Mutex::new(Some((
        until,
        Instant::now() + Duration::from_secs(10),
    ))));
    let mut log = WatchLog {
        start_rev: 1,
        responses: Vec::new(),
    };
    watch_once(port, 1, &mut log, &stop).await?;
    if log.last_rev() < until {
        return Err(format!("the history reached {} of {until}", log.last_rev()));
    }
    Ok(log.responses.into_iter().flatten().collect())
}
