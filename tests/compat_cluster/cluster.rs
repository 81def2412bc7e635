//! A three-member cluster (real etcd 3.5.1 or `oxcd`) on 127.0.0.1.
//!
//! Every member gets the seed's flags: `--name mK`, its own data dir,
//! client and peer URLs on free ports (listen = advertise),
//! `--initial-cluster m1=…,m2=…,m3=…`, `--initial-cluster-token T` and
//! `--initial-cluster-state new`.
//!
//! Stable layout: member IDs are derived from the peer URLs and the token
//! (etcd's `computeMemberID`), and etcd lists members in ID order. The
//! harness picks the token so that `ID(m1) < ID(m2) < ID(m3)` and every ID
//! has 16 hex digits, so the member list order (and the width of every
//! table's ID column) is the same in each run, whatever ports were free.
//!
//! Stable leader: once elected, the leadership is moved to `m1`
//! (`etcdctl move-leader`), so `is leader` columns are comparable between
//! runs. [`Cluster::leader_term`] lets the runner detect a re-election during
//! a run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::common::{self, ServerKind};

pub const NAMES: [&str; 3] = ["m1", "m2", "m3"];

/// How long a cluster may take to elect a leader, publish its members and
/// move the leadership.
const START_TIMEOUT: Duration = Duration::from_secs(40);

/// Keys written after the start (by the real etcdctl, through `m1`), so that
/// revisions and KV hashes are not those of an empty store.
pub const SETUP_PUTS: [(&str, &str); 2] = [("k1", "v1"), ("k2", "v2")];

pub struct Member {
    pub name: &'static str,
    pub id: u64,
    pub client_port: u16,
    pub peer_port: u16,
    pub data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Member {
    /// `127.0.0.1:<client port>`, the spelling used in `--endpoints`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }
    pub fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }
}

pub struct Cluster {
    pub kind: ServerKind,
    pub cluster_id: u64,
    pub members: Vec<Member>,
    dir: tempfile::TempDir,
}

/// What `etcdctl endpoint status -w json` says about one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberStatus {
    pub member_id: u64,
    pub leader: u64,
    pub revision: i64,
    pub raft_term: u64,
    pub raft_index: u64,
    pub raft_applied_index: u64,
}

/// `--dial-timeout`/`--command-timeout` for the harness's own probes.
const PROBE_FLAGS: [&str; 2] = ["--dial-timeout=1s", "--command-timeout=2s"];

fn etcdctl(args: &[&str]) -> common::Output {
    common::run(&common::real_etcdctl(), None, args, None, &[])
}

/// Free ports (5 digits, so that endpoint columns keep their width) and a
/// token giving ordered, 16-hex-digit member IDs.
fn pick_layout() -> ([u16; 6], String, [u64; 3]) {
    loop {
        let ports = common::free_ports::<6>();
        if ports.iter().any(|&p| p < 10000) {
            continue;
        }
        for n in 0..1000 {
            let token = format!("compat-cluster-{n}");
            let ids: [u64; 3] = std::array::from_fn(|i| {
                etcd_format::member::member_id(
                    &[format!("http://127.0.0.1:{}", ports[3 + i])],
                    &token,
                )
            });
            if ids[0] < ids[1] && ids[1] < ids[2] && ids.iter().all(|&id| id >> 60 != 0) {
                return (ports, token, ids);
            }
        }
    }
}

impl Cluster {
    /// Starts three members of `kind`, waits for a leader, moves it to `m1`,
    /// writes [`SETUP_PUTS`] and waits until every member applied them.
    /// Panics (after killing every member) with the members' logs when the
    /// cluster does not come up; a lost port race is retried.
    pub fn start(kind: ServerKind) -> Cluster {
        let mut attempt = 1;
        loop {
            let mut c = Cluster::spawn(kind);
            match c.wait_ready() {
                Ok(()) => return c,
                Err(msg) => {
                    let logs = c.logs();
                    drop(c);
                    let port_race = logs.to_lowercase().contains("address already in use");
                    if port_race && attempt < 3 {
                        eprintln!("{} cluster lost a port race, retrying: {msg}", kind.name());
                        attempt += 1;
                        continue;
                    }
                    panic!(
                        "the three-member {} cluster did not come up: {msg}\n{logs}",
                        kind.name()
                    );
                }
            }
        }
    }

    fn spawn(kind: ServerKind) -> Cluster {
        let bin = match kind {
            ServerKind::RealEtcd => common::real_etcd(),
            ServerKind::Oxcd => common::oxcd_bin(),
        };
        let dir = tempfile::Builder::new()
            .prefix(&format!("compat-cluster-{}-", kind.name()))
            .tempdir()
            .expect("create a temp dir for the cluster");
        let (ports, token, ids) = pick_layout();
        let mut members: Vec<Member> = (0..3)
            .map(|i| Member {
                name: NAMES[i],
                id: ids[i],
                client_port: ports[i],
                peer_port: ports[3 + i],
                data_dir: dir.path().join(format!("{}.etcd", NAMES[i])),
                log: dir.path().join(format!("{}.log", NAMES[i])),
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        for m in &mut members {
            let client_url = format!("http://{}", m.endpoint());
            let log = std::fs::File::create(&m.log).expect("create a member log file");
            let mut cmd = Command::new(&bin);
            cmd.args(["--name", m.name])
                .arg("--data-dir")
                .arg(&m.data_dir)
                .args(["--listen-client-urls", &client_url])
                .args(["--advertise-client-urls", &client_url])
                .args(["--listen-peer-urls", &m.peer_url()])
                .args(["--initial-advertise-peer-urls", &m.peer_url()])
                .args(["--initial-cluster", &initial_cluster])
                .args(["--initial-cluster-token", &token])
                .args(["--initial-cluster-state", "new"])
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone the log file handle"))
                .stderr(log);
            // etcd reads every ETCD_* variable as a flag; keep the parent's out.
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("ETCD") {
                    cmd.env_remove(&key);
                }
            }
            let child = cmd.spawn().unwrap_or_else(|e| {
                panic!("failed to spawn {} ({}): {e}", kind.name(), bin.display())
            });
            m.child = Some(child);
        }
        let cluster_id = etcd_format::member::cluster_id(&ids);
        Cluster {
            kind,
            cluster_id,
            members,
            dir,
        }
    }

    /// The cluster's temporary directory (data dirs and logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every member's endpoint, comma-separated, in name order.
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(Member::endpoint)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Fails when a member process has exited.
    fn check_alive(&mut self) -> Result<(), String> {
        let kind = self.kind.name();
        for m in &mut self.members {
            if let Some(child) = &mut m.child {
                if let Some(status) = child.try_wait().expect("try_wait on a member") {
                    return Err(format!("{kind} member {} exited with {status}", m.name));
                }
            }
        }
        Ok(())
    }

    /// One member's status, asked with the real etcdctl.
    pub fn status(&self, i: usize) -> Option<MemberStatus> {
        let ep = format!("--endpoints={}", self.members[i].endpoint());
        let out = etcdctl(&[
            &ep,
            PROBE_FLAGS[0],
            PROBE_FLAGS[1],
            "endpoint",
            "status",
            "-w",
            "json",
        ]);
        if out.code != 0 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let s = v.get(0)?.get("Status")?;
        let num = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_u64);
        Some(MemberStatus {
            member_id: num(s.pointer("/header/member_id"))?,
            leader: num(s.get("leader")).unwrap_or(0),
            revision: num(s.pointer("/header/revision")).unwrap_or(0) as i64,
            raft_term: num(s.get("raftTerm")).unwrap_or(0),
            raft_index: num(s.get("raftIndex")).unwrap_or(0),
            raft_applied_index: num(s.get("raftAppliedIndex")).unwrap_or(0),
        })
    }

    /// The statuses of the running members (not those [`Cluster::kill`]ed).
    pub fn statuses(&self) -> Option<Vec<MemberStatus>> {
        (0..self.members.len())
            .filter(|&i| self.members[i].child.is_some())
            .map(|i| self.status(i))
            .collect()
    }

    /// SIGKILLs member `i` (it stays in the member list).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `(leader index, term)` when every running member answers and names
    /// the same leader at the same term.
    pub fn leader_term(&self) -> Option<(usize, u64)> {
        let st = self.statuses()?;
        let (leader, term) = (st[0].leader, st[0].raft_term);
        if leader == 0 || st.iter().any(|s| s.leader != leader || s.raft_term != term) {
            return None;
        }
        let idx = self.members.iter().position(|m| m.id == leader)?;
        Some((idx, term))
    }

    /// Polls `f` every 100 ms until it returns Some, a member dies or the
    /// deadline passes.
    fn wait_for<T>(
        &mut self,
        deadline: Instant,
        what: &str,
        mut f: impl FnMut(&Cluster) -> Option<T>,
    ) -> Result<T, String> {
        loop {
            self.check_alive()?;
            if let Some(v) = f(self) {
                return Ok(v);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "timed out after {START_TIMEOUT:?} waiting for {what}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Moves the leadership to `m1` (if needed) and waits until every member
    /// agrees. Returns the term.
    pub fn ensure_leader_m1(&mut self) -> Result<u64, String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let (leader, term) =
                self.wait_for(deadline, "an agreed leader", Cluster::leader_term)?;
            if leader == 0 {
                return Ok(term);
            }
            let ep = format!("--endpoints={}", self.members[leader].endpoint());
            let target = format!("{:x}", self.members[0].id);
            let out = etcdctl(&[&ep, PROBE_FLAGS[0], "move-leader", &target]);
            if out.code != 0 {
                if Instant::now() > deadline {
                    return Err(format!(
                        "move-leader to m1 failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        // Every member has published its name and client URLs.
        let m1 = format!("--endpoints={}", self.members[0].endpoint());
        self.wait_for(deadline, "all members in the member list", |_| {
            let out = etcdctl(&[
                &m1,
                PROBE_FLAGS[0],
                PROBE_FLAGS[1],
                "member",
                "list",
                "-w",
                "json",
            ]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            let members = v.get("members")?.as_array()?;
            let published = members.len() == 3
                && members.iter().all(|m| {
                    m.get("name").is_some_and(|n| n.as_str() != Some(""))
                        && m.get("clientURLs").is_some()
                });
            published.then_some(())
        })?;
        self.ensure_leader_m1()?;
        for (k, v) in SETUP_PUTS {
            let out = etcdctl(&[&m1, PROBE_FLAGS[0], PROBE_FLAGS[1], "put", k, v]);
            if out.code != 0 {
                return Err(format!(
                    "setup `put {k} {v}` failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        // Every member applied the setup writes.
        let want = 1 + SETUP_PUTS.len() as i64;
        self.wait_for(deadline, "every member at the setup revision", |c| {
            let st = c.statuses()?;
            st.iter().all(|s| s.revision == want).then_some(())
        })?;
        Ok(())
    }

    /// The members' logs (last 40 lines each).
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for m in &self.members {
            let text = std::fs::read(&m.log)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|e| format!("<cannot read {}: {e}>", m.log.display()));
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            s.push_str(&format!(
                "---- {} {} ({}), last lines of its log ----\n{tail}\n",
                self.kind.name(),
                m.name,
                m.endpoint()
            ));
        }
        s
    }

    fn stop(&mut self) {
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "==== logs of the {} cluster ====\n{}",
                self.kind.name(),
                self.logs()
            );
        }
        self.stop();
    }
}
