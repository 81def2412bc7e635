//! A three-member cluster (real etcd 3.5.1 or `oxcd`) on 127.0.0.1.
//!
//! Every member gets the seed's flags: `--name mK`, its own data dir,
//! client and peer URLs on free ports (listen = advertise),
//! `--initial-cluster m1=…,m2=…,m3=…`, `--initial-cluster-token T` and
//! `--initial-cluster-state new`.
//!
//! TLS ([`Cluster::start_tls`], the seed's deployment): client and peer URLs
//! in `https://`, `--client-cert-auth --peer-client-cert-auth`, a
//! `testkit::pki` CA in the cluster's directory as trusted CA on both sides,
//! a certificate per member (server and peer) and one for the clients; the
//! harness's own probes pass `--cacert/--cert/--key`.
//! [`Cluster::start_foreign_m3`] gives `m3` a certificate from another CA.
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
use std::time::{Duration, Instant};

use testkit::pki::{Ca, Leaf};
use testkit::wait::{start_retrying, StartFailure};
use testkit::{Flags, Proc};

use super::common::{self, ServerKind};
use super::env_file;

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
    /// `http` or `https` (client and peer URLs alike).
    pub scheme: &'static str,
    /// Not started once [`Cluster::kill`]ed.
    proc: Proc,
}

impl Member {
    /// `127.0.0.1:<client port>`, the spelling used in `--endpoints`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// The client URL, with its scheme.
    pub fn client_url(&self) -> String {
        format!("{}://{}", self.scheme, self.endpoint())
    }

    /// The peer URL, with its scheme.
    pub fn peer_url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.peer_port)
    }
}

/// How the members are secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    Plain,
    /// The seed's deployment: https client and peer URLs, client and peer
    /// certificate auth, one CA.
    Tls,
    /// [`Security::Tls`], but `m3`'s certificate (server and peer) comes
    /// from a second CA; it still trusts the first one.
    TlsForeignM3,
    /// [`Security::Tls`] configured the seed's other way: no flags, every
    /// setting an `ETCD_*` line of an environment file (as a systemd unit's
    /// `EnvironmentFile=` passes them).
    TlsEnvFile,
}

/// A TLS cluster's client files, in the cluster's directory.
pub struct Tls {
    /// The CA that signed every certificate (but `m3`'s in
    /// [`Security::TlsForeignM3`]: `other_ca`).
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    /// The clients' certificate and key (CN `client`).
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Tls {
    /// `--cacert=… --cert=… --key=…`, trusting `ca`.
    pub fn flags_with(&self, ca: &Path) -> Vec<String> {
        vec![
            format!("--cacert={}", ca.display()),
            format!("--cert={}", self.cert.display()),
            format!("--key={}", self.key.display()),
        ]
    }

    /// The seed's alias: `--cacert=… --cert=… --key=…`.
    pub fn flags(&self) -> Vec<String> {
        self.flags_with(&self.ca)
    }
}

pub struct Cluster {
    pub kind: ServerKind,
    pub cluster_id: u64,
    pub members: Vec<Member>,
    /// The client files when the cluster serves TLS.
    pub tls: Option<Tls>,
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

/// Free ports (5 digits, so that endpoint columns keep their width) and a
/// token giving ordered, 16-hex-digit member IDs for `scheme` peer URLs.
fn pick_layout(scheme: &str) -> ([u16; 6], String, [u64; 3]) {
    loop {
        let p = testkit::ports::free_ports_from(6, 10000);
        let ports: [u16; 6] = std::array::from_fn(|i| p[i]);
        for n in 0..1000 {
            let token = format!("compat-cluster-{n}");
            let ids: [u64; 3] = std::array::from_fn(|i| {
                etcd_format::member::member_id(
                    &[format!("{scheme}://127.0.0.1:{}", ports[3 + i])],
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
        Cluster::start_as(kind, Security::Plain)
    }

    /// [`Cluster::start`] with the seed's TLS deployment ([`Security::Tls`]).
    pub fn start_tls(kind: ServerKind) -> Cluster {
        Cluster::start_as(kind, Security::Tls)
    }

    /// [`Cluster::start_tls`] from environment files ([`Security::TlsEnvFile`]).
    pub fn start_env_file(kind: ServerKind) -> Cluster {
        Cluster::start_as(kind, Security::TlsEnvFile)
    }

    fn start_as(kind: ServerKind, security: Security) -> Cluster {
        let what = format!("the three-member {} cluster ({security:?})", kind.name());
        start_retrying(&what, |_| {
            let mut c = Cluster::spawn(kind, security);
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

    /// Starts `m1`..`m3` with `m3`'s certificate from another CA
    /// ([`Security::TlsForeignM3`]) and waits until `m1` and `m2` agree on
    /// a leader (`m3` never joins them).
    pub fn start_foreign_m3(kind: ServerKind) -> Cluster {
        let what = format!("the {} cluster with a foreign m3", kind.name());
        start_retrying(&what, |_| {
            let mut c = Cluster::spawn(kind, Security::TlsForeignM3);
            let deadline = Instant::now() + START_TIMEOUT;
            let quorum = c.wait_for(deadline, "a leader of m1 and m2", |c| {
                let (a, b) = (c.status(0)?, c.status(1)?);
                (a.leader != 0 && a.leader == b.leader && a.raft_term == b.raft_term).then_some(())
            });
            match quorum {
                Ok(()) => Ok(c),
                Err(msg) => Err(StartFailure {
                    msg,
                    logs: c.logs(),
                }),
            }
        })
    }

    fn spawn(kind: ServerKind, security: Security) -> Cluster {
        let bin = kind.binary();
        let dir = tempfile::Builder::new()
            .prefix(&format!("compat-cluster-{}-", kind.name()))
            .tempdir()
            .expect("create a temp dir for the cluster");
        let scheme = match security {
            Security::Plain => "http",
            _ => "https",
        };
        let (ports, token, ids) = pick_layout(scheme);
        let pairs: Vec<(u16, u16)> = (0..3).map(|i| (ports[i], ports[3 + i])).collect();
        let (flags, tls) = match security {
            Security::Plain => (Flags::cluster_on(&pairs, dir.path(), ".etcd", &token), None),
            _ => {
                let flags = Flags::tls_cluster_on(&pairs, dir.path(), ".etcd", &token);
                let (flags, tls) = with_certificates(flags, dir.path(), security);
                (flags, Some(tls))
            }
        };
        let members = flags
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let args = f.args();
                let mut proc = if matches!(security, Security::TlsEnvFile) {
                    let file = dir.path().join(format!("{}.env", NAMES[i]));
                    std::fs::write(&file, env_file::write(&args)).expect("write the env file");
                    env_file::read(&file).into_iter().fold(
                        Proc::new(NAMES[i], &bin, Vec::new(), Some(dir.path())),
                        |p, (k, v)| p.env(&k, &v),
                    )
                } else {
                    Proc::new(NAMES[i], &bin, args, Some(dir.path()))
                }
                .current_dir(dir.path())
                .quiet();
                proc.spawn();
                Member {
                    name: NAMES[i],
                    id: ids[i],
                    client_port: f.client_port,
                    peer_port: f.peer_port,
                    scheme,
                    proc,
                }
            })
            .collect();
        let cluster_id = etcd_format::member::cluster_id(&ids);
        Cluster {
            kind,
            cluster_id,
            members,
            tls,
            dir,
        }
    }

    /// Runs the real etcdctl with `args`, after the TLS flags of a TLS
    /// cluster (the harness's probes).
    fn etcdctl(&self, args: &[&str]) -> common::Output {
        let mut all: Vec<String> = self.tls.as_ref().map(Tls::flags).unwrap_or_default();
        all.extend(args.iter().map(|a| a.to_string()));
        common::run(&testkit::bins::etcdctl(), None, &all, None, &[])
    }

    /// The cluster's temporary directory (data dirs and logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every member's endpoint, comma-separated, in name order: with the
    /// `https://` scheme on a TLS cluster (the seed's `--endpoints`).
    pub fn endpoints(&self) -> String {
        let one = |m: &Member| match self.tls {
            Some(_) => m.client_url(),
            None => m.endpoint(),
        };
        self.members.iter().map(one).collect::<Vec<_>>().join(",")
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
        let out = self.etcdctl(&[
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
            let out = self.etcdctl(&[&ep, PROBE_FLAGS[0], "move-leader", &target]);
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
        self.wait_for(deadline, "all members in the member list", |c| {
            let out = c.etcdctl(&[
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
            let out = self.etcdctl(&[&m1, PROBE_FLAGS[0], PROBE_FLAGS[1], "put", k, v]);
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

/// The cluster a scenario runs on.
#[derive(Clone, Copy, Debug)]
pub enum How {
    /// The seed's flags over http.
    Plain,
    /// [`How::Plain`] with member `i` killed (SIGKILL) before the steps.
    Down(usize),
    /// The seed's TLS deployment ([`Cluster::start_tls`]). Its steps write,
    /// so every client gets a cluster of its own.
    Tls,
    /// [`How::Tls`] started from environment files instead of flags.
    TlsEnvFile,
}

/// Starts a cluster of `kind` as `how` says.
pub fn start(kind: ServerKind, how: How) -> Cluster {
    match how {
        How::Plain => Cluster::start(kind),
        How::Down(i) => {
            let mut c = Cluster::start(kind);
            c.kill(i);
            c
        }
        How::Tls => Cluster::start_tls(kind),
        How::TlsEnvFile => Cluster::start_env_file(kind),
    }
}

/// The cluster for the next client's run: `c` again, or a new one for
/// steps that write ([`How::Tls`]; the old one is stopped first).
pub fn next_cluster(c: Cluster, how: How) -> Cluster {
    match how {
        How::Tls | How::TlsEnvFile => {
            let kind = c.kind;
            drop(c);
            start(kind, how)
        }
        _ => c,
    }
}

/// Adds the TLS flags to the members' `flags`, making a CA (and a second
/// one), a certificate per member and the clients' one in `dir`.
fn with_certificates(flags: Vec<Flags>, dir: &Path, security: Security) -> (Vec<Flags>, Tls) {
    let ca = Ca::new(dir, "ca");
    let other_ca = Ca::new(dir, "other-ca");
    let client = ca.issue("client", Leaf::loopback("client"));
    let path = |p: &Path| p.display().to_string();
    let flags = flags
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let issuer = match (security, i) {
                (Security::TlsForeignM3, 2) => &other_ca,
                _ => &ca,
            };
            let own = issuer.issue(NAMES[i], Leaf::loopback(NAMES[i]));
            let (cert, key, trusted) = (path(&own.cert), path(&own.key), path(&ca.cert_path()));
            f.with_extra(&[
                "--cert-file",
                &cert,
                "--key-file",
                &key,
                "--trusted-ca-file",
                &trusted,
                "--client-cert-auth",
                "--peer-cert-file",
                &cert,
                "--peer-key-file",
                &key,
                "--peer-trusted-ca-file",
                &trusted,
                "--peer-client-cert-auth",
            ])
        })
        .collect();
    let tls = Tls {
        ca: ca.cert_path(),
        other_ca: other_ca.cert_path(),
        cert: client.cert,
        key: client.key,
    };
    (flags, tls)
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
