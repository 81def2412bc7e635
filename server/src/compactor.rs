//! etcd's auto-compaction (`--auto-compaction-mode`,
//! `--auto-compaction-retention`), run by the leader only, through the log
//! like any compaction.
//!
//! - periodic: the revision is sampled every tenth of the compaction
//!   interval (the retention, at most an hour), and every interval the store
//!   is compacted to the revision sampled one retention ago.
//! - revision: every five minutes the store is compacted to the current
//!   revision minus the retention.

use crate::apply::{Applied, Op};
use crate::config::AutoCompaction;
use crate::error::EtcdError;
use crate::node::Server;
use oxcd_proto::etcdserverpb::CompactionRequest;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often revision mode looks (etcd's).
const REVISION_CHECK: Duration = Duration::from_secs(300);

/// Compacts to `rev`; already compacted counts as done.
async fn compact(srv: &Server, rev: i64) -> Result<(), EtcdError> {
    let req = CompactionRequest {
        revision: rev,
        physical: false,
    };
    match srv.propose(Op::Compaction(req)).await {
        Ok(Applied::Compaction(_)) | Err(EtcdError::Compacted) => Ok(()),
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Runs until aborted.
pub async fn run(srv: Arc<Server>, how: AutoCompaction) {
    match how {
        AutoCompaction::Periodic(period) => periodic(srv, period).await,
        AutoCompaction::Revision(keep) => revision(srv, keep).await,
    }
}

async fn periodic(srv: Arc<Server>, period: Duration) {
    let interval = period.min(Duration::from_secs(3600));
    let retry = (interval / 10).max(Duration::from_millis(100));
    let keep = (period.as_secs_f64() / retry.as_secs_f64()) as usize + 1;
    let mut revs = VecDeque::new();
    let mut last = Instant::now();
    // the first compaction waits a whole retention, later ones an interval
    let mut wait = period;
    loop {
        revs.push_back(srv.current_rev());
        if revs.len() > keep {
            revs.pop_front();
        }
        tokio::time::sleep(retry).await;
        if !srv.is_leader() || last.elapsed() < wait {
            continue;
        }
        wait = interval;
        let Some(&rev) = revs.front() else {
            continue;
        };
        tracing::info!(revision = rev, "compact-period" = ?period, "starting auto periodic compaction");
        match compact(&srv, rev).await {
            Ok(()) => {
                last = Instant::now();
                tracing::info!(revision = rev, "compact-period" = ?period, "completed auto periodic compaction");
            }
            Err(e) => tracing::warn!(revision = rev, error = %e, "failed auto periodic compaction"),
        }
    }
}

async fn revision(srv: Arc<Server>, keep: i64) {
    let mut prev = 0;
    loop {
        tokio::time::sleep(REVISION_CHECK).await;
        if !srv.is_leader() {
            continue;
        }
        let rev = srv.current_rev() - keep;
        if rev <= 0 || rev == prev {
            continue;
        }
        tracing::info!(
            revision = rev,
            "revision-compaction-retention" = keep,
            "starting auto revision compaction"
        );
        match compact(&srv, rev).await {
            Ok(()) => {
                prev = rev;
                tracing::info!(
                    revision = rev,
                    "revision-compaction-retention" = keep,
                    "completed auto revision compaction"
                );
            }
            Err(e) => tracing::warn!(revision = rev, error = %e, "failed auto revision compaction"),
        }
    }
}
