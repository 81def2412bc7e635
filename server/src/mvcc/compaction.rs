//! Compaction in two steps, as etcd does it: applying a compaction drops
//! the history from the in-memory index at once (reads below it are
//! refused from then on), and the records it leaves unreachable are
//! deleted from the `key` table afterwards, a bounded step at a time
//! between the node loop's turns ([`Store::compact_step`]). A 4 GB store
//! takes seconds to sweep; done inside the apply it stalled every write
//! past the request timeout.
//!
//! Until the sweep ends the store records the compaction as scheduled but
//! not finished (etcd's `scheduledCompactRev` / `finishedCompactRev`), so a
//! restart, or a member given this store as a snapshot, resumes it.

use super::revision::Rev;
use super::{KvTable, Store};
use crate::error::Result;
use redb::ReadableTable;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// A sweep under way.
#[derive(Debug)]
pub struct Compaction {
    /// the revision compacted to
    rev: i64,
    /// the records at or below `rev` that stay (each key's state at `rev`)
    keep: HashSet<Rev>,
    /// where the next step starts (a revision key of the `key` table)
    next: Vec<u8>,
    /// the compaction finished before this one
    finished_before: i64,
}

/// Records visited between two looks at the clock.
const CLOCK_EVERY: usize = 256;

impl Store {
    /// Compacts the index to `rev` and schedules the sweep of the records
    /// that became unreachable. A sweep already under way restarts with
    /// the new revision's survivors (they are a subset of its own).
    pub fn compact(&mut self, rev: i64) {
        let keep = self.index.compact(rev);
        let finished_before = self.finished_compact_rev();
        self.compacting = Some(Compaction {
            rev,
            keep,
            next: Vec::new(),
            finished_before,
        });
        self.compact_rev = rev;
    }

    /// After loading a store whose last compaction to `rev` was not swept
    /// to its end: compacts the index and sweeps again from the start.
    pub fn resume_compaction(&mut self, rev: i64, finished_before: i64) {
        self.compact(rev);
        if let Some(c) = self.compacting.as_mut() {
            c.finished_before = finished_before;
        }
    }

    /// The revision whose sweep last finished (the compacted revision when
    /// none is under way).
    pub fn finished_compact_rev(&self) -> i64 {
        match &self.compacting {
            Some(c) => c.finished_before,
            None => self.compact_rev,
        }
    }

    /// Deletes unreachable records for about `budget`. Returns the
    /// compacted revision once the sweep is done (then nothing is under
    /// way any more).
    pub fn compact_step(&mut self, t: &mut KvTable<'_>, budget: Duration) -> Result<Option<i64>> {
        let Some(c) = self.compacting.as_mut() else {
            return Ok(None);
        };
        let started = Instant::now();
        let end = Rev::new(c.rev + 1, 0).to_bytes(false);
        let mut doomed = Vec::new();
        let mut last = None;
        let mut done = true;
        for (n, item) in t
            .range::<&[u8]>(c.next.as_slice()..end.as_slice())?
            .enumerate()
        {
            if n > 0 && n % CLOCK_EVERY == 0 && started.elapsed() >= budget {
                done = false;
                break;
            }
            let (k, _) = item?;
            let kb = k.value();
            if let Some((r, _)) = Rev::from_bytes(kb) {
                if !c.keep.contains(&r) {
                    doomed.push(kb.to_vec());
                }
            }
            last = Some(kb.to_vec());
        }
        for k in &doomed {
            t.remove(k.as_slice())?;
        }
        if !done {
            if let Some(mut k) = last {
                // the smallest key after `k`
                k.push(0);
                c.next = k;
            }
            return Ok(None);
        }
        let rev = c.rev;
        self.compacting = None;
        Ok(Some(rev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::WriteCtx;
    use redb::{Database, TableDefinition};

    const T: TableDefinition<&[u8], &[u8]> = TableDefinition::new("key");

    fn count(db: &Database) -> usize {
        let r = db.begin_read().expect("read");
        let t = r.open_table(T).expect("table");
        t.iter().expect("iter").count()
    }

    /// 3 keys, each written 400 times: 1,200 records, revisions 1..=1200.
    fn filled() -> (tempfile::TempDir, Database, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::create(dir.path().join("db")).expect("db");
        let mut s = Store::default();
        let w = db.begin_write().expect("write");
        {
            let mut t = w.open_table(T).expect("table");
            for i in 0..1200 {
                let key = format!("k{}", i % 3).into_bytes();
                let mut ctx = WriteCtx::new(s.current_rev);
                s.put(&mut t, &mut ctx, &key, vec![b'v'; 64], 0)
                    .expect("put");
                s.current_rev = ctx.main();
            }
        }
        w.commit().expect("commit");
        s.pending.clear();
        assert_eq!(count(&db), 1200);
        (dir, db, s)
    }

    /// Steps with no time budget until the sweep ends; returns (revision, steps).
    fn sweep(db: &Database, s: &mut Store) -> (i64, usize) {
        let w = db.begin_write().expect("write");
        let out = {
            let mut t = w.open_table(T).expect("table");
            let mut steps = 0;
            loop {
                steps += 1;
                if let Some(rev) = s.compact_step(&mut t, Duration::ZERO).expect("step") {
                    break (rev, steps);
                }
                assert!(steps < 1000, "the sweep must end");
            }
        };
        w.commit().expect("commit");
        out
    }

    #[test]
    fn a_loaded_store_resumes_an_unfinished_sweep() {
        let (_dir, db, _) = filled();
        // as after a stop in mid-sweep: every record still there, the
        // compaction to 900 recorded as scheduled, none finished
        let mut s = {
            let r = db.begin_read().expect("read");
            Store::load(&r.open_table(T).expect("table"), 0).expect("load")
        };
        s.resume_compaction(900, 0);
        assert_eq!((s.compact_rev, s.finished_compact_rev()), (900, 0));
        assert_eq!(sweep(&db, &mut s).0, 900);
        assert_eq!(s.finished_compact_rev(), 900);
        assert_eq!(count(&db), 3 + 300);
    }

    #[test]
    fn the_sweep_deletes_what_the_index_dropped_in_steps_and_can_restart() {
        let (_dir, db, mut s) = filled();
        s.compact(500);
        assert_eq!(s.finished_compact_rev(), 0);
        // a second compaction before the first is swept restarts it
        s.compact(1000);
        let (finished, steps) = sweep(&db, &mut s);
        assert_eq!(finished, 1000);
        assert!(steps > 1, "a zero budget takes several steps");
        assert_eq!(s.finished_compact_rev(), 1000);
        // each key keeps its state at 1000, plus the 200 records after it
        assert_eq!(count(&db), 3 + 200);
        let r = db.begin_read().expect("read");
        let t = r.open_table(T).expect("table");
        for k in ["k0", "k1", "k2"] {
            assert!(
                s.get(&t, k.as_bytes(), 1000).expect("get").is_some(),
                "{k} readable at 1000"
            );
        }
    }
}
