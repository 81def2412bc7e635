//! etcd's corruption checks: a member's HashKV compared with its peers'
//! (asked over the peer port, as etcd asks `/members/hashkv`).
//!
//! - `--experimental-initial-corrupt-check`: before serving clients, a
//!   member whose hash differs from a peer's at the same revision and
//!   compaction refuses to start.
//! - `--experimental-corrupt-check-time`: every interval the leader
//!   compares; a follower ahead of it, or with another hash at the same
//!   compaction, gets a CORRUPT alarm (which stops the cluster's reads
//!   and writes, as etcd's), as does the leader when its own hash moved
//!   under it.

use crate::apply::Op;
use crate::error::EtcdError;
use crate::log::Id;
use crate::node::Server;
use oxcd_proto::etcdserverpb::HashKvResponse;
use oxcd_proto::etcdserverpb::{alarm_request::AlarmAction, AlarmRequest, AlarmType};
use std::sync::Arc;
use std::time::Duration;
use tonic::Status;

const PEER_WAIT: Duration = Duration::from_secs(5);

/// (hash, revision, compact revision) of this member's store now.
fn own_hash(srv: &Server, rev: i64) -> Result<(u32, i64, i64), EtcdError> {
    srv.read(|st, kv| st.store.hash_kv(kv, rev))
}

/// Every other member's HashKV at `rev` (by member ID).
async fn peer_hashes(srv: &Server, rev: i64) -> Vec<(u64, Result<HashKvResponse, Status>)> {
    let mut out = Vec::new();
    for m in srv.members_sorted() {
        if m.id == srv.member_id {
            continue;
        }
        let Some(url) = m.peer_ur_ls.first() else {
            continue;
        };
        let r = crate::transport::peer_hash_kv(
            url,
            &srv.cfg.peer_tls,
            (srv.cluster_id, srv.member_id),
            rev,
            PEER_WAIT,
        )
        .await;
        out.push((m.id, r));
    }
    out
}

/// The start-up check: an error (the member must not serve) when a peer
/// has another hash at this member's revision and compaction.
pub async fn initial_check(srv: &Server) -> Result<(), String> {
    let me = Id(srv.member_id);
    tracing::info!("local-member-id" = %me, "starting initial corruption check");
    let (hash, rev, compact) = own_hash(srv, 0).map_err(|e| e.to_string())?;
    let mut mismatches = 0;
    for (id, r) in peer_hashes(srv, rev).await {
        match r {
            Ok(p) if p.hash == hash => {}
            Ok(p) if p.compact_revision == compact => {
                tracing::warn!(
                    "local-member-id" = %me,
                    "local-member-revision" = rev,
                    "local-member-compact-revision" = compact,
                    "local-member-hash" = hash,
                    "remote-peer-id" = %Id(id),
                    "remote-peer-compact-revision" = p.compact_revision,
                    "remote-peer-hash" = p.hash,
                    "found different hash values from remote peer"
                );
                mismatches += 1;
            }
            Ok(p) => tracing::warn!(
                "local-member-id" = %me,
                "local-member-compact-revision" = compact,
                "remote-peer-id" = %Id(id),
                "remote-peer-compact-revision" = p.compact_revision,
                "found different compact revision values from remote peer"
            ),
            Err(s) => tracing::warn!(
                "local-member-id" = %me,
                "remote-peer-id" = %Id(id),
                error = %s.message(),
                "cannot fetch hash from remote peer"
            ),
        }
    }
    if mismatches > 0 {
        return Err(format!("{me} found data inconsistency with peers"));
    }
    tracing::info!(
        "local-member-id" = %me,
        "initial corruption checking passed; no corruption"
    );
    Ok(())
}

/// The leader's periodic check, every `every`.
pub async fn run_periodic(srv: Arc<Server>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if srv.is_leader() {
            if let Err(e) = check_once(&srv).await {
                tracing::warn!(error = %e, "failed to check the cluster's hashes");
            }
        }
    }
}

async fn check_once(srv: &Server) -> Result<(), EtcdError> {
    let (hash, rev, compact) = own_hash(srv, 0)?;
    let peers = peer_hashes(srv, rev).await;
    // the leader's own store, read again: it must not have moved
    let (hash2, rev2, compact2) = own_hash(srv, 0)?;
    let mut corrupt = None;
    if hash2 != hash && rev2 == rev && compact2 == compact {
        tracing::warn!(
            "leader-hash" = hash,
            "leader-revision" = rev,
            "current-hash" = hash2,
            "found hash mismatch"
        );
        corrupt = Some(srv.member_id);
    }
    for (id, r) in peers {
        let Ok(p) = r else { continue };
        let peer_rev = p.header.as_ref().map_or(0, |h| h.revision);
        let why = if peer_rev > rev2 {
            Some("revision from follower must be less than or equal to leader's")
        } else if p.compact_revision > compact2 {
            Some("compact revision from follower must be less than or equal to leader's")
        } else if p.compact_revision == compact && p.hash != hash {
            Some("same compact revision then hashes must match")
        } else {
            None
        };
        if let Some(why) = why {
            tracing::warn!(
                "leader-revision" = rev,
                "leader-compact-revision" = compact,
                "leader-hash" = hash,
                "follower-revision" = peer_rev,
                "follower-compact-revision" = p.compact_revision,
                "follower-hash" = p.hash,
                "follower-peer-id" = %Id(id),
                "{why}"
            );
            corrupt.get_or_insert(id);
        }
    }
    if let Some(id) = corrupt {
        let req = AlarmRequest {
            action: AlarmAction::Activate as i32,
            member_id: id,
            alarm: AlarmType::Corrupt as i32,
        };
        srv.propose(Op::Alarm(req)).await?;
    }
    Ok(())
}
