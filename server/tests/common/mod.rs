//! Test harness: runs the built `oxcd` binary (or real etcd, with the same
//! flags) on free loopback ports, waits until it answers gRPC, captures its
//! stderr, and always stops what it started.

#![allow(dead_code)]

use oxcd_proto::etcdserverpb::kv_client::KvClient;
use oxcd_proto::etcdserverpb::lease_client::LeaseClient;
use oxcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd_proto::etcdserverpb::{PutRequest, RangeRequest, StatusRequest};
use std::collections::HashSet;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};

/// How long a server may take to answer its first request.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a process that should exit on its own may take.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// Upper bound on each gRPC call the tests make.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// The oxcd binary cargo built for these integration tests.
pub fn oxcd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oxcd"))
}

/// Real etcd 3.5.1 if it is installed under `.ci/`. Absent: prints a notice
/// and returns `None`, except when `CI` is set, where its absence fails.
pub fn etcd_bin() -> Option<PathBuf> {
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
    eprintln!(
        "NOTICE: {} not found: skipping the comparison with real etcd 3.5.1",
        p.display()
    );
    None
}

/// Ports handed out by this test process, so two tests never get the same.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port that was free a moment ago and that no other test of this
/// process has been given.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local addr").port();
        drop(l);
        let mut g = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if g.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("no free loopback port found in 100 tries");
}

/// The flags every test server starts with (same spelling for oxcd and etcd).
pub fn base_args(name: &str, data_dir: &Path, client: u16, peer: u16) -> Vec<String> {
    let c = format!("http://127.0.0.1:{client}");
    let p = format!("http://127.0.0.1:{peer}");
    vec![
        "--name".into(),
        name.into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--listen-client-urls".into(),
        c.clone(),
        "--advertise-client-urls".into(),
        c,
        "--listen-peer-urls".into(),
        p.clone(),
        "--initial-advertise-peer-urls".into(),
        p.clone(),
        "--initial-cluster".into(),
        format!("{name}={p}"),
    ]
}

/// gRPC clients over one connection.
#[derive(Clone)]
pub struct Clients {
    pub kv: KvClient<Channel>,
    pub lease: LeaseClient<Channel>,
    pub maint: MaintenanceClient<Channel>,
}

/// Connects to `http://127.0.0.1:port` (a fresh HTTP/2 connection).
pub async fn connect(port: u16) -> Result<Clients, tonic::transport::Error> {
    let ch = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("valid endpoint")
        .connect_timeout(Duration::from_secs(2))
        .timeout(RPC_TIMEOUT)
        .connect()
        .await?;
    Ok(Clients {
        kv: KvClient::new(ch.clone()).max_decoding_message_size(64 << 20),
        lease: LeaseClient::new(ch.clone()),
        maint: MaintenanceClient::new(ch),
    })
}

/// A running server process (oxcd unless started with [`Server::start_bin`]).
pub struct Server {
    pub bin: PathBuf,
    pub name: String,
    pub data_dir: PathBuf,
    pub client_port: u16,
    pub peer_port: u16,
    pub extra: Vec<String>,
    child: Option<Child>,
    logs: tempfile::TempDir,
    runs: usize,
}

pub type Oxcd = Server;

impl Server {
    /// Starts oxcd on `data_dir` with the base flags plus `extra`, and waits
    /// until it serves.
    pub async fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_bin(&oxcd_bin(), data_dir, extra).await
    }

    /// The same with any etcd-compatible binary (real etcd for comparisons).
    pub async fn start_bin(bin: &Path, data_dir: &Path, extra: &[&str]) -> Server {
        let mut s = Server {
            bin: bin.to_path_buf(),
            name: "default".into(),
            data_dir: data_dir.to_path_buf(),
            client_port: free_port(),
            peer_port: free_port(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
            logs: tempfile::tempdir().expect("log dir"),
            runs: 0,
        };
        s.launch().await;
        s
    }

    fn args(&self) -> Vec<String> {
        let mut a = base_args(&self.name, &self.data_dir, self.client_port, self.peer_port);
        a.extend(self.extra.iter().cloned());
        a
    }

    fn log_path(&self, run: usize) -> PathBuf {
        self.logs.path().join(format!("stderr-{run}.log"))
    }

    /// Spawns the process and waits for readiness; retries on new ports if
    /// another process grabbed ours in the meantime.
    async fn launch(&mut self) {
        assert!(self.child.is_none(), "server already running");
        for attempt in 0..3 {
            self.runs += 1;
            let log = self.log_path(self.runs);
            let err = File::create(&log).expect("create stderr log");
            let child = Command::new(&self.bin)
                .args(self.args())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", self.bin.display()));
            self.child = Some(child);
            match self.wait_ready().await {
                Ok(()) => return,
                Err(status) => {
                    let text = self.stderr();
                    let busy = text.to_lowercase().contains("address already in use");
                    if busy && attempt < 2 {
                        eprintln!("port taken, retrying on new ports");
                        self.client_port = free_port();
                        self.peer_port = free_port();
                        continue;
                    }
                    panic!(
                        "{} did not become ready ({status}); stderr:\n{}",
                        self.bin.display(),
                        tail(&text, 4000)
                    );
                }
            }
        }
    }

    /// Ok once a Status or Range succeeds; Err(why) if the process exited or
    /// the deadline passed (the process is then killed).
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(st) = self.try_wait() {
                self.child = None;
                return Err(format!("exited early with {st}"));
            }
            if let Ok(mut c) = connect(self.client_port).await {
                let status = c.maint.status(StatusRequest {}).await;
                let range =
                    c.kv.range(RangeRequest {
                        key: b"\0".to_vec(),
                        count_only: true,
                        ..Default::default()
                    })
                    .await;
                if status.is_ok() || range.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                self.kill9();
                return Err(format!("not ready after {READY_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().expect("try_wait on the server"))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").id()
    }

    /// Is the process still alive?
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_wait().is_none()
    }

    pub async fn clients(&self) -> Clients {
        connect(self.client_port)
            .await
            .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{}: {e}", self.client_port))
    }

    /// SIGKILL and reap. No-op if not running.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait up to [`EXIT_TIMEOUT`] (SIGKILL and panic after).
    /// Async so that clients on this runtime can see the connection close.
    pub async fn stop(&mut self) -> ExitStatus {
        let pid = self.pid();
        let ok = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(ok.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            if let Some(st) = self.try_wait() {
                self.child = None;
                return st;
            }
            if Instant::now() > deadline {
                self.kill9();
                panic!(
                    "server did not exit within {EXIT_TIMEOUT:?} of SIGTERM; stderr:\n{}",
                    tail(&self.stderr(), 4000)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts again on the same data dir, ports and flags.
    pub async fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "stop or kill the server before restart"
        );
        self.launch().await;
    }

    /// stderr of the current (or last) run.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log_path(self.runs)).unwrap_or_default()
    }

    /// stderr of every run so far, concatenated.
    pub fn all_stderr(&self) -> String {
        (1..=self.runs)
            .map(|r| std::fs::read_to_string(self.log_path(r)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Fails if any run so far panicked.
    pub fn assert_no_panic(&self) {
        let all = self.all_stderr();
        assert!(
            !all.contains("panicked"),
            "server panicked; stderr:\n{}",
            tail(&all, 4000)
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits for a child with a deadline; `None` if it is still running.
pub fn wait_timeout(c: &mut Child, t: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + t;
    loop {
        if let Some(st) = c.try_wait().expect("try_wait") {
            return Some(st);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a server that is expected to exit by itself (bad flags, damaged data
/// dir): returns its status and stderr. Fails if it is still up after
/// [`EXIT_TIMEOUT`].
pub fn run_to_exit(bin: &Path, args: &[String]) -> (ExitStatus, String) {
    match try_run_to_exit(bin, args) {
        (Some(st), text) => (st, text),
        (None, text) => panic!(
            "{} {:?} was still running after {EXIT_TIMEOUT:?}; stderr:\n{}",
            bin.display(),
            args,
            tail(&text, 4000)
        ),
    }
}

/// The same, but `None` (after killing it) if it was still running after
/// [`EXIT_TIMEOUT`].
pub fn try_run_to_exit(bin: &Path, args: &[String]) -> (Option<ExitStatus>, String) {
    let logs = tempfile::tempdir().expect("log dir");
    let log = logs.path().join("stderr.log");
    let err = File::create(&log).expect("stderr log");
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let st = wait_timeout(&mut child, EXIT_TIMEOUT);
    if st.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    (st, std::fs::read_to_string(&log).unwrap_or_default())
}

/// The last `n` bytes of `s` (on a char boundary).
pub fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Runs a test body with a hard deadline.
pub async fn bounded<F: std::future::Future>(limit: Duration, f: F) -> F::Output {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("test exceeded its time limit of {limit:?}"),
    }
}

/// A put that must succeed; returns the response's header revision.
pub async fn put(c: &mut Clients, key: &str, value: &str) -> i64 {
    let r =
        c.kv.put(PutRequest {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e}"))
        .into_inner();
    r.header.expect("put response has a header").revision
}

/// Every key (from "\0" to the end) with its values, at the current revision.
pub async fn range_all(c: &mut Clients) -> oxcd_proto::etcdserverpb::RangeResponse {
    c.kv.range(RangeRequest {
        key: b"\0".to_vec(),
        range_end: b"\0".to_vec(),
        ..Default::default()
    })
    .await
    .expect("range over all keys")
    .into_inner()
}

/// The header revision the server reports now.
pub async fn current_rev(c: &mut Clients) -> i64 {
    let r =
        c.kv.range(RangeRequest {
            key: b"\0".to_vec(),
            count_only: true,
            ..Default::default()
        })
        .await
        .expect("range for the current revision")
        .into_inner();
    r.header.expect("header").revision
}

/// A small deterministic PRNG (xorshift64*), so runs are reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}
