//! etcd's write-ahead log segment format.
//!
//! A segment is a sequence of frames. Each frame is an 8-byte
//! little-endian length field followed by an encoded [`Record`] padded with
//! zeros to a multiple of 8 bytes. The low 56 bits of the length field hold
//! the record's length; when padding is present the top byte is
//! `0x80 | padding`. Every record carries a CRC-32C chained over the data
//! of all records before it (the chain starts at the previous segment's
//! final CRC, 0 for the first segment, and is announced by a leading CRC
//! record). A zero length field, as found in the preallocated tail, ends
//! the segment.

use prost::Message;

use crate::error::{Error, Result};
use crate::raftpb::{Entry, HardState, Record, WalSnapshot};

/// Record types of etcd's WAL (`walpb.Record.type`). oxcd's own WAL (the
/// server's `.oxwal` segments) is another format with its own numbering and
/// does not use these.
pub const METADATA_TYPE: i64 = 1;
pub const ENTRY_TYPE: i64 = 2;
pub const STATE_TYPE: i64 = 3;
pub const CRC_TYPE: i64 = 4;
pub const SNAPSHOT_TYPE: i64 = 5;

/// Size etcd preallocates for each segment file.
pub const SEGMENT_SIZE_BYTES: u64 = 64 * 1000 * 1000;

/// File name of segment `seq` whose first entry index is `index`.
pub fn segment_name(seq: u64, index: u64) -> String {
    format!("{seq:016x}-{index:016x}.wal")
}

/// The length field for a record of `len` bytes, and its padding.
pub fn frame_size(len: usize) -> (u64, usize) {
    let pad = (8 - len % 8) % 8;
    let mut field = len as u64;
    if pad != 0 {
        field |= (0x80 | pad as u64) << 56;
    }
    (field, pad)
}

/// Builds the records of a segment in memory, chaining the CRC.
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    buf: Vec<u8>,
    crc: u32,
}

impl Encoder {
    /// A segment whose CRC chain starts at `prev_crc` (0 for the first
    /// segment of a log).
    pub fn new(prev_crc: u32) -> Self {
        Encoder {
            buf: Vec::new(),
            crc: prev_crc,
        }
    }

    /// Appends one record; its CRC covers `data` chained onto the CRC of
    /// all earlier records.
    pub fn record(&mut self, r#type: i64, data: Option<Vec<u8>>) {
        if let Some(d) = &data {
            self.crc = crc32c::crc32c_append(self.crc, d);
        }
        let rec = Record {
            r#type,
            crc: self.crc,
            data,
        };
        let bytes = rec.encode_to_vec();
        let (field, pad) = frame_size(bytes.len());
        self.buf.extend_from_slice(&field.to_le_bytes());
        self.buf.extend_from_slice(&bytes);
        self.buf.resize(self.buf.len() + pad, 0);
    }

    /// The CRC record that opens a segment.
    pub fn crc_record(&mut self) {
        self.record(CRC_TYPE, None);
    }

    pub fn metadata(&mut self, metadata: Vec<u8>) {
        self.record(METADATA_TYPE, Some(metadata));
    }

    pub fn snapshot(&mut self, snap: &WalSnapshot) {
        self.record(SNAPSHOT_TYPE, Some(snap.encode_to_vec()));
    }

    pub fn entry(&mut self, e: &Entry) {
        self.record(ENTRY_TYPE, Some(e.encode_to_vec()));
    }

    pub fn state(&mut self, hs: &HardState) {
        self.record(STATE_TYPE, Some(hs.encode_to_vec()));
    }

    /// The CRC after the last record.
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// The framed bytes so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

fn bad(reason: String) -> Error {
    Error::BadValue {
        what: "wal segment",
        reason,
    }
}

/// Decodes the records of a segment up to the first zero length field
/// (or the end of the bytes), checking framing and the CRC chain.
pub fn decode_segment(bytes: &[u8]) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let mut off = 0usize;
    let mut crc = 0u32;
    while off + 8 <= bytes.len() {
        let field = u64::from_le_bytes(bytes[off..off + 8].try_into().expect("8 bytes"));
        if field == 0 {
            break;
        }
        let len = (field & ((1 << 56) - 1)) as usize;
        let pad = if field >> 63 == 1 {
            ((field >> 56) & 0x7) as usize
        } else {
            0
        };
        let start = off + 8;
        let end = start
            .checked_add(len)
            .filter(|e| e + pad <= bytes.len())
            .ok_or_else(|| bad(format!("record at {off} runs past the end")))?;
        let rec =
            Record::decode(&bytes[start..end]).map_err(|e| bad(format!("record at {off}: {e}")))?;
        if rec.r#type == CRC_TYPE {
            // Announces the chain's starting value.
            crc = rec.crc;
        } else {
            if let Some(d) = &rec.data {
                crc = crc32c::crc32c_append(crc, d);
            }
            if rec.crc != crc {
                return Err(bad(format!(
                    "record at {off}: crc {:#010x}, expected {crc:#010x}",
                    rec.crc
                )));
            }
        }
        out.push(rec);
        off = end + pad;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_pads_to_eight_bytes() {
        assert_eq!(frame_size(8), (8, 0));
        assert_eq!(frame_size(5), (5 | (0x83u64 << 56), 3));
        let mut e = Encoder::new(0);
        e.crc_record();
        e.metadata(vec![1, 2, 3]);
        e.snapshot(&WalSnapshot::default());
        let recs = decode_segment(e.bytes()).expect("decode");
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[1].data.as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!(e.bytes().len() % 8, 0);
        // A flipped data byte breaks the chain.
        let mut b = e.into_bytes();
        let pos = b.iter().rposition(|&x| x == 3).expect("data byte");
        b[pos] = 9;
        assert!(decode_segment(&b).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(segment_name(0, 0), "0000000000000000-0000000000000000.wal");
        assert_eq!(
            segment_name(1, 0x1f),
            "0000000000000001-000000000000001f.wal"
        );
    }
}
