//! bbolt's on-disk page layout: the 16-byte page header, the meta page,
//! leaf and branch elements. Everything is little-endian; every read is
//! bounds-checked because the bytes are untrusted.

use crate::error::{Error, Result};

pub const MAGIC: u32 = 0xED0C_DAED;
pub const VERSION: u32 = 2;
pub const PAGE_HEADER_SIZE: usize = 16;
pub const ELEMENT_SIZE: usize = 16;
/// Meta fields: magic, version, page size, flags, root bucket (2×u64),
/// freelist, pgid, txid, checksum.
pub const META_SIZE: usize = 64;
/// Bytes covered by the meta checksum (everything before it).
const META_SUMMED: usize = 56;
/// Bucket header stored as a bucket's value: root pgid and sequence.
pub const BUCKET_HEADER_SIZE: usize = 16;

pub const BRANCH: u16 = 0x01;
pub const LEAF: u16 = 0x02;
pub const META: u16 = 0x04;
pub const FREELIST: u16 = 0x10;
/// Leaf element flag: the value is a nested bucket.
pub const BUCKET_LEAF: u32 = 0x01;
/// Meta freelist value when the freelist is not persisted (NoFreelistSync).
pub const NO_FREELIST: u64 = u64::MAX;

pub fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

pub fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_le_bytes(a))
}

pub fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// FNV-1a, 64-bit: bbolt's meta checksum.
pub fn fnv64a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub fn type_name(flags: u16) -> &'static str {
    match flags {
        BRANCH => "branch",
        LEAF => "leaf",
        META => "meta",
        FREELIST => "freelist",
        _ => "unknown",
    }
}

/// The 16-byte header that starts every page (and every inline bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeader {
    pub id: u64,
    pub flags: u16,
    pub count: u16,
    pub overflow: u32,
}

impl PageHeader {
    pub fn parse(b: &[u8]) -> Option<PageHeader> {
        Some(PageHeader {
            id: u64_at(b, 0)?,
            flags: u16_at(b, 8)?,
            count: u16_at(b, 10)?,
            overflow: u32_at(b, 12)?,
        })
    }

    pub fn encode(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.id.to_le_bytes());
        out[8..10].copy_from_slice(&self.flags.to_le_bytes());
        out[10..12].copy_from_slice(&self.count.to_le_bytes());
        out[12..16].copy_from_slice(&self.overflow.to_le_bytes());
    }
}

/// The database meta record stored in pages 0 and 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub page_size: u32,
    pub flags: u32,
    /// Root page of the top-level bucket.
    pub root: u64,
    pub sequence: u64,
    /// Freelist page, or [`NO_FREELIST`].
    pub freelist: u64,
    /// High-water mark: number of pages in use.
    pub pgid: u64,
    pub txid: u64,
    pub checksum: u64,
}

impl Meta {
    /// Parses and validates (magic, version, checksum) the meta record of
    /// the page starting at `page_bytes`; `page` names it in errors.
    pub fn parse(page: u64, page_bytes: &[u8]) -> Result<Meta> {
        let too_small = Error::TooSmall {
            len: page_bytes.len(),
        };
        let m = page_bytes
            .get(PAGE_HEADER_SIZE..PAGE_HEADER_SIZE + META_SIZE)
            .ok_or(too_small)?;
        let f = |o: usize| u64_at(m, o).unwrap_or(0);
        let g = |o: usize| u32_at(m, o).unwrap_or(0);
        let magic = g(0);
        if magic != MAGIC {
            return Err(Error::BadMagic { page, magic });
        }
        let version = g(4);
        if version != VERSION {
            return Err(Error::BadVersion { page, version });
        }
        let meta = Meta {
            page_size: g(8),
            flags: g(12),
            root: f(16),
            sequence: f(24),
            freelist: f(32),
            pgid: f(40),
            txid: f(48),
            checksum: f(56),
        };
        let computed = fnv64a(&m[..META_SUMMED]);
        if computed != meta.checksum {
            return Err(Error::MetaChecksum {
                page,
                stored: meta.checksum,
                computed,
            });
        }
        let ps = meta.page_size;
        if !(512..=65536).contains(&ps) || !ps.is_power_of_two() {
            return Err(Error::BadPageSize {
                page,
                page_size: ps,
            });
        }
        Ok(meta)
    }

    /// Encodes the 64-byte record, computing the checksum.
    pub fn encode(&self) -> [u8; META_SIZE] {
        let mut m = [0u8; META_SIZE];
        m[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        m[4..8].copy_from_slice(&VERSION.to_le_bytes());
        m[8..12].copy_from_slice(&self.page_size.to_le_bytes());
        m[12..16].copy_from_slice(&self.flags.to_le_bytes());
        m[16..24].copy_from_slice(&self.root.to_le_bytes());
        m[24..32].copy_from_slice(&self.sequence.to_le_bytes());
        m[32..40].copy_from_slice(&self.freelist.to_le_bytes());
        m[40..48].copy_from_slice(&self.pgid.to_le_bytes());
        m[48..56].copy_from_slice(&self.txid.to_le_bytes());
        let sum = fnv64a(&m[..META_SUMMED]);
        m[56..64].copy_from_slice(&sum.to_le_bytes());
        m
    }
}

/// A leaf element: key, value and flags (bucket or plain value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafElem<'a> {
    pub flags: u32,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

impl LeafElem<'_> {
    pub fn is_bucket(&self) -> bool {
        self.flags & BUCKET_LEAF != 0
    }
}

/// A branch element: the first key of a child and the child's page id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BranchElem<'a> {
    pub key: &'a [u8],
    pub child: u64,
}

/// A B+tree node: a file page (including overflow) or an inline bucket's
/// page. `data` starts at the page header.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    /// Page id for errors; for an inline page, the page holding it.
    pub page: u64,
    pub header: PageHeader,
    pub data: &'a [u8],
}

impl<'a> Node<'a> {
    /// Wraps page bytes, checking that the element array fits.
    pub fn new(page: u64, data: &'a [u8]) -> Result<Node<'a>> {
        let header = PageHeader::parse(data).ok_or(Error::CountOutOfBounds {
            page,
            count: 0,
            len: data.len(),
        })?;
        let need = PAGE_HEADER_SIZE + usize::from(header.count) * ELEMENT_SIZE;
        if matches!(header.flags, LEAF | BRANCH) && need > data.len() {
            return Err(Error::CountOutOfBounds {
                page,
                count: header.count,
                len: data.len(),
            });
        }
        Ok(Node { page, header, data })
    }

    pub fn count(&self) -> usize {
        usize::from(self.header.count)
    }

    pub fn is_leaf(&self) -> bool {
        self.header.flags == LEAF
    }

    pub fn is_branch(&self) -> bool {
        self.header.flags == BRANCH
    }

    fn elem_fields(&self, index: usize) -> Result<(usize, [u32; 4])> {
        let oob = Error::ElementOutOfBounds {
            page: self.page,
            index,
        };
        if index >= self.count() {
            return Err(oob);
        }
        let eo = PAGE_HEADER_SIZE + index * ELEMENT_SIZE;
        let mut w = [0u32; 4];
        for (i, slot) in w.iter_mut().enumerate() {
            *slot = u32_at(self.data, eo + 4 * i).ok_or(oob.clone())?;
        }
        Ok((eo, w))
    }

    /// Slice `len` bytes at `eo + pos + skip` (pos relative to the element).
    fn slice(&self, index: usize, start: u64, len: u64) -> Result<&'a [u8]> {
        let end = start + len;
        if end > self.data.len() as u64 {
            return Err(Error::ElementOutOfBounds {
                page: self.page,
                index,
            });
        }
        Ok(&self.data[start as usize..end as usize])
    }

    pub fn leaf(&self, index: usize) -> Result<LeafElem<'a>> {
        let (eo, [flags, pos, ksize, vsize]) = self.elem_fields(index)?;
        let start = eo as u64 + u64::from(pos);
        let key = self.slice(index, start, u64::from(ksize))?;
        let value = self.slice(index, start + u64::from(ksize), u64::from(vsize))?;
        Ok(LeafElem { flags, key, value })
    }

    pub fn branch(&self, index: usize) -> Result<BranchElem<'a>> {
        let (eo, [pos, ksize, lo, hi]) = self.elem_fields(index)?;
        let key = self.slice(index, eo as u64 + u64::from(pos), u64::from(ksize))?;
        let child = u64::from(lo) | (u64::from(hi) << 32);
        Ok(BranchElem { key, child })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv64a_vectors() {
        assert_eq!(fnv64a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv64a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv64a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn meta_round_trip() {
        let m = Meta {
            page_size: 4096,
            flags: 0,
            root: 3,
            sequence: 0,
            freelist: NO_FREELIST,
            pgid: 9,
            txid: 42,
            checksum: 0,
        };
        let mut page = vec![0u8; 4096];
        let enc = m.encode();
        page[PAGE_HEADER_SIZE..PAGE_HEADER_SIZE + META_SIZE].copy_from_slice(&enc);
        let back = Meta::parse(0, &page).expect("parse");
        assert_eq!(back.checksum, fnv64a(&enc[..56]));
        assert_eq!(
            Meta {
                checksum: 0,
                ..back
            },
            m
        );
        page[PAGE_HEADER_SIZE + 20] ^= 1;
        assert!(matches!(
            Meta::parse(0, &page),
            Err(Error::MetaChecksum { page: 0, .. })
        ));
    }

    #[test]
    fn header_round_trip() {
        let h = PageHeader {
            id: 7,
            flags: LEAF,
            count: 3,
            overflow: 2,
        };
        let mut b = [0u8; 16];
        h.encode(&mut b);
        assert_eq!(PageHeader::parse(&b), Some(h));
        assert_eq!(PageHeader::parse(&b[..15]), None);
    }
}
