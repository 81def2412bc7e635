//! One member process: etcd's flags, a data dir, a captured stderr log per
//! run, SIGKILL / SIGTERM / wait, and the port and binary choices.

use crate::harness::{clients, Clients, RPC_TIMEOUT};
use std::collections::HashSet;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A process that should exit on its own.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

/// Which server the members run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Real etcd 3.5.1 from `.ci/etcd/v3.5.1/etcd`.
    Etcd,
    /// The `oxcd` binary cargo built for this test target.
    Oxcd,
}

impl Kind {
    /// The binary, or `None` when real etcd is not installed (a failure when
    /// `CI` is set).
    pub fn bin(self) -> Option<PathBuf> {
        match self {
            Kind::Oxcd => Some(PathBuf::from(env!("CARGO_BIN_EXE_oxcd"))),
            Kind::Etcd => {
                let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/etcd/v3.5.1/etcd");
                if p.is_file() {
                    return Some(p);
                }
                if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                    panic!(
                        "CI is set but the reference etcd binary is missing at {}",
                        p.display()
                    );
                }
                None
            }
        }
    }

    /// [`Kind::bin`] for a test that already checked availability.
    pub fn binary(self) -> PathBuf {
        self.bin().expect("server binary available")
    }
}

/// Ports handed out by this test process, so no two members ever get one.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// `n` distinct loopback ports that were free a moment ago: all listeners are
/// held until every port is picked, so the kernel cannot hand one out twice.
pub fn free_ports(n: usize) -> Vec<u16> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    let mut g = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let seen = g.get_or_insert_with(HashSet::new);
    for _ in 0..n * 50 {
        if ports.len() == n {
            break;
        }
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local addr").port();
        if seen.insert(port) {
            ports.push(port);
        }
        held.push(l);
    }
    assert_eq!(ports.len(), n, "could not find {n} free loopback ports");
    drop(held);
    ports
}

pub fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// The last `n` bytes of `s` (on a char boundary).
pub fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// One member: its flags, data dir, process and logs.
pub struct Member {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    pub data_dir: PathBuf,
    /// The full command line (without the binary); `restart` reuses it.
    pub args: Vec<String>,
    /// The member ID (0 until the member answered a Status).
    pub id: u64,
    child: Option<Child>,
    runs: usize,
    log_dir: PathBuf,
}

/// etcd's flags for one member.
#[allow(clippy::too_many_arguments)]
pub fn member_args(
    name: &str,
    data_dir: &Path,
    client_port: u16,
    peer_port: u16,
    initial_cluster: &str,
    token: &str,
    state: &str,
    extra: &[String],
) -> Vec<String> {
    let mut a: Vec<String> = [
        "--name",
        name,
        "--data-dir",
        &data_dir.display().to_string(),
        "--listen-client-urls",
        &url(client_port),
        "--advertise-client-urls",
        &url(client_port),
        "--listen-peer-urls",
        &url(peer_port),
        "--initial-advertise-peer-urls",
        &url(peer_port),
        "--initial-cluster",
        initial_cluster,
        "--initial-cluster-token",
        token,
        "--initial-cluster-state",
        state,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().cloned());
    a
}

impl Member {
    /// A member that is not started yet; its logs go to `log_dir`.
    pub fn new(
        name: &str,
        (client_port, peer_port): (u16, u16),
        data_dir: PathBuf,
        args: Vec<String>,
        log_dir: &Path,
    ) -> Member {
        Member {
            name: name.to_string(),
            client_port,
            peer_port,
            data_dir,
            args,
            id: 0,
            child: None,
            runs: 0,
            log_dir: log_dir.to_path_buf(),
        }
    }

    /// Clients with the default per-call timeout.
    pub fn clients(&self) -> Clients {
        clients(self.client_port, RPC_TIMEOUT)
    }

    /// Replaces the value of `flag` in the stored command line.
    pub fn set_flag(&mut self, flag: &str, value: &str) {
        let i = self
            .args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{flag} is not among {:?}", self.args));
        self.args[i + 1] = value.to_string();
    }

    fn log_path(&self, run: usize) -> PathBuf {
        self.log_dir.join(format!("{}-{run}.log", self.name))
    }

    /// How many times the process was started.
    pub fn runs(&self) -> usize {
        self.runs
    }

    /// stderr of the current (or last) run.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path(self.runs)).unwrap_or_default()
    }

    /// Starts the process (a new log file per run).
    pub fn spawn(&mut self, bin: &Path) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        self.runs += 1;
        let err = File::create(self.log_path(self.runs)).expect("create stderr log");
        let child = Command::new(bin)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        self.child = Some(child);
    }

    /// Started by the harness and not seen to exit.
    pub fn is_started(&self) -> bool {
        self.child.is_some()
    }

    /// The exit status if the process has exited (it is then reaped).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        let st = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().expect("try_wait on a member"));
        if st.is_some() {
            self.child = None;
        }
        st
    }

    /// SIGKILL and reap. No-op if not running.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits up to `limit` for the process to exit by itself.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.try_exit() {
                return Some(st);
            }
            if self.child.is_none() || Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM and wait (SIGKILL and panic after [`EXIT_TIMEOUT`]).
    pub async fn stop(&mut self) -> ExitStatus {
        let pid = self.child.as_ref().expect("member is running").id();
        // SAFETY: kill(2) on our own, not yet reaped child.
        let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM {pid}");
        match self.wait_exit(EXIT_TIMEOUT).await {
            Some(st) => st,
            None => {
                self.kill();
                panic!(
                    "{} did not exit within {EXIT_TIMEOUT:?} of SIGTERM; log:\n{}",
                    self.name,
                    tail(&self.log(), 4000)
                );
            }
        }
    }
}

/// Runs `bin args` to its exit: (status, stderr). Panics if it still runs
/// after [`EXIT_TIMEOUT`].
pub async fn run_to_exit(bin: &Path, args: &[String]) -> (ExitStatus, String) {
    let dir = tempfile::tempdir().expect("log dir");
    let mut m = Member::new(
        "probe",
        (0, 0),
        dir.path().join("data"),
        args.to_vec(),
        dir.path(),
    );
    m.spawn(bin);
    match m.wait_exit(EXIT_TIMEOUT).await {
        Some(st) => (st, m.log()),
        None => {
            m.kill();
            panic!(
                "{} {args:?} still ran after {EXIT_TIMEOUT:?}; stderr:\n{}",
                bin.display(),
                tail(&m.log(), 3000)
            );
        }
    }
}
