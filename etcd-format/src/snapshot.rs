//! etcd snapshot files: a bbolt database followed by a 32-byte SHA-256 of
//! it, and the figures `etcdutl snapshot status` prints.

use std::io::{Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

use crate::bolt::{BucketData, KeyValue, Reader, StreamWriter, Writer};
use crate::error::{Error, Result};
use crate::schema::{self, RevisionKey};

pub const TRAILER_LEN: usize = 32;

/// etcd's rule: a trailer is present when size % 512 == 32 (512 divides
/// every bbolt page size, so a bare database never matches).
pub fn has_trailer(len: usize) -> bool {
    len % 512 == TRAILER_LEN
}

/// Splits a snapshot into the database and its trailer, if any. Does not
/// verify the trailer.
pub fn split_trailer(bytes: &[u8]) -> (&[u8], Option<&[u8]>) {
    if has_trailer(bytes.len()) {
        let (db, t) = bytes.split_at(bytes.len() - TRAILER_LEN);
        (db, Some(t))
    } else {
        (bytes, None)
    }
}

/// Returns the database part after checking the SHA-256 trailer (what
/// `snapshot restore` does without `--skip-hash-check`).
pub fn verify_trailer(bytes: &[u8]) -> Result<&[u8]> {
    let (db, trailer) = split_trailer(bytes);
    let Some(trailer) = trailer else {
        return Err(Error::NoChecksum { len: bytes.len() });
    };
    let actual = Sha256::digest(db);
    if actual.as_slice() != trailer {
        return Err(Error::ChecksumMismatch {
            expected: hex(trailer),
            actual: hex(&actual),
        });
    }
    Ok(db)
}

/// SHA-256 of the database, the trailer `snapshot save` appends.
pub fn trailer(db: &[u8]) -> [u8; 32] {
    Sha256::digest(db).into()
}

/// Appends the SHA-256 trailer to a database image.
pub fn append_trailer(mut db: Vec<u8>) -> Vec<u8> {
    let t = trailer(&db);
    db.extend_from_slice(&t);
    db
}

/// A complete snapshot file (database laid out the way etcd 3.5 would,
/// plus trailer) from sorted buckets.
pub fn build(buckets: &[BucketData]) -> Result<Vec<u8>> {
    Ok(append_trailer(Writer::new().write(buckets)?))
}

/// Writes a snapshot file (database laid out like [`build`]'s, plus the
/// SHA-256 trailer) into a file without holding its entries in memory:
/// buckets are streamed through a [`StreamWriter`].
///
/// The trailer hashes the whole database, whose first bytes (the meta
/// pages) can only be written last: they hold the root page id and the
/// high-water mark, known once every bucket is laid out, and laying the
/// file out so that they are known up front would need every bucket's
/// size in advance. So [`SnapshotWriter::finish`] reads the finished
/// database back (sequentially, in 1 MiB chunks, usually from the page
/// cache) to hash it, and appends the trailer. Hence `Read`.
pub struct SnapshotWriter<W: Read + Write + Seek> {
    inner: StreamWriter<W>,
    base: u64,
}

impl<W: Read + Write + Seek> SnapshotWriter<W> {
    /// A snapshot in etcd 3.5's layout ([`Writer::new`]'s defaults),
    /// written from `out`'s current position.
    pub fn new(out: W) -> Result<Self> {
        Self::with_writer(&Writer::new(), out)
    }

    /// A snapshot with other writer settings.
    pub fn with_writer(writer: &Writer, mut out: W) -> Result<Self> {
        let base = out.stream_position().map_err(io_error)?;
        Ok(SnapshotWriter {
            inner: writer.stream(out)?,
            base,
        })
    }

    /// Adds a top-level bucket; see [`StreamWriter::bucket`].
    pub fn bucket<'a, I>(&mut self, name: &[u8], entries: I) -> Result<()>
    where
        I: IntoIterator<Item = Result<KeyValue<'a>>>,
    {
        self.inner.bucket(name, entries)
    }

    /// Finishes the database without the trailer, for a caller that
    /// hashes the bytes as it reads them anyway (a snapshot being sent):
    /// the output, positioned where the database began.
    pub fn finish_database(self) -> Result<W> {
        let mut out = self.inner.finish()?;
        out.flush().map_err(io_error)?;
        out.seek(SeekFrom::Start(self.base)).map_err(io_error)?;
        Ok(out)
    }

    /// Finishes the database, hashes it and appends the trailer. Returns
    /// the output (positioned after the trailer) and the trailer.
    pub fn finish(self) -> Result<(W, [u8; TRAILER_LEN])> {
        let mut out = self.inner.finish()?;
        let end = out.stream_position().map_err(io_error)?;
        out.seek(SeekFrom::Start(self.base)).map_err(io_error)?;
        let mut left = end - self.base;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; (1 << 20).min(left as usize)];
        while left > 0 {
            let n = buf.len().min(left as usize);
            out.read_exact(&mut buf[..n]).map_err(io_error)?;
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        let t: [u8; TRAILER_LEN] = hasher.finalize().into();
        out.write_all(&t).map_err(io_error)?;
        out.flush().map_err(io_error)?;
        Ok((out, t))
    }
}

/// [`SnapshotWriter`] in one call: `buckets` in strictly increasing name
/// order, each with its sorted entries.
pub fn write_snapshot<'a, W, N, I>(out: W, buckets: impl IntoIterator<Item = (N, I)>) -> Result<W>
where
    W: Read + Write + Seek,
    N: AsRef<[u8]>,
    I: IntoIterator<Item = Result<KeyValue<'a>>>,
{
    let mut w = SnapshotWriter::new(out)?;
    for (name, entries) in buckets {
        w.bucket(name.as_ref(), entries)?;
    }
    Ok(w.finish()?.0)
}

fn io_error(e: std::io::Error) -> Error {
    Error::Io(e.to_string())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What `etcdutl snapshot status` reports (3.5: no storage version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// CRC-32C over each top-level bucket name followed by its keys and
    /// values, buckets and keys in order.
    pub hash: u32,
    /// Main revision of the last key of bucket `key`.
    pub revision: i64,
    /// Entries across all top-level buckets.
    pub total_key: u64,
    /// Bytes up to the high-water mark (bbolt `Tx.Size`).
    pub total_size: u64,
}

/// Computes [`Status`] like etcdutl 3.5: integrity check first, then one
/// pass over every top-level bucket. `bytes` may include the trailer.
pub fn status(bytes: &[u8]) -> Result<Status> {
    let reader = Reader::new(bytes)?;
    status_of(&reader)
}

/// [`status`] for an already opened database.
pub fn status_of(reader: &Reader<'_>) -> Result<Status> {
    reader.check()?;
    let mut h: u32 = 0;
    let mut revision = 0i64;
    let mut total_key = 0u64;
    for top in reader.root().iter() {
        let top = top?;
        let name = String::from_utf8_lossy(top.key).into_owned();
        if !top.is_bucket {
            return Err(Error::NotABucket { name });
        }
        let bucket = reader
            .root()
            .bucket(top.key)?
            .ok_or(Error::NotABucket { name: name.clone() })?;
        h = crc32c::crc32c_append(h, top.key);
        let is_key = top.key == schema::KEY;
        for e in bucket.iter() {
            let e = e?;
            h = crc32c::crc32c_append(h, e.key);
            // bbolt's ForEach hands out a nil value for nested buckets.
            if !e.is_bucket {
                h = crc32c::crc32c_append(h, e.value);
            }
            if is_key {
                revision = RevisionKey::decode_lenient(e.key)
                    .ok_or(Error::BadRevisionKey {
                        bucket: name.clone(),
                        len: e.key.len(),
                    })?
                    .rev
                    .main;
            }
            total_key += 1;
        }
    }
    Ok(Status {
        hash: h,
        revision,
        total_key,
        total_size: reader.size(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_rule() {
        assert!(has_trailer(4096 * 3 + 32));
        assert!(!has_trailer(4096 * 3));
        assert!(!has_trailer(31));
        let (db, t) = split_trailer(&[0u8; 544]);
        assert_eq!((db.len(), t.map(<[u8]>::len)), (512, Some(32)));
        assert_eq!(split_trailer(&[0u8; 512]).1, None);
    }

    #[test]
    fn build_verifies_and_reports() {
        let kv = |m: i64, v: &str| {
            (
                crate::schema::RevisionKey::new(m, 0, false).encode(),
                v.into(),
            )
        };
        let file = build(&[BucketData::new("key", vec![kv(2, "a"), kv(7, "b")])]).expect("build");
        let db = verify_trailer(&file).expect("trailer");
        assert_eq!(db.len() % 4096, 0);
        let st = status(&file).expect("status");
        assert_eq!(
            (st.revision, st.total_key, st.total_size),
            (7, 2, db.len() as u64)
        );
        // The hash covers the bucket name, then keys and values in order.
        let mut h = crc32c::crc32c(b"key");
        for (k, v) in [kv(2, "a"), kv(7, "b")] {
            h = crc32c::crc32c_append(h, &k);
            h = crc32c::crc32c_append(h, &v);
        }
        assert_eq!(st.hash, h);
    }

    #[test]
    fn write_snapshot_equals_build() {
        use std::borrow::Cow;
        let kv = |m: i64| (RevisionKey::new(m, 0, false).encode(), vec![m as u8; 300]);
        let data = vec![
            BucketData::new("key", (1..2000).map(kv).collect()),
            BucketData::new("meta", vec![(b"term".to_vec(), vec![1])]),
        ];
        let want = build(&data).expect("build");
        let buckets = data.iter().map(|b| {
            let entries = b
                .entries
                .iter()
                .map(|(k, v)| Ok((Cow::Borrowed(&k[..]), Cow::Borrowed(&v[..]))));
            (&b.name, entries)
        });
        let mut out = std::io::Cursor::new(b"prefix".to_vec());
        out.set_position(6);
        let out = write_snapshot(out, buckets).expect("write");
        assert_eq!(out.position() as usize, out.get_ref().len());
        assert_eq!(&out.get_ref()[6..], &want[..]);
    }

    #[test]
    fn short_revision_key_is_an_error() {
        let file =
            build(&[BucketData::new("key", vec![(b"short".to_vec(), vec![])])]).expect("build");
        assert!(matches!(
            status(&file),
            Err(Error::BadRevisionKey { len: 5, .. })
        ));
    }
}
