//! Read-only access to a bbolt database held in memory.

use std::borrow::Cow;
use std::collections::HashSet;

use super::page::{self, Meta, Node, BRANCH, BUCKET_HEADER_SIZE, LEAF, NO_FREELIST};
use crate::error::{Error, Result};

/// Deepest B+tree accepted. bbolt trees of any real size are < 10 levels;
/// the limit stops a hostile file from recursing without end.
pub const MAX_TREE_DEPTH: usize = 64;
/// Deepest bucket nesting accepted (etcd uses one level).
pub const MAX_BUCKET_DEPTH: usize = 16;

/// A validated, read-only view of a bbolt file.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: Cow<'a, [u8]>,
    meta: Meta,
    /// Which meta page (0 or 1) was chosen.
    meta_page: u64,
}

impl<'a> Reader<'a> {
    /// Opens a database from borrowed bytes (trailing bytes past the
    /// high-water mark, such as a snapshot's SHA-256 trailer, are ignored).
    pub fn new(data: &'a [u8]) -> Result<Reader<'a>> {
        Self::open(Cow::Borrowed(data))
    }

    /// Opens a database from owned bytes.
    pub fn from_vec(data: Vec<u8>) -> Result<Reader<'static>> {
        Reader::open(Cow::Owned(data))
    }

    fn open(data: Cow<'a, [u8]>) -> Result<Reader<'a>> {
        let (meta, meta_page) = choose_meta(&data, data.len())?;
        Ok(Reader {
            data,
            meta,
            meta_page,
        })
    }

    /// The meta record in use (the valid one with the highest txid).
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Which meta page is in use.
    pub fn meta_page(&self) -> u64 {
        self.meta_page
    }

    pub fn page_size(&self) -> usize {
        self.meta.page_size as usize
    }

    /// Bytes in use up to the high-water mark (bbolt's `Tx.Size`).
    pub fn size(&self) -> u64 {
        self.meta.pgid * u64::from(self.meta.page_size)
    }

    /// The raw file bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// The top-level bucket, whose entries are the named buckets.
    pub fn root(&self) -> Bucket<'_> {
        Bucket {
            reader: self,
            root: Root::Page(self.meta.root),
            depth: 0,
        }
    }

    /// A top-level bucket by name.
    pub fn bucket(&self, name: &[u8]) -> Result<Option<Bucket<'_>>> {
        self.root().bucket(name)
    }

    /// Names of the top-level entries, in key order.
    pub fn bucket_names(&self) -> Result<Vec<Vec<u8>>> {
        self.root()
            .iter()
            .map(|e| e.map(|e| e.key.to_vec()))
            .collect()
    }

    /// Page `id` with its overflow pages, after range and id checks.
    pub(crate) fn page(&self, id: u64) -> Result<Node<'_>> {
        let ps = self.page_size() as u64;
        let file_pages = self.data.len() as u64 / ps;
        let out_of_range = Error::PageOutOfRange {
            page: id,
            high_water: self.meta.pgid,
            file_pages,
        };
        if id >= self.meta.pgid {
            return Err(out_of_range);
        }
        let start = id * ps;
        let head = self
            .data
            .get(start as usize..(start + ps) as usize)
            .ok_or(out_of_range.clone())?;
        let header = page::PageHeader::parse(head).ok_or(out_of_range.clone())?;
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
        let bytes = &self.data[start as usize..(end_page * ps) as usize];
        Node::new(id, bytes)
    }

    /// A leaf or branch page.
    pub(crate) fn tree_page(&self, id: u64) -> Result<Node<'_>> {
        let node = self.page(id)?;
        if !(node.is_leaf() || node.is_branch()) {
            return Err(Error::WrongPageType {
                page: id,
                expected: "leaf or branch",
                flags: node.header.flags,
            });
        }
        Ok(node)
    }
}

/// The meta record to use and its page (0 or 1): the valid one with the
/// highest txid. `data` holds the first bytes of a file of `len` bytes
/// (at least its first two pages, when the file has them).
pub(super) fn choose_meta(data: &[u8], len: usize) -> Result<(Meta, u64)> {
    if len < page::PAGE_HEADER_SIZE + page::META_SIZE {
        return Err(Error::TooSmall { len });
    }
    let m0 = Meta::parse(0, data).and_then(|m| check_meta_bounds(0, m, len, None));
    // Like bbolt: locate meta 1 with meta 0's page size, or 4096 when
    // meta 0 is unusable.
    let ps = m0.as_ref().map(|m| m.page_size as usize).unwrap_or(4096);
    let m1 = match data.get(ps..) {
        Some(rest) => Meta::parse(1, rest).and_then(|m| check_meta_bounds(1, m, len, Some(ps))),
        None => Err(Error::TooSmall { len }),
    };
    match (m0, m1) {
        (Ok(a), Ok(b)) if b.txid > a.txid => Ok((b, 1)),
        (Ok(a), _) => Ok((a, 0)),
        (Err(_), Ok(b)) => Ok((b, 1)),
        (Err(e), Err(_)) => Err(e),
    }
}

/// Rejects a meta whose page references cannot be inside the file.
fn check_meta_bounds(page: u64, m: Meta, len: usize, expect_ps: Option<usize>) -> Result<Meta> {
    let bad = |what| Error::BadMeta { page, what };
    if let Some(ps) = expect_ps {
        if m.page_size as usize != ps {
            return Err(bad("page size differs from meta page 0"));
        }
    }
    let file_pages = len as u64 / u64::from(m.page_size);
    if m.pgid < 3 {
        return Err(bad("high-water mark below 3"));
    }
    if m.pgid > file_pages {
        return Err(bad("high-water mark beyond end of file"));
    }
    if m.root < 2 || m.root >= m.pgid {
        return Err(bad("root page out of range"));
    }
    if m.freelist != NO_FREELIST && (m.freelist < 2 || m.freelist >= m.pgid) {
        return Err(bad("freelist page out of range"));
    }
    Ok(m)
}

/// Where a bucket's tree starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Root<'r> {
    Page(u64),
    /// Inline bucket: a single leaf embedded in the parent's value.
    Inline(Node<'r>),
}

/// A bucket: an ordered map of keys to values or nested buckets.
#[derive(Debug, Clone, Copy)]
pub struct Bucket<'r> {
    reader: &'r Reader<'r>,
    pub(crate) root: Root<'r>,
    depth: usize,
}

/// One key of a bucket. For a nested bucket `value` is the raw bucket
/// header (bbolt's cursors report it as a nil value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'r> {
    pub key: &'r [u8],
    pub value: &'r [u8],
    pub is_bucket: bool,
    /// Page holding the element (for error reporting).
    pub page: u64,
}

impl<'r> Bucket<'r> {
    /// Interprets a bucket value found in a leaf of page `page`.
    pub(crate) fn from_value(
        reader: &'r Reader<'r>,
        page: u64,
        index: usize,
        value: &'r [u8],
        depth: usize,
    ) -> Result<Bucket<'r>> {
        let bad = Error::BadBucketValue { page, index };
        if depth > MAX_BUCKET_DEPTH {
            return Err(Error::TooDeep {
                page,
                limit: MAX_BUCKET_DEPTH,
            });
        }
        let root_id = page::u64_at(value, 0).ok_or(bad.clone())?;
        let root = if root_id == 0 {
            let inline = value.get(BUCKET_HEADER_SIZE..).ok_or(bad.clone())?;
            let node = Node::new(page, inline).map_err(|_| bad.clone())?;
            if !node.is_leaf() {
                return Err(bad);
            }
            Root::Inline(node)
        } else {
            Root::Page(root_id)
        };
        Ok(Bucket {
            reader,
            root,
            depth,
        })
    }

    pub(crate) fn reader(&self) -> &'r Reader<'r> {
        self.reader
    }

    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// True when the bucket is stored inline in its parent's leaf.
    pub fn is_inline(&self) -> bool {
        matches!(self.root, Root::Inline(_))
    }

    /// All entries in key order. Each item is checked as it is read; the
    /// first error ends the iteration.
    pub fn iter(&self) -> Iter<'r> {
        Iter {
            reader: self.reader,
            start: Some(self.root),
            stack: Vec::new(),
            visited: HashSet::new(),
            last_key: None,
            done: false,
        }
    }

    /// Number of entries (keys and nested buckets), as bbolt's ForEach sees.
    pub fn len(&self) -> Result<u64> {
        self.iter().try_fold(0u64, |n, e| e.map(|_| n + 1))
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Value of a plain key (None for a missing key or a nested bucket).
    pub fn get(&self, key: &[u8]) -> Result<Option<&'r [u8]>> {
        Ok(self.find(key)?.filter(|e| !e.is_bucket).map(|e| e.value))
    }

    /// A nested bucket by name.
    pub fn bucket(&self, name: &[u8]) -> Result<Option<Bucket<'r>>> {
        match self.find(name)? {
            Some(e) if e.is_bucket => {
                Bucket::from_value(self.reader, e.page, 0, e.value, self.depth + 1).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// B+tree descent to the leaf that would hold `key`.
    fn find(&self, key: &[u8]) -> Result<Option<Entry<'r>>> {
        let mut node = match self.root {
            Root::Inline(n) => n,
            Root::Page(id) => self.reader.tree_page(id)?,
        };
        for _ in 0..MAX_TREE_DEPTH {
            if node.is_leaf() {
                for i in 0..node.count() {
                    let e = node.leaf(i)?;
                    if e.key == key {
                        return Ok(Some(Entry {
                            key: e.key,
                            value: e.value,
                            is_bucket: e.is_bucket(),
                            page: node.page,
                        }));
                    }
                }
                return Ok(None);
            }
            // Child i covers keys from its element key up to the next one.
            let mut child = None;
            for i in 0..node.count() {
                let e = node.branch(i)?;
                if i == 0 || e.key <= key {
                    child = Some(e.child);
                } else {
                    break;
                }
            }
            let Some(child) = child else {
                return Err(Error::EmptyBranch { page: node.page });
            };
            node = self.reader.tree_page(child)?;
        }
        Err(Error::TooDeep {
            page: node.page,
            limit: MAX_TREE_DEPTH,
        })
    }
}

/// In-order iterator over a bucket's entries.
pub struct Iter<'r> {
    reader: &'r Reader<'r>,
    start: Option<Root<'r>>,
    stack: Vec<(Node<'r>, usize)>,
    /// Pages entered so far: a second visit means a cycle or shared page.
    visited: HashSet<u64>,
    last_key: Option<&'r [u8]>,
    done: bool,
}

impl<'r> Iter<'r> {
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
        let node = self.reader.tree_page(id)?;
        if node.header.flags == BRANCH && node.count() == 0 {
            return Err(Error::EmptyBranch { page: id });
        }
        self.stack.push((node, 0));
        Ok(())
    }

    fn step(&mut self) -> Result<Option<Entry<'r>>> {
        if let Some(root) = self.start.take() {
            match root {
                Root::Inline(n) => self.stack.push((n, 0)),
                Root::Page(id) => self.enter(id)?,
            }
        }
        loop {
            let Some((node, idx)) = self.stack.last_mut() else {
                return Ok(None);
            };
            let (node, i) = (*node, *idx);
            if i >= node.count() {
                self.stack.pop();
                continue;
            }
            *idx += 1;
            if node.header.flags == LEAF {
                let e = node.leaf(i)?;
                if self.last_key.is_some_and(|last| last >= e.key) {
                    return Err(Error::KeyOrder { page: node.page });
                }
                self.last_key = Some(e.key);
                return Ok(Some(Entry {
                    key: e.key,
                    value: e.value,
                    is_bucket: e.is_bucket(),
                    page: node.page,
                }));
            }
            let child = node.branch(i)?.child;
            self.enter(child)?;
        }
    }
}

impl<'r> Iterator for Iter<'r> {
    type Item = Result<Entry<'r>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.step();
        super::fuse(&mut self.done, step)
    }
}
