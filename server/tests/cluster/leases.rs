//! Leases across members: (1) a lease granted, attached and kept alive only
//! through followers outlives its TTL and then expires on schedule
//! everywhere; (2) a lease kept alive through the leader survives the
//! leader's SIGKILL.

use crate::harness::*;
use crate::rpc::*;
use std::time::{Duration, Instant};

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
