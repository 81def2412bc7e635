//! The logs of a cluster, read as etcd's are read by log pipelines and
//! harnesses: every line a zap JSON object, and the events operators look
//! for present, before and after the leader is killed.

use crate::harness::*;
use std::time::Duration;

/// Each JSON line of `log` (etcd also prints grpc-go's plain warnings),
/// checked for zap's keys.
fn lines(who: &str, log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{who}: not JSON ({e}): {l}"));
            for key in ["level", "ts", "caller", "msg"] {
                assert!(v[key].is_string(), "{who}: no {key:?} in {l}");
            }
            let level = v["level"].as_str().unwrap_or_default();
            assert!(
                ["debug", "info", "warn", "error"].contains(&level),
                "{who}: level {level:?} in {l}"
            );
            v
        })
        .collect()
}

fn has(lines: &[serde_json::Value], pred: impl Fn(&str) -> bool) -> bool {
    lines.iter().any(|v| v["msg"].as_str().is_some_and(&pred))
}

pub async fn logs_after_leader_kill(kind: Kind) {
    let mut c = Cluster::start(kind, 3, &[]).await;
    c.put(0, "k", "v").await;
    for (i, m) in c.members.iter().enumerate() {
        let who = format!("{kind:?} m{}", i + 1);
        let l = lines(&who, &m.log());
        for msg in [
            "ready to serve client requests",
            "published local member to cluster through raft",
            "enabled capabilities for version",
            "serving client traffic insecurely; this is strongly discouraged!",
        ] {
            assert!(has(&l, |m| m == msg), "{who}: no {msg:?} line");
        }
        assert!(
            has(&l, |m| m.contains("elected leader")),
            "{who}: no leader election line"
        );
        let ready = l
            .iter()
            .find(|v| v["msg"] == "published local member to cluster through raft")
            .expect("checked above");
        assert_eq!(
            ready["local-member-id"].as_str(),
            Some(format!("{:x}", m.id).as_str()),
            "{who}: member ID in hex"
        );
    }
    // the peer metrics, labelled by the peer's ID (etcd's prober measures
    // round trips every few seconds)
    let port = c.members[0].client_port;
    let peer = format!("{:x}", c.members[1].id);
    eventually(
        "peer round trips in /metrics",
        Duration::from_secs(20),
        || {
            let peer = peer.clone();
            async move {
                let m = metrics(port).await?;
                let series =
                    format!("etcd_network_peer_round_trip_time_seconds_count{{To=\"{peer}\"}}");
                match m.lines().find(|l| l.starts_with(&series)) {
                    Some(_) => Ok(()),
                    None => Err(format!("no {series}")),
                }
            }
        },
    )
    .await;
    let leader = c.leader().await;
    let dead = format!("{:x}", c.members[leader].id);
    c.kill(leader);
    let rest: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let new_leader = c.wait_leader_among(&rest, Duration::from_secs(20)).await;
    let survivor = rest[0];
    let who = format!("{kind:?} m{}", survivor + 1);
    let m = &c.members[survivor];
    eventually(
        "the survivor logs the dead leader as inactive, and the new leader",
        Duration::from_secs(20),
        || async {
            let l = lines(&who, &m.log());
            let inactive = l.iter().any(|v| {
                v["msg"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("peer became inactive"))
                    && v["peer-id"].as_str() == Some(dead.as_str())
            });
            let lost = has(&l, |s| s.contains(&format!("lost leader {dead}")));
            let elected = has(&l, |s| {
                s.contains(&format!("elected leader {:x}", c.members[new_leader].id))
            });
            let failures = metrics(m.client_port).await?.contains(&format!(
                "etcd_network_peer_sent_failures_total{{To=\"{dead}\"}}"
            ));
            if inactive && lost && elected && failures {
                Ok(())
            } else {
                Err(format!(
                    "inactive {inactive}, lost leader {lost}, elected {elected}, sent failures {failures}"
                ))
            }
        },
    )
    .await;
}

/// `/metrics` of a member, over plain HTTP/1.1.
async fn metrics(port: u16) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    s.read_to_end(&mut body).await.map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}
