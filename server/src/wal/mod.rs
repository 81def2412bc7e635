//! oxcd's write-ahead log: segment files of framed records, each carrying a
//! CRC-32C chained over every record before it, synced with fdatasync before
//! a write is acknowledged.
//!
//! Frame: `len: u32 LE` (of type + payload) | `crc: u32 LE` | `type: u8` | payload.
//! Segments are preallocated (zero-filled) so that an fdatasync need not
//! update the file size; the first zero length field marks the end.
//! A torn tail (a crash mid-append) is cut off on open, keeping a `.broken`
//! copy; damage anywhere else refuses to open and names file and offset.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const HEADER: usize = 8;
/// etcd warns of an fsync slower than a second
const SLOW_FSYNC: std::time::Duration = std::time::Duration::from_secs(1);
/// cut to a new segment once the current one passes this size
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// no record is ever this large (requests are capped far below it)
const MAX_RECORD: usize = 256 * 1024 * 1024;

// Record types of *our* WAL format, not etcd's: etcd's WAL (read and written
// by `etcd_format::wal`) frames protobuf `walpb.Record`s with types
// metadata=1, entry=2, state=3, crc=4, snapshot=5 as `i64`, while ours is a
// one-byte type in our own frame, numbered differently (entry=1, crc=2,
// state=3, snapshot=4) and with no metadata record. The two formats never
// meet: our segments are `.oxwal` files, etcd's `.wal`, so these constants
// are deliberately not shared with etcd_format's.

/// an `Entry` (prost) logged by raft
pub const REC_ENTRY: u8 = 1;
/// first record of every segment: the chain's CRC so far
pub const REC_CRC: u8 = 2;
/// raft's hard state (term, vote, commit), opaque here; the last one counts
pub const REC_STATE: u8 = 3;
/// a snapshot was installed at (index, term): the log restarts after it
pub const REC_SNAPSHOT: u8 = 4;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("wal: {0}")]
    Io(#[from] io::Error),
    #[error("wal: corrupt record in {file} at offset {offset}: {why}")]
    Corrupt {
        file: PathBuf,
        offset: u64,
        why: &'static str,
    },
    #[error("wal: malformed entry in {file}: {why}")]
    BadEntry { file: PathBuf, why: String },
}

/// One log entry: its position and the logged request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Entry {
    #[prost(uint64, tag = "1")]
    pub term: u64,
    #[prost(uint64, tag = "2")]
    pub index: u64,
    #[prost(bytes = "vec", tag = "3")]
    pub data: Vec<u8>,
    /// raft's entry type: 0 a request, 1 a membership change
    #[prost(uint32, tag = "4")]
    pub kind: u32,
}

/// An [`Entry`]'s position alone (decoding skips the request).
#[derive(Clone, PartialEq, prost::Message)]
struct EntryHead {
    #[prost(uint64, tag = "1")]
    term: u64,
    #[prost(uint64, tag = "2")]
    index: u64,
}

/// What a reopened log holds past the store's index.
#[derive(Debug, Default)]
pub struct Replay {
    /// entries above `after`, later rewrites of an index already applied
    pub entries: Vec<Entry>,
    /// the last hard state record's payload
    pub state: Option<Vec<u8>>,
    /// the last snapshot record (index, term)
    pub snapshot: Option<(u64, u64)>,
}

pub struct Wal {
    /// the last hard state written, restated at the head of each new
    /// segment so that releasing old segments never loses it
    last_state: Option<Vec<u8>>,
    dir: PathBuf,
    file: File,
    seq: u64,
    size: u64,
    crc: u32,
    pub last_index: u64,
    pub last_term: u64,
    /// `--unsafe-no-fsync`: [`Wal::sync`] does not sync
    pub no_fsync: bool,
}

/// Our segments end in `.oxwal`, so that they can sit beside the `.wal`
/// files of an etcd data dir oxcd was started on without touching them.
fn segment_name(seq: u64, index: u64) -> String {
    format!("{seq:016x}-{index:016x}.oxwal")
}

fn parse_segment_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".oxwal")?;
    let (a, b) = stem.split_once('-')?;
    Some((
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    ))
}

/// A segment, read as far as its records need: a record's header says how
/// many bytes follow, so a restart reads the written part and not each
/// preallocated 64 MiB segment whole (90 ms of every restart before).
struct Segment {
    file: File,
    data: Vec<u8>,
    eof: bool,
}

/// How far past a zero or damaged record the segment is checked: a zero
/// record is the preallocated end only if nothing written follows it
/// within this window (etcd's decoder stops at the first zero length
/// without looking).
const CHECK_WINDOW: usize = 1 << 20;

impl Segment {
    fn open(path: &Path) -> io::Result<Segment> {
        Ok(Segment {
            file: File::open(path)?,
            data: Vec::new(),
            eof: false,
        })
    }

    /// Reads until `upto` bytes are in, or the file ends.
    fn ensure(&mut self, upto: usize) -> io::Result<()> {
        use std::io::Read;
        while !self.eof && self.data.len() < upto {
            let want = (upto - self.data.len()).max(CHECK_WINDOW);
            let n = (&mut self.file)
                .take(want as u64)
                .read_to_end(&mut self.data)?;
            self.eof = n < want;
        }
        Ok(())
    }

    /// Reads what the record at `off` declares (within `MAX_RECORD`).
    fn ensure_record(&mut self, off: usize) -> io::Result<()> {
        self.ensure(off + HEADER)?;
        let len = self
            .data
            .get(off..off + 4)
            .and_then(|h| h.try_into().ok())
            .map_or(0, |h| u32::from_le_bytes(h) as usize);
        self.ensure(off + HEADER + len.min(MAX_RECORD))
    }
}

/// Reserves the segment's blocks up front (zeros), like etcd's WAL, with
/// etcd's own preallocation (a plain extension where the filesystem has no
/// fallocate).
fn preallocate(f: &File, len: u64) -> io::Result<()> {
    match etcd_format::fileutil::preallocate(f, len) {
        // a filesystem refusing the reservation: the log still works, only
        // unreserved
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        r => r,
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn frame(buf: &mut Vec<u8>, crc: &mut u32, typ: u8, payload: &[u8]) {
    let mut c = crc32c::crc32c_append(*crc, &[typ]);
    c = crc32c::crc32c_append(c, payload);
    *crc = c;
    buf.extend_from_slice(&((payload.len() + 1) as u32).to_le_bytes());
    buf.extend_from_slice(&c.to_le_bytes());
    buf.push(typ);
    buf.extend_from_slice(payload);
}

/// Segments in the directory, in order.
fn segments(dir: &Path) -> io::Result<Vec<(u64, u64, PathBuf)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        if let Some((seq, idx)) = name.to_str().and_then(parse_segment_name) {
            out.push((seq, idx, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

impl Wal {
    /// Opens (or creates) the log in `dir` and returns every entry with an
    /// index above `after`, in order. An entry whose index is not above the
    /// last one replaces it and everything after it (raft rewrote an
    /// uncommitted tail); a snapshot record starts the log afresh.
    pub fn open(dir: &Path, after: u64) -> Result<(Wal, Replay), WalError> {
        fs::create_dir_all(dir)?;
        let segs = segments(dir)?;
        if segs.is_empty() {
            // a new log continues after what the store already holds
            let wal = Wal::create_segment(dir, 0, after + 1, 0)?;
            sync_dir(dir)?;
            return Ok((wal, Replay::default()));
        }
        for w in segs.windows(2) {
            if w[1].0 != w[0].0 + 1 {
                return Err(WalError::Corrupt {
                    file: w[1].2.clone(),
                    offset: 0,
                    why: "missing segment before this one",
                });
            }
        }
        let mut entries: Vec<Entry> = Vec::new();
        let (mut state, mut snapshot) = (None, None);
        let mut crc = 0u32;
        let (mut last_index, mut last_term) = (0, 0);
        let mut end_of_last = 0u64;
        for (i, (_, _, path)) in segs.iter().enumerate() {
            let is_last = i + 1 == segs.len();
            let mut seg = Segment::open(path)?;
            seg.ensure(CHECK_WINDOW)?;
            let data = &seg.data;
            if i == 0 {
                // older segments may have been released: the chain starts
                // from what the oldest one left says it follows
                crc = first_crc(data).ok_or_else(|| WalError::Corrupt {
                    file: path.clone(),
                    offset: 0,
                    why: "segment does not start with its CRC record",
                })?;
            }
            let mut off = 0usize;
            let mut first = true;
            loop {
                seg.ensure_record(off)?;
                let why = match read_record(&seg.data, off, crc) {
                    Ok(Some((typ, payload, next_crc, next))) => {
                        if first && typ != REC_CRC {
                            return Err(WalError::Corrupt {
                                file: path.clone(),
                                offset: off as u64,
                                why: "segment does not start with its CRC record",
                            });
                        }
                        match typ {
                            REC_CRC => {
                                let prev =
                                    payload.try_into().map(u32::from_le_bytes).map_err(|_| {
                                        WalError::Corrupt {
                                            file: path.clone(),
                                            offset: off as u64,
                                            why: "bad CRC record",
                                        }
                                    })?;
                                if !first || prev != crc {
                                    return Err(WalError::Corrupt {
                                        file: path.clone(),
                                        offset: off as u64,
                                        why: "CRC chain broken between segments",
                                    });
                                }
                            }
                            REC_ENTRY => {
                                // an entry the store already holds is only
                                // counted: its request is not copied out
                                let head: EntryHead = decode_entry(payload, path)?;
                                let e = if head.index > after {
                                    decode_entry(payload, path)?
                                } else {
                                    Entry {
                                        term: head.term,
                                        index: head.index,
                                        ..Default::default()
                                    }
                                };
                                if last_index != 0 && e.index > last_index + 1 {
                                    return Err(WalError::BadEntry {
                                        file: path.clone(),
                                        why: format!("index {} follows {}", e.index, last_index),
                                    });
                                }
                                if e.index <= last_index {
                                    entries.retain(|x| x.index < e.index);
                                }
                                last_index = e.index;
                                last_term = e.term;
                                if e.index > after {
                                    entries.push(e);
                                }
                            }
                            REC_STATE => state = Some(payload.to_vec()),
                            REC_SNAPSHOT => {
                                let e: Entry = decode_entry(payload, path)?;
                                entries.clear();
                                last_index = e.index;
                                last_term = e.term;
                                snapshot = Some((e.index, e.term));
                            }
                            _ => {
                                return Err(WalError::Corrupt {
                                    file: path.clone(),
                                    offset: off as u64,
                                    why: "unknown record type",
                                })
                            }
                        }
                        // the CRC record restates the chain; it does not extend it
                        crc = if typ == REC_CRC { crc } else { next_crc };
                        first = false;
                        off = next;
                        continue;
                    }
                    Ok(None) => break,
                    Err(why) => why,
                };
                // what follows a zero or damaged record, within the window
                let upto = seg.data.len().max(off + HEADER) + CHECK_WINDOW;
                seg.ensure(upto)?;
                let data = &seg.data;
                // the preallocated, never written rest of the segment
                if data[off..].iter().all(|&b| b == 0) {
                    break;
                }
                // damage is a torn tail only if nothing written follows it
                let torn = is_last && tail_is_single_record(data, off);
                if !torn {
                    return Err(WalError::Corrupt {
                        file: path.clone(),
                        offset: off as u64,
                        why,
                    });
                }
                let mut broken = path.clone().into_os_string();
                broken.push(".broken");
                fs::copy(path, &broken)?;
                let f = OpenOptions::new().write(true).open(path)?;
                f.set_len(off as u64)?;
                preallocate(&f, SEGMENT_BYTES)?;
                f.sync_all()?;
                tracing::warn!(
                    path = %path.display(),
                    offset = off,
                    "broken-copy" = %Path::new(&broken).display(),
                    "repaired WAL: cut a torn tail off {} at offset {off}",
                    path.display()
                );
                break;
            }
            if is_last {
                end_of_last = off as u64;
            }
        }
        let (seq, _, path) = segs.last().cloned().expect("segments is not empty");
        let mut file = OpenOptions::new().write(true).open(&path)?;
        file.seek(SeekFrom::Start(end_of_last))?;
        let wal = Wal {
            last_state: state.clone(),
            dir: dir.to_path_buf(),
            file,
            seq,
            size: end_of_last,
            crc,
            last_index,
            last_term,
            no_fsync: false,
        };
        Ok((
            wal,
            Replay {
                entries,
                state,
                snapshot,
            },
        ))
    }

    fn create_segment(dir: &Path, seq: u64, first_index: u64, crc: u32) -> Result<Wal, WalError> {
        let path = dir.join(segment_name(seq, first_index));
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)?;
        preallocate(&file, SEGMENT_BYTES)?;
        let mut buf = Vec::new();
        let mut c = crc;
        frame(&mut buf, &mut c, REC_CRC, &crc.to_le_bytes());
        file.write_all(&buf)?;
        file.sync_all()?;
        Ok(Wal {
            last_state: None,
            dir: dir.to_path_buf(),
            file,
            seq,
            size: buf.len() as u64,
            crc,
            last_index: first_index.saturating_sub(1),
            last_term: 0,
            no_fsync: false,
        })
    }

    /// Appends entries (not yet durable: call [`Wal::sync`]).
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), WalError> {
        if self.size >= SEGMENT_BYTES {
            self.cut()?;
        }
        let mut buf = Vec::new();
        for e in entries {
            frame(
                &mut buf,
                &mut self.crc,
                REC_ENTRY,
                &prost::Message::encode_to_vec(e),
            );
            self.last_index = e.index;
            self.last_term = e.term;
        }
        self.file.write_all(&buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }

    /// Logs raft's hard state (not yet durable: call [`Wal::sync`]).
    pub fn save_state(&mut self, state: &[u8]) -> Result<(), WalError> {
        self.last_state = Some(state.to_vec());
        self.write_record(REC_STATE, state)
    }

    /// Logs that a snapshot at (index, term) replaced the log before it.
    pub fn save_snapshot(&mut self, index: u64, term: u64) -> Result<(), WalError> {
        let e = Entry {
            term,
            index,
            ..Default::default()
        };
        self.write_record(REC_SNAPSHOT, &prost::Message::encode_to_vec(&e))?;
        self.last_index = index;
        self.last_term = term;
        Ok(())
    }

    fn write_record(&mut self, typ: u8, payload: &[u8]) -> Result<(), WalError> {
        if self.size >= SEGMENT_BYTES {
            self.cut()?;
        }
        let mut buf = Vec::new();
        frame(&mut buf, &mut self.crc, typ, payload);
        self.file.write_all(&buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }

    pub fn sync(&mut self) -> Result<(), WalError> {
        if self.no_fsync {
            return Ok(());
        }
        let started = std::time::Instant::now();
        self.file.sync_data()?;
        let took = started.elapsed();
        crate::metrics::M.wal_fsync.observe(took.as_secs_f64());
        if took > SLOW_FSYNC {
            tracing::warn!(took = ?took, "expected-duration" = ?SLOW_FSYNC, "slow fdatasync");
        }
        Ok(())
    }

    fn cut(&mut self) -> Result<(), WalError> {
        self.file.sync_data()?;
        let (li, lt) = (self.last_index, self.last_term);
        let next = Wal::create_segment(&self.dir, self.seq + 1, li + 1, self.crc)?;
        sync_dir(&self.dir)?;
        let state = self.last_state.take();
        *self = Wal {
            last_index: li,
            last_term: lt,
            ..next
        };
        if let Some(st) = state {
            self.save_state(&st)?;
            self.sync()?;
        }
        Ok(())
    }

    /// Deletes whole segments whose entries are all at or below `durable`
    /// (already persisted in the store), keeping the newest `keep` of them.
    pub fn release(&mut self, durable: u64, keep: usize) -> Result<(), WalError> {
        if keep == 0 {
            // --max-wals 0: keep everything
            return Ok(());
        }
        let segs = segments(&self.dir)?;
        // a segment's entries end where the next segment's begin
        let mut releasable = Vec::new();
        for w in segs.windows(2) {
            if w[1].1 <= durable + 1 && w[0].0 != self.seq {
                releasable.push(w[0].2.clone());
            }
        }
        let n = releasable.len().saturating_sub(keep);
        for p in releasable.into_iter().take(n) {
            fs::remove_file(&p)?;
            tracing::info!(path = %p.display(), "purged");
        }
        Ok(())
    }
}

/// Is the damaged record at `off` the last thing written (a write cut
/// short)? Only zeros may follow the bytes it claims, or the file simply
/// stops inside it. A length that runs past zero padding is not a torn
/// write but a corrupt length field.
fn tail_is_single_record(data: &[u8], off: usize) -> bool {
    if data.len() - off < HEADER {
        return true;
    }
    let len = u32::from_le_bytes(data[off..off + 4].try_into().unwrap_or([0; 4])) as usize;
    let end = off.saturating_add(HEADER).saturating_add(len);
    if end <= data.len() {
        return data[end..].iter().all(|&b| b == 0);
    }
    data.last() != Some(&0)
}

type Record<'a> = (u8, &'a [u8], u32, usize);

fn decode_entry<M: prost::Message + Default>(payload: &[u8], file: &Path) -> Result<M, WalError> {
    M::decode(payload).map_err(|e| WalError::BadEntry {
        file: file.to_path_buf(),
        why: e.to_string(),
    })
}

/// The chain CRC a segment's first (CRC) record carries.
fn first_crc(data: &[u8]) -> Option<u32> {
    let len = u32::from_le_bytes(data.get(0..4)?.try_into().ok()?);
    if len != 5 || *data.get(HEADER)? != REC_CRC {
        return None;
    }
    Some(u32::from_le_bytes(
        data.get(HEADER + 1..HEADER + 5)?.try_into().ok()?,
    ))
}

/// Reads the record at `off`: `Ok(None)` at a clean end of file.
fn read_record(data: &[u8], off: usize, crc: u32) -> Result<Option<Record<'_>>, &'static str> {
    if off == data.len() {
        return Ok(None);
    }
    if data.len() - off < HEADER {
        return Err("truncated record header");
    }
    let len = u32::from_le_bytes(data[off..off + 4].try_into().map_err(|_| "header")?) as usize;
    let want = u32::from_le_bytes(data[off + 4..off + 8].try_into().map_err(|_| "header")?);
    if len == 0 {
        return Err("zero-length record");
    }
    if len > MAX_RECORD || len > data.len() - off - HEADER {
        return Err("record runs past the end of the file");
    }
    let body = &data[off + HEADER..off + HEADER + len];
    let got = crc32c::crc32c_append(crc, body);
    if got != want {
        return Err("CRC mismatch");
    }
    Ok(Some((body[0], &body[1..], got, off + HEADER + len)))
}

#[cfg(test)]
mod tests;
