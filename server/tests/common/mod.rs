//! Shared by the single-server suites (`bad_input`, `durability`,
//! `etcd_data`, `mvcc`): an oxcd (or real etcd, with the same flags) started
//! through `testkit` and waited for over gRPC, gRPC clients, and small
//! request helpers.

#![allow(dead_code)]

use oxcd_proto::etcdserverpb::kv_client::KvClient;
use oxcd_proto::etcdserverpb::lease_client::LeaseClient;
use oxcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd_proto::etcdserverpb::{PutRequest, RangeRequest, StatusRequest};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;
use testkit::wait::{retry_or_panic, StartFailure};
use testkit::{Flags, Proc};
use tonic::transport::{Channel, Endpoint};

// Not every suite uses each of these.
#[allow(unused_imports)]
pub use testkit::process::EXIT_TIMEOUT;
#[allow(unused_imports)]
pub use testkit::{free_port, run_to_exit, tail, try_run_to_exit};

/// How long a server may take to answer its first request.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Upper bound on each gRPC call the tests make.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// The built oxcd.
pub fn oxcd_bin() -> PathBuf {
    testkit::bins::oxcd()
}

/// Real etcd 3.5.1, or `None` (SKIPPED, a failure under `CI`) when it is not
/// installed: see `testkit::bins`.
pub fn etcd_bin() -> Option<PathBuf> {
    let test = std::thread::current().name().unwrap_or("test").to_string();
    testkit::bins::etcd_available(&test).then(testkit::bins::etcd)
}

/// The flags every test server starts with (same spelling for oxcd and etcd).
pub fn base_args(name: &str, data_dir: &Path, client: u16, peer: u16) -> Vec<String> {
    Flags::new(name, data_dir, client, peer).args()
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
    proc: Proc,
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
        let [client_port, peer_port] = testkit::ports::free_port_array::<2>();
        let mut s = Server {
            bin: bin.to_path_buf(),
            name: "default".into(),
            data_dir: data_dir.to_path_buf(),
            client_port,
            peer_port,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            proc: Proc::new("server", bin, Vec::new(), None),
        };
        s.launch().await;
        s
    }

    fn args(&self) -> Vec<String> {
        Flags::new(&self.name, &self.data_dir, self.client_port, self.peer_port)
            .with_extra(&self.extra)
            .args()
    }

    /// Spawns the process and waits for readiness; retries on new ports if
    /// another process grabbed ours in the meantime.
    async fn launch(&mut self) {
        assert!(!self.proc.is_started(), "server already running");
        let what = self.bin.display().to_string();
        for attempt in 1.. {
            self.proc.args = self.args();
            self.proc.spawn();
            match self.wait_ready().await {
                Ok(()) => return,
                Err(msg) => {
                    let logs = format!("stderr:\n{}", tail(&self.stderr(), 4000));
                    retry_or_panic(&what, attempt, StartFailure { msg, logs });
                    [self.client_port, self.peer_port] = testkit::ports::free_port_array::<2>();
                }
            }
        }
    }

    /// Ok once a Status or Range succeeds; Err(why) if the process exited or
    /// the deadline passed (the process is then killed).
    async fn wait_ready(&mut self) -> Result<(), String> {
        let port = self.client_port;
        let proc = &mut self.proc;
        let r =
            testkit::wait::poll_async("ready", READY_TIMEOUT, Duration::from_millis(50), || {
                let exited = proc.try_exit();
                async move {
                    if let Some(st) = exited {
                        return Ok(Err(format!("exited early with {st}")));
                    }
                    let mut c = connect(port).await.map_err(|e| e.to_string())?;
                    let status = c.maint.status(StatusRequest {}).await;
                    let range =
                        c.kv.range(RangeRequest {
                            key: b"\0".to_vec(),
                            count_only: true,
                            ..Default::default()
                        })
                        .await;
                    if status.is_ok() || range.is_ok() {
                        Ok(Ok(()))
                    } else {
                        Err("no answer".to_string())
                    }
                }
            })
            .await;
        match r {
            Ok(r) => r,
            Err(_) => {
                self.kill9();
                Err(format!("not ready after {READY_TIMEOUT:?}"))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Is the process still alive?
    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    pub async fn clients(&self) -> Clients {
        connect(self.client_port)
            .await
            .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{}: {e}", self.client_port))
    }

    /// SIGKILL and reap. No-op if not running.
    pub fn kill9(&mut self) {
        self.proc.kill();
    }

    /// SIGTERM, then wait up to [`EXIT_TIMEOUT`] (SIGKILL and panic after).
    /// Async so that clients on this runtime can see the connection close.
    pub async fn stop(&mut self) -> ExitStatus {
        self.proc.stop_async().await
    }

    /// Starts again on the same data dir, ports and flags.
    pub async fn restart(&mut self) {
        assert!(
            !self.proc.is_started(),
            "stop or kill the server before restart"
        );
        self.launch().await;
    }

    /// stderr of the current (or last) run.
    pub fn stderr(&self) -> String {
        self.proc.log()
    }

    /// stdout of the current (or last) run.
    pub fn stdout(&self) -> String {
        self.proc.stdout()
    }

    /// stderr of every run so far, concatenated.
    pub fn all_stderr(&self) -> String {
        self.proc.all_logs()
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
