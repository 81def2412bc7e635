//! Bulk writer: lays out a fresh, compact bbolt file from sorted buckets
//! in one pass, bottom-up (leaves first, then branch levels), the way a
//! freshly compacted database looks.

use super::page::{
    Meta, PageHeader, BRANCH, BUCKET_HEADER_SIZE, BUCKET_LEAF, ELEMENT_SIZE, FREELIST, LEAF, META,
    NO_FREELIST, PAGE_HEADER_SIZE,
};
use crate::error::{Error, Result};

/// bbolt rejects longer keys.
pub const MAX_KEY_SIZE: usize = 32768;
/// Every node keeps at least this many elements (see [`Writer::split`]).
pub(super) const MIN_KEYS: usize = 2;
/// bbolt rejects longer values.
pub const MAX_VALUE_SIZE: usize = (1 << 31) - 2;

/// One top-level bucket: its name and its (key, value) pairs, keys
/// strictly increasing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketData {
    pub name: Vec<u8>,
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl BucketData {
    pub fn new(name: impl Into<Vec<u8>>, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        BucketData {
            name: name.into(),
            entries,
        }
    }
}

/// Writer settings. The defaults match what etcd 3.5 produces: 4096-byte
/// pages and no persisted freelist (etcd opens bbolt with NoFreelistSync).
#[derive(Debug, Clone)]
pub struct Writer {
    page_size: usize,
    fill_percent: f64,
    persist_freelist: bool,
    txid: u64,
}

impl Default for Writer {
    fn default() -> Self {
        Writer {
            page_size: 4096,
            fill_percent: 1.0,
            persist_freelist: false,
            txid: 2,
        }
    }
}

/// An element to lay out: leaf (key, value, flags) or branch (key, child).
pub(super) struct Elem<'a> {
    pub(super) key: &'a [u8],
    pub(super) value: &'a [u8],
    pub(super) flags: u32,
    pub(super) child: u64,
}

impl Elem<'_> {
    pub(super) fn size(&self) -> usize {
        ELEMENT_SIZE + self.key.len() + self.value.len()
    }
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Page size: a power of two from 1024 to 65536.
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }

    /// How full to pack pages, 0.1..=1.0 (bbolt's Bucket.FillPercent).
    pub fn fill_percent(mut self, fill: f64) -> Self {
        self.fill_percent = fill;
        self
    }

    /// Write an (empty) freelist page instead of etcd's NoFreelistSync
    /// marker; both open in bbolt.
    pub fn persist_freelist(mut self, persist: bool) -> Self {
        self.persist_freelist = persist;
        self
    }

    /// Transaction id of the newest meta page (the other gets txid - 1).
    pub fn txid(mut self, txid: u64) -> Self {
        self.txid = txid;
        self
    }

    /// Lays out the database. Bucket names and keys must be non-empty and
    /// strictly increasing.
    ///
    /// Everything is built in memory; [`Writer::stream`] lays out the same
    /// bytes into a file while holding only one page at a time.
    pub fn write(&self, buckets: &[BucketData]) -> Result<Vec<u8>> {
        self.validate()?;
        let ps = self.page_size;
        check_sorted(buckets.iter().map(|b| b.name.as_slice()), "bucket names")?;
        for b in buckets {
            check_sorted(
                b.entries.iter().map(|(k, _)| k.as_slice()),
                &format!("bucket {:?}", String::from_utf8_lossy(&b.name)),
            )?;
            if let Some((k, _)) = b.entries.iter().find(|(_, v)| v.len() > MAX_VALUE_SIZE) {
                return Err(Error::Writer(format!("value of key {k:?} too large")));
            }
        }

        // Pages 0 and 1 are the metas, filled in last.
        let mut out = vec![0u8; 2 * ps];
        let freelist = if self.persist_freelist {
            self.write_node(&mut out, FREELIST, &[])?
        } else {
            NO_FREELIST
        };

        let mut values = Vec::with_capacity(buckets.len());
        for b in buckets {
            values.push(self.bucket_value(&mut out, &b.entries)?);
        }
        let top: Vec<Elem<'_>> = buckets
            .iter()
            .zip(&values)
            .map(|(b, v)| Elem {
                key: &b.name,
                value: v,
                flags: BUCKET_LEAF,
                child: 0,
            })
            .collect();
        let root = self.build_tree(&mut out, &top)?;

        let pgid = (out.len() / ps) as u64;
        for back in 0..2u64 {
            let txid = self.txid - back;
            let page = txid % 2;
            let meta = Meta {
                page_size: ps as u32,
                flags: 0,
                root,
                sequence: 0,
                freelist,
                pgid,
                txid,
                checksum: 0,
            };
            let at = page as usize * ps;
            PageHeader {
                id: page,
                flags: META,
                count: 0,
                overflow: 0,
            }
            .encode(&mut out[at..at + PAGE_HEADER_SIZE]);
            let m = meta.encode();
            out[at + PAGE_HEADER_SIZE..at + PAGE_HEADER_SIZE + m.len()].copy_from_slice(&m);
        }
        Ok(out)
    }

    pub(super) fn validate(&self) -> Result<()> {
        let ps = self.page_size;
        if !(1024..=65536).contains(&ps) || !ps.is_power_of_two() {
            return Err(Error::Writer(format!("invalid page size {ps}")));
        }
        if !(0.1..=1.0).contains(&self.fill_percent) {
            return Err(Error::Writer("fill percent must be in 0.1..=1.0".into()));
        }
        if self.txid < 1 {
            return Err(Error::Writer("txid must be at least 1".into()));
        }
        Ok(())
    }

    pub(super) fn page_size_value(&self) -> usize {
        self.page_size
    }

    pub(super) fn persists_freelist(&self) -> bool {
        self.persist_freelist
    }

    pub(super) fn txid_value(&self) -> u64 {
        self.txid
    }

    /// Fill threshold in bytes.
    pub(super) fn threshold(&self) -> usize {
        (self.page_size as f64 * self.fill_percent) as usize
    }

    /// The value stored under a bucket's name: its header, followed by
    /// the whole bucket as an inline page when it is small (bbolt inlines
    /// buckets up to a quarter page).
    fn bucket_value(&self, out: &mut Vec<u8>, entries: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<u8>> {
        let elems: Vec<Elem<'_>> = entries
            .iter()
            .map(|(k, v)| Elem {
                key: k,
                value: v,
                flags: 0,
                child: 0,
            })
            .collect();
        let inline_size = PAGE_HEADER_SIZE + elems.iter().map(Elem::size).sum::<usize>();
        let mut value = vec![0u8; BUCKET_HEADER_SIZE];
        if inline_size <= self.page_size / 4 {
            value.extend_from_slice(&encode_node(0, LEAF, &elems, inline_size)?);
        } else {
            let root = self.build_tree(out, &elems)?;
            value[..8].copy_from_slice(&root.to_le_bytes());
        }
        Ok(value)
    }

    /// Writes leaves then branch levels; returns the root page id.
    fn build_tree(&self, out: &mut Vec<u8>, elems: &[Elem<'_>]) -> Result<u64> {
        let mut level: Vec<(&[u8], u64)> = Vec::new();
        for group in self.split(elems) {
            let id = self.write_node(out, LEAF, group)?;
            level.push((group.first().map(|e| e.key).unwrap_or(&[]), id));
        }
        while level.len() > 1 {
            let branch: Vec<Elem<'_>> = level
                .iter()
                .map(|(k, id)| Elem {
                    key: k,
                    value: &[],
                    flags: 0,
                    child: *id,
                })
                .collect();
            let mut next = Vec::new();
            for group in self.split(&branch) {
                let id = self.write_node(out, BRANCH, group)?;
                next.push((group.first().map(|e| e.key).unwrap_or(&[]), id));
            }
            level = next;
        }
        Ok(level.first().map(|(_, id)| *id).unwrap_or(0))
    }

    /// Greedy packing: a page takes elements until the next would push it
    /// past the fill threshold; oversized nodes get overflow pages. Like
    /// bbolt, every node keeps at least two elements (so each branch level
    /// at least halves and the build terminates). Always at least one
    /// (possibly empty) group.
    pub(super) fn split<'e, 'a>(&self, elems: &'e [Elem<'a>]) -> Vec<&'e [Elem<'a>]> {
        let threshold = self.threshold();
        let mut groups = Vec::new();
        let (mut start, mut size) = (0, PAGE_HEADER_SIZE);
        for (i, e) in elems.iter().enumerate() {
            let too_full = size + e.size() > threshold;
            let may_split = i - start >= MIN_KEYS && elems.len() - i >= MIN_KEYS;
            if may_split && (too_full || i - start == usize::from(u16::MAX)) {
                groups.push(&elems[start..i]);
                start = i;
                size = PAGE_HEADER_SIZE;
            }
            size += e.size();
        }
        groups.push(&elems[start..]);
        groups
    }

    /// Appends one node (with overflow pages as needed); returns its id.
    fn write_node(&self, out: &mut Vec<u8>, flags: u16, elems: &[Elem<'_>]) -> Result<u64> {
        let ps = self.page_size;
        let id = (out.len() / ps) as u64;
        let size = PAGE_HEADER_SIZE + elems.iter().map(Elem::size).sum::<usize>();
        let pages = size.div_ceil(ps).max(1);
        let mut bytes = encode_node(id, flags, elems, pages * ps)?;
        let overflow = u32::try_from(pages - 1)
            .map_err(|_| Error::Writer("node needs too many overflow pages".into()))?;
        bytes[12..16].copy_from_slice(&overflow.to_le_bytes());
        out.extend_from_slice(&bytes);
        Ok(id)
    }
}

/// Encodes a node: header, element array, then keys and values in order.
/// Element positions are relative to the element itself, as bbolt reads
/// them.
fn encode_node(id: u64, flags: u16, elems: &[Elem<'_>], len: usize) -> Result<Vec<u8>> {
    let mut b = Vec::new();
    encode_node_into(&mut b, id, flags, elems, len)?;
    Ok(b)
}

/// [`encode_node`], appending the `len` bytes to `out`.
pub(super) fn encode_node_into(
    out: &mut Vec<u8>,
    id: u64,
    flags: u16,
    elems: &[Elem<'_>],
    len: usize,
) -> Result<()> {
    let count = u16::try_from(elems.len())
        .map_err(|_| Error::Writer("too many elements for one page".into()))?;
    let start = out.len();
    out.resize(start + len, 0);
    let b = &mut out[start..];
    PageHeader {
        id,
        flags,
        count,
        overflow: 0,
    }
    .encode(b);
    let mut data = PAGE_HEADER_SIZE + elems.len() * ELEMENT_SIZE;
    let to_u32 =
        |n: usize| u32::try_from(n).map_err(|_| Error::Writer("node larger than 4 GiB".into()));
    for (i, e) in elems.iter().enumerate() {
        let eo = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
        let pos = to_u32(data - eo)?;
        let ksize = to_u32(e.key.len())?;
        let mut put = |o: usize, v: u32| b[eo + o..eo + o + 4].copy_from_slice(&v.to_le_bytes());
        if flags == BRANCH {
            put(0, pos);
            put(4, ksize);
            b[eo + 8..eo + 16].copy_from_slice(&e.child.to_le_bytes());
        } else {
            put(0, e.flags);
            put(4, pos);
            put(8, ksize);
            put(12, to_u32(e.value.len())?);
        }
        b[data..data + e.key.len()].copy_from_slice(e.key);
        data += e.key.len();
        b[data..data + e.value.len()].copy_from_slice(e.value);
        data += e.value.len();
    }
    Ok(())
}

pub(super) fn check_sorted<'a>(keys: impl Iterator<Item = &'a [u8]>, what: &str) -> Result<()> {
    let mut prev: Option<&[u8]> = None;
    for k in keys {
        if k.is_empty() || k.len() > MAX_KEY_SIZE {
            return Err(Error::Writer(format!("{what}: key of {} bytes", k.len())));
        }
        if prev.is_some_and(|p| p >= k) {
            return Err(Error::Writer(format!(
                "{what}: keys not strictly increasing"
            )));
        }
        prev = Some(k);
    }
    Ok(())
}
