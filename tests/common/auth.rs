//! Helpers of the auth suites (`auth_server.rs`, `auth_server_data.rs`):
//! a single server (real etcd 3.5.1 or oxcd, the same flags) that can be
//! restarted, started on an existing data dir or over https, and whose
//! readiness probe can log in once auth is on; four-way expectations
//! (etcdctl and oxctl must agree, and give the wanted result); and raw
//! gRPC calls carrying a token of the test's own.

// Each suite uses a part of these.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oxcd_proto::etcdserverpb::auth_client::AuthClient;
use oxcd_proto::etcdserverpb::kv_client::KvClient;
use oxcd_proto::etcdserverpb::{AuthenticateRequest, RangeRequest, RangeResponse};
use testkit::wait::{start_retrying, StartFailure};
use testkit::{Flags, Proc};
use tonic::transport::{Channel, Endpoint};

use super::common::{self, same_on, Observed, ServerKind};

pub const KINDS: [ServerKind; 2] = [ServerKind::Etcd, ServerKind::Oxcd];

/// The root user's log-in, as a client flag.
pub const ROOT: &str = "--user=root:rootpw";

/// etcd's cheapest bcrypt cost: the suites log in often.
pub const BCRYPT: &str = "--bcrypt-cost=4";

/// The timeouts of the readiness probe.
const PROBE_TIMEOUTS: [&str; 2] = ["--dial-timeout=1s", "--command-timeout=2s"];

pub fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

pub fn path(p: &Path) -> String {
    p.to_str().expect("UTF-8 temp path").to_string()
}

/// A success printing `stdout`.
pub fn ok(stdout: &str) -> Observed {
    (stdout.to_string(), vec![], 0)
}

/// A failure: one `Error:` line and the exit code.
pub fn error(line: &str, code: i32) -> Observed {
    (String::new(), vec![line.to_string()], code)
}

/// What a request outside the user's permissions gets.
pub fn denied() -> Observed {
    error("Error: etcdserver: permission denied", 1)
}

/// What a request without credentials gets once auth is on.
pub fn no_user() -> Observed {
    error("Error: etcdserver: user name is empty", 1)
}

/// What a wrong password (or an unknown user) gets.
pub fn bad_login() -> Observed {
    error(
        "Error: etcdserver: authentication failed, invalid user ID or password",
        2,
    )
}

/// How a server is started.
#[derive(Clone, Default)]
pub struct Setup {
    /// Server flags after the standard ones.
    pub flags: Vec<String>,
    /// An existing data dir (a restored snapshot); else a new one.
    pub data_dir: Option<PathBuf>,
    /// An https client URL (the TLS flags go in `flags`).
    pub https: bool,
    /// Client flags every run against the server gets after the endpoint
    /// (`--cacert` for https).
    pub client: Vec<String>,
    /// Client flags the readiness probe (`etcdctl get`) succeeds with.
    pub probe: Vec<String>,
}

/// A running server in its own temporary directory; dropping it kills the
/// process (its log tail is printed if the test is failing).
pub struct Srv {
    pub kind: ServerKind,
    pub port: u16,
    https: bool,
    client: Vec<String>,
    probe: Vec<String>,
    data_dir: PathBuf,
    proc: Proc,
    // Dropped after the process: its data (unless given) and logs.
    _dir: tempfile::TempDir,
}

impl Srv {
    /// Starts `kind` with the standard flags (name `default`, advertising
    /// `http://localhost:2380` as `snapshot restore` expects) plus
    /// `setup`'s, and waits until the probe succeeds; a lost port race is
    /// retried on new ports.
    pub fn start(kind: ServerKind, setup: &Setup) -> Srv {
        start_retrying(&format!("{} (auth suite)", kind.name()), |_| {
            Srv::try_start(kind, setup)
        })
    }

    /// [`Srv::start`] with server flags only.
    pub fn with_flags(kind: ServerKind, flags: &[&str]) -> Srv {
        Srv::start(
            kind,
            &Setup {
                flags: strings(flags),
                ..Setup::default()
            },
        )
    }

    fn try_start(kind: ServerKind, setup: &Setup) -> Result<Srv, StartFailure> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("auth-{}-", kind.name()))
            .tempdir()
            .expect("temp dir for the server");
        let data_dir = setup
            .data_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("data"));
        let mut flags = Flags::single("default", &data_dir).with_extra(&setup.flags);
        flags.advertise_peer = Some("http://localhost:2380".into());
        flags.https = setup.https;
        let proc = Proc::new(kind.name(), &kind.binary(), flags.args(), Some(dir.path()))
            .current_dir(dir.path());
        let mut srv = Srv {
            kind,
            port: flags.client_port,
            https: setup.https,
            client: setup.client.clone(),
            probe: setup.probe.clone(),
            data_dir,
            proc,
            _dir: dir,
        };
        srv.proc.spawn();
        match srv.wait_ready() {
            Ok(()) => Ok(srv),
            Err(msg) => Err(StartFailure {
                msg,
                logs: srv.proc.logs(),
            }),
        }
    }

    /// `--endpoints=…` (with the scheme when https).
    pub fn endpoint(&self) -> String {
        let scheme = if self.https { "https://" } else { "" };
        format!("--endpoints={scheme}127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Sets the client flags of the readiness probe (for a restart once
    /// auth is on).
    pub fn set_probe(&mut self, probe: &[&str]) {
        self.probe = strings(probe);
    }

    /// SIGTERM, wait for the exit, start again on the same data dir and
    /// ports, and wait until the probe succeeds.
    pub fn restart(&mut self) {
        self.proc.stop();
        self.proc.spawn();
        if let Err(msg) = self.wait_ready() {
            panic!(
                "{} did not come back: {msg}\n{}",
                self.kind.name(),
                self.proc.logs()
            );
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let name = self.kind.name();
        let mut args = vec![self.endpoint()];
        args.extend(self.client.iter().cloned());
        args.extend(self.probe.iter().cloned());
        args.extend(strings(&PROBE_TIMEOUTS));
        args.extend(strings(&["get", "readiness-probe"]));
        let proc = &mut self.proc;
        let every = Duration::from_millis(100);
        testkit::wait::poll(name, common::SERVER_READY_TIMEOUT, every, || {
            if let Some(status) = proc.try_exit() {
                return Ok(Err(format!("{name} exited with {status}")));
            }
            let out = common::run(&testkit::bins::etcdctl(), None, &args, None, &[]);
            if out.code == 0 {
                return Ok(Ok(()));
            }
            Err(format!(
                "{name} never answered {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        })?
    }

    /// The endpoint and the client flags, then `args`.
    pub fn args(&self, args: &[&str]) -> Vec<String> {
        let mut a = vec![self.endpoint()];
        a.extend(self.client.iter().cloned());
        a.extend(strings(args));
        a
    }

    /// Runs `args` with etcdctl and oxctl against this server: the same
    /// results required; returns them.
    pub fn both(&self, args: &[&str]) -> Observed {
        same_on(self.kind, &self.args(args))
    }

    /// [`Srv::both`], and the result must be `want`.
    pub fn expect(&self, what: &str, args: &[&str], want: Observed) {
        let got = self.both(args);
        assert_eq!(got, want, "{what}, against {:?}: {args:?}", self.kind);
    }

    /// Runs each of `steps` with etcdctl alone, each of which must succeed
    /// (a scenario's setup).
    pub fn setup(&self, steps: &[&[&str]]) {
        for step in steps {
            let out = common::run(&testkit::bins::etcdctl(), None, &self.args(step), None, &[]);
            assert_eq!(
                out.code,
                0,
                "setup step {step:?} against {:?}: stderr {}",
                self.kind,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// The current run's logs.
    pub fn logs(&self) -> String {
        self.proc.logs()
    }
}

/// Root and a user `reader` (password `rpw`) who may read `foo` (role
/// `rfoo`); `foo` = `v0`; auth on.
pub const READER_SETUP: &[&[&str]] = &[
    &["user", "add", "root:rootpw"],
    &["user", "add", "reader:rpw"],
    &["role", "add", "rfoo"],
    &["role", "grant-permission", "rfoo", "read", "foo"],
    &["user", "grant-role", "reader", "rfoo"],
    &["put", "foo", "v0"],
    &["auth", "enable"],
];

pub const READER: &str = "--user=reader:rpw";

/// Runs a future to completion on a runtime of its own.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

/// A plain-text gRPC channel to `127.0.0.1:port`.
pub async fn channel(port: u16) -> Channel {
    Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
}

/// `msg` with the `token` metadata clientv3 sends, when given.
pub fn with_token<T>(msg: T, token: Option<&str>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if let Some(t) = token {
        r.metadata_mut()
            .insert("token", t.parse().expect("a token is ASCII"));
    }
    r
}

/// A refused RPC as the tests compare it: its code and message.
pub type Refusal = (tonic::Code, String);

/// The Authenticate RPC: the token.
pub fn authenticate(port: u16, name: &str, password: &str) -> Result<String, Refusal> {
    block_on(async {
        let mut c = AuthClient::new(channel(port).await);
        let req = AuthenticateRequest {
            name: name.into(),
            password: password.into(),
        };
        c.authenticate(req)
            .await
            .map(|r| r.into_inner().token)
            .map_err(|e| status_of(&e))
    })
}

/// A linearizable Range of `key` with `token`.
pub fn range(port: u16, token: Option<&str>, key: &str) -> Result<RangeResponse, Refusal> {
    block_on(async {
        let mut c = KvClient::new(channel(port).await);
        let req = RangeRequest {
            key: key.into(),
            ..Default::default()
        };
        c.range(with_token(req, token))
            .await
            .map(|r| r.into_inner())
            .map_err(|e| status_of(&e))
    })
}

/// A status as the tests compare it.
pub fn status_of(s: &tonic::Status) -> Refusal {
    (s.code(), s.message().to_string())
}
