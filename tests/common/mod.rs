//! Test harness for the etcdctl compatibility suite (`tests/compat.rs`).
//!
//! It starts single-node servers (real etcd 3.5.1 or our `oxcd`) with the same
//! etcd flags, and runs clients (real `etcdctl` 3.5.1 or our `oxctl`) against
//! them with a timeout and a clean `ETCDCTL_*` environment.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a client invocation may run before it is killed.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a server may take to become ready.
pub const SERVER_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Picks a free TCP port on 127.0.0.1 (binds port 0 and releases it).
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// Picks `N` distinct free ports: all listeners are held until every port is
/// chosen, so the kernel cannot hand out the same port twice.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to pick a free port"))
        .collect();
    std::array::from_fn(|i| {
        listeners[i]
            .local_addr()
            .expect("local_addr of the port-picking listener")
            .port()
    })
}

/// The directory holding the real etcd 3.5.1 binaries.
pub fn etcd_bin_dir() -> PathBuf {
    match std::env::var_os("ETCD_BIN_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/etcd/v3.5.1"),
    }
}

/// Paths of the real `etcd` server and `etcdctl` client.
pub fn real_etcd() -> PathBuf {
    etcd_bin_dir().join("etcd")
}

pub fn real_etcdctl() -> PathBuf {
    etcd_bin_dir().join("etcdctl")
}

/// Returns true when the real etcd binaries are usable. When they are not:
/// with `CI` set this panics (CI must never silently skip); otherwise it prints
/// a loud SKIPPED line on stderr and returns false, so the caller returns early.
pub fn real_etcd_available(test: &str) -> bool {
    let missing: Vec<PathBuf> = [real_etcd(), real_etcdctl()]
        .into_iter()
        .filter(|p| !p.is_file())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "real etcd 3.5.1 binaries missing ({missing:?}); CI must run .ci/install-etcd.sh \
             (or set ETCD_BIN_DIR) before the compat suite"
        );
    }
    eprintln!(
        "\n=====================================================================\n\
         SKIPPED {test}: real etcd not installed, run .ci/install-etcd.sh\n\
         (looked for {missing:?}; override the directory with ETCD_BIN_DIR)\n\
         =====================================================================\n"
    );
    false
}

/// Our client, built by cargo for integration tests.
pub fn oxctl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oxctl"))
}

/// Our server: `target/<profile>/oxcd`, next to the `deps/` directory holding
/// this test binary. It lives in another workspace package, so cargo does not
/// build it for this test automatically.
pub fn oxcd_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe of the test binary");
    let profile_dir = exe
        .parent() // target/<profile>/deps
        .and_then(Path::parent) // target/<profile>
        .expect("test binary is expected at target/<profile>/deps/<test>");
    let bin = profile_dir.join(format!("oxcd{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        panic!(
            "oxcd binary not found at {}: build it first: cargo build --workspace --bins",
            bin.display()
        );
    }
    warn_if_stale(&bin);
    bin
}

/// cargo does not rebuild `oxcd` for this test: warn when a server source is
/// newer than the binary.
fn warn_if_stale(bin: &Path) {
    fn newest(dir: &Path) -> Option<std::time::SystemTime> {
        let mut best = None;
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let path = entry.path();
            let t = if path.is_dir() {
                newest(&path)
            } else {
                entry.metadata().ok()?.modified().ok()
            };
            best = best.max(t);
        }
        best
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("server/src");
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok();
    if let (Some(src_time), Some(built)) = (newest(&src), built) {
        if src_time > built {
            eprintln!(
                "WARNING: {} is older than server/src; run `cargo build --workspace --bins`",
                bin.display()
            );
        }
    }
}

/// Which server implementation to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    RealEtcd,
    Oxcd,
}

impl ServerKind {
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::RealEtcd => "etcd",
            ServerKind::Oxcd => "oxcd",
        }
    }

    fn binary(self) -> PathBuf {
        match self {
            ServerKind::RealEtcd => real_etcd(),
            ServerKind::Oxcd => oxcd_bin(),
        }
    }
}

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

    pub fn binary(self) -> PathBuf {
        match self {
            ClientKind::RealEtcdctl => real_etcdctl(),
            ClientKind::Oxctl => oxctl_bin(),
        }
    }
}

/// A running single-node server in its own temporary directory.
/// Dropping it kills and reaps the child; if the test thread is panicking the
/// server's stdout/stderr are printed first.
pub struct Server {
    pub kind: ServerKind,
    pub client_port: u16,
    pub peer_port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts `kind` with the standard etcd flags plus `extra_flags`, and
    /// waits until it answers a `get`. A start that lost a port race
    /// ("address already in use") is retried with new ports.
    pub fn start(kind: ServerKind, extra_flags: &[&str]) -> Server {
        let mut attempt = 1;
        loop {
            match Server::try_start(kind, extra_flags) {
                Ok(server) => return server,
                Err((msg, logs)) => {
                    let port_race = logs.to_lowercase().contains("address already in use");
                    if port_race && attempt < 3 {
                        eprintln!("{} lost a port race, retrying: {msg}", kind.name());
                        attempt += 1;
                        continue;
                    }
                    panic!("{msg}\n{logs}");
                }
            }
        }
    }

    /// Starts `kind` like [`Server::start`], but on an existing data
    /// directory (for instance one written by `snapshot restore`). The
    /// directory is not removed when the server stops.
    pub fn start_on(kind: ServerKind, data_dir: &Path, extra_flags: &[&str]) -> Server {
        let mut attempt = 1;
        loop {
            match Server::try_start_on(kind, extra_flags, Some(data_dir)) {
                Ok(server) => return server,
                Err((msg, logs)) => {
                    let port_race = logs.to_lowercase().contains("address already in use");
                    if port_race && attempt < 3 {
                        eprintln!("{} lost a port race, retrying: {msg}", kind.name());
                        attempt += 1;
                        continue;
                    }
                    panic!("{msg}\n{logs}");
                }
            }
        }
    }

    fn try_start(kind: ServerKind, extra_flags: &[&str]) -> Result<Server, (String, String)> {
        Server::try_start_on(kind, extra_flags, None)
    }

    fn try_start_on(
        kind: ServerKind,
        extra_flags: &[&str],
        data_dir: Option<&Path>,
    ) -> Result<Server, (String, String)> {
        let bin = kind.binary();
        let dir = tempfile::Builder::new()
            .prefix(&format!("compat-{}-", kind.name()))
            .tempdir()
            .expect("create a temp dir for the server");
        let [client_port, peer_port] = free_ports::<2>();
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let data_dir = data_dir.map_or_else(|| dir.path().join("data"), Path::to_path_buf);
        let stdout = std::fs::File::create(dir.path().join("server.stdout"))
            .expect("create server stdout file");
        let stderr = std::fs::File::create(dir.path().join("server.stderr"))
            .expect("create server stderr file");

        let mut cmd = Command::new(&bin);
        cmd.arg("--name")
            .arg("default")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--listen-client-urls")
            .arg(&client_url)
            .arg("--advertise-client-urls")
            .arg(&client_url)
            .arg("--listen-peer-urls")
            .arg(&peer_url)
            // Advertising localhost:2380 keeps etcd's default member ID
            // 8e9e05c52164694d and cluster ID cdf818194e3a8c32.
            .arg("--initial-advertise-peer-urls")
            .arg("http://localhost:2380")
            .arg("--initial-cluster")
            .arg("default=http://localhost:2380")
            .args(extra_flags)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        // etcd reads every ETCD_* variable as a flag; keep the parent's out.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCD") {
                cmd.env_remove(&key);
            }
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("failed to spawn {} ({}): {e}", kind.name(), bin.display()));
        let mut server = Server {
            kind,
            client_port,
            peer_port,
            child,
            dir,
        };
        match server.wait_ready() {
            Ok(()) => Ok(server),
            // Dropping `server` kills and reaps the child.
            Err(msg) => Err((msg, server.logs())),
        }
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
        let read = |name: &str| {
            std::fs::read(self.dir.path().join(name))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|e| format!("<cannot read {name}: {e}>"))
        };
        format!(
            "---- {} server.stdout ----\n{}\n---- {} server.stderr ----\n{}",
            self.kind.name(),
            read("server.stdout"),
            self.kind.name(),
            read("server.stderr")
        )
    }

    /// Waits for the client port to accept TCP connections, then for a
    /// successful `get` through the real etcdctl.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + SERVER_READY_TIMEOUT;
        let name = self.kind.name();
        let addr: SocketAddr = self.endpoint().parse().expect("parse server endpoint");
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait on the server") {
                return Err(format!("{name} exited during startup with {status}"));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{name} did not listen on {} within {SERVER_READY_TIMEOUT:?}",
                    self.endpoint()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // A read-only probe: it changes neither the revision nor the data.
        let endpoint = self.endpoint();
        loop {
            let out = run(
                &real_etcdctl(),
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
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().expect("try_wait on the server") {
                return Err(format!("{name} exited during startup with {status}"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{name} at {endpoint} listens but never answered `etcdctl get` within \
                     {SERVER_READY_TIMEOUT:?}; last attempt: exit={} stderr={}",
                    out.code,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "==== logs of {} at {} ====\n{}",
                self.kind.name(),
                self.endpoint(),
                self.logs()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The result of one client invocation.
#[derive(Clone, Debug)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The exit code; `-1` when killed by the timeout, `128 + signal` when
    /// killed by another signal.
    pub code: i32,
    pub timed_out: bool,
}

fn exit_code(status: ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return 128 + sig;
        }
    }
    -1
}

/// Runs `client_bin [--endpoints=<endpoint>] args…` with optional stdin
/// bytes and extra environment. Every `ETCDCTL_*` variable of the parent (and
/// `ETCDCTL_API`) is removed first, so only `env` reaches the child. The child
/// is killed after [`CLIENT_TIMEOUT`].
pub fn run<S: AsRef<std::ffi::OsStr>>(
    client_bin: &Path,
    endpoint: Option<&str>,
    args: &[S],
    stdin: Option<&[u8]>,
    env: &[(&str, &str)],
) -> Output {
    let mut cmd = Command::new(client_bin);
    if let Some(ep) = endpoint {
        cmd.arg(format!("--endpoints={ep}"));
    }
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ETCDCTL") {
            cmd.env_remove(&key);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("failed to spawn {}: {e}", client_bin.display()));

    let stdin_thread = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("child stdin is piped");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            // The child may exit without reading everything: ignore EPIPE.
            let _ = pipe.write_all(&bytes);
        })
    });
    let mut out_pipe = child.stdout.take().expect("child stdout is piped");
    let mut err_pipe = child.stderr.take().expect("child stderr is piped");
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });

    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait on the client") {
            break status;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait on the killed client");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let Some(t) = stdin_thread {
        let _ = t.join();
    }
    let stdout = out_thread.join().expect("stdout reader thread");
    let stderr = err_thread.join().expect("stderr reader thread");
    Output {
        stdout,
        stderr,
        code: if timed_out { -1 } else { exit_code(status) },
        timed_out,
    }
}
