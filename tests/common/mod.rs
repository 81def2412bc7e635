//! Shared by the oxctl suites: single-node servers (real etcd 3.5.1 or
//! `oxcd`, started through `testkit` with the same etcd flags) and clients
//! (real `etcdctl` 3.5.1 or `oxctl`) run with a timeout and a clean
//! `ETCDCTL_*` environment.

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use testkit::wait::{start_retrying, StartFailure};
use testkit::{Flags, Proc};

pub use testkit::Kind as ServerKind;
pub use testkit::Output;

/// How long a server may take to become ready.
pub const SERVER_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Which client implementation to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    RealEtcdctl,
    Oxctl,
}

impl ClientKind {
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::RealEtcdctl => "etcdctl",
            ClientKind::Oxctl => "oxctl",
        }
    }

    pub fn binary(self) -> std::path::PathBuf {
        match self {
            ClientKind::RealEtcdctl => testkit::bins::etcdctl(),
            ClientKind::Oxctl => testkit::bins::oxctl(),
        }
    }
}

/// A running single-node server in its own temporary directory; dropping
/// it kills the process (its log tail is printed if the test is failing).
pub struct Server {
    pub kind: ServerKind,
    pub client_port: u16,
    pub peer_port: u16,
    proc: Proc,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts `kind` with the standard etcd flags plus `extra_flags`, and
    /// waits until it answers a `get`. A start that lost a port race
    /// ("address already in use") is retried with new ports.
    pub fn start(kind: ServerKind, extra_flags: &[&str]) -> Server {
        Server::launch(kind, None, extra_flags)
    }

    /// Starts `kind` like [`Server::start`], but on an existing data
    /// directory (for instance one written by `snapshot restore`). The
    /// directory is not removed when the server stops.
    pub fn start_on(kind: ServerKind, data_dir: &Path, extra_flags: &[&str]) -> Server {
        Server::launch(kind, Some(data_dir), extra_flags)
    }

    fn launch(kind: ServerKind, data_dir: Option<&Path>, extra_flags: &[&str]) -> Server {
        start_retrying(kind.name(), |_| {
            let dir = tempfile::Builder::new()
                .prefix(&format!("compat-{}-", kind.name()))
                .tempdir()
                .expect("create a temp dir for the server");
            let data = data_dir.map_or_else(|| dir.path().join("data"), Path::to_path_buf);
            let mut flags = Flags::single("default", &data).with_extra(extra_flags);
            // Advertising localhost:2380 keeps etcd's default member ID
            // 8e9e05c52164694d and cluster ID cdf818194e3a8c32.
            flags.advertise_peer = Some("http://localhost:2380".into());
            let mut proc = Proc::new("server", &kind.binary(), flags.args(), Some(dir.path()))
                .current_dir(dir.path());
            proc.spawn();
            let mut server = Server {
                kind,
                client_port: flags.client_port,
                peer_port: flags.peer_port,
                proc,
                dir,
            };
            match server.wait_ready() {
                Ok(()) => Ok(server),
                // Dropping `server` kills and reaps the child.
                Err(msg) => Err(StartFailure {
                    msg,
                    logs: server.logs(),
                }),
            }
        })
    }

    /// `127.0.0.1:<client port>`, the spelling used in `--endpoints`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's captured stdout and stderr.
    pub fn logs(&self) -> String {
        self.proc.logs()
    }

    /// Runs `client args…` against this server (no stdin).
    pub fn ctl(&self, client: ClientKind, args: &[&str]) -> Output {
        run(&client.binary(), Some(&self.endpoint()), args, None, &[])
    }

    /// Waits for an answer to a read-only `etcdctl get` (it changes neither
    /// the revision nor the data).
    fn wait_ready(&mut self) -> Result<(), String> {
        let name = self.kind.name();
        let endpoint = self.endpoint();
        let proc = &mut self.proc;
        let every = Duration::from_millis(100);
        testkit::wait::poll(name, SERVER_READY_TIMEOUT, every, || {
            if let Some(status) = proc.try_exit() {
                return Ok(Err(format!("{name} exited during startup with {status}")));
            }
            let out = run(
                &testkit::bins::etcdctl(),
                Some(&endpoint),
                &[
                    "--dial-timeout=1s",
                    "--command-timeout=2s",
                    "get",
                    "compat-readiness-probe",
                ],
                None,
                &[],
            );
            if out.code == 0 {
                return Ok(Ok(()));
            }
            Err(format!(
                "{name} at {endpoint} never answered `etcdctl get`; last attempt: exit={} \
                 stderr={}",
                out.code,
                String::from_utf8_lossy(&out.stderr)
            ))
        })?
    }
}

/// Runs `client_bin [--endpoints=<endpoint>] args…` (`testkit::run`: a
/// clean `ETCDCTL_*` environment, optional stdin, a timeout).
pub fn run<S: AsRef<std::ffi::OsStr>>(
    client_bin: &Path,
    endpoint: Option<&str>,
    args: &[S],
    stdin: Option<&[u8]>,
    env: &[(&str, &str)],
) -> Output {
    let mut all: Vec<OsString> = Vec::with_capacity(args.len() + 1);
    if let Some(ep) = endpoint {
        all.push(format!("--endpoints={ep}").into());
    }
    all.extend(args.iter().map(|a| a.as_ref().to_os_string()));
    testkit::run(client_bin, &all, stdin, env)
}

/// What the TLS suites compare of a client run: stdout, the `Error:` lines
/// of stderr and the exit code.
pub type Observed = (String, Vec<String>, i32);

/// Runs `kind` with `args` (no endpoint added) and observes it; a client
/// killed by the timeout fails the test.
pub fn observe(kind: ClientKind, args: &[String]) -> Observed {
    let out = run(&kind.binary(), None, args, None, &[]);
    assert!(!out.timed_out, "{} {args:?} timed out", kind.name());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors = stderr
        .lines()
        .filter(|l| l.starts_with("Error:"))
        .map(str::to_string)
        .collect();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        errors,
        out.code,
    )
}

/// Runs etcdctl, then oxctl, with the same arguments against a server of
/// `server` kind; asserts equal results and returns them.
pub fn same_on(server: ServerKind, args: &[String]) -> Observed {
    let want = observe(ClientKind::RealEtcdctl, args);
    let got = observe(ClientKind::Oxctl, args);
    assert_eq!(
        got, want,
        "oxctl vs etcdctl for {args:?} against {server:?}"
    );
    want
}
