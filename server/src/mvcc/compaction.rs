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
    /// records before `next` that an earlier compaction's sweep kept and
    /// this one drops (a compaction that came during a sweep)
    extra: Vec<Rev>,
    /// the compaction finished before this one
    finished_before: i64,
}

/// Records visited between two looks at the clock.
const CLOCK_EVERY: usize = 256;

impl Store {
    /// Compacts the index to `rev` and schedules the sweep of the records
    /// that became unreachable. A sweep already under way goes on from
    /// where it is, with the new revision's survivors (a subset of its
    /// own), after deleting what it kept behind its cursor and the new one
    /// drops: frequent compactions still finish.
    pub fn compact(&mut self, rev: i64) {
        let keep = self.index.compact(rev);
        let (next, mut extra, finished_before) = match self.compacting.take() {
            Some(old) => {
                let behind: Vec<Rev> = old
                    .keep
                    .iter()
                    .filter(|r| {
                        !keep.contains(r) && r.to_bytes(false).as_slice() < old.next.as_slice()
                    })
                    .copied()
                    .collect();
                (old.next, [old.extra, behind].concat(), old.finished_before)
            }
            None => (Vec::new(), Vec::new(), self.finished_compact_rev()),
        };
        extra.sort_unstable();
        self.compacting = Some(Compaction {
            rev,
            keep,
            next,
            extra,
            finished_before,
        });
        self.compact_rev = rev;
    }

    /// A record a sweep under way has still to delete (HashKV leaves them
    /// out, so members at different points of their sweeps agree).
    pub fn swept_away(&self, r: Rev) -> bool {
        self.compacting
            .as_ref()
            .is_some_and(|c| r.main <= c.rev && !c.keep.contains(&r))
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
        // what an earlier sweep kept behind the cursor (either form of key)
        while let Some(r) = c.extra.pop() {
            t.remove(r.to_bytes(false).as_slice())?;
            t.remove(r.to_bytes(true).as_slice())?;
            if started.elapsed() >= budget && !c.extra.is_empty() {
                return Ok(None);
            }
        }
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

    fn put(db: &Database, s: &mut Store, key: &str) {
        let w = db.begin_write().expect("write");
        {
            let mut t = w.open_table(T).expect("table");
            let mut ctx = WriteCtx::new(s.current_rev);
            s.put(&mut t, &mut ctx, key.as_bytes(), vec![b'v'; 64], 0)
                .expect("put");
            s.current_rev = ctx.main();
        }
        w.commit().expect("commit");
        s.pending.clear();
    }

    /// `z` written once (revision 1), then 3 keys each written 400 times
    /// (revisions 2..=1201).
    fn filled() -> (tempfile::TempDir, Database, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::create(dir.path().join("db")).expect("db");
        let mut s = Store::default();
        put(&db, &mut s, "z");
        for i in 0..1200 {
            put(&db, &mut s, &format!("k{}", i % 3));
        }
        assert_eq!((count(&db), s.current_rev), (1201, 1201));
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
        // z and each k key at 900, and the 301 records after it
        assert_eq!(count(&db), 4 + 301);
    }

    #[test]
    fn the_sweep_deletes_what_the_index_dropped_in_steps_and_can_restart() {
        let (_dir, db, mut s) = filled();
        s.compact(600);
        assert_eq!(s.finished_compact_rev(), 0);
        // two steps of the sweep to 600 (256 records each with no time
        // budget), then z written again and a compaction past it: the
        // sweep goes on from its cursor, and deletes z's first record,
        // which it had kept behind the cursor
        let w = db.begin_write().expect("write");
        {
            let mut t = w.open_table(T).expect("table");
            for _ in 0..2 {
                assert_eq!(s.compact_step(&mut t, Duration::ZERO).expect("step"), None);
            }
        }
        w.commit().expect("commit");
        assert!(count(&db) < 1201, "the first steps deleted records");
        assert!(s.swept_away(Rev::new(550, 0)), "a record the sweep drops");
        assert!(!s.swept_away(Rev::new(1, 0)), "z's only record is kept");
        put(&db, &mut s, "z");
        s.compact(1202);
        let (finished, steps) = sweep(&db, &mut s);
        assert_eq!(finished, 1202);
        assert!(steps > 1, "a zero budget takes several steps");
        assert_eq!(s.finished_compact_rev(), 1202);
        // each key's last record is all that is left
        assert_eq!(count(&db), 4);
        let r = db.begin_read().expect("read");
        let t = r.open_table(T).expect("table");
        for k in ["k0", "k1", "k2", "z"] {
            assert!(
                s.get(&t, k.as_bytes(), 1202).expect("get").is_some(),
                "{k} readable at 1202"
            );
        }
    }
}
