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

use std::path::Path;
use std::time::{Duration, Instant};

use testkit::wait::{start_retrying, StartFailure};
use testkit::{Flags, Proc};

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
    /// Not started once [`Cluster::kill`]ed.
    proc: Proc,
}

impl Member {
    /// `127.0.0.1:<client port>`, the spelling used in `--endpoints`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
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
    common::run(&testkit::bins::etcdctl(), None, args, None, &[])
}

/// Free ports (5 digits, so that endpoint columns keep their width) and a
/// token giving ordered, 16-hex-digit member IDs.
fn pick_layout() -> ([u16; 6], String, [u64; 3]) {
    loop {
        let p = testkit::ports::free_ports_from(6, 10000);
        let ports: [u16; 6] = std::array::from_fn(|i| p[i]);
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
        let what = format!("the three-member {} cluster", kind.name());
        start_retrying(&what, |_| {
            let mut c = Cluster::spawn(kind);
            match c.wait_ready() {
                Ok(()) => Ok(c),
                // Dropping `c` kills every member.
                Err(msg) => Err(StartFailure {
                    msg,
                    logs: c.logs(),
                }),
            }
        })
    }

    fn spawn(kind: ServerKind) -> Cluster {
        let bin = kind.binary();
        let dir = tempfile::Builder::new()
            .prefix(&format!("compat-cluster-{}-", kind.name()))
            .tempdir()
            .expect("create a temp dir for the cluster");
        let (ports, token, ids) = pick_layout();
        let pairs: Vec<(u16, u16)> = (0..3).map(|i| (ports[i], ports[3 + i])).collect();
        let members = Flags::cluster_on(&pairs, dir.path(), ".etcd", &token)
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let mut proc = Proc::new(NAMES[i], &bin, f.args(), Some(dir.path()))
                    .current_dir(dir.path())
                    .quiet();
                proc.spawn();
                Member {
                    name: NAMES[i],
                    id: ids[i],
                    client_port: f.client_port,
                    peer_port: f.peer_port,
                    proc,
                }
            })
            .collect();
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
            if let Some(status) = m.proc.try_exit() {
                return Err(format!("{kind} member {} exited with {status}", m.name));
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
            .filter(|&i| self.members[i].proc.is_started())
            .map(|i| self.status(i))
            .collect()
    }

    /// SIGKILLs member `i` (it stays in the member list).
    pub fn kill(&mut self, i: usize) {
        self.members[i].proc.kill();
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
            let text = m.proc.log();
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
            m.proc.kill();
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
