//! The in-memory key index: for every key, its generations of revisions
//! (a generation runs from a creation to a delete), as etcd's treeIndex keeps.

use super::revision::Rev;
use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Generation {
    pub created: Rev,
    /// number of puts in this generation (the version of its last put)
    pub ver: i64,
    /// every revision of the generation; the last one is the tombstone when
    /// the generation is closed
    pub revs: Vec<Rev>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyIndex {
    /// the last generation is open (possibly empty, after a delete)
    pub gens: Vec<Generation>,
}

/// What the index knows of a key at a revision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyAt {
    pub modified: Rev,
    pub created: Rev,
    pub version: i64,
}

impl KeyIndex {
    pub fn put(&mut self, rev: Rev) {
        if self.gens.is_empty() {
            self.gens.push(Generation::default());
        }
        let g = self.gens.last_mut().expect("a generation was just ensured");
        if g.revs.is_empty() {
            g.created = rev;
        }
        g.revs.push(rev);
        g.ver += 1;
    }

    /// Re-creates history when loading from disk, where compaction may have
    /// removed the first revisions of a generation.
    pub fn restore(&mut self, rev: Rev, created: Rev, version: i64) {
        if self.gens.is_empty() {
            self.gens.push(Generation::default());
        }
        let g = self.gens.last_mut().expect("a generation was just ensured");
        if g.revs.is_empty() {
            g.created = created;
        }
        g.revs.push(rev);
        g.ver = version;
    }

    /// Records a delete: the tombstone closes the open generation.
    pub fn tombstone(&mut self, rev: Rev) {
        self.put(rev);
        self.gens.push(Generation::default());
    }

    /// Is the key alive (not deleted) right now?
    pub fn is_alive(&self) -> bool {
        self.gens.last().is_some_and(|g| !g.revs.is_empty())
    }

    /// The key as of revision `at`, or `None` when it did not exist then.
    pub fn get(&self, at: i64) -> Option<KeyAt> {
        let last = self.gens.len().checked_sub(1)?;
        let mut i = last as isize;
        while i >= 0 {
            let g = &self.gens[i as usize];
            i -= 1;
            if g.revs.is_empty() {
                continue;
            }
            // a closed generation whose tombstone is at or before `at` means
            // the key was deleted as of `at`
            if (i + 1) as usize != last && g.revs[g.revs.len() - 1].main <= at {
                return None;
            }
            if g.revs[0].main <= at {
                let n = g.revs.iter().rposition(|r| r.main <= at)?;
                return Some(KeyAt {
                    modified: g.revs[n],
                    created: g.created,
                    version: g.ver - (g.revs.len() - 1 - n) as i64,
                });
            }
        }
        None
    }

    /// Where a compaction at `at` cuts this key's history: the first
    /// generation to keep, and the index of its latest revision at or before
    /// `at` (if any). Generations deleted at or before `at` go entirely.
    fn cut_at(&self, at: i64) -> (usize, Option<usize>) {
        let last = self.gens.len().saturating_sub(1);
        let mut gi = 0;
        while gi < last {
            match self.gens[gi].revs.last() {
                Some(tomb) if tomb.main <= at => gi += 1,
                _ => break,
            }
        }
        let n = self
            .gens
            .get(gi)
            .and_then(|g| g.revs.iter().rposition(|r| r.main <= at));
        (gi, n)
    }

    /// The revision a compaction at `at` keeps for this key, if any.
    pub fn kept_at(&self, at: i64) -> Option<Rev> {
        let (gi, n) = self.cut_at(at);
        n.map(|n| self.gens[gi].revs[n])
    }

    /// Drops what a compaction at `at` makes unreachable; revisions that must
    /// stay in the backend are added to `keep`. Returns true when the key is
    /// gone from the index entirely.
    pub fn compact(&mut self, at: i64, keep: &mut HashSet<Rev>) -> bool {
        let (gi, n) = self.cut_at(at);
        if let Some(n) = n {
            let g = &mut self.gens[gi];
            g.revs.drain(..n);
            keep.insert(g.revs[0]);
        }
        self.gens.drain(..gi);
        self.gens.is_empty() || (self.gens.len() == 1 && self.gens[0].revs.is_empty())
    }
}

/// The key → history map.
#[derive(Debug, Default)]
pub struct TreeIndex {
    pub keys: BTreeMap<Vec<u8>, KeyIndex>,
}

impl TreeIndex {
    /// Iterates the key range `[key, end)` with etcd's conventions:
    /// an empty `end` is the single key, `end == "\0"` means "to the end".
    pub fn range<'a>(
        &'a self,
        key: &[u8],
        end: &[u8],
    ) -> Box<dyn Iterator<Item = (&'a Vec<u8>, &'a KeyIndex)> + 'a> {
        if end.is_empty() {
            return Box::new(self.keys.get_key_value(key).into_iter());
        }
        let lo = Bound::Included(key.to_vec());
        if end == [0u8] {
            return Box::new(self.keys.range((lo, Bound::Unbounded)));
        }
        if end <= key {
            return Box::new(std::iter::empty());
        }
        Box::new(self.keys.range((lo, Bound::Excluded(end.to_vec()))))
    }

    pub fn put(&mut self, key: &[u8], rev: Rev) {
        self.keys.entry(key.to_vec()).or_default().put(rev);
    }

    pub fn tombstone(&mut self, key: &[u8], rev: Rev) {
        self.keys.entry(key.to_vec()).or_default().tombstone(rev);
    }

    /// The revisions a compaction at `at` would keep (etcd's `Keep`).
    pub fn keep(&self, at: i64) -> HashSet<Rev> {
        self.keys.values().filter_map(|ki| ki.kept_at(at)).collect()
    }

    pub fn compact(&mut self, at: i64) -> HashSet<Rev> {
        let mut keep = HashSet::new();
        self.keys.retain(|_, ki| !ki.compact(at, &mut keep));
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(m: i64) -> Rev {
        Rev::new(m, 0)
    }

    #[test]
    fn get_across_generations() {
        let mut ki = KeyIndex::default();
        ki.put(r(2));
        ki.put(r(4));
        ki.tombstone(r(6));
        ki.put(r(8));
        assert_eq!(ki.get(1), None);
        assert_eq!(
            ki.get(3).map(|k| (k.modified.main, k.version)),
            Some((2, 1))
        );
        assert_eq!(
            ki.get(5).map(|k| (k.modified.main, k.version)),
            Some((4, 2))
        );
        assert_eq!(ki.get(6), None);
        assert_eq!(ki.get(7), None);
        let k = ki.get(9).expect("alive");
        assert_eq!((k.modified.main, k.created.main, k.version), (8, 8, 1));
    }

    #[test]
    fn compaction_keeps_latest_and_drops_deleted() {
        let mut ki = KeyIndex::default();
        ki.put(r(2));
        ki.put(r(4));
        ki.tombstone(r(6));
        ki.put(r(8));
        let mut keep = HashSet::new();
        assert!(!ki.compact(5, &mut keep));
        assert!(keep.contains(&r(4)) && !keep.contains(&r(2)));
        let mut keep = HashSet::new();
        assert!(!ki.compact(7, &mut keep));
        assert!(keep.is_empty());
        assert_eq!(ki.get(9).map(|k| k.modified.main), Some(8));

        let mut gone = KeyIndex::default();
        gone.put(r(2));
        gone.tombstone(r(3));
        assert!(gone.compact(3, &mut HashSet::new()));
    }
}
