//! bbolt database files: reader, consistency check and bulk writer.

mod check;
pub mod page;
mod reader;
mod writer;

pub use check::CheckStats;
pub use page::Meta;
pub use reader::{Bucket, Entry, Iter, Reader, MAX_BUCKET_DEPTH, MAX_TREE_DEPTH};
pub use writer::{BucketData, Writer};
