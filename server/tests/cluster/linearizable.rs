//! A recorded history under a fault, checked for linearizability
//! (`testkit::linearize`), against etcd 3.5.1 and oxcd alike: six clients
//! spread over the three members put, get (linearizable), compare-and-set
//! and delete on five keys for a few seconds while the leader is SIGKILLed
//! and restarted. Writes that got no answer are unknown outcomes; failed
//! reads are left out. A last read of every key closes the history, so an
//! acknowledged write that was lost shows up as a violation.

use crate::harness::*;
use crate::rpc::channel;
use oxcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use oxcd_proto::etcdserverpb::kv_client::KvClient;
use oxcd_proto::etcdserverpb::{
    request_op, Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::linearize::{check, Event, Op, Out, Verdict};
use testkit::rng::Rng;
use tonic::transport::Channel;

const KEYS: usize = 5;
const CLIENTS: usize = 6;
const RUN: Duration = Duration::from_secs(4);
/// Search steps per key before the checker gives up (undecided fails too).
const BUDGET: u64 = 1_000_000;

fn key(k: usize) -> String {
    format!("lin/{k}")
}

/// Runs one operation: Ok(answer), Err(true) when it surely did not reach
/// a member (the connection was refused), Err(false) when no answer came.
async fn run_op(kv: &mut KvClient<Channel>, k: &str, op: &Op) -> Result<Out, bool> {
    let unsent = |s: tonic::Status| {
        s.code() == tonic::Code::Unavailable && s.message().contains("error trying to connect")
    };
    let key = k.as_bytes().to_vec();
    match op {
        Op::Put(v) => kv
            .put(PutRequest {
                key,
                value: v.as_bytes().to_vec(),
                ..Default::default()
            })
            .await
            .map_err(unsent)
            .map(|_| Out::Done),
        Op::Delete => kv
            .delete_range(DeleteRangeRequest {
                key,
                ..Default::default()
            })
            .await
            .map_err(unsent)
            .map(|_| Out::Done),
        Op::Get => kv
            .range(RangeRequest {
                key,
                ..Default::default()
            })
            .await
            .map_err(unsent)
            .map(|r| {
                let v = r
                    .into_inner()
                    .kvs
                    .first()
                    .map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
                Out::Value(v)
            }),
        Op::Cas { expect, new } => {
            let compare = match expect {
                Some(v) => Compare {
                    key: key.clone(),
                    target: CompareTarget::Value as i32,
                    result: CompareResult::Equal as i32,
                    target_union: Some(TargetUnion::Value(v.as_bytes().to_vec())),
                    ..Default::default()
                },
                None => Compare {
                    key: key.clone(),
                    target: CompareTarget::Version as i32,
                    result: CompareResult::Equal as i32,
                    target_union: Some(TargetUnion::Version(0)),
                    ..Default::default()
                },
            };
            let put = RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key,
                    value: new.as_bytes().to_vec(),
                    ..Default::default()
                })),
            };
            kv.txn(TxnRequest {
                compare: vec![compare],
                success: vec![put],
                failure: vec![],
            })
            .await
            .map_err(unsent)
            .map(|r| Out::Swapped(r.into_inner().succeeded))
        }
    }
}

/// One client's loop until `end`, recording into `history`.
async fn client(
    id: usize,
    port: u16,
    t0: Instant,
    end: Instant,
    history: Arc<Mutex<Vec<Event>>>,
) -> usize {
    let mut kv = KvClient::new(channel(port, Some(Duration::from_secs(2))));
    let mut rng = Rng::new(0x5eed_0000 + id as u64 * 7919);
    let mut last_seen: Vec<Option<String>> = vec![None; KEYS];
    let mut n = 0;
    while Instant::now() < end {
        let k = rng.below(KEYS);
        n += 1;
        let value = format!("c{id}-{n}");
        let op = match rng.below(10) {
            0..=2 => Op::Put(value),
            3..=5 => Op::Get,
            6..=8 => Op::Cas {
                expect: last_seen[k].clone(),
                new: value,
            },
            _ => Op::Delete,
        };
        let call = t0.elapsed().as_micros() as u64;
        let out = run_op(&mut kv, &key(k), &op).await;
        let ret = t0.elapsed().as_micros() as u64;
        if let Ok(Out::Value(v)) = &out {
            last_seen[k] = v.clone();
        }
        if out.is_err() {
            // a member that is down refuses at once: do not spin on it
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let event = match out {
            Ok(out) => Event {
                key: key(k),
                op,
                out,
                call,
                ret: Some(ret),
            },
            // never sent, or a read without an answer: nothing changed
            Err(true) => continue,
            Err(false) if op == Op::Get => continue,
            Err(false) => Event {
                key: key(k),
                op,
                out: Out::Unknown,
                call,
                ret: None,
            },
        };
        if let Ok(mut h) = history.lock() {
            h.push(event);
        }
    }
    n
}

pub async fn linearizable_under_leader_kill(kind: Kind) {
    let mut c = Cluster::start(kind, 3, &[]).await;
    let t0 = Instant::now();
    let end = t0 + RUN;
    let history = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let port = c.members[i % 3].client_port;
            tokio::spawn(client(i, port, t0, end, history.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let leader = c.leader().await;
    c.kill(leader);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.restart(leader);
    let mut ops = 0;
    for t in tasks {
        ops += t.await.expect("a client task");
    }
    // the closing reads, once the cluster has a leader again
    c.wait_leader_among(&[0, 1, 2], ELECTION_TIMEOUT).await;
    let leader = c.leader().await;
    let port = c.members[leader].client_port;
    let mut kv = KvClient::new(channel(port, Some(RPC_TIMEOUT)));
    let mut events = history.lock().map(|h| h.clone()).unwrap_or_default();
    for k in 0..KEYS {
        let call = t0.elapsed().as_micros() as u64;
        let out = run_op(&mut kv, &key(k), &Op::Get)
            .await
            .unwrap_or_else(|_| panic!("the closing read of {} failed", key(k)));
        let ret = t0.elapsed().as_micros() as u64;
        events.push(Event {
            key: key(k),
            op: Op::Get,
            out,
            call,
            ret: Some(ret),
        });
    }
    let unknown = events.iter().filter(|e| e.ret.is_none()).count();
    let started = Instant::now();
    let verdict = check(&events, BUDGET);
    eprintln!(
        "linearizable ({kind:?}): {ops} operations, {} recorded, {unknown} unknown; checked in {:?}: {verdict:?}",
        events.len(),
        started.elapsed()
    );
    assert_eq!(
        verdict,
        Verdict::Ok,
        "{kind:?}: the history is not linearizable"
    );
    assert!(events.len() > 100, "too few operations to mean anything");
}
