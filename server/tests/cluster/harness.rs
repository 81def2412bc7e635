//! A cluster of N member processes on loopback (`testkit`: real etcd 3.5.1
//! or oxcd, started with the same etcd flags, each with its own data dir and
//! a captured stderr log per run), polled over gRPC. Everything it started
//! is SIGKILLed on drop; on a failing test the tail of every member's log is
//! printed first.

use oxcd_proto::etcdserverpb::cluster_client::ClusterClient;
use oxcd_proto::etcdserverpb::kv_client::KvClient;
use oxcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd_proto::etcdserverpb::{
    HashKvRequest, MemberListRequest, PutRequest, RangeRequest, StatusRequest, StatusResponse,
};
use std::future::Future;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};
use testkit::netproxy::PeerProxy;
pub use testkit::process::EXIT_TIMEOUT;
use testkit::wait::{retry_or_panic, StartFailure};
pub use testkit::{free_ports, run_to_exit_async as run_to_exit, tail, url, Kind};
use testkit::{Flags, Proc};
use tonic::transport::{Channel, Endpoint};

/// Bootstrap until every member agrees on a leader (includes the first
/// election).
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// A leader election after a failure.
pub const ELECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// A restarted or new member reaching the leader's index.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// Each gRPC call the tests make (polls use a shorter one).
pub const RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// gRPC clients over one lazily connected channel (a dead endpoint fails each
/// call quickly instead of failing the construction).
#[derive(Clone)]
pub struct Clients {
    pub kv: KvClient<Channel>,
    pub maint: MaintenanceClient<Channel>,
    pub cluster: ClusterClient<Channel>,
}

pub fn clients(port: u16, timeout: Duration) -> Clients {
    let ch = Endpoint::from_shared(url(port))
        .expect("valid endpoint")
        .connect_timeout(Duration::from_secs(1))
        .timeout(timeout)
        .connect_lazy();
    Clients {
        kv: KvClient::new(ch.clone()).max_decoding_message_size(256 << 20),
        maint: MaintenanceClient::new(ch.clone()),
        cluster: ClusterClient::new(ch),
    }
}

/// Polls `f` every 100 ms until it returns `Ok`, panicking with its last
/// error after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    match testkit::wait::poll_async(what, limit, Duration::from_millis(100), f).await {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// N members of one kind, bootstrapped together.
pub struct Cluster {
    pub kind: Kind,
    pub bin: PathBuf,
    pub token: String,
    pub members: Vec<Member>,
    /// Peer traffic goes through this when started by
    /// [`Cluster::start_proxied`].
    pub proxy: Option<PeerProxy>,
    root: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` members (`m1`..`mn`) with `extra` flags on each, and waits
    /// until all agree on a leader. Retries on new ports if another process
    /// took one of ours between picking and binding.
    pub async fn start(kind: Kind, n: usize, extra: &[&str]) -> Cluster {
        Cluster::start_inner(kind, n, extra, false).await
    }

    /// [`Cluster::start`] with every member's peer traffic through a
    /// [`PeerProxy`] (each member advertises the proxy's port), so tests can
    /// cut, delay or reset the links between members.
    pub async fn start_proxied(kind: Kind, n: usize, extra: &[&str]) -> Cluster {
        Cluster::start_inner(kind, n, extra, true).await
    }

    async fn start_inner(kind: Kind, n: usize, extra: &[&str], proxied: bool) -> Cluster {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let root = tempfile::tempdir().expect("cluster temp dir");
        let mut c = Cluster {
            kind,
            bin: kind.binary(),
            token: format!("oxcd-test-{}", std::process::id()),
            members: Vec::new(),
            proxy: None,
            root,
        };
        for attempt in 1.. {
            let mut flags =
                Flags::cluster(n, c.root.path(), &format!("-a{attempt}.data"), &c.token);
            if proxied {
                let targets: Vec<u16> = flags.iter().map(|f| f.peer_port).collect();
                let proxy = PeerProxy::start(&targets)
                    .await
                    .expect("start the peer proxy");
                let ic = flags
                    .iter()
                    .enumerate()
                    .map(|(i, f)| format!("{}={}", f.name, url(proxy.port(i))))
                    .collect::<Vec<_>>()
                    .join(",");
                for (i, f) in flags.iter_mut().enumerate() {
                    f.advertise_peer = Some(url(proxy.port(i)));
                    f.initial_cluster = Some(ic.clone());
                }
                c.proxy = Some(proxy);
            }
            c.members = flags
                .into_iter()
                .map(|f| Member::new(&c.bin, f.with_extra(&extra), c.root.path()))
                .collect();
            for i in 0..n {
                c.restart(i);
            }
            let all: Vec<usize> = (0..n).collect();
            match c.try_wait_leader(&all, READY_TIMEOUT).await {
                Ok(_) => return c,
                Err(msg) => {
                    let logs = c
                        .members
                        .iter()
                        .map(Member::log)
                        .collect::<Vec<_>>()
                        .join("\n");
                    for m in &mut c.members {
                        m.kill();
                    }
                    retry_or_panic(
                        &format!("{kind:?} cluster of {n}"),
                        attempt,
                        StartFailure { msg, logs },
                    );
                }
            }
        }
        unreachable!()
    }

    /// Members started by the harness and not seen to exit.
    pub fn started(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| self.members[i].is_started())
            .collect()
    }

    pub fn index_of(&self, id: u64) -> Option<usize> {
        self.members.iter().position(|m| m.id == id && id != 0)
    }

    /// Status of member `i` (short timeout: used for polling).
    pub async fn status(&self, i: usize) -> Result<StatusResponse, tonic::Status> {
        let mut c = clients(self.members[i].client_port, Duration::from_secs(2));
        c.maint
            .status(StatusRequest {})
            .await
            .map(|r| r.into_inner())
    }

    /// Ok(leader index) once every member in `among` reports the same
    /// non-zero leader and that leader is one of them; Err if one of them
    /// exited or `limit` passed.
    async fn try_wait_leader(&mut self, among: &[usize], limit: Duration) -> Result<usize, String> {
        let deadline = Instant::now() + limit;
        let mut last = String::new();
        loop {
            for &i in among {
                if let Some(st) = self.members[i].try_exit() {
                    return Err(format!(
                        "{} exited with {st}; log:\n{}",
                        self.members[i].name,
                        tail(&self.members[i].log(), 3000)
                    ));
                }
                if !self.members[i].is_started() {
                    return Err(format!("{} is not running", self.members[i].name));
                }
            }
            let mut leaders = Vec::new();
            for &i in among {
                match self.status(i).await {
                    Ok(s) => {
                        if let Some(h) = &s.header {
                            self.members[i].id = h.member_id;
                        }
                        leaders.push(s.leader);
                    }
                    Err(e) => {
                        last = format!("{}: {}", self.members[i].name, e.message());
                        leaders.push(0);
                    }
                }
            }
            let l = leaders[0];
            if l != 0 && leaders.iter().all(|&x| x == l) {
                if let Some(li) = among.iter().copied().find(|&i| self.members[i].id == l) {
                    return Ok(li);
                }
                last = format!("leader {l:x} is not among the members polled");
            } else if last.is_empty() || leaders.iter().all(|&x| x != 0) {
                last = format!("leaders reported: {leaders:x?}");
            }
            if Instant::now() > deadline {
                return Err(format!("no common leader after {limit:?}; {last}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the members in `among` agree on a leader among them;
    /// returns its index.
    pub async fn wait_leader_among(&mut self, among: &[usize], limit: Duration) -> usize {
        match self.try_wait_leader(among, limit).await {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        }
    }

    /// Every running member reports the same non-zero leader.
    pub async fn wait_ready(&mut self) -> usize {
        let all = self.started();
        self.wait_leader_among(&all, READY_TIMEOUT).await
    }

    /// The leader's index (waits for agreement among the running members).
    pub async fn leader(&mut self) -> usize {
        let all = self.started();
        self.wait_leader_among(&all, ELECTION_TIMEOUT).await
    }

    /// Running members other than the leader.
    pub async fn followers(&mut self) -> Vec<usize> {
        let l = self.leader().await;
        self.started().into_iter().filter(|&i| i != l).collect()
    }

    /// SIGKILL member `i`.
    pub fn kill(&mut self, i: usize) {
        self.members[i].kill();
    }

    /// SIGTERM member `i` and wait for it to exit.
    pub async fn stop(&mut self, i: usize) -> ExitStatus {
        self.members[i].stop().await
    }

    /// Starts member `i` again: same flags, same data dir (etcd ignores
    /// `--initial-cluster-state` once a WAL exists). Does not wait.
    pub fn restart(&mut self, i: usize) {
        self.members[i].spawn();
        if let Some(p) = &self.proxy {
            p.set_pid(i, Some(self.members[i].proc.pid()));
        }
    }

    /// SIGSTOP member `i`: it neither answers nor sends until resumed.
    pub fn pause(&mut self, i: usize) {
        self.members[i].proc.signal(libc::SIGSTOP);
    }

    /// SIGCONT member `i`.
    pub fn resume(&mut self, i: usize) {
        self.members[i].proc.signal(libc::SIGCONT);
    }

    /// A client and a peer port for a member that is not started yet.
    pub fn reserve_ports(&self) -> (u16, u16) {
        let p = free_ports(2);
        (p[0], p[1])
    }

    /// Starts one more process (after MemberAdd) with the given
    /// `--initial-cluster` and state; returns its index. Does not wait.
    pub fn add_member_process(
        &mut self,
        name: &str,
        (client_port, peer_port): (u16, u16),
        initial_cluster: &str,
        state: &str,
        extra: &[&str],
    ) -> usize {
        let f = Flags {
            initial_cluster: Some(initial_cluster.to_string()),
            token: Some(self.token.clone()),
            state: Some(state.to_string()),
            ..Flags::new(
                name,
                &self.root.path().join(format!("{name}.data")),
                client_port,
                peer_port,
            )
        };
        let m = Member::new(&self.bin, f.with_extra(extra), self.root.path());
        self.members.push(m);
        let i = self.members.len() - 1;
        self.restart(i);
        i
    }

    /// Member `i`'s `raft_applied_index` reaches the leader's `raft_index`,
    /// then every running member has the same HashKV at one revision.
    pub async fn wait_caught_up(&mut self, i: usize) {
        let l = self.wait_ready().await;
        let target = self
            .status(l)
            .await
            .unwrap_or_else(|e| panic!("status of the leader: {}", e.message()))
            .raft_index;
        let name = self.members[i].name.clone();
        let this = &*self;
        eventually(
            &format!("{name} reaching the leader's raft index {target}"),
            CATCH_UP_TIMEOUT,
            || async move {
                let s = this.status(i).await.map_err(|e| e.message().to_string())?;
                if s.raft_applied_index >= target {
                    Ok(())
                } else {
                    Err(format!("raft_applied_index {}", s.raft_applied_index))
                }
            },
        )
        .await;
        self.assert_hashkv_equal().await;
    }

    /// HashKV (hash and compact revision) is equal on every running member
    /// at the leader's current revision.
    pub async fn assert_hashkv_equal(&mut self) {
        let l = self.leader().await;
        let rev = self.current_rev(l).await;
        let mut seen = Vec::new();
        for i in self.started() {
            let port = self.members[i].client_port;
            let name = self.members[i].name.clone();
            let h = eventually(
                &format!("HashKV at {rev} on {name}"),
                CATCH_UP_TIMEOUT,
                || async move {
                    clients(port, RPC_TIMEOUT)
                        .maint
                        .hash_kv(HashKvRequest { revision: rev })
                        .await
                        .map(|r| r.into_inner())
                        .map_err(|e| e.message().to_string())
                },
            )
            .await;
            seen.push((name, h.hash, h.compact_revision));
        }
        assert!(
            seen.iter().all(|s| (s.1, s.2) == (seen[0].1, seen[0].2)),
            "HashKV at revision {rev} differs: {seen:?}"
        );
    }

    /// The header revision member `i` reports (a linearizable read).
    pub async fn current_rev(&self, i: usize) -> i64 {
        let r = self.members[i]
            .clients()
            .kv
            .range(RangeRequest {
                key: b"\0".to_vec(),
                count_only: true,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("range on {}: {}", self.members[i].name, e.message()))
            .into_inner();
        r.header.expect("header").revision
    }

    /// A put on member `i` that must succeed; returns the header revision.
    pub async fn put(&self, i: usize, key: &str, value: &str) -> i64 {
        put(&mut self.members[i].clients(), key, value)
            .await
            .unwrap_or_else(|e| panic!("put {key} on {}: {e}", self.members[i].name))
    }

    /// A linearizable get on member `i`: the value, if the key exists.
    pub async fn get(&self, i: usize, key: &str) -> Option<String> {
        get(&mut self.members[i].clients(), key)
            .await
            .unwrap_or_else(|e| panic!("get {key} on {}: {e}", self.members[i].name))
    }

    /// Member list (linearizable) as seen by member `i`.
    pub async fn member_list(&self, i: usize) -> Vec<oxcd_proto::etcdserverpb::Member> {
        self.members[i]
            .clients()
            .cluster
            .member_list(MemberListRequest { linearizable: true })
            .await
            .unwrap_or_else(|e| panic!("member list on {}: {}", self.members[i].name, e.message()))
            .into_inner()
            .members
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.kill();
        }
        if std::thread::panicking() {
            for m in &self.members {
                eprintln!(
                    "----- {} ({:?}, client {}, peer {}), last of {} run(s):\n{}",
                    m.name,
                    self.kind,
                    m.client_port,
                    m.peer_port,
                    m.runs(),
                    tail(&m.log(), 3000)
                );
            }
        }
    }
}

/// A put; Ok(header revision) or the gRPC error message.
pub async fn put(c: &mut Clients, key: &str, value: &str) -> Result<i64, String> {
    let r =
        c.kv.put(PutRequest {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            ..Default::default()
        })
        .await
        .map_err(|e| e.message().to_string())?
        .into_inner();
    Ok(r.header.map(|h| h.revision).unwrap_or(0))
}

/// A linearizable get; Ok(value if the key exists) or the gRPC error message.
pub async fn get(c: &mut Clients, key: &str) -> Result<Option<String>, String> {
    let r =
        c.kv.range(RangeRequest {
            key: key.as_bytes().to_vec(),
            ..Default::default()
        })
        .await
        .map_err(|e| e.message().to_string())?
        .into_inner();
    Ok(r.kvs
        .first()
        .map(|kv| String::from_utf8_lossy(&kv.value).into_owned()))
}

/// One member: its identity, ports, data dir and process (whose stored
/// command line `restart` reuses).
pub struct Member {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    pub data_dir: PathBuf,
    /// The member ID (0 until the member answered a Status).
    pub id: u64,
    proc: Proc,
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
    Flags {
        initial_cluster: Some(initial_cluster.to_string()),
        token: Some(token.to_string()),
        state: Some(state.to_string()),
        ..Flags::new(name, data_dir, client_port, peer_port)
    }
    .with_extra(extra)
    .args()
}

impl Member {
    /// A member running `bin` with `flags`, not started yet; its logs go to
    /// `log_dir`.
    pub fn new(bin: &Path, flags: Flags, log_dir: &Path) -> Member {
        Member {
            name: flags.name.clone(),
            client_port: flags.client_port,
            peer_port: flags.peer_port,
            data_dir: flags.data_dir.clone(),
            id: 0,
            // The cluster prints every member's log on a failing test.
            proc: Proc::new(&flags.name, bin, flags.args(), Some(log_dir)).quiet(),
        }
    }

    /// Clients with the default per-call timeout.
    pub fn clients(&self) -> Clients {
        clients(self.client_port, RPC_TIMEOUT)
    }

    /// Replaces the value of `flag` in the stored command line.
    pub fn set_flag(&mut self, flag: &str, value: &str) {
        self.proc.set_flag(flag, value);
    }

    /// Adds (or drops) a boolean flag such as `--force-new-cluster` for
    /// the next runs.
    pub fn set_switch(&mut self, flag: &str, on: bool) {
        self.proc.args.retain(|a| a != flag);
        if on {
            self.proc.args.push(flag.to_string());
        }
    }

    /// How many times the process was started.
    pub fn runs(&self) -> usize {
        self.proc.runs()
    }

    /// stderr of the current (or last) run.
    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// Starts the process (a new log file per run).
    pub fn spawn(&mut self) {
        self.proc.spawn();
    }

    /// Started by the harness and not seen to exit.
    pub fn is_started(&self) -> bool {
        self.proc.is_started()
    }

    /// The exit status if the process has exited (it is then reaped).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.proc.try_exit()
    }

    /// SIGKILL and reap. No-op if not running.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// Waits up to `limit` for the process to exit by itself.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.proc.wait_exit_async(limit).await
    }

    /// SIGTERM and wait (SIGKILL and panic after [`EXIT_TIMEOUT`]).
    pub async fn stop(&mut self) -> ExitStatus {
        self.proc.stop_async().await
    }
}
