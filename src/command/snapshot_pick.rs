//! `snapshot save` with several endpoints. etcdctl 3.5 refuses them
//! (3.3 took them), yet backup scripts pass the whole cluster, as the
//! seed's does: oxctl asks every endpoint for its status and saves from the
//! leader, else from the reachable member with the highest applied index,
//! and says which on stderr.

use oxcd_proto::etcdserverpb::{StatusRequest, StatusResponse};

use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::global::ClientConfig;

/// The endpoint to save from, and why it was chosen.
pub async fn pick(cfg: &ClientConfig) -> Result<(String, &'static str)> {
    let mut seen = Vec::new();
    let mut last_err = None;
    for ep in &cfg.endpoints {
        let asked = async {
            let c = Client::connect_one(cfg, ep, cfg.auth.is_some()).await?;
            c.rpc(|c| {
                let (mut s, r) = (c.maintenance(), c.req(StatusRequest {}));
                async move { s.status(r).await }
            })
            .await
        };
        match asked.await {
            Ok(s) => seen.push((ep.clone(), s)),
            Err(e) => last_err = Some(e),
        }
    }
    choose(seen).ok_or_else(|| {
        let why = last_err.map_or_else(String::new, |e| format!(" ({e})"));
        CtlError::Interrupted(format!(
            "no endpoint of [{}] answered{why}",
            cfg.endpoints.join(" ")
        ))
    })
}

/// The leader, else the highest applied index (the first such endpoint).
fn choose(seen: Vec<(String, StatusResponse)>) -> Option<(String, &'static str)> {
    let is_leader = |s: &StatusResponse| {
        s.leader != 0 && s.header.as_ref().is_some_and(|h| h.member_id == s.leader)
    };
    if let Some((ep, _)) = seen.iter().find(|(_, s)| is_leader(s)) {
        return Some((ep.clone(), "leader"));
    }
    let mut best: Option<(String, u64)> = None;
    for (ep, s) in seen {
        if best
            .as_ref()
            .map_or(true, |(_, b)| s.raft_applied_index > *b)
        {
            best = Some((ep, s.raft_applied_index));
        }
    }
    best.map(|(ep, _)| (ep, "highest applied index"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxcd_proto::etcdserverpb::ResponseHeader;

    fn status(member: u64, leader: u64, applied: u64) -> StatusResponse {
        StatusResponse {
            header: Some(ResponseHeader {
                member_id: member,
                ..Default::default()
            }),
            leader,
            raft_applied_index: applied,
            ..Default::default()
        }
    }

    #[test]
    fn the_leader_first_then_the_most_applied() {
        let eps = |v: Vec<StatusResponse>| {
            v.into_iter()
                .enumerate()
                .map(|(i, s)| (format!("ep{i}"), s))
                .collect::<Vec<_>>()
        };
        let seen = eps(vec![status(1, 2, 9), status(2, 2, 5), status(3, 2, 9)]);
        assert_eq!(choose(seen), Some(("ep1".into(), "leader")));
        let seen = eps(vec![status(1, 0, 4), status(3, 0, 7), status(4, 0, 7)]);
        assert_eq!(choose(seen), Some(("ep1".into(), "highest applied index")));
        assert_eq!(choose(Vec::new()), None);
    }
}
