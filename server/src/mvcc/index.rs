//! The in-memory key index: for every key, its generations of revisions
//! (a generation runs from a creation to a delete), as etcd's treeIndex keeps.
//!
//! Memory is the point of its shape: at a million keys the index is most of
//! what a member holds. Most keys have one generation with one revision
//! (written once, or compacted down to their latest write), so that case is
//! stored inline in the map's node ([`KeyIndex::One`], no allocation), and
//! keys are boxed slices (16 bytes in the node, not a `Vec`'s 24).

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

/// A key's history.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyIndex {
    /// One open generation holding one revision.
    One { created: Rev, ver: i64, rev: Rev },
    /// Anything else: the last generation is open (possibly empty, after a
    /// delete); empty when nothing was recorded yet.
    Many(Vec<Generation>),
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex::Many(Vec::new())
    }
}

/// What the index knows of a key at a revision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyAt {
    pub modified: Rev,
    pub created: Rev,
    pub version: i64,
}

impl KeyIndex {
    /// The generations, for a change: the inline case spelled out.
    fn gens_mut(&mut self) -> &mut Vec<Generation> {
        if let KeyIndex::One { created, ver, rev } = *self {
            *self = KeyIndex::Many(vec![Generation {
                created,
                ver,
                revs: vec![rev],
            }]);
        }
        match self {
            KeyIndex::Many(gens) => gens,
            KeyIndex::One { .. } => unreachable!("spelled out just above"),
        }
    }

    /// Back to the inline case where it applies, after a change.
    fn settle(&mut self) {
        if let KeyIndex::Many(gens) = self {
            if let [g] = gens.as_slice() {
                if let [rev] = g.revs.as_slice() {
                    *self = KeyIndex::One {
                        created: g.created,
                        ver: g.ver,
                        rev: *rev,
                    };
                }
            }
        }
    }

    pub fn put(&mut self, rev: Rev) {
        let gens = self.gens_mut();
        if gens.is_empty() {
            gens.push(Generation::default());
        }
        let g = gens.last_mut().expect("a generation was just ensured");
        if g.revs.is_empty() {
            g.created = rev;
        }
        g.revs.push(rev);
        g.ver += 1;
        self.settle();
    }

    /// Re-creates history when loading from disk, where compaction may have
    /// removed the first revisions of a generation.
    pub fn restore(&mut self, rev: Rev, created: Rev, version: i64) {
        let gens = self.gens_mut();
        if gens.is_empty() {
            gens.push(Generation::default());
        }
        let g = gens.last_mut().expect("a generation was just ensured");
        if g.revs.is_empty() {
            g.created = created;
        }
        g.revs.push(rev);
        g.ver = version;
        self.settle();
    }

    /// Records a delete: the tombstone closes the open generation.
    pub fn tombstone(&mut self, rev: Rev) {
        self.put(rev);
        self.gens_mut().push(Generation::default());
    }

    /// Is the key alive (not deleted) right now?
    pub fn is_alive(&self) -> bool {
        match self {
            KeyIndex::One { .. } => true,
            KeyIndex::Many(gens) => gens.last().is_some_and(|g| !g.revs.is_empty()),
        }
    }

    /// The key as of revision `at`, or `None` when it did not exist then.
    pub fn get(&self, at: i64) -> Option<KeyAt> {
        let gens = match self {
            KeyIndex::One { created, ver, rev } => {
                return (rev.main <= at).then_some(KeyAt {
                    modified: *rev,
                    created: *created,
                    version: *ver,
                })
            }
            KeyIndex::Many(gens) => gens,
        };
        let last = gens.len().checked_sub(1)?;
        let mut i = last as isize;
        while i >= 0 {
            let g = &gens[i as usize];
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
    fn cut_at(gens: &[Generation], at: i64) -> (usize, Option<usize>) {
        let last = gens.len().saturating_sub(1);
        let mut gi = 0;
        while gi < last {
            match gens[gi].revs.last() {
                Some(tomb) if tomb.main <= at => gi += 1,
                _ => break,
            }
        }
        let n = gens
            .get(gi)
            .and_then(|g| g.revs.iter().rposition(|r| r.main <= at));
        (gi, n)
    }

    /// The revision a compaction at `at` keeps for this key, if any.
    pub fn kept_at(&self, at: i64) -> Option<Rev> {
        match self {
            KeyIndex::One { rev, .. } => (rev.main <= at).then_some(*rev),
            KeyIndex::Many(gens) => {
                let (gi, n) = Self::cut_at(gens, at);
                n.map(|n| gens[gi].revs[n])
            }
        }
    }

    /// Drops what a compaction at `at` makes unreachable; revisions that must
    /// stay in the backend are added to `keep`. Returns true when the key is
    /// gone from the index entirely.
    pub fn compact(&mut self, at: i64, keep: &mut HashSet<Rev>) -> bool {
        let gens = match self {
            KeyIndex::One { rev, .. } => {
                if rev.main <= at {
                    keep.insert(*rev);
                }
                return false;
            }
            KeyIndex::Many(gens) => gens,
        };
        let (gi, n) = Self::cut_at(gens, at);
        if let Some(n) = n {
            let g = &mut gens[gi];
            g.revs.drain(..n);
            g.revs.shrink_to_fit();
            keep.insert(g.revs[0]);
        }
        gens.drain(..gi);
        let gone = gens.is_empty() || (gens.len() == 1 && gens[0].revs.is_empty());
        self.settle();
        gone
    }
}

/// The key → history map.
#[derive(Debug, Default)]
pub struct TreeIndex {
    pub keys: BTreeMap<Box<[u8]>, KeyIndex>,
}

impl TreeIndex {
    /// Iterates the key range `[key, end)` with etcd's conventions:
    /// an empty `end` is the single key, `end == "\0"` means "to the end".
    pub fn range<'a>(
        &'a self,
        key: &[u8],
        end: &[u8],
    ) -> Box<dyn Iterator<Item = (&'a [u8], &'a KeyIndex)> + 'a> {
        if end.is_empty() {
            return Box::new(
                self.keys
                    .get_key_value(key)
                    .map(|(k, ki)| (&**k, ki))
                    .into_iter(),
            );
        }
        if end != [0u8] && end <= key {
            return Box::new(std::iter::empty());
        }
        let hi = if end == [0u8] {
            Bound::Unbounded
        } else {
            Bound::Excluded(end)
        };
        Box::new(
            self.keys
                .range::<[u8], _>((Bound::Included(key), hi))
                .map(|(k, ki)| (&**k, ki)),
        )
    }

    /// The history of `key`, created empty when the key is new.
    pub fn entry(&mut self, key: &[u8]) -> &mut KeyIndex {
        // look up first: a key already known costs no allocation
        if self.keys.contains_key(key) {
            return self.keys.get_mut(key).expect("just found");
        }
        self.keys.entry(key.into()).or_default()
    }

    /// As [`TreeIndex::entry`] for a key already owned (loading a store,
    /// where most keys are new): one walk of the map, no copy of the key.
    pub fn entry_owned(&mut self, key: Vec<u8>) -> &mut KeyIndex {
        self.keys.entry(key.into_boxed_slice()).or_default()
    }

    pub fn put(&mut self, key: &[u8], rev: Rev) {
        self.entry(key).put(rev);
    }

    pub fn tombstone(&mut self, key: &[u8], rev: Rev) {
        self.entry(key).tombstone(rev);
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

    /// Every get, at every revision, after random puts and deletes matches
    /// a brute-force reading of the history, whichever representation the
    /// key is in at the time.
    #[test]
    fn inline_and_spelled_out_histories_read_alike() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let mut ki = KeyIndex::default();
            let mut events: Vec<(i64, bool)> = Vec::new(); // (main, is_put)
            let mut main = 1;
            for _ in 0..(next() % 6) {
                main += 1 + (next() % 3) as i64;
                let put = next() % 3 != 0 || !ki.is_alive();
                if put {
                    ki.put(r(main));
                } else {
                    ki.tombstone(r(main));
                }
                events.push((main, put));
            }
            if events.len() == 1 {
                assert!(matches!(ki, KeyIndex::One { .. }), "{ki:?}");
            }
            for at in 0..=main + 1 {
                let seen: Vec<_> = events.iter().filter(|e| e.0 <= at).collect();
                let expect = match seen.last() {
                    Some((m, true)) => {
                        let born = seen.iter().rposition(|e| !e.1).map_or(0, |i| i + 1);
                        Some((*m, seen[born].0, (seen.len() - born) as i64))
                    }
                    _ => None,
                };
                let got = ki
                    .get(at)
                    .map(|k| (k.modified.main, k.created.main, k.version));
                assert_eq!(got, expect, "at {at} after {events:?}");
            }
        }
    }

    #[test]
    fn a_key_written_once_costs_no_allocation() {
        assert!(std::mem::size_of::<KeyIndex>() <= 48);
        let mut idx = TreeIndex::default();
        idx.put(b"k", r(2));
        assert!(matches!(
            idx.keys.get(&b"k"[..]),
            Some(KeyIndex::One { .. })
        ));
        // compacted back down to one revision: inline again
        idx.put(b"k", r(3));
        assert!(matches!(idx.keys.get(&b"k"[..]), Some(KeyIndex::Many(_))));
        idx.compact(3);
        assert!(matches!(
            idx.keys.get(&b"k"[..]),
            Some(KeyIndex::One { .. })
        ));
        assert_eq!(idx.keys[&b"k"[..]].get(3).map(|k| k.version), Some(2));
    }
}
