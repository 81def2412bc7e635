//! One error type for the whole crate: every malformed input maps to a
//! variant that names the page (or byte range) at fault.

/// Errors from reading, checking or writing etcd's on-disk formats.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("file too small for a bbolt database: {len} bytes")]
    TooSmall { len: usize },
    #[error("not a bbolt database: meta page {page} has magic {magic:#010x}")]
    BadMagic { page: u64, magic: u32 },
    #[error("meta page {page}: unsupported version {version}")]
    BadVersion { page: u64, version: u32 },
    #[error(
        "meta page {page}: checksum mismatch (stored {stored:#018x}, computed {computed:#018x})"
    )]
    MetaChecksum {
        page: u64,
        stored: u64,
        computed: u64,
    },
    #[error("meta page {page}: invalid page size {page_size}")]
    BadPageSize { page: u64, page_size: u32 },
    #[error("meta page {page}: {what}")]
    BadMeta { page: u64, what: &'static str },
    #[error(
        "page {page}: out of range (high water mark {high_water}, file holds {file_pages} pages)"
    )]
    PageOutOfRange {
        page: u64,
        high_water: u64,
        file_pages: u64,
    },
    #[error("page {page}: header claims id {found}")]
    PageIdMismatch { page: u64, found: u64 },
    #[error("page {page}: expected a {expected} page, found flags {flags:#06x}")]
    WrongPageType {
        page: u64,
        expected: &'static str,
        flags: u16,
    },
    #[error("page {page}: {count} elements do not fit in {len} bytes")]
    CountOutOfBounds { page: u64, count: u16, len: usize },
    #[error("page {page}: element {index} points outside the page")]
    ElementOutOfBounds { page: u64, index: usize },
    #[error("page {page}: element {index} holds a malformed bucket value")]
    BadBucketValue { page: u64, index: usize },
    #[error("page {page}: referenced more than once (cycle or shared page)")]
    MultipleReferences { page: u64 },
    #[error("page {page}: tree deeper than {limit} levels")]
    TooDeep { page: u64, limit: usize },
    #[error("page {page}: keys out of order")]
    KeyOrder { page: u64 },
    #[error("page {page}: branch page has no elements")]
    EmptyBranch { page: u64 },
    #[error("page {page}: reachable but also on the freelist")]
    ReachableFreed { page: u64 },
    #[error("page {page}: listed twice on the freelist")]
    DoubleFree { page: u64 },
    #[error("page {page}: neither reachable nor free")]
    Unreachable { page: u64 },
    #[error("freelist page {page}: invalid entry {id}")]
    BadFreelistEntry { page: u64, id: u64 },
    #[error("top-level key {name:?} is not a bucket")]
    NotABucket { name: String },
    #[error("sha256 checksum not found [bytes: {len}]")]
    NoChecksum { len: usize },
    #[error("sha256 trailer mismatch: expected {expected}, got {actual}")]
    ChecksumMismatch { expected: String, actual: String },
    #[error("bucket {bucket:?}: bad revision key of {len} bytes")]
    BadRevisionKey { bucket: String, len: usize },
    #[error("bad value for {what}: {reason}")]
    BadValue { what: &'static str, reason: String },
    #[error("writer: {0}")]
    Writer(String),
    #[error("i/o error: {0}")]
    Io(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
