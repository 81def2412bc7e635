//! Leases, watches and maintenance across members: leases granted, kept alive
//! and asked about through followers, a lease outliving its leader, a watch
//! on a follower, MemberUpdate (including a move to a new peer URL), and
//! Defragment on every member.

use crate::harness::*;
use oxcd_proto::etcdserverpb::lease_client::LeaseClient;
use oxcd_proto::etcdserverpb::watch_client::WatchClient;
use oxcd_proto::etcdserverpb::{
    watch_request, CompactionRequest, DefragmentRequest, DeleteRangeRequest, LeaseGrantRequest,
    LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
    Member as PbMember, MemberUpdateRequest, PutRequest, RangeRequest, StatusResponse,
    WatchCreateRequest, WatchRequest,
};
use oxcd_proto::mvccpb::event::EventType;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, Streaming};

/// How long [`retry`] keeps retrying transient errors.
const RETRY_LIMIT: Duration = Duration::from_secs(20);

/// A lazily connected channel; `None`: no per-call timeout (for streams).
fn channel(port: u16, timeout: Option<Duration>) -> Channel {
    let mut e = Endpoint::from_shared(url(port))
        .expect("valid endpoint")
        .connect_timeout(Duration::from_secs(1));
    if let Some(t) = timeout {
        e = e.timeout(t);
    }
    e.connect_lazy()
}

fn lease_client(port: u16) -> LeaseClient<Channel> {
    LeaseClient::new(channel(port, Some(RPC_TIMEOUT)))
}

/// Errors worth retrying: no leader yet, a leader change, a timeout, or an
/// endpoint that is (re)starting.
fn transient(s: &Status) -> bool {
    let m = s.message();
    matches!(s.code(), Code::Unavailable | Code::DeadlineExceeded)
        || m.contains("leader changed")
        || m.contains("no leader")
        || m.contains("timed out")
        || m.contains("timeout")
        || m.contains("transport error")
}

/// Retries `f` on [`transient`] errors (logged) with a backoff from 100 ms
/// to 1 s, for up to `limit`; panics on any other error.
async fn retry<T, F, Fut>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let started = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if transient(&e) && started.elapsed() < limit => {
                eprintln!(
                    "{what}: transient error after {:.1?}: {:?} {:?}; retrying in {backoff:?}",
                    started.elapsed(),
                    e.code(),
                    e.message()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) => panic!(
                "{what}: {:?} {:?} (after {:.1?})",
                e.code(),
                e.message(),
                started.elapsed()
            ),
        }
    }
}

async fn grant(port: u16, ttl: i64) -> i64 {
    let cl = lease_client(port);
    let r = retry(&format!("LeaseGrant on :{port}"), RETRY_LIMIT, || {
        let mut cl = cl.clone();
        async move {
            cl.lease_grant(LeaseGrantRequest { ttl, id: 0 })
                .await
                .map(|r| r.into_inner())
        }
    })
    .await;
    assert!(r.error.is_empty(), "LeaseGrant error: {}", r.error);
    assert_eq!(r.ttl, ttl, "granted TTL");
    assert_ne!(r.id, 0, "lease ID");
    r.id
}

async fn time_to_live(port: u16, id: i64) -> LeaseTimeToLiveResponse {
    let cl = lease_client(port);
    retry(&format!("LeaseTimeToLive on :{port}"), RETRY_LIMIT, || {
        let mut cl = cl.clone();
        async move {
            cl.lease_time_to_live(LeaseTimeToLiveRequest { id, keys: true })
                .await
                .map(|r| r.into_inner())
        }
    })
    .await
}

/// A put with a lease; the header revision.
async fn put_with_lease(port: u16, key: &str, value: &str, lease: i64) -> i64 {
    let cl = clients(port, RPC_TIMEOUT);
    retry(&format!("put {key} on :{port}"), RETRY_LIMIT, || {
        let mut cl = cl.clone();
        let req = PutRequest {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            lease,
            ..Default::default()
        };
        async move {
            cl.kv
                .put(req)
                .await
                .map(|r| r.into_inner().header.expect("header").revision)
        }
    })
    .await
}

/// A put that retries transient errors; the header revision.
async fn put_retry(port: u16, key: &str, value: &str) -> i64 {
    put_with_lease(port, key, value, 0).await
}

/// A linearizable get that retries transient errors.
async fn get_retry(port: u16, key: &str) -> Option<Vec<u8>> {
    let cl = clients(port, RPC_TIMEOUT);
    retry(&format!("get {key} on :{port}"), RETRY_LIMIT, || {
        let mut cl = cl.clone();
        let req = RangeRequest {
            key: key.as_bytes().to_vec(),
            ..Default::default()
        };
        async move {
            cl.kv
                .range(req)
                .await
                .map(|r| r.into_inner().kvs.first().map(|kv| kv.value.clone()))
        }
    })
    .await
}

/// One LeaseKeepAlive stream.
struct KeepAlive {
    tx: mpsc::Sender<LeaseKeepAliveRequest>,
    rx: Streaming<LeaseKeepAliveResponse>,
    id: i64,
    port: u16,
}

impl KeepAlive {
    /// Opens the stream with a first keep-alive (servers may send no
    /// response headers before the first answer); the stream and that TTL.
    async fn open(port: u16, id: i64, limit: Duration) -> Result<(KeepAlive, i64), Status> {
        let (tx, rx) = mpsc::channel(4);
        tx.send(LeaseKeepAliveRequest { id })
            .await
            .expect("queue the first keep-alive");
        let mut cl = LeaseClient::new(channel(port, None));
        let rx = tokio::time::timeout(limit, cl.lease_keep_alive(ReceiverStream::new(rx)))
            .await
            .map_err(|_| Status::deadline_exceeded("opening LeaseKeepAlive timed out"))??
            .into_inner();
        let mut ka = KeepAlive { tx, rx, id, port };
        let ttl = ka.answer(limit).await?;
        Ok((ka, ttl))
    }

    /// Sends one keep-alive; the TTL answered.
    async fn renew(&mut self, limit: Duration) -> Result<i64, Status> {
        self.tx
            .send(LeaseKeepAliveRequest { id: self.id })
            .await
            .map_err(|_| Status::unavailable("keep-alive stream closed"))?;
        self.answer(limit).await
    }

    async fn answer(&mut self, limit: Duration) -> Result<i64, Status> {
        match tokio::time::timeout(limit, self.rx.message()).await {
            Err(_) => Err(Status::deadline_exceeded(format!(
                "no keep-alive answer from :{} within {limit:?}",
                self.port
            ))),
            Ok(Err(e)) => Err(e),
            Ok(Ok(None)) => Err(Status::unavailable("keep-alive stream ended")),
            Ok(Ok(Some(r))) => {
                assert_eq!(r.id, self.id, "keep-alive answered for another lease");
                Ok(r.ttl)
            }
        }
    }
}

/// (1) A lease granted through a follower, attached through the other
/// follower and kept alive only through followers outlives its TTL; once
/// the keep-alives stop, it expires on schedule everywhere.
pub async fn lease_via_followers(kind: Kind) {
    const TTL: i64 = 5;
    let mut c = Cluster::start(kind, 3, &[]).await;
    let l = c.leader().await;
    let f = c.followers().await;
    let (f0, f1) = (f[0], f[1]);
    let port = |i: usize| c.members[i].client_port;
    let (lp, p0, p1) = (port(l), port(f0), port(f1));

    let id = grant(p0, TTL).await;
    let key = "l1/leased";
    put_with_lease(p1, key, "v", id).await;

    let (mut ka0, ttl) = KeepAlive::open(p0, id, RPC_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("LeaseKeepAlive on follower {}: {e}", c.members[f0].name));
    assert!(ttl > 0, "first keep-alive on a follower answered TTL {ttl}");
    let (mut ka1, ttl) = KeepAlive::open(p1, id, RPC_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("LeaseKeepAlive on follower {}: {e}", c.members[f1].name));
    assert!(ttl > 0, "first keep-alive on a follower answered TTL {ttl}");
    let mut last_renew = Instant::now();

    // ~12 s of keep-alives, once a second, alternating between the followers.
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(12) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (ka, who) = if n % 2 == 0 {
            (&mut ka0, f0)
        } else {
            (&mut ka1, f1)
        };
        let ttl = ka.renew(RPC_TIMEOUT).await.unwrap_or_else(|e| {
            panic!(
                "keep-alive #{n} on follower {}: {:?} {}",
                c.members[who].name,
                e.code(),
                e.message()
            )
        });
        assert!(
            ttl > 0,
            "keep-alive #{n} on {} answered TTL {ttl}",
            c.members[who].name
        );
        last_renew = Instant::now();
        n += 1;
    }
    eprintln!(
        "lease_via_followers ({kind:?}): {n} keep-alives through followers over {:.1?}",
        started.elapsed()
    );
    for i in 0..3 {
        assert_eq!(
            get_retry(port(i), key).await.as_deref(),
            Some(&b"v"[..]),
            "{key} on {} after {:.1?} of keep-alives through followers (TTL {TTL} s)",
            c.members[i].name,
            started.elapsed()
        );
    }
    for (i, p) in [(f0, p0), (l, lp)] {
        let r = time_to_live(p, id).await;
        eprintln!(
            "lease_via_followers ({kind:?}): LeaseTimeToLive on {}: TTL {} granted {} keys {:?}",
            c.members[i].name,
            r.ttl,
            r.granted_ttl,
            r.keys
                .iter()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect::<Vec<_>>()
        );
        assert!(
            r.ttl > 0 && r.ttl <= TTL,
            "LeaseTimeToLive on {}: TTL {}",
            c.members[i].name,
            r.ttl
        );
        assert_eq!(r.granted_ttl, TTL, "granted TTL on {}", c.members[i].name);
        assert_eq!(r.keys, vec![key.as_bytes().to_vec()], "lease's keys");
    }

    // Stop the keep-alives: the key must go everywhere within TTL + ~3 s.
    drop(ka0);
    drop(ka1);
    let limit = Duration::from_secs(TTL as u64 + 3);
    let mut gone_on: Vec<Option<Duration>> = vec![None; 3];
    loop {
        for (i, gone) in gone_on.iter_mut().enumerate() {
            if gone.is_none() && get_retry(port(i), key).await.is_none() {
                *gone = Some(last_renew.elapsed());
            }
        }
        if gone_on.iter().all(|g| g.is_some()) {
            break;
        }
        assert!(
            last_renew.elapsed() < limit,
            "{key} is still present {:.1?} after the last keep-alive (TTL {TTL} s); \
             gone on: {gone_on:?}",
            last_renew.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "lease_via_followers ({kind:?}): after the last keep-alive {key} was gone on {:?}",
        (0..3)
            .map(|i| format!("{}: {:.1?}", c.members[i].name, gone_on[i].unwrap()))
            .collect::<Vec<_>>()
    );
    let first = gone_on.iter().flatten().min().expect("gone somewhere");
    assert!(
        *first >= Duration::from_secs(TTL as u64 - 1),
        "{key} disappeared only {first:.1?} after the last keep-alive (TTL {TTL} s)"
    );
    for (i, p) in [(f0, p0), (l, lp)] {
        let r = time_to_live(p, id).await;
        assert_eq!(
            r.ttl, -1,
            "LeaseTimeToLive of the expired lease on {}: {r:?}",
            c.members[i].name
        );
    }
}

/// (2) A lease kept alive through the leader survives the leader's SIGKILL:
/// keep-alives through a survivor work once there is a new leader, and the
/// key is still there 12 s later.
pub async fn lease_survives_leader_change(kind: Kind) {
    const TTL: i64 = 10;
    let mut c = Cluster::start(kind, 3, &[]).await;
    let l = c.leader().await;
    let lname = c.members[l].name.clone();
    let lp = c.members[l].client_port;
    let id = grant(lp, TTL).await;
    let key = "l2/leased";
    put_with_lease(lp, key, "v", id).await;
    let (mut ka, _) = KeepAlive::open(lp, id, RPC_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("LeaseKeepAlive on the leader {lname}: {e}"));
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ttl = ka
            .renew(RPC_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("keep-alive on the leader {lname}: {e}"));
        assert!(ttl > 0, "keep-alive on the leader answered TTL {ttl}");
    }

    c.kill(l);
    drop(ka);
    let killed = Instant::now();
    let survivors: Vec<usize> = (0..3).filter(|&i| i != l).collect();
    let nl = c.wait_leader_among(&survivors, ELECTION_TIMEOUT).await;
    eprintln!(
        "lease_survives_leader_change ({kind:?}): killed {lname}; {} leads after {:.1?}",
        c.members[nl].name,
        killed.elapsed()
    );
    // Keep alive through the survivor that is not the new leader, if it
    // already agrees on the leader; otherwise through the leader.
    let s = *survivors.iter().find(|&&i| i != nl).expect("a survivor");
    let sp = c.members[s].client_port;
    let sname = c.members[s].name.clone();
    let mut errors = Vec::new();
    let (mut ka, ttl) = loop {
        match KeepAlive::open(sp, id, Duration::from_secs(10)).await {
            Ok(r) => break r,
            Err(e) if transient(&e) && killed.elapsed() < ELECTION_TIMEOUT * 2 => {
                eprintln!(
                    "lease_survives_leader_change ({kind:?}): keep-alive on {sname} \
                     {:.1?} after the kill: {:?} {:?}",
                    killed.elapsed(),
                    e.code(),
                    e.message()
                );
                errors.push(e.message().to_string());
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!(
                "keep-alive on {sname} after the leader's kill: {:?} {:?} (earlier: {errors:?})",
                e.code(),
                e.message()
            ),
        }
    };
    eprintln!(
        "lease_survives_leader_change ({kind:?}): keep-alive on {sname} answered TTL {ttl} \
         {:.1?} after the kill ({} failed attempts: {errors:?})",
        killed.elapsed(),
        errors.len()
    );
    assert!(ttl > 0, "keep-alive on {sname} answered TTL {ttl}");

    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(12) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let ttl = match ka.renew(Duration::from_secs(10)).await {
            Ok(t) => t,
            Err(e) if transient(&e) => {
                eprintln!(
                    "lease_survives_leader_change ({kind:?}): keep-alive on {sname}: {:?} {:?}; \
                     reopening",
                    e.code(),
                    e.message()
                );
                let (k, t) = KeepAlive::open(sp, id, Duration::from_secs(10))
                    .await
                    .unwrap_or_else(|e| panic!("reopening the keep-alive on {sname}: {e}"));
                ka = k;
                t
            }
            Err(e) => panic!("keep-alive on {sname}: {e}"),
        };
        assert!(ttl > 0, "keep-alive on {sname} answered TTL {ttl}");
    }
    for &i in &survivors {
        assert_eq!(
            get_retry(c.members[i].client_port, key).await.as_deref(),
            Some(&b"v"[..]),
            "{key} on {} {:.1?} after the leader's kill",
            c.members[i].name,
            killed.elapsed()
        );
    }
    let r = time_to_live(c.members[nl].client_port, id).await;
    assert!(
        r.ttl > 0 && r.ttl <= TTL,
        "LeaseTimeToLive on the new leader: {r:?}"
    );
    assert_eq!(r.keys, vec![key.as_bytes().to_vec()]);

    c.restart(l);
    c.wait_caught_up(l).await;
    assert_eq!(
        c.get(l, key).await.as_deref(),
        Some("v"),
        "{key} on restarted {lname}"
    );
    drop(ka);
}

/// (3) A watch on a follower sees every put made through the leader and
/// through the other follower, once each, in revision order.
pub async fn watch_on_follower(kind: Kind) {
    const PER_WRITER: usize = 50;
    let mut c = Cluster::start(kind, 3, &[]).await;
    let l = c.leader().await;
    let f = c.followers().await;
    let (w, other) = (f[0], f[1]);
    let wname = c.members[w].name.clone();
    let rev = c.current_rev(w).await;

    let (tx, rx) = mpsc::channel(4);
    tx.send(WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(
            WatchCreateRequest {
                key: b"w/".to_vec(),
                range_end: b"w0".to_vec(),
                start_revision: rev + 1,
                ..Default::default()
            },
        )),
    })
    .await
    .expect("queue the create request");
    let mut wcl = WatchClient::new(channel(c.members[w].client_port, None));
    let watch = wcl.watch(ReceiverStream::new(rx));
    let mut stream = match tokio::time::timeout(RPC_TIMEOUT, watch).await {
        Err(_) => panic!("Watch on {wname}: no answer within {RPC_TIMEOUT:?}"),
        Ok(Err(e)) => panic!("Watch on {wname}: {e}"),
        Ok(Ok(r)) => r.into_inner(),
    };
    let created = match tokio::time::timeout(RPC_TIMEOUT, stream.message()).await {
        Err(_) => panic!("no created answer from {wname} within {RPC_TIMEOUT:?}"),
        Ok(Err(e)) => panic!("Watch on {wname}: {e}"),
        Ok(Ok(None)) => panic!("Watch stream on {wname} ended"),
        Ok(Ok(Some(r))) => r,
    };
    assert!(created.created, "first watch answer: {created:?}");
    let watch_id = created.watch_id;

    let writers: Vec<_> = [(l, "leader"), (other, "follower")]
        .into_iter()
        .map(|(i, tag)| {
            let port = c.members[i].client_port;
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in 0..PER_WRITER {
                    let key = format!("w/{tag}/{n:03}");
                    let r = put_retry(port, &key, tag).await;
                    acked.push((key, r));
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for t in writers {
        acked.extend(t.await.expect("writer task"));
    }
    acked.sort_by_key(|a| a.1);
    let revs: Vec<i64> = acked.iter().map(|a| a.1).collect();
    let mut dedup = revs.clone();
    dedup.dedup();
    assert_eq!(
        dedup.len(),
        revs.len(),
        "two puts got one revision: {revs:?}"
    );

    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    // Collect until 100 events, then 500 ms more to catch any extra.
    let mut extra_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let until = extra_until.unwrap_or(deadline);
        if now >= until {
            break;
        }
        match tokio::time::timeout(until - now, stream.message()).await {
            Err(_) => break,
            Ok(Err(e)) => panic!("Watch on {wname} failed after {} events: {e}", events.len()),
            Ok(Ok(None)) => panic!("Watch on {wname} ended after {} events", events.len()),
            Ok(Ok(Some(r))) => {
                assert!(
                    !r.canceled,
                    "watch canceled: {:?} (compact revision {})",
                    r.cancel_reason, r.compact_revision
                );
                assert_eq!(r.watch_id, watch_id, "answer for another watch");
                events.extend(r.events);
            }
        }
        if events.len() >= 2 * PER_WRITER && extra_until.is_none() {
            extra_until = Some(Instant::now() + Duration::from_millis(500));
        }
    }
    drop(tx);
    eprintln!(
        "watch_on_follower ({kind:?}): {} events on {wname} for revisions {}..={}",
        events.len(),
        revs[0],
        revs[revs.len() - 1]
    );
    assert_eq!(
        events.len(),
        2 * PER_WRITER,
        "events received on {wname} (puts acked at revisions {revs:?})"
    );
    let seen: Vec<(String, i64)> = events
        .iter()
        .map(|e| {
            assert_eq!(e.r#type, EventType::Put as i32, "event type of {e:?}");
            let kv = e.kv.as_ref().expect("event kv");
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                kv.mod_revision,
            )
        })
        .collect();
    for pair in seen.windows(2) {
        assert!(
            pair[0].1 < pair[1].1,
            "events out of revision order: {pair:?}"
        );
    }
    assert_eq!(
        seen, acked,
        "watched (key, revision) differ from the puts' (key, header revision)"
    );
}

/// Members sorted by ID.
fn sorted(mut ms: Vec<PbMember>) -> Vec<PbMember> {
    ms.sort_by_key(|m| m.id);
    ms
}

async fn member_update(
    c: &Cluster,
    on: usize,
    id: u64,
    peer: &str,
) -> Result<Vec<PbMember>, Status> {
    let cl = c.members[on].clients().cluster;
    let started = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut cl = cl.clone();
        match cl
            .member_update(MemberUpdateRequest {
                id,
                peer_ur_ls: vec![peer.to_string()],
            })
            .await
        {
            Ok(r) => return Ok(r.into_inner().members),
            Err(e) if transient(&e) && started.elapsed() < RETRY_LIMIT => {
                eprintln!(
                    "MemberUpdate {id:x} on {}: {:?} {:?}; retrying",
                    c.members[on].name,
                    e.code(),
                    e.message()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    }
}

/// (4) MemberUpdate: to the URL a follower already has (no change), of an
/// unknown ID (refused), and to a new peer URL on which the follower is then
/// restarted; the cluster replicates to it there.
pub async fn member_update_scenario(kind: Kind) {
    let mut c = Cluster::start(kind, 3, &[]).await;
    let l = c.leader().await;
    let f = c.followers().await;
    let (f0, f1) = (f[0], f[1]);
    let f0name = c.members[f0].name.clone();
    let f0id = c.members[f0].id;
    let before = sorted(c.member_list(l).await);
    assert_eq!(before.len(), 3, "members: {before:?}");

    // The same URL, through the member itself.
    let same = url(c.members[f0].peer_port);
    let ms = member_update(&c, f0, f0id, &same)
        .await
        .unwrap_or_else(|e| panic!("MemberUpdate of {f0name} to its own URL: {e}"));
    assert_eq!(sorted(ms), before, "members in MemberUpdate's answer");
    for i in 0..3 {
        assert_eq!(
            sorted(c.member_list(i).await),
            before,
            "member list on {} after a no-op MemberUpdate",
            c.members[i].name
        );
    }

    // An unknown ID. etcd 3.5.1: NotFound "etcdserver: member not found"
    // (ErrIDNotFound -> ErrGRPCMemberNotFound).
    let bogus = 0x1234_5678_9abc_def0u64;
    assert!(before.iter().all(|m| m.id != bogus));
    let (_, spare_peer) = c.reserve_ports();
    let e = member_update(&c, l, bogus, &url(spare_peer))
        .await
        .expect_err("MemberUpdate of an unknown ID succeeded");
    eprintln!(
        "member_update ({kind:?}): unknown ID: {:?} {:?}",
        e.code(),
        e.message()
    );
    assert_eq!(
        (e.code(), e.message()),
        (Code::NotFound, "etcdserver: member not found"),
        "MemberUpdate of an unknown ID"
    );
    assert_eq!(sorted(c.member_list(l).await), before);

    // A new peer URL, through the other follower.
    let (_, new_peer) = c.reserve_ports();
    let new_url = url(new_peer);
    let ms = member_update(&c, f1, f0id, &new_url)
        .await
        .unwrap_or_else(|e| panic!("MemberUpdate of {f0name} to {new_url}: {e}"));
    let moved = ms
        .iter()
        .find(|m| m.id == f0id)
        .unwrap_or_else(|| panic!("{f0name} missing from {ms:?}"));
    assert_eq!(moved.peer_ur_ls, vec![new_url.clone()], "answer: {ms:?}");
    for i in [l, f1] {
        let ms = c.member_list(i).await;
        let m = ms.iter().find(|m| m.id == f0id).expect("member");
        assert_eq!(
            m.peer_ur_ls,
            vec![new_url.clone()],
            "{f0name}'s peer URLs on {}",
            c.members[i].name
        );
        assert_eq!(m.name, f0name);
    }

    // Restart the follower on the new URL with its data dir. etcd ignores
    // --initial-cluster once a WAL exists (it is parsed and checked against
    // --initial-advertise-peer-urls only when bootstrapping), so the member
    // keeps the old, now stale, value: etcd 3.5.1 starts and rejoins.
    c.stop(f0).await;
    c.members[f0].set_flag("--listen-peer-urls", &new_url);
    c.members[f0].set_flag("--initial-advertise-peer-urls", &new_url);
    c.members[f0].peer_port = new_peer;
    c.restart(f0);
    let restarted = Instant::now();
    let lp = c.members[l].client_port;
    let f0p = c.members[f0].client_port;
    put_retry(lp, "u/after-move", "moved").await;
    let mut f0cl = clients(f0p, Duration::from_secs(2));
    let mut last: String;
    loop {
        if let Some(st) = c.members[f0].try_exit() {
            panic!(
                "{f0name}, restarted on {new_url} with its data dir, exited with {st}; log:\n{}",
                tail(&c.members[f0].log(), 3000)
            );
        }
        let r = f0cl
            .kv
            .range(RangeRequest {
                key: b"u/after-move".to_vec(),
                serializable: true,
                ..Default::default()
            })
            .await;
        match r {
            Ok(r) => match r.into_inner().kvs.first() {
                Some(kv) if kv.value == b"moved" => break,
                other => last = format!("got {other:?}"),
            },
            Err(e) => last = e.message().to_string(),
        }
        assert!(
            restarted.elapsed() < CATCH_UP_TIMEOUT,
            "u/after-move not readable (serializable) on {f0name} at {new_url} within \
             {CATCH_UP_TIMEOUT:?} of its restart; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "member_update ({kind:?}): {f0name} replicated at {new_url} {:.1?} after its restart",
        restarted.elapsed()
    );
    c.wait_caught_up(f0).await;
    let ms = c.member_list(f0).await;
    let m = ms.iter().find(|m| m.id == f0id).expect("member");
    assert_eq!(m.peer_ur_ls, vec![new_url], "own peer URLs on {f0name}");
    c.put(f0, "u/through-moved", "x").await;
    assert_eq!(c.get(l, "u/through-moved").await.as_deref(), Some("x"));
}

async fn status_retry(c: &Cluster, i: usize) -> StatusResponse {
    let cl = c.members[i].clients();
    retry(
        &format!("Status on {}", c.members[i].name),
        RETRY_LIMIT,
        || {
            let mut cl = cl.clone();
            async move {
                cl.maint
                    .status(oxcd_proto::etcdserverpb::StatusRequest {})
                    .await
                    .map(|r| r.into_inner())
            }
        },
    )
    .await
}

/// Runs `f(n)` for n in 0..count on `tasks` concurrent tasks.
async fn parallel<F, Fut>(count: usize, tasks: usize, f: F)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let next = next.clone();
            let f = f.clone();
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        return;
                    }
                    f(n).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task");
    }
}

/// (5) 2000 puts of 1 KiB, half deleted again, a compaction, and Defragment
/// on every member: all succeed, HashKV agrees everywhere, and the cluster
/// still takes writes.
pub async fn defrag_and_status(kind: Kind) {
    const KEYS: usize = 2000;
    let mut c = Cluster::start(kind, 3, &[]).await;
    let l = c.leader().await;
    let ports: Vec<u16> = c.members.iter().map(|m| m.client_port).collect();
    let value = "x".repeat(1024);
    let started = Instant::now();
    {
        let ports = ports.clone();
        parallel(KEYS, 8, move |n| {
            let (ports, value) = (ports.clone(), value.clone());
            async move {
                put_retry(ports[n % ports.len()], &format!("d/{n:05}"), &value).await;
            }
        })
        .await;
    }
    {
        let ports = ports.clone();
        parallel(KEYS / 2, 8, move |n| {
            let ports = ports.clone();
            async move {
                let key = format!("d/{:05}", 2 * n).into_bytes();
                let cl = clients(ports[n % ports.len()], RPC_TIMEOUT);
                let r = retry("delete", RETRY_LIMIT, || {
                    let mut cl = cl.clone();
                    let key = key.clone();
                    async move {
                        cl.kv
                            .delete_range(DeleteRangeRequest {
                                key,
                                ..Default::default()
                            })
                            .await
                            .map(|r| r.into_inner())
                    }
                })
                .await;
                assert_eq!(r.deleted, 1, "deleted count");
            }
        })
        .await;
    }
    eprintln!(
        "defrag_and_status ({kind:?}): {KEYS} puts and {} deletes in {:.1?}",
        KEYS / 2,
        started.elapsed()
    );

    let rev = c.current_rev(l).await;
    let lcl = c.members[l].clients();
    retry("Compact", RETRY_LIMIT, || {
        let mut cl = lcl.clone();
        async move {
            cl.kv
                .compact(CompactionRequest {
                    revision: rev,
                    physical: true,
                })
                .await
                .map(|r| r.into_inner())
        }
    })
    .await;
    // HashKV refuses the compaction revision itself ("required revision has
    // been compacted", in etcd 3.5.1 too): one more revision to hash at.
    put_retry(ports[l], "z/after-compact", "z").await;
    // Every member has applied the compaction before it is defragmented.
    for i in 0..3 {
        if i != l {
            c.wait_caught_up(i).await;
        }
    }

    for i in 0..3 {
        let before = status_retry(&c, i).await;
        let cl = clients(c.members[i].client_port, Duration::from_secs(60));
        let t = Instant::now();
        retry(
            &format!("Defragment on {}", c.members[i].name),
            RETRY_LIMIT,
            || {
                let mut cl = cl.clone();
                async move {
                    cl.maint
                        .defragment(DefragmentRequest {})
                        .await
                        .map(|r| r.into_inner())
                }
            },
        )
        .await;
        let took = t.elapsed();
        let after = status_retry(&c, i).await;
        eprintln!(
            "defrag_and_status ({kind:?}): Defragment on {} took {took:.1?}; db size {} -> {}, \
             in use {} -> {}",
            c.members[i].name,
            before.db_size,
            after.db_size,
            before.db_size_in_use,
            after.db_size_in_use
        );
        assert!(
            after.db_size <= before.db_size,
            "{}'s db grew with Defragment: {} -> {}",
            c.members[i].name,
            before.db_size,
            after.db_size
        );
        assert!(
            after.db_size_in_use <= after.db_size,
            "{}: db size in use {} > db size {}",
            c.members[i].name,
            after.db_size_in_use,
            after.db_size
        );
        assert!(after.errors.is_empty(), "status errors: {:?}", after.errors);
    }

    // Every member answers Status with the same leader and term.
    let statuses = [
        status_retry(&c, 0).await,
        status_retry(&c, 1).await,
        status_retry(&c, 2).await,
    ];
    for (i, s) in statuses.iter().enumerate() {
        assert_eq!(
            (s.leader, s.raft_term),
            (statuses[0].leader, statuses[0].raft_term),
            "leader and term on {}",
            c.members[i].name
        );
        assert!(!s.is_learner);
    }
    assert_eq!(statuses[0].leader, c.members[l].id, "leader after defrag");

    c.assert_hashkv_equal().await;
    let rev = c.current_rev(l).await;
    for (i, &p) in ports.iter().enumerate() {
        let cl = clients(p, RPC_TIMEOUT);
        let r = retry("count", RETRY_LIMIT, || {
            let mut cl = cl.clone();
            async move {
                cl.kv
                    .range(RangeRequest {
                        key: b"d/".to_vec(),
                        range_end: b"d0".to_vec(),
                        count_only: true,
                        ..Default::default()
                    })
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await;
        assert_eq!(
            r.count,
            (KEYS / 2) as i64,
            "keys left on {}",
            c.members[i].name
        );
        assert!(r.header.expect("header").revision >= rev);
    }
    for i in 0..3 {
        let key = format!("z/after-defrag-{}", c.members[i].name);
        put_retry(ports[i], &key, "y").await;
        for (m, &p) in c.members.iter().zip(&ports) {
            assert_eq!(
                get_retry(p, &key).await.as_deref(),
                Some(&b"y"[..]),
                "{key} on {}",
                m.name
            );
        }
    }
}
