//! bbolt database files: reader, consistency check, and bulk writers
//! (in memory, [`Writer::write`], or streaming into a file,
//! [`StreamWriter`]).

mod check;
mod file_reader;
pub mod page;
mod reader;
mod stream;
mod writer;

pub use check::CheckStats;
pub use file_reader::{FileIter, FileReader, OwnedEntry};
pub use page::Meta;
pub use reader::{Bucket, Entry, Iter, Reader, MAX_BUCKET_DEPTH, MAX_TREE_DEPTH};
pub use stream::{KeyValue, StreamWriter};
pub use writer::{BucketData, Writer};

/// One step of a tree walk as an iterator item: the walk stops for good at
/// its end or at its first error.
fn fuse<T>(done: &mut bool, step: crate::Result<Option<T>>) -> Option<crate::Result<T>> {
    match step {
        Ok(Some(e)) => Some(Ok(e)),
        Ok(None) => {
            *done = true;
            None
        }
        Err(e) => {
            *done = true;
            Some(Err(e))
        }
    }
}
