//! Fault runs: a three-member cluster whose peer traffic goes through the
//! harness's proxy (`testkit::netproxy`), the recorded workload
//! (`workload.rs`) for a few seconds, one fault injected and healed in the
//! middle, then every checker: linearizability of the key-value history
//! (`testkit::linearize`), acknowledged writes in the final history, the
//! watch guarantees, monotonic revisions per client, and convergence (same
//! revision and HashKV on every member, and the same final history).
//!
//! The short tier (`.ci/run`) runs each fault once against etcd 3.5.1 and
//! oxcd; the long tier (`scripts/robustness.sh`, the ignored test
//! `robustness_long`) runs many iterations of every fault and prints a table
//! per fault kind.

use crate::harness::*;
use crate::workload::{self, ClientLog, WatchStop};
use oxcd_proto::etcdserverpb::{HashKvRequest, RangeRequest, StatusRequest};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::linearize::{check, Event, Op, Verdict};
use testkit::netproxy::Link;
use testkit::watchcheck::{check_monotonic, check_reference, check_watcher, check_writes};

const CLIENTS: usize = 6;
/// The fault starts this long after the workload, and is healed after
/// `FAULT`; the workload goes on `AFTER` past the heal.
const BEFORE: Duration = Duration::from_millis(1500);
const FAULT: Duration = Duration::from_millis(2500);
const AFTER: Duration = Duration::from_millis(1500);
/// Search steps per key before the checker gives up (undecided fails too).
const BUDGET: u64 = 2_000_000;
const CONVERGE_LIMIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    KillLeader,
    KillFollower,
    PauseLeader,
    PauseFollower,
    IsolateLeader,
    IsolateFollower,
    /// the leader's outgoing traffic lost, its incoming delivered
    LeaderOneWay,
    /// every link 50-150 ms late
    Delay,
    /// every link closes its connection on 2% of the chunks
    Lossy,
}

pub const ALL: [Fault; 9] = [
    Fault::KillLeader,
    Fault::KillFollower,
    Fault::PauseLeader,
    Fault::PauseFollower,
    Fault::IsolateLeader,
    Fault::IsolateFollower,
    Fault::LeaderOneWay,
    Fault::Delay,
    Fault::Lossy,
];

/// What one run measured and found.
#[derive(Default)]
pub struct Report {
    pub ops: usize,
    pub unknown: usize,
    /// violations by checker: "linearizability", "lost write", "watch",
    /// "monotonic", "convergence"
    pub violations: Vec<(&'static str, String)>,
    /// from the heal until every member applied what was committed then
    pub converge: Duration,
    /// what the proxy did: bytes a cut discarded, connections reset
    pub dropped: u64,
    pub resets: u64,
    pub errors: BTreeMap<String, usize>,
    pub watch_reconnects: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{} ops, {} unknown, caught up {:.2?} after heal, {} watch reconnects, proxy dropped {} B and reset {}, errors {:?}, violations {:?}",
            self.ops, self.unknown, self.converge, self.watch_reconnects, self.dropped, self.resets, self.errors, self.violations
        )
    }
}

/// How an injected fault is undone.
enum Heal {
    Restart(usize),
    Resume(usize),
    Proxy,
}

/// Injects `fault` on the current leader or a follower.
async fn inject(c: &mut Cluster, fault: Fault) -> Heal {
    let leader = c.leader().await;
    let n = c.members.len();
    let target = match fault {
        Fault::KillLeader | Fault::PauseLeader | Fault::IsolateLeader | Fault::LeaderOneWay => {
            leader
        }
        _ => (leader + 1) % n,
    };
    match fault {
        Fault::KillLeader | Fault::KillFollower => {
            c.kill(target);
            return Heal::Restart(target);
        }
        Fault::PauseLeader | Fault::PauseFollower => {
            c.pause(target);
            return Heal::Resume(target);
        }
        _ => {}
    }
    let proxy = c.proxy.as_ref().expect("a proxied cluster");
    match fault {
        Fault::IsolateLeader | Fault::IsolateFollower => proxy.isolate(target),
        Fault::LeaderOneWay => {
            for j in (0..n).filter(|&j| j != leader) {
                proxy.cut_one_way(leader, j);
            }
        }
        Fault::Delay => proxy.delay_all(Duration::from_millis(50), Duration::from_millis(100)),
        Fault::Lossy => {
            for a in 0..n {
                for b in (0..n).filter(|&b| b != a) {
                    let link = Link {
                        reset_per_mille: 20,
                        ..Link::default()
                    };
                    proxy.set_link(a, b, link);
                }
            }
        }
        _ => {}
    }
    Heal::Proxy
}

fn heal(c: &mut Cluster, h: Heal) {
    match h {
        Heal::Restart(i) => c.restart(i),
        Heal::Resume(i) => c.resume(i),
        Heal::Proxy => {
            if let Some(p) = &c.proxy {
                p.heal();
            }
        }
    }
}

fn ports(c: &Cluster) -> Vec<u16> {
    c.members.iter().map(|m| m.client_port).collect()
}

/// From the heal until every member has applied the highest index the
/// members reported committed in the first poll after the heal (a member
/// that does not answer yet is polled again).
async fn catch_up(ports: Vec<u16>) -> Result<Duration, String> {
    let healed = Instant::now();
    let mut target = None;
    let mut applied = vec![0; ports.len()];
    while healed.elapsed() < CONVERGE_LIMIT {
        let mut committed = 0;
        for (i, &p) in ports.iter().enumerate() {
            let mut c = clients(p, Duration::from_millis(500));
            if let Ok(s) = c.maint.status(StatusRequest {}).await {
                let s = s.into_inner();
                applied[i] = s.raft_applied_index;
                committed = committed.max(s.raft_index);
            }
        }
        if target.is_none() && committed > 0 {
            target = Some(committed);
        }
        if target.is_some_and(|t| applied.iter().all(|&a| a >= t)) {
            return Ok(healed.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!(
        "members had applied {applied:?} of {target:?} {CONVERGE_LIMIT:?} after the heal"
    ))
}

/// Polls until every member serves the same revision with the same HashKV;
/// returns that revision.
async fn converge(c: &mut Cluster) -> Result<i64, String> {
    let deadline = Instant::now() + CONVERGE_LIMIT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match try_converged(c).await {
            Ok(rev) => return Ok(rev),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("not converged after {CONVERGE_LIMIT:?}: {last}"))
}

async fn try_converged(c: &Cluster) -> Result<i64, String> {
    let mut seen = Vec::new();
    for m in &c.members {
        let mut cl = clients(m.client_port, Duration::from_secs(1));
        let r = cl
            .kv
            .range(RangeRequest {
                key: b"\0".to_vec(),
                count_only: true,
                serializable: true,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("{}: {}", m.name, e.message()))?;
        let rev = r.into_inner().header.map(|h| h.revision).unwrap_or(0);
        let h = cl
            .maint
            .hash_kv(HashKvRequest { revision: rev })
            .await
            .map_err(|e| format!("{}: HashKV: {}", m.name, e.message()))?
            .into_inner();
        seen.push((rev, h.hash));
    }
    if seen.iter().all(|s| *s == seen[0]) {
        Ok(seen[0].0)
    } else {
        Err(format!("(revision, hash) per member: {seen:?}"))
    }
}

/// One fault run against a fresh cluster of `kind`.
pub async fn run(kind: Kind, fault: Fault) -> Report {
    let mut c = Cluster::start_proxied(kind, 3, &[]).await;
    let mut report = Report::default();
    let t0 = Instant::now();
    let end = t0 + BEFORE + FAULT + AFTER;
    let stop: WatchStop = Arc::new(Mutex::new(None));
    let watchers: Vec<_> = c
        .members
        .iter()
        .map(|m| tokio::spawn(workload::watcher(m.client_port, stop.clone())))
        .collect();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let port = c.members[i % 3].client_port;
            tokio::spawn(workload::client(i, port, t0, end))
        })
        .collect();
    tokio::time::sleep(BEFORE).await;
    let undo = inject(&mut c, fault).await;
    tokio::time::sleep_until((t0 + BEFORE + FAULT).into()).await;
    heal(&mut c, undo);
    let caught_up = tokio::spawn(catch_up(ports(&c)));
    let mut logs = Vec::new();
    for t in clients {
        logs.push(t.await.expect("a client task"));
    }
    let final_rev = match converge(&mut c).await {
        Ok(rev) => rev,
        Err(e) => {
            report.violations.push(("convergence", e));
            let leader = c.leader().await;
            c.current_rev(leader).await
        }
    };
    report.converge = match caught_up.await.expect("the catch-up poll") {
        Ok(d) => d,
        Err(e) => {
            report.violations.push(("convergence", e));
            CONVERGE_LIMIT
        }
    };
    if let Some(p) = &c.proxy {
        let st = p.stats();
        report.dropped = st.dropped.values().sum();
        report.resets = st.resets;
    }
    let mut events: Vec<Event> = logs.iter().flat_map(|l| l.events.clone()).collect();
    closing_reads(&mut c, t0, &mut events).await;
    report.ops = logs.iter().map(|l| l.ops).sum();
    report.unknown = events.iter().filter(|e| e.ret.is_none()).count();
    for l in &logs {
        for (e, n) in &l.errors {
            *report.errors.entry(e.clone()).or_default() += n;
        }
    }
    match check(&events, BUDGET) {
        Verdict::Ok => {}
        v => report
            .violations
            .push(("linearizability", format!("{v:?}"))),
    }
    // the final history, the same on every member
    let mut reference = Vec::new();
    for (i, m) in c.members.iter().enumerate() {
        match workload::history(m.client_port, final_rev).await {
            Ok(h) if i == 0 => reference = h,
            Ok(h) if h != reference => report.violations.push((
                "convergence",
                format!("{}'s history differs from {}'s", m.name, c.members[0].name),
            )),
            Ok(_) => {}
            Err(e) => report
                .violations
                .push(("watch", format!("{}: {e}", m.name))),
        }
    }
    if let Err(e) = check_reference(&reference) {
        report.violations.push(("watch", e));
    }
    check_clients(&logs, &reference, &mut report);
    if let Ok(mut s) = stop.lock() {
        *s = Some((final_rev, Instant::now() + Duration::from_secs(10)));
    }
    for (i, w) in watchers.into_iter().enumerate() {
        let (log, reconnects) = w.await.expect("a watcher task");
        report.watch_reconnects += reconnects;
        if log.last_rev() < final_rev {
            report.violations.push((
                "watch",
                format!(
                    "watcher on m{} stopped at {} of {final_rev}",
                    i + 1,
                    log.last_rev()
                ),
            ));
        }
        if let Err(e) = check_watcher(&log, &reference) {
            report
                .violations
                .push(("watch", format!("watcher on m{}: {e}", i + 1)));
        }
    }
    eprintln!("{kind:?} {fault:?}: {report}");
    report
}

/// Lost or invented writes, and revisions going back per client.
fn check_clients(
    logs: &[ClientLog],
    reference: &[testkit::watchcheck::WatchEvent],
    report: &mut Report,
) {
    let acked: Vec<_> = logs.iter().flat_map(|l| l.acked.clone()).collect();
    let sent: HashSet<(String, String)> = logs.iter().flat_map(|l| l.sent.clone()).collect();
    if let Err(e) = check_writes(reference, &acked, &sent) {
        report.violations.push(("lost write", e));
    }
    for (i, l) in logs.iter().enumerate() {
        for (what, revs) in [("linearizable", &l.lin_revs), ("serializable", &l.ser_revs)] {
            if let Err(e) = check_monotonic(&format!("client {i}, {what}"), revs) {
                report.violations.push(("monotonic", e));
            }
        }
    }
}

/// A linearizable read of every key on the leader closes the history, so a
/// lost acknowledged write shows up as a violation.
async fn closing_reads(c: &mut Cluster, t0: Instant, events: &mut Vec<Event>) {
    let leader = c.leader().await;
    for k in 0..workload::KEYS {
        let key = workload::key(k);
        let call = t0.elapsed().as_micros() as u64;
        let v = c.get(leader, &key).await;
        let ret = t0.elapsed().as_micros() as u64;
        events.push(Event {
            key,
            op: Op::Get,
            out: testkit::linearize::Out::Value(v),
            call,
            ret: Some(ret),
        });
    }
}

/// The short tier: one run of `fault`, no violation.
pub async fn once(kind: Kind, fault: Fault) {
    let r = run(kind, fault).await;
    assert!(r.ops > 100, "{kind:?} {fault:?}: too few operations: {r}");
    assert!(r.violations.is_empty(), "{kind:?} {fault:?}: {r}");
    // the proxy's faults acted
    match fault {
        Fault::IsolateLeader | Fault::IsolateFollower | Fault::LeaderOneWay => {
            assert!(r.dropped > 0, "{fault:?}: the cut dropped nothing: {r}")
        }
        Fault::Lossy => assert!(r.resets > 0, "lossy links reset nothing: {r}"),
        _ => {}
    }
}

macro_rules! short_tier {
    ($($name:ident => $fault:ident),* $(,)?) => {
        $(pub async fn $name(kind: Kind) {
            once(kind, Fault::$fault).await
        })*
    };
}

short_tier!(
    kill_leader => KillLeader,
    kill_follower => KillFollower,
    pause_leader => PauseLeader,
    pause_follower => PauseFollower,
    isolate_leader => IsolateLeader,
    isolate_follower => IsolateFollower,
    leader_one_way => LeaderOneWay,
    delay => Delay,
    lossy => Lossy,
);
