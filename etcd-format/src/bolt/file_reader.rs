//! Reading a bbolt file a page at a time through positioned reads, for
//! passes over files too large to hold in memory. Checks what
//! [`Reader`](super::Reader)'s iteration checks (page ids and types,
//! bounds, key order, cycles, depth), but hands out owned copies.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::FileExt;

use super::page::{self, Meta, Node, BRANCH, BUCKET_HEADER_SIZE, LEAF};
use super::reader::{choose_meta, MAX_BUCKET_DEPTH, MAX_TREE_DEPTH};
use crate::error::{Error, Result};

fn io_error(e: std::io::Error) -> Error {
    Error::Io(e.to_string())
}

/// A validated bbolt file, read on demand.
#[derive(Debug)]
pub struct FileReader<'f> {
    file: &'f File,
    /// Bytes of the database (a snapshot's trailer excluded).
    len: u64,
    meta: Meta,
}

/// One entry of a bucket read by [`FileReader`]: key, value (for a nested
/// bucket, its raw bucket value) and whether it is a nested bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedEntry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub is_bucket: bool,
}

impl<'f> FileReader<'f> {
    /// Opens the database held in the first `len` bytes of `file`.
    pub fn new(file: &'f File, len: u64) -> Result<FileReader<'f>> {
        let prefix_len = len.min(2 * 65536) as usize;
        let mut prefix = vec![0u8; prefix_len];
        file.read_exact_at(&mut prefix, 0).map_err(io_error)?;
        let (meta, _) = choose_meta(&prefix, usize::try_from(len).unwrap_or(usize::MAX))?;
        Ok(FileReader { file, len, meta })
    }

    /// The meta record in use.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Page `id` with its overflow pages, read into `buf`.
    fn read_page(&self, id: u64, buf: &mut Vec<u8>) -> Result<()> {
        let ps = u64::from(self.meta.page_size);
        let out_of_range = Error::PageOutOfRange {
            page: id,
            high_water: self.meta.pgid,
            file_pages: self.len / ps,
        };
        // The meta's high-water mark was checked against the file size.
        if id >= self.meta.pgid {
            return Err(out_of_range);
        }
        buf.clear();
        buf.resize(ps as usize, 0);
        self.file.read_exact_at(buf, id * ps).map_err(io_error)?;
        let header = page::PageHeader::parse(buf).ok_or(out_of_range.clone())?;
        if header.id != id {
            return Err(Error::PageIdMismatch {
                page: id,
                found: header.id,
            });
        }
        let end_page = id + 1 + u64::from(header.overflow);
        if end_page > self.meta.pgid {
            return Err(out_of_range);
        }
        if header.overflow > 0 {
            buf.resize(((end_page - id) * ps) as usize, 0);
            self.file
                .read_exact_at(&mut buf[ps as usize..], (id + 1) * ps)
                .map_err(io_error)?;
        }
        let node = Node::new(id, buf)?;
        if !(node.is_leaf() || node.is_branch()) {
            return Err(Error::WrongPageType {
                page: id,
                expected: "leaf or branch",
                flags: node.header.flags,
            });
        }
        if node.is_branch() && node.count() == 0 {
            return Err(Error::EmptyBranch { page: id });
        }
        Ok(())
    }

    /// Entries of the top-level bucket (each a named bucket, normally).
    pub fn root(&self) -> FileIter<'_, 'f> {
        self.iter_from(Start::Page(self.meta.root))
    }

    /// Entries of the bucket whose bucket value is `value`, found in a
    /// leaf of page `page` (for errors); `depth` counts nesting.
    pub fn bucket(&self, page: u64, value: &[u8], depth: usize) -> Result<FileIter<'_, 'f>> {
        let bad = Error::BadBucketValue { page, index: 0 };
        if depth > MAX_BUCKET_DEPTH {
            return Err(Error::TooDeep {
                page,
                limit: MAX_BUCKET_DEPTH,
            });
        }
        let root_id = page::u64_at(value, 0).ok_or(bad.clone())?;
        if root_id != 0 {
            return Ok(self.iter_from(Start::Page(root_id)));
        }
        let inline = value.get(BUCKET_HEADER_SIZE..).ok_or(bad.clone())?;
        let node = Node::new(page, inline).map_err(|_| bad.clone())?;
        if !node.is_leaf() {
            return Err(bad);
        }
        Ok(self.iter_from(Start::Inline(page, inline.to_vec())))
    }

    fn iter_from(&self, start: Start) -> FileIter<'_, 'f> {
        FileIter {
            reader: self,
            start: Some(start),
            stack: Vec::new(),
            visited: HashSet::new(),
            last_key: Vec::new(),
            has_last: false,
            last_page: 0,
            done: false,
        }
    }
}

enum Start {
    Page(u64),
    /// An inline bucket's leaf, and the page holding it.
    Inline(u64, Vec<u8>),
}

/// In-order iterator over a bucket of a [`FileReader`]; the first error
/// ends it.
pub struct FileIter<'r, 'f> {
    reader: &'r FileReader<'f>,
    start: Option<Start>,
    /// Page id, page bytes, next element index.
    stack: Vec<(u64, Vec<u8>, usize)>,
    visited: HashSet<u64>,
    /// The previous key (valid when `has_last`), its buffer reused.
    last_key: Vec<u8>,
    has_last: bool,
    /// Page of the last entry returned.
    last_page: u64,
    done: bool,
}

impl FileIter<'_, '_> {
    /// The page holding the entry returned last.
    pub fn page(&self) -> u64 {
        self.last_page
    }

    fn enter(&mut self, id: u64) -> Result<()> {
        if self.stack.len() >= MAX_TREE_DEPTH {
            return Err(Error::TooDeep {
                page: id,
                limit: MAX_TREE_DEPTH,
            });
        }
        if !self.visited.insert(id) {
            return Err(Error::MultipleReferences { page: id });
        }
        let mut buf = Vec::new();
        self.reader.read_page(id, &mut buf)?;
        self.stack.push((id, buf, 0));
        Ok(())
    }

    fn step(&mut self) -> Result<Option<OwnedEntry>> {
        match self.start.take() {
            Some(Start::Page(id)) => self.enter(id)?,
            Some(Start::Inline(page, bytes)) => self.stack.push((page, bytes, 0)),
            None => {}
        }
        loop {
            let Some((id, bytes, idx)) = self.stack.last_mut() else {
                return Ok(None);
            };
            let node = Node::new(*id, bytes)?;
            let i = *idx;
            if i >= node.count() {
                self.stack.pop();
                continue;
            }
            *idx += 1;
            if node.header.flags == LEAF {
                let e = node.leaf(i)?;
                if self.has_last && self.last_key.as_slice() >= e.key {
                    return Err(Error::KeyOrder { page: node.page });
                }
                let entry = OwnedEntry {
                    key: e.key.to_vec(),
                    value: e.value.to_vec(),
                    is_bucket: e.is_bucket(),
                };
                self.last_key.clear();
                self.last_key.extend_from_slice(e.key);
                self.has_last = true;
                self.last_page = node.page;
                return Ok(Some(entry));
            }
            debug_assert_eq!(node.header.flags, BRANCH);
            let child = node.branch(i)?.child;
            self.enter(child)?;
        }
    }
}

impl Iterator for FileIter<'_, '_> {
    type Item = Result<OwnedEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.step();
        super::fuse(&mut self.done, step)
    }
}
