//! How a snapshot travels from one oxcd member to another (peer port
//! only). The first piece is a *head*: an etcd snapshot file of everything
//! but the key records (meta, members, leases, alarms, auth). Then come the
//! key records in revision order, in batches the receiver inserts as they
//! arrive. The last piece is the CRC-32C of every piece before it.
//!
//! Why not the whole etcd file: the leader had to lay all of it out before
//! sending the first byte, and the follower could only load it once the
//! last byte was in, so laying out and loading ran one after the other.
//! Streamed records let the follower insert while the leader still reads.
//!
//! A batch is a run of records, each `key length (u32 LE) | value length
//! (u32 LE) | key | value`; a batch holds whole records only.

/// Bytes of records the sender gathers before sending a batch.
pub const BATCH: usize = 1 << 20;

/// Appends one record to a batch.
pub fn push(batch: &mut Vec<u8>, key: &[u8], value: &[u8]) -> Result<(), String> {
    let len = |b: &[u8]| {
        u32::try_from(b.len()).map_err(|_| format!("a record of {} bytes is too large", b.len()))
    };
    let (k, v) = (len(key)?, len(value)?);
    batch.extend_from_slice(&k.to_le_bytes());
    batch.extend_from_slice(&v.to_le_bytes());
    batch.extend_from_slice(key);
    batch.extend_from_slice(value);
    Ok(())
}

/// The records of one batch, in order. A batch cut inside a record yields
/// an error (and nothing after it).
pub fn records(batch: &[u8]) -> Records<'_> {
    Records { rest: batch }
}

/// See [`records`].
pub struct Records<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = split_record(self.rest);
        match r {
            Ok((k, v, rest)) => {
                self.rest = rest;
                Some(Ok((k, v)))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// A record's key and value, and the bytes after it.
type Split<'a> = (&'a [u8], &'a [u8], &'a [u8]);

fn split_record(b: &[u8]) -> Result<Split<'_>, String> {
    let cut = || format!("a record batch is cut short ({} bytes left)", b.len());
    let word = |at: usize| -> Result<usize, String> {
        let w: [u8; 4] = b
            .get(at..at + 4)
            .ok_or_else(cut)?
            .try_into()
            .map_err(|_| cut())?;
        Ok(u32::from_le_bytes(w) as usize)
    };
    let (k, v) = (word(0)?, word(4)?);
    let body = b.get(8..).ok_or_else(cut)?;
    if body.len() < k || body.len() - k < v {
        return Err(cut());
    }
    let (key, rest) = body.split_at(k);
    let (value, rest) = rest.split_at(v);
    Ok((key, value, rest))
}

/// The running checksum of a stream's pieces.
#[derive(Default, Clone, Copy)]
pub struct Checksum(u32);

impl Checksum {
    pub fn add(&mut self, piece: &[u8]) {
        self.0 = crc32c::crc32c_append(self.0, piece);
    }

    /// The last piece's content.
    pub fn to_bytes(self) -> Vec<u8> {
        self.0.to_be_bytes().to_vec()
    }

    /// Whether a last piece carries this checksum.
    pub fn matches(self, last: &[u8]) -> bool {
        last == self.0.to_be_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_in_order() {
        let mut b = Vec::new();
        push(&mut b, b"k1", b"v1").unwrap();
        push(&mut b, b"", b"").unwrap();
        push(&mut b, b"k3", &[7u8; 300]).unwrap();
        let got: Vec<_> = records(&b).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            vec![
                (&b"k1"[..], &b"v1"[..]),
                (&b""[..], &b""[..]),
                (&b"k3"[..], &[7u8; 300][..])
            ]
        );
    }

    #[test]
    fn a_batch_cut_anywhere_is_an_error_not_a_panic() {
        let mut b = Vec::new();
        push(&mut b, b"key", b"value").unwrap();
        for cut in 1..b.len() {
            let r: Result<Vec<_>, _> = records(&b[..cut]).collect();
            assert!(r.is_err(), "cut at {cut}");
        }
        // lengths far past the end (a hostile peer)
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(b"xy");
        assert!(records(&huge).next().unwrap().is_err());
        let mut rs = records(&huge);
        rs.next();
        assert!(rs.next().is_none(), "nothing after an error");
    }

    #[test]
    fn checksum_covers_every_piece_in_order() {
        let (mut a, mut b) = (Checksum::default(), Checksum::default());
        a.add(b"head");
        a.add(b"batch");
        b.add(b"batch");
        b.add(b"head");
        assert!(a.matches(&a.to_bytes()));
        assert!(!a.matches(&b.to_bytes()));
        assert!(!a.matches(b""));
    }
}
