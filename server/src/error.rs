//! Server errors, and their mapping onto the gRPC codes and `etcdserver: …`
//! texts that etcd clients parse.

use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    #[error("etcdserver: key not found")]
    KeyNotFound,
    #[error("etcdserver: value is provided")]
    ValueProvided,
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRev,
    #[error("etcdserver: mvcc: database space exceeded")]
    NoSpace,
    #[error("etcdserver: corrupt cluster")]
    Corrupt,
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    #[error("etcdserver: lease already exists")]
    LeaseExist,
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
    #[error("etcdserver: request is too large")]
    RequestTooLarge,
    #[error("etcdserver: member not found")]
    MemberNotFound,
    #[error("etcdserver: given member URLs are invalid")]
    MemberBadUrls,
    #[error("etcdserver: wrong downgrade target version format")]
    WrongDowngradeVersionFormat,
    #[error("etcdserver: invalid downgrade target version")]
    InvalidDowngradeTarget,
    #[error("etcdserver: no inflight downgrade job")]
    NoInflightDowngrade,
    #[error("etcdserver: authentication is not enabled")]
    AuthNotEnabled,
    #[error("etcdserver: not supported yet: {0}")]
    Unsupported(&'static str),
    #[error("etcdserver: server stopped")]
    Stopped,
    #[error("etcdserver: no leader")]
    NoLeader,
    #[error("etcdserver: request timed out")]
    Timeout,
    #[error("etcdserver: request timed out, possibly due to previous leader failure")]
    TimeoutLeaderFail,
    #[error("etcdserver: request timed out, possibly due to connection lost")]
    TimeoutConnectionLost,
    /// a linearizable read whose ReadIndex round saw a new leader
    #[error("etcdserver: leader changed")]
    LeaderChanged,
    /// a write that found no leader to take it in the request timeout:
    /// etcd 3.5 answers its context's error as is (code UNKNOWN)
    #[error("context deadline exceeded")]
    ContextDeadline,
    #[error("etcdserver: not leader")]
    NotLeader,
    #[error("etcdserver: bad leader transferee")]
    BadLeaderTransferee,
    #[error("etcdserver: request timed out, leader transfer took too long")]
    TransferTimeout,
    #[error("etcdserver: unhealthy cluster")]
    Unhealthy,
    #[error("etcdserver: re-configuration failed due to not enough started members")]
    NotEnoughStarted,
    #[error("etcdserver: Peer URLs already exists")]
    PeerUrlExist,
    #[error("etcdserver: too many learner members in cluster")]
    TooManyLearners,
    #[error("etcdserver: can only promote a learner member")]
    NotLearner,
    #[error("etcdserver: can only promote a learner member which is in sync with leader")]
    LearnerNotReady,
    #[error("etcdserver: member ID already exist")]
    MemberExist,
    #[error("etcdserver: root user does not exist")]
    RootUserNotExist,
    #[error("etcdserver: root user does not have root role")]
    RootRoleNotExist,
    #[error("etcdserver: user name already exists")]
    UserAlreadyExist,
    #[error("etcdserver: user name is empty")]
    UserEmpty,
    #[error("etcdserver: user name not found")]
    UserNotFound,
    #[error("etcdserver: role name already exists")]
    RoleAlreadyExist,
    #[error("etcdserver: permission not given")]
    PermissionNotGiven,
    #[error("etcdserver: role name not found")]
    RoleNotFound,
    #[error("etcdserver: role name is empty")]
    RoleEmpty,
    #[error("etcdserver: authentication failed, invalid user ID or password")]
    AuthFailed,
    #[error("etcdserver: permission denied")]
    PermissionDenied,
    #[error("etcdserver: role is not granted to the user")]
    RoleNotGranted,
    #[error("etcdserver: permission is not granted to the role")]
    PermissionNotGranted,
    #[error("etcdserver: invalid auth token")]
    InvalidAuthToken,
    #[error("etcdserver: invalid auth management")]
    InvalidAuthMgmt,
    /// etcd's auth package's own error, which etcd does not map to a gRPC
    /// code (its `etcdserver: revision of auth store is old` is never sent)
    #[error("auth: revision in header is old")]
    AuthOldRevision,
    /// what etcd's maintenance services answer a non-admin (its auth
    /// package's errors, which etcd does not map to a gRPC code)
    #[error("auth: {0}")]
    AuthUnmapped(&'static str),
    #[error("etcdserver: {0}")]
    BadRequest(String),
    #[error("storage: {0}")]
    Storage(String),
}

impl EtcdError {
    fn code(&self) -> Code {
        use EtcdError::*;
        match self {
            EmptyKey
            | KeyNotFound
            | ValueProvided
            | LeaseProvided
            | TooManyOps
            | DuplicateKey
            | RequestTooLarge
            | BadRequest(_)
            | UserEmpty
            | RoleEmpty
            | AuthFailed
            | InvalidAuthMgmt
            | MemberBadUrls
            | PermissionNotGiven
            | WrongDowngradeVersionFormat
            | InvalidDowngradeTarget => Code::InvalidArgument,
            RootUserNotExist | RootRoleNotExist | UserAlreadyExist | UserNotFound
            | RoleAlreadyExist | RoleNotFound | RoleNotGranted | PermissionNotGranted => {
                Code::FailedPrecondition
            }
            PermissionDenied => Code::PermissionDenied,
            InvalidAuthToken => Code::Unauthenticated,
            AuthUnmapped(_) | AuthOldRevision | ContextDeadline => Code::Unknown,
            Compacted | FutureRev | LeaseTtlTooLarge => Code::OutOfRange,
            NoSpace => Code::ResourceExhausted,
            Corrupt => Code::DataLoss,
            LeaseNotFound | MemberNotFound => Code::NotFound,
            LeaseExist | AuthNotEnabled | NoInflightDowngrade => Code::FailedPrecondition,
            Unsupported(_) => Code::Unimplemented,
            Stopped
            | NoLeader
            | Timeout
            | TimeoutLeaderFail
            | TimeoutConnectionLost
            | LeaderChanged
            | TransferTimeout
            | Unhealthy
            | NotEnoughStarted => Code::Unavailable,
            NotLeader | BadLeaderTransferee | PeerUrlExist | TooManyLearners | NotLearner
            | LearnerNotReady | MemberExist => Code::FailedPrecondition,
            Storage(_) => Code::Internal,
        }
    }
}

impl From<EtcdError> for Status {
    fn from(e: EtcdError) -> Status {
        Status::new(e.code(), e.to_string())
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for EtcdError {
            fn from(e: $t) -> Self { EtcdError::Storage(e.to_string()) }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    std::io::Error,
    prost::DecodeError
);

pub type Result<T, E = EtcdError> = std::result::Result<T, E>;

/// What ends a member: it could not start, or it can no longer vouch for
/// its log or store (a failed fsync or store commit), so it must stop
/// before acknowledging anything more — etcd stops in the same cases.
/// Kept apart from [`EtcdError`], which answers one request.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// the data dir, the store, the log or a listener could not be opened,
    /// or the cluster refused this member at start
    #[error("{0}")]
    Start(String),
    /// the node loop failed while running
    #[error("fatal: {what}: {detail}")]
    Node { what: &'static str, detail: String },
    /// the node thread panicked
    #[error("fatal: the raft node stopped unexpectedly")]
    Panicked,
}

impl Fatal {
    /// The node loop's failure at `what`.
    pub fn node(what: &'static str, e: impl std::fmt::Display) -> Fatal {
        Fatal::Node {
            what,
            detail: e.to_string(),
        }
    }
}

/// Turns an error into the node loop's fatal failure at `what`.
pub(crate) trait OrFatal<T> {
    fn or_fatal(self, what: &'static str) -> std::result::Result<T, Fatal>;
}

impl<T, E: std::fmt::Display> OrFatal<T> for std::result::Result<T, E> {
    fn or_fatal(self, what: &'static str) -> std::result::Result<T, Fatal> {
        self.map_err(|e| Fatal::node(what, e))
    }
}
