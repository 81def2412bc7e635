//! Streaming writer: lays out the same file as [`Writer::write`], byte
//! for byte, into any `Write + Seek` (a file), one top-level bucket at a
//! time from an iterator of sorted entries.
//!
//! Leaves are written as they fill; all that is kept per bucket is one
//! page's worth of pending entries and the (first key, page id) list of
//! each finished level, from which the branch levels are built once the
//! bucket ends. The two meta pages at the start are reserved as zeros and
//! filled in by [`StreamWriter::finish`], once the root page and the
//! high-water mark are known.

use std::borrow::Cow;
use std::io::{Seek, SeekFrom, Write};

use super::page::{
    Meta, PageHeader, BRANCH, BUCKET_HEADER_SIZE, BUCKET_LEAF, ELEMENT_SIZE, FREELIST, LEAF, META,
    NO_FREELIST, PAGE_HEADER_SIZE,
};
use super::writer::{
    check_sorted, encode_node_into, Elem, Writer, MAX_KEY_SIZE, MAX_VALUE_SIZE, MIN_KEYS,
};
use crate::error::{Error, Result};

/// A (key, value) pair handed to [`StreamWriter::bucket`], borrowed or
/// owned.
pub type KeyValue<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// Output is handed to the sink in chunks of about this size.
const FLUSH_AT: usize = 1 << 20;

fn io_error(e: std::io::Error) -> Error {
    Error::Io(e.to_string())
}

/// Writes a bbolt file bucket by bucket; see the module docs. Create one
/// with [`Writer::stream`], add the top-level buckets in strictly
/// increasing name order with [`StreamWriter::bucket`], then call
/// [`StreamWriter::finish`]. After an error the output is unusable.
pub struct StreamWriter<W: Write + Seek> {
    opts: Writer,
    out: W,
    /// Stream position of page 0.
    base: u64,
    /// Next page id to allocate (= pages written or buffered so far).
    next_page: u64,
    freelist: u64,
    /// Top-level entries: bucket name and bucket value (header, plus the
    /// inline page for small buckets).
    top: Vec<(Vec<u8>, Vec<u8>)>,
    /// Encoded pages not yet handed to `out`.
    buf: Vec<u8>,
}

impl Writer {
    /// A [`StreamWriter`] with these settings, writing the file into
    /// `out` from its current position.
    pub fn stream<W: Write + Seek>(&self, out: W) -> Result<StreamWriter<W>> {
        StreamWriter::new(self.clone(), out)
    }
}

impl<W: Write + Seek> StreamWriter<W> {
    /// Reserves the meta pages (and writes the freelist page, when
    /// persisted).
    pub fn new(opts: Writer, mut out: W) -> Result<Self> {
        opts.validate()?;
        let base = out.stream_position().map_err(io_error)?;
        let ps = opts.page_size_value();
        let mut w = StreamWriter {
            opts,
            out,
            base,
            next_page: 0,
            freelist: NO_FREELIST,
            top: Vec::new(),
            buf: Vec::with_capacity(FLUSH_AT + ps),
        };
        w.buf.resize(2 * ps, 0);
        w.next_page = 2;
        if w.opts.persists_freelist() {
            w.freelist = w.write_node(FREELIST, &[])?;
        }
        Ok(w)
    }

    /// Adds a top-level bucket. `name` must sort after the previous
    /// bucket's; keys must be non-empty and strictly increasing. The
    /// first `Err` from `entries` aborts the write and is returned.
    pub fn bucket<'a, I>(&mut self, name: &[u8], entries: I) -> Result<()>
    where
        I: IntoIterator<Item = Result<KeyValue<'a>>>,
    {
        let prev = self.top.last().map(|(n, _)| n.as_slice());
        check_sorted(prev.into_iter().chain([name]), "bucket names")?;
        let what = || format!("bucket {:?}", String::from_utf8_lossy(name));
        let ps = self.opts.page_size_value();

        // Buffer entries while the bucket may still be inline (bbolt
        // inlines buckets up to a quarter page).
        let mut inline: Vec<KeyValue<'a>> = Vec::new();
        let mut inline_size = PAGE_HEADER_SIZE;
        let mut leaves: Option<Leaves<'a>> = None;
        for item in entries {
            let (k, v) = item?;
            if k.is_empty() || k.len() > MAX_KEY_SIZE {
                return Err(Error::Writer(format!(
                    "{}: key of {} bytes",
                    what(),
                    k.len()
                )));
            }
            if v.len() > MAX_VALUE_SIZE {
                return Err(Error::Writer(format!(
                    "value of key {:?} too large",
                    &k[..]
                )));
            }
            let last = match &leaves {
                Some(l) => l.pending.as_ref().map(|(k, _)| &k[..]),
                None => inline.last().map(|(k, _)| &k[..]),
            };
            if last.is_some_and(|p| p >= &k[..]) {
                return Err(Error::Writer(format!(
                    "{}: keys not strictly increasing",
                    what()
                )));
            }
            match &mut leaves {
                Some(l) => l.push(self, (k, v))?,
                None => {
                    inline_size += ELEMENT_SIZE + k.len() + v.len();
                    inline.push((k, v));
                    if inline_size > ps / 4 {
                        let mut l = Leaves::new(self.opts.threshold());
                        for kv in inline.drain(..) {
                            l.push(self, kv)?;
                        }
                        leaves = Some(l);
                    }
                }
            }
        }

        let mut value = vec![0u8; BUCKET_HEADER_SIZE];
        match leaves {
            None => {
                let elems = leaf_elems(&inline);
                encode_node_into(&mut value, 0, LEAF, &elems, inline_size)?;
            }
            Some(l) => {
                let level = l.finish(self)?;
                let root = self.branch_levels(level)?;
                value[..8].copy_from_slice(&root.to_le_bytes());
            }
        }
        self.top.push((name.to_vec(), value));
        Ok(())
    }

    /// Writes the top-level tree and the meta pages; returns the output,
    /// positioned at the end of the file.
    pub fn finish(mut self) -> Result<W> {
        let top = std::mem::take(&mut self.top);
        let elems: Vec<Elem<'_>> = top
            .iter()
            .map(|(name, value)| Elem {
                key: name,
                value,
                flags: BUCKET_LEAF,
                child: 0,
            })
            .collect();
        let mut level = Vec::new();
        for group in self.opts.split(&elems) {
            let id = self.write_node(LEAF, group)?;
            level.push((
                group.first().map(|e| e.key.to_vec()).unwrap_or_default(),
                id,
            ));
        }
        let root = self.branch_levels(level)?;
        self.flush()?;

        let ps = self.opts.page_size_value();
        let end = self.base + self.next_page * ps as u64;
        let txid = self.opts.txid_value();
        for back in 0..2u64 {
            let txid = txid - back;
            let page = txid % 2;
            let meta = Meta {
                page_size: ps as u32,
                flags: 0,
                root,
                sequence: 0,
                freelist: self.freelist,
                pgid: self.next_page,
                txid,
                checksum: 0,
            };
            let mut head = [0u8; PAGE_HEADER_SIZE + super::page::META_SIZE];
            PageHeader {
                id: page,
                flags: META,
                count: 0,
                overflow: 0,
            }
            .encode(&mut head[..PAGE_HEADER_SIZE]);
            head[PAGE_HEADER_SIZE..].copy_from_slice(&meta.encode());
            self.out
                .seek(SeekFrom::Start(self.base + page * ps as u64))
                .map_err(io_error)?;
            self.out.write_all(&head).map_err(io_error)?;
        }
        self.out.seek(SeekFrom::Start(end)).map_err(io_error)?;
        self.out.flush().map_err(io_error)?;
        Ok(self.out)
    }

    /// Builds branch levels over `level` until one node remains; returns
    /// the root page id (0 for an empty level, which never happens as
    /// every tree has at least one leaf).
    fn branch_levels(&mut self, mut level: Vec<(Vec<u8>, u64)>) -> Result<u64> {
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
            for group in self.opts.split(&branch) {
                let id = self.write_node(BRANCH, group)?;
                next.push((
                    group.first().map(|e| e.key.to_vec()).unwrap_or_default(),
                    id,
                ));
            }
            level = next;
        }
        Ok(level.first().map(|(_, id)| *id).unwrap_or(0))
    }

    /// Encodes one node (with overflow pages as needed) at the next page
    /// id; returns the id.
    fn write_node(&mut self, flags: u16, elems: &[Elem<'_>]) -> Result<u64> {
        let ps = self.opts.page_size_value();
        let id = self.next_page;
        let size = PAGE_HEADER_SIZE + elems.iter().map(Elem::size).sum::<usize>();
        let pages = size.div_ceil(ps).max(1);
        let overflow = u32::try_from(pages - 1)
            .map_err(|_| Error::Writer("node needs too many overflow pages".into()))?;
        let at = self.buf.len();
        encode_node_into(&mut self.buf, id, flags, elems, pages * ps)?;
        self.buf[at + 12..at + 16].copy_from_slice(&overflow.to_le_bytes());
        self.next_page += pages as u64;
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(id)
    }

    fn flush(&mut self) -> Result<()> {
        self.out.write_all(&self.buf).map_err(io_error)?;
        self.buf.clear();
        Ok(())
    }
}

fn leaf_elems<'e>(kvs: &'e [KeyValue<'_>]) -> Vec<Elem<'e>> {
    kvs.iter()
        .map(|(k, v)| Elem {
            key: k,
            value: v,
            flags: 0,
            child: 0,
        })
        .collect()
}

/// The leaf level of a bucket being streamed: the greedy packing of
/// [`Writer::split`], which needs one element of look-ahead (a node may
/// only be cut where at least two elements remain).
struct Leaves<'a> {
    threshold: usize,
    group: Vec<KeyValue<'a>>,
    size: usize,
    /// The newest element, placed once it is known whether another
    /// follows.
    pending: Option<KeyValue<'a>>,
    /// First key and page id of each leaf written.
    level: Vec<(Vec<u8>, u64)>,
}

impl<'a> Leaves<'a> {
    fn new(threshold: usize) -> Self {
        Leaves {
            threshold,
            group: Vec::new(),
            size: PAGE_HEADER_SIZE,
            pending: None,
            level: Vec::new(),
        }
    }

    fn push<W: Write + Seek>(&mut self, w: &mut StreamWriter<W>, kv: KeyValue<'a>) -> Result<()> {
        if let Some(p) = self.pending.take() {
            self.place(w, p, true)?;
        }
        self.pending = Some(kv);
        Ok(())
    }

    fn place<W: Write + Seek>(
        &mut self,
        w: &mut StreamWriter<W>,
        kv: KeyValue<'a>,
        more: bool,
    ) -> Result<()> {
        let esize = ELEMENT_SIZE + kv.0.len() + kv.1.len();
        let too_full = self.size + esize > self.threshold;
        let n = self.group.len();
        if n >= MIN_KEYS && more && (too_full || n == usize::from(u16::MAX)) {
            self.write_group(w)?;
        }
        self.size += esize;
        self.group.push(kv);
        Ok(())
    }

    fn write_group<W: Write + Seek>(&mut self, w: &mut StreamWriter<W>) -> Result<()> {
        let id = w.write_node(LEAF, &leaf_elems(&self.group))?;
        let first = self
            .group
            .first()
            .map(|(k, _)| k.to_vec())
            .unwrap_or_default();
        self.level.push((first, id));
        self.group.clear();
        self.size = PAGE_HEADER_SIZE;
        Ok(())
    }

    fn finish<W: Write + Seek>(mut self, w: &mut StreamWriter<W>) -> Result<Vec<(Vec<u8>, u64)>> {
        if let Some(p) = self.pending.take() {
            self.place(w, p, false)?;
        }
        self.write_group(w)?;
        Ok(self.level)
    }
}
