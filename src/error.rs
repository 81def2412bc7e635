//! Every failure of oxctl, and the one place that turns it into etcdctl's
//! stderr text and exit code (cobrautl's `ExitWithError`).

use std::io::Write;

use thiserror::Error;

/// What etcd's Go client reports for a call or dial that ran out of time.
pub const DEADLINE: &str = "context deadline exceeded";

/// etcdctl's exit codes (pkg/cobrautl).
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const BAD_CONNECTION: i32 = 2;
    pub const INVALID_INPUT: i32 = 3;
    pub const BAD_FEATURE: i32 = 4;
    pub const INTERRUPTED: i32 = 5;
    pub const BAD_ARGS: i32 = 128;
}

#[derive(Debug, Error)]
pub enum CtlError {
    /// Wrong usage of a command (argument counts, conflicting flags): 128.
    #[error("{0}")]
    BadArgs(String),
    /// A flag the parser rejected; `usage` (the command's usage text,
    /// rendered by whoever found the error) goes to stdout first.
    #[error("{message}")]
    Usage { message: String, usage: String },
    /// Unknown command: cobra prints a `Run '<command> --help'` hint, with
    /// `command` the full command name (`etcdctl`, `etcdctl member`).
    #[error("{message}")]
    UnknownCommand { message: String, command: String },
    /// Writer or option not available (`--order=UP`, `-w yaml`, …): 4.
    #[error("{0}")]
    BadFeature(String),
    /// The writer cannot print this response kind: 4.
    #[error("{0} not supported as output format")]
    Unsupported(&'static str),
    /// Malformed txn input and similar: 3.
    #[error("{0}")]
    InvalidInput(String),
    /// An RPC failed or the endpoint was unreachable: 1.
    #[error("{0}")]
    Rpc(String),
    /// Client construction failed (auth, no endpoints): 2.
    #[error("{0}")]
    Connection(String),
    /// Any other error reported with exit code 1.
    #[error("{0}")]
    General(String),
    /// A failed `snapshot save` (etcdctl's `ExitInterrupted`): 5.
    #[error("{0}")]
    Interrupted(String),
    /// A program oxctl ran failed: its error, and its exit code passed on.
    #[error("{message}")]
    Child { message: String, code: i32 },
    /// Exit with a code and no `Error:` line (output already printed).
    #[error("exit status {0}")]
    Silent(i32),
    /// The `ETCDCTL_*`/flag conflict: zap fatal line already formatted.
    #[error("{0}")]
    Fatal(String),
    /// A raw line printed to stderr as is, then exit 1 (ETCDCTL_API).
    #[error("{0}")]
    Plain(String),
    /// Where etcdctl's Go code panics on bad input (exit 2), we report the
    /// panic message the same way without crashing.
    #[error("{0}")]
    Panic(String),
}

impl CtlError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CtlError::BadArgs(_) => exit::BAD_ARGS,
            CtlError::Usage { .. } | CtlError::UnknownCommand { .. } => exit::ERROR,
            CtlError::BadFeature(_) | CtlError::Unsupported(_) => exit::BAD_FEATURE,
            CtlError::InvalidInput(_) => exit::INVALID_INPUT,
            CtlError::Rpc(_) | CtlError::General(_) => exit::ERROR,
            CtlError::Interrupted(_) => exit::INTERRUPTED,
            CtlError::Connection(_) => exit::BAD_CONNECTION,
            CtlError::Silent(c) | CtlError::Child { code: c, .. } => *c,
            CtlError::Fatal(_) | CtlError::Plain(_) => exit::ERROR,
            CtlError::Panic(_) => exit::BAD_CONNECTION,
        }
    }

    /// Writes what etcdctl writes for this error and returns the exit code.
    pub fn report(&self, stdout: &mut dyn Write, stderr: &mut dyn Write) -> i32 {
        match self {
            CtlError::Silent(_) => {}
            CtlError::Fatal(line) | CtlError::Plain(line) => {
                let _ = writeln!(stderr, "{line}");
            }
            CtlError::Panic(msg) => {
                let _ = writeln!(stderr, "panic: {msg}");
            }
            CtlError::Usage { message, usage } => {
                // cobra: error, usage on stdout, an empty line (the usage
                // string it captured is empty), then MustStart's error.
                let _ = stdout.write_all(usage.as_bytes());
                let _ = stdout.flush();
                let _ = write!(stderr, "Error: {message}\n\nError: {message}\n");
            }
            CtlError::UnknownCommand { message, command } => {
                let _ = write!(
                    stderr,
                    "Error: {message}\nRun '{command} --help' for usage.\nError: {message}\n"
                );
            }
            other => {
                let _ = writeln!(stderr, "Error: {other}");
            }
        }
        let _ = stderr.flush();
        self.exit_code()
    }

    /// Go's nil pointer dereference panic, where etcdctl calls a method
    /// of a printer that is nil.
    pub fn nil_pointer_panic() -> CtlError {
        CtlError::Panic("runtime error: invalid memory address or nil pointer dereference".into())
    }

    /// Maps a gRPC status to what the Go client reports: known etcd server
    /// errors print only their message, others the full `rpc error:` form.
    pub fn from_status(s: &tonic::Status) -> CtlError {
        CtlError::Rpc(status_text(s))
    }
}

/// Go's `codes.Code.String()`.
fn code_name(c: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match c {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

/// The text etcd's Go client shows for a failed RPC.
pub fn status_text(s: &tonic::Status) -> String {
    let msg = s.message();
    if msg.starts_with("etcdserver: ") {
        return msg.to_string();
    }
    match s.code() {
        tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
            if msg.is_empty() || msg.contains("deadline") || msg.contains("Timeout") =>
        {
            DEADLINE.to_string()
        }
        code => format!("rpc error: code = {} desc = {}", code_name(code), msg),
    }
}

pub type Result<T> = std::result::Result<T, CtlError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_print_twice() {
        let e = CtlError::Usage {
            message: "unknown flag: --bogus".into(),
            usage: "NAME:\n\tget - …\n".into(),
        };
        let (mut o, mut r) = (Vec::new(), Vec::new());
        assert_eq!(e.report(&mut o, &mut r), 1);
        assert_eq!(
            String::from_utf8(r).unwrap(),
            "Error: unknown flag: --bogus\n\nError: unknown flag: --bogus\n"
        );
        assert_eq!(String::from_utf8(o).unwrap(), "NAME:\n\tget - …\n");
    }

    #[test]
    fn server_errors_keep_their_message() {
        let s =
            tonic::Status::out_of_range("etcdserver: mvcc: required revision has been compacted");
        assert_eq!(
            status_text(&s),
            "etcdserver: mvcc: required revision has been compacted"
        );
        let s = tonic::Status::internal("boom");
        assert_eq!(status_text(&s), "rpc error: code = Internal desc = boom");
    }
}
