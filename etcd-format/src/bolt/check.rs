//! Whole-file consistency check, modelled on what bbolt's `Tx.Check`
//! verifies (etcdutl runs it before `snapshot status`): every page
//! reachable once, in range and of the right type, freelist consistent.

use std::collections::HashSet;

use super::page::{self, Node, FREELIST, NO_FREELIST};
use super::reader::{Bucket, Reader, Root, MAX_TREE_DEPTH};
use crate::error::{Error, Result};

/// Figures gathered by [`Reader::check`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// High-water mark (pages in use, including free ones).
    pub pages: u64,
    pub reachable_pages: u64,
    /// Free pages: listed on the freelist, or unreachable when the
    /// freelist is not persisted.
    pub free_pages: u64,
    /// Buckets, counting the top-level bucket.
    pub buckets: u64,
    /// Plain keys across all buckets.
    pub keys: u64,
    /// True when the meta points at a persisted freelist page.
    pub freelist_persisted: bool,
}

struct Walk<'r> {
    reader: &'r Reader<'r>,
    reachable: Vec<bool>,
    freed: HashSet<u64>,
    stats: CheckStats,
}

impl<'a> Reader<'a> {
    /// Verifies the whole file; returns the first problem found.
    pub fn check(&self) -> Result<CheckStats> {
        let me: &Reader<'_> = self;
        let pgid = self.meta().pgid;
        let mut w = Walk {
            reader: me,
            reachable: vec![false; pgid as usize],
            freed: HashSet::new(),
            stats: CheckStats {
                pages: pgid,
                buckets: 1,
                ..CheckStats::default()
            },
        };
        let freelist = self.meta().freelist;
        if freelist != NO_FREELIST {
            w.stats.freelist_persisted = true;
            let node = self.page(freelist)?;
            if node.header.flags != FREELIST {
                return Err(Error::WrongPageType {
                    page: freelist,
                    expected: "freelist",
                    flags: node.header.flags,
                });
            }
            for id in freelist_ids(&node, pgid)? {
                if !w.freed.insert(id) {
                    return Err(Error::DoubleFree { page: id });
                }
            }
            w.mark(freelist, node.header.overflow)?;
        }
        w.mark(0, 0)?;
        w.mark(1, 0)?;
        w.bucket(&self.root(), 0)?;
        for id in 0..pgid {
            if !w.reachable[id as usize] && !w.freed.contains(&id) {
                if w.stats.freelist_persisted {
                    return Err(Error::Unreachable { page: id });
                }
                // Without a persisted freelist bbolt treats every
                // unreachable page as free.
                w.stats.free_pages += 1;
            }
        }
        w.stats.free_pages += w.freed.len() as u64;
        w.stats.reachable_pages = w.reachable.iter().filter(|r| **r).count() as u64;
        Ok(w.stats)
    }
}

/// Page ids listed on a freelist page (count 0xFFFF means the real count
/// is stored in the first slot).
pub fn freelist_ids(node: &Node<'_>, pgid: u64) -> Result<Vec<u64>> {
    let page = node.page;
    let data = node.data;
    let hdr = page::PAGE_HEADER_SIZE;
    let (start, count) = if node.header.count == 0xFFFF {
        let n = page::u64_at(data, hdr).ok_or(Error::CountOutOfBounds {
            page,
            count: node.header.count,
            len: data.len(),
        })?;
        (hdr + 8, n)
    } else {
        (hdr, u64::from(node.header.count))
    };
    let room = (data.len().saturating_sub(start) / 8) as u64;
    if count > room {
        return Err(Error::CountOutOfBounds {
            page,
            count: node.header.count,
            len: data.len(),
        });
    }
    let mut ids = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        let id = page::u64_at(data, start + 8 * i).unwrap_or(0);
        if id < 2 || id >= pgid {
            return Err(Error::BadFreelistEntry { page, id });
        }
        ids.push(id);
    }
    Ok(ids)
}

impl<'r> Walk<'r> {
    fn mark(&mut self, id: u64, overflow: u32) -> Result<()> {
        for p in id..=id + u64::from(overflow) {
            let slot = self
                .reachable
                .get_mut(p as usize)
                .ok_or(Error::PageOutOfRange {
                    page: p,
                    high_water: self.stats.pages,
                    file_pages: self.stats.pages,
                })?;
            if *slot {
                return Err(Error::MultipleReferences { page: p });
            }
            if self.freed.contains(&p) {
                return Err(Error::ReachableFreed { page: p });
            }
            *slot = true;
        }
        Ok(())
    }

    fn bucket(&mut self, b: &Bucket<'r>, depth: usize) -> Result<()> {
        let mut last: Option<&'r [u8]> = None;
        match b.root {
            Root::Inline(node) => self.leaf(&node, b, &mut last),
            Root::Page(id) => self.tree(id, b, &mut last, depth),
        }
    }

    fn tree(
        &mut self,
        id: u64,
        b: &Bucket<'r>,
        last: &mut Option<&'r [u8]>,
        depth: usize,
    ) -> Result<()> {
        if depth >= MAX_TREE_DEPTH {
            return Err(Error::TooDeep {
                page: id,
                limit: MAX_TREE_DEPTH,
            });
        }
        // Range check first so the mark below cannot index out of bounds.
        let node = self.reader.page(id)?;
        self.mark(id, node.header.overflow)?;
        let node = self.reader.tree_page(id)?;
        if node.is_leaf() {
            return self.leaf(&node, b, last);
        }
        if node.count() == 0 {
            return Err(Error::EmptyBranch { page: id });
        }
        let mut prev: Option<&[u8]> = None;
        for i in 0..node.count() {
            let e = node.branch(i)?;
            if prev.is_some_and(|p| p >= e.key) {
                return Err(Error::KeyOrder { page: id });
            }
            prev = Some(e.key);
            self.tree(e.child, b, last, depth + 1)?;
        }
        Ok(())
    }

    fn leaf(&mut self, node: &Node<'r>, b: &Bucket<'r>, last: &mut Option<&'r [u8]>) -> Result<()> {
        for i in 0..node.count() {
            let e = node.leaf(i)?;
            if last.is_some_and(|l| l >= e.key) {
                return Err(Error::KeyOrder { page: node.page });
            }
            *last = Some(e.key);
            if e.is_bucket() {
                let child = Bucket::from_value(b.reader(), node.page, i, e.value, b.depth() + 1)?;
                self.stats.buckets += 1;
                self.bucket(&child, 0)?;
            } else {
                self.stats.keys += 1;
            }
        }
        Ok(())
    }
}
