//! The compaction sweep's turns in the node loop: a step of at most
//! [`STEP`] in the store transaction, then at least [`GAP`] of other work
//! (or waiting), so that writes go on during a long sweep with their
//! latency raised by a step at most. etcd deletes 1,000 records per batch
//! and sleeps 10 ms between batches; a time budget instead keeps a step
//! short whatever the values' size.

use super::ready::Loop;
use crate::backend::{u64_bytes, KEY, META, META_COMPACT_REV};
use crate::error::{Fatal, OrFatal};
use std::time::{Duration, Instant};

/// Longest step.
const STEP: Duration = Duration::from_millis(3);
/// Shortest pause between two steps.
const GAP: Duration = Duration::from_millis(5);

impl Loop<'_> {
    /// One step of the compaction sweep, if one is under way and due.
    /// (Called every turn: a compaction applied in the turn starts its
    /// sweep in the same turn.)
    pub(super) fn sweep_compaction(&mut self) -> Result<(), Fatal> {
        if Instant::now() < self.sweep.next {
            return Ok(());
        }
        let srv = self.srv;
        let under_way = srv
            .state
            .read()
            .map(|st| st.store.compacting.is_some())
            .unwrap_or(false);
        if !under_way {
            self.sweep.active = false;
            return Ok(());
        }
        let txn = self.txn()?;
        let finished = {
            let mut st = srv.state.write().or_fatal("sweeping a compaction")?;
            let mut t = txn.open_table(KEY).or_fatal("sweeping a compaction")?;
            st.store
                .compact_step(&mut t, STEP)
                .or_fatal("sweeping a compaction")?
        };
        if let Some(rev) = finished {
            let mut meta = txn.open_table(META).or_fatal("sweeping a compaction")?;
            meta.insert(META_COMPACT_REV, u64_bytes(rev as u64).as_slice())
                .or_fatal("sweeping a compaction")?;
            srv.compacted.send_replace(rev);
            tracing::info!("compact-revision" = rev, "finished scheduled compaction");
        }
        // the in-use size is measured again once the records are gone
        self.stats_due |= finished.is_some();
        self.sweep.active = finished.is_none();
        self.sweep.next = Instant::now() + GAP;
        Ok(())
    }
}
