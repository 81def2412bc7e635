//! `lock` and `elect`, and the Lock and Election gRPC services behind them,
//! compared with real etcd 3.5.1:
//!
//! - four ways: every CLI scenario runs with etcdctl → etcd (the reference),
//!   oxctl → etcd, oxctl → oxcd and etcdctl → oxcd, in parallel, each on a
//!   fresh server, so revisions agree exactly. The transcripts (stdout,
//!   stderr and exit code of every step, and the keys left) must be
//!   byte-identical once lease IDs are normalised: every lease seen as
//!   15–16 hex digits after a `/` becomes `<L1>`, `<L2>`, … in order of
//!   appearance, in hex and in decimal. JSON keys are shown decoded, and
//!   `remaining(Ns)` is bounded. Cluster and member IDs and raft terms are
//!   compared as they are. The reference transcript must also equal the
//!   etcd behaviour written down here. The scenarios (those of the manual
//!   comparison script) are: a lock around a command (ETCD_LOCK_*, the
//!   child's exit status, a signal, exec failures, bad arguments), holders
//!   and waiters with SIGINT, a revoked holder lease, `-w json`, `--ttl`,
//!   and `elect` campaigns, observers and argument errors;
//! - proofs with oxctl, on oxcd and on etcd: mutual exclusion of three
//!   looping lockers (their checker is tested on overlapping input too); a
//!   SIGKILLed holder released by its lease's expiry; `elect` handing over
//!   when the leader exits and when a killed leader's lease is revoked;
//! - the gRPC services, called with the `oxcd_proto` stubs with the same
//!   requests on etcd and oxcd, side by side. The results must be equal:
//!   codes, messages, headers, keys with the leases named, revisions, and
//!   when the Observe call is answered. The etcd results must also equal the
//!   expectations written here.
//!
//! Every server listens on 127.0.0.1, on ports from `testkit`, and is
//! stopped when its test ends. Waits poll with deadlines. Two short grace
//! periods remain where nothing can be observed: the observer of an empty
//! election before its SIGTERM, and an Observe call before it is answered.
//!
//! Run: `cargo build -p oxcd && cargo test -p oxctl --test lock_elect`
//! (needs etcd 3.5.1 under `.ci/etcd/v3.5.1`, or `ETCD_BIN_DIR`; about
//! 15 s).

mod common;

use std::future::Future;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{ClientKind, Output, Server, ServerKind};
use oxcd_proto::etcdserverpb::kv_client::KvClient;
use oxcd_proto::etcdserverpb::lease_client::LeaseClient;
use oxcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest, PutRequest, RangeRequest,
    ResponseHeader,
};
use oxcd_proto::mvccpb::KeyValue;
use oxcd_proto::v3electionpb::election_client::ElectionClient;
use oxcd_proto::v3electionpb::{
    CampaignRequest, LeaderKey, LeaderRequest, LeaderResponse, ProclaimRequest, ResignRequest,
};
use oxcd_proto::v3lockpb::lock_client::LockClient;
use oxcd_proto::v3lockpb::{LockRequest, UnlockRequest};
use testkit::Proc;
use tonic::transport::{Channel, Endpoint};

/// How long anything awaited may take.
const WAIT: Duration = Duration::from_secs(15);
/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(50);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Polls `f` until it returns `Ok`; panics after `limit`.
fn wait_for<T>(what: &str, limit: Duration, f: impl FnMut() -> Result<T, String>) -> T {
    testkit::wait::poll(what, limit, POLL, f).unwrap_or_else(|e| panic!("{e}"))
}

/// Like a shell's `$?`: the code, or 128 + the signal.
fn exit_code(st: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code()
        .unwrap_or_else(|| st.signal().map_or(-1, |s| 128 + s))
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(st.success(), "kill -s {sig} {pid}");
}

/// The lease part of a lock or election key (`name/<hex>`).
fn lease_hex(key: &str) -> String {
    let hex = key.trim_end().rsplit('/').next().unwrap_or_default();
    assert!(
        (15..=16).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "not a lock/election key: {key:?}"
    );
    hex.to_string()
}

// ---------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------

/// The leases in `s`: 15–16 lowercase hex digits after a `/`, not followed
/// by a letter or digit, in order of first appearance.
fn leases_in(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    let mut found: Vec<String> = Vec::new();
    for i in 0..b.len() {
        if b[i] != b'/' {
            continue;
        }
        let mut j = i + 1;
        while j < b.len() && hex(b[j]) {
            j += 1;
        }
        let boundary = j == b.len() || !b[j].is_ascii_alphanumeric();
        if (15..=16).contains(&(j - i - 1)) && boundary {
            let h = &s[i + 1..j];
            if !found.iter().any(|f| f == h) {
                found.push(h.to_string());
            }
        }
    }
    found
}

/// Every lease of [`leases_in`] as `<Ln>`, in hex and in decimal.
fn normalise(raw: &str) -> String {
    let mut out = raw.to_string();
    for (n, h) in leases_in(raw).iter().enumerate() {
        let tag = format!("<L{}>", n + 1);
        out = out.replace(h.as_str(), &tag);
        let id = i64::from_str_radix(h, 16).expect("a lease in hex");
        out = out.replace(&id.to_string(), &tag);
    }
    out
}

/// JSON output with every `"key":"<base64>"` shown decoded, as
/// `"key":b64"<text>"`.
fn decode_json_keys(s: &str) -> String {
    const K: &str = "\"key\":\"";
    let mut out = String::new();
    let mut rest = s;
    while let Some(p) = rest.find(K) {
        out.push_str(&rest[..p]);
        let after = &rest[p + K.len()..];
        let end = after.find('"').expect("closing quote of a JSON key");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&after[..end])
            .map(|b| text(&b))
            .unwrap_or_else(|_| format!("<not base64 {}>", &after[..end]));
        out.push_str(&format!("\"key\":b64\"{decoded}\""));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------
// Four ways: client × server
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Way {
    client: ClientKind,
    server: ServerKind,
}

impl Way {
    fn name(self) -> String {
        format!("{} → {}", self.client.name(), self.server.name())
    }
}

/// The reference first.
const WAYS: [Way; 4] = [
    Way {
        client: ClientKind::RealEtcdctl,
        server: ServerKind::Etcd,
    },
    Way {
        client: ClientKind::Oxctl,
        server: ServerKind::Etcd,
    },
    Way {
        client: ClientKind::Oxctl,
        server: ServerKind::Oxcd,
    },
    Way {
        client: ClientKind::RealEtcdctl,
        server: ServerKind::Oxcd,
    },
];

/// One way's run of a scenario on a fresh server: its raw transcript.
struct Run {
    way: Way,
    srv: Server,
    dir: tempfile::TempDir,
    raw: String,
    spawned: usize,
}

/// A client running in the background (a `testkit::Proc`: killed and
/// reaped when dropped; stdout and stderr in files).
struct Bg {
    proc: Proc,
    what: String,
}

impl Bg {
    fn stdout(&self) -> String {
        self.proc.stdout()
    }

    fn stderr(&self) -> String {
        self.proc.log()
    }

    /// Waits until stdout holds at least `lines` lines; returns it.
    fn wait_lines(&mut self, lines: usize) -> String {
        let what = format!("{} printing {lines} line(s)", self.what);
        let proc = &mut self.proc;
        wait_for(&what, WAIT, || {
            let out = proc.stdout();
            if out.matches('\n').count() >= lines {
                return Ok(out);
            }
            if !proc.is_running() {
                return Err(format!("exited; stdout {out:?} stderr {:?}", proc.log()));
            }
            Err(format!("stdout so far {out:?}"))
        })
    }

    fn signal(&self, sig: &str) {
        signal(self.proc.pid(), sig);
    }

    /// Waits for the exit: its code.
    fn exit(&mut self) -> i32 {
        match self.proc.wait_exit(WAIT) {
            Some(st) => exit_code(st),
            None => panic!(
                "{} still ran after {WAIT:?}; stdout {:?} stderr {:?}",
                self.what,
                self.stdout(),
                self.stderr()
            ),
        }
    }

    /// SIGINT, then the exit code.
    fn interrupt(&mut self) -> i32 {
        self.signal("INT");
        self.exit()
    }
}

impl Run {
    fn ctl(&self, args: &[&str]) -> Output {
        let out = self.srv.ctl(self.way.client, args);
        assert!(!out.timed_out, "{} {args:?} timed out", self.way.name());
        out
    }

    fn section(&mut self, what: &str, stdout: &str, stderr: &str, rc: i32) {
        self.raw.push_str(&format!(
            "== {what}\n{stdout}-- stderr\n{stderr}-- rc={rc}\n"
        ));
    }

    /// Runs `args` to completion and records it.
    fn step(&mut self, what: &str, args: &[&str]) -> Output {
        let out = self.ctl(args);
        self.section(what, &text(&out.stdout), &text(&out.stderr), out.code);
        out
    }

    fn note(&mut self, line: &str) {
        self.raw.push_str(line);
        self.raw.push('\n');
    }

    /// Records a background client that has exited with `rc`.
    fn record_bg(&mut self, what: &str, bg: &Bg, rc: i32) {
        self.section(what, &bg.stdout(), &bg.stderr(), rc);
    }

    /// The keys under `prefix`.
    fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.ctl(&["get", "--prefix", prefix, "--keys-only"]);
        assert_eq!(out.code, 0, "get --prefix {prefix}: {out:?}");
        text(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Records the keys under `prefix`.
    fn record_keys(&mut self, prefix: &str) {
        let keys = self.keys(prefix).join(" ");
        self.note(&format!("keys {prefix}: [{keys}]"));
    }

    /// How many leases `lease list` shows.
    fn lease_count(&self) -> usize {
        let out = self.ctl(&["lease", "list"]);
        assert_eq!(out.code, 0, "lease list: {out:?}");
        text(&out.stdout).lines().skip(1).count()
    }

    /// Waits until `prefix` holds `n` keys.
    fn wait_keys(&self, prefix: &str, n: usize) -> Vec<String> {
        let what = format!("{}: {n} key(s) under {prefix}", self.way.name());
        wait_for(&what, WAIT, || {
            let keys = self.keys(prefix);
            if keys.len() == n {
                Ok(keys)
            } else {
                Err(format!("{keys:?}"))
            }
        })
    }

    /// Starts the way's client with `args` in the background.
    fn spawn(&mut self, args: &[&str]) -> Bg {
        self.spawned += 1;
        let mut all = vec![format!("--endpoints={}", self.srv.endpoint())];
        all.extend(args.iter().map(|a| a.to_string()));
        let label = format!("bg{}", self.spawned);
        let mut proc = Proc::new(
            &label,
            &self.way.client.binary(),
            all,
            Some(self.dir.path()),
        );
        proc.spawn();
        Bg {
            proc,
            what: format!("{} {args:?}", self.way.name()),
        }
    }
}

/// Runs `scenario` the four ways, each on a fresh server, in parallel. The
/// reference transcript must equal `want` and every other transcript must
/// equal the reference (all normalised). Every difference is reported.
fn four_ways(test: &str, scenario: fn(&mut Run), want: &str) {
    if !testkit::bins::etcd_available(test) {
        return;
    }
    let got: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = WAYS
            .iter()
            .map(|&way| {
                s.spawn(move || {
                    let mut run = Run {
                        way,
                        srv: Server::start(way.server, &[]),
                        dir: tempfile::tempdir().expect("temp dir"),
                        raw: String::new(),
                        spawned: 0,
                    };
                    scenario(&mut run);
                    normalise(&run.raw)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut bad = Vec::new();
    if got[0] != want {
        bad.push(format!(
            "the reference ({}) is not the expected etcd behaviour:\n--- want\n{want}\n--- got\n{}",
            WAYS[0].name(),
            got[0]
        ));
    }
    for (way, t) in WAYS.iter().zip(&got).skip(1) {
        if *t != got[0] {
            bad.push(format!(
                "{} differs from {}:\n--- {}\n{}\n--- {}\n{t}",
                way.name(),
                WAYS[0].name(),
                WAYS[0].name(),
                got[0],
                way.name()
            ));
        }
    }
    assert!(bad.is_empty(), "{test}:\n{}", bad.join("\n\n"));
}

// --- scenarios --------------------------------------------------------------

const SHOW_LOCK_ENV: &str =
    "echo $ETCD_LOCK_KEY $ETCD_LOCK_REV; env | grep ETCD_LOCK | sort; exit 3";

fn lock_with_command(r: &mut Run) {
    r.step(
        "exit 3",
        &["lock", "mylock", "--", "sh", "-c", SHOW_LOCK_ENV],
    );
    r.record_keys("mylock");
    r.step("true", &["lock", "mylock", "--", "true"]);
    r.step("no --", &["lock", "mylock", "echo", "hi", "there"]);
    r.step(
        "SIGTERM",
        &["lock", "mylock", "--", "sh", "-c", "kill -TERM $$"],
    );
    r.step(
        "SIGKILL",
        &["lock", "mylock", "--", "sh", "-c", "kill -KILL $$"],
    );
    r.step("missing path", &["lock", "mylock", "/nonexistent/cmd"]);
    r.step("not in PATH", &["lock", "mylock", "nosuchprog"]);
    r.step("no args", &["lock"]);
    // without `--`, the command's flags are the client's
    r.step("-c without --", &["lock", "mylock", "sh", "-c", "exit 3"]);
    r.record_keys("mylock");
    let after = r.ctl(&["get", "", "--prefix", "-w", "json"]);
    let rev = text(&after.stdout);
    let rev = rev
        .split("\"revision\":")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("?")
        .to_string();
    r.note(&format!("revision at the end: {rev}"));
}

const LOCK_WITH_COMMAND: &str = "\
== exit 3
mylock/<L1> 2
ETCD_LOCK_KEY=mylock/<L1>
ETCD_LOCK_REV=2
-- stderr
Error: exit status 3
-- rc=3
keys mylock: []
== true
-- stderr
-- rc=0
== no --
hi there
-- stderr
-- rc=0
== SIGTERM
-- stderr
Error: signal: terminated
-- rc=255
== SIGKILL
-- stderr
Error: signal: killed
-- rc=255
== missing path
-- stderr
Error: fork/exec /nonexistent/cmd: no such file or directory
-- rc=1
== not in PATH
-- stderr
Error: exec: \"nosuchprog\": executable file not found in $PATH
-- rc=1
== no args
-- stderr
Error: lock takes a lock name argument and an optional command to execute
-- rc=128
== -c without --
NAME:
\tlock - Acquires a named lock

USAGE:
\tetcdctl lock <lockname> [exec-command arg1 arg2 ...] [flags]

OPTIONS:
  -h, --help[=false]\thelp for lock
      --ttl=10\t\ttimeout for session

GLOBAL OPTIONS:
      --cacert=\"\"\t\t\t\tverify certificates of TLS-enabled secure servers using this CA bundle
      --cert=\"\"\t\t\t\t\tidentify secure client using this TLS certificate file
      --command-timeout=5s\t\t\ttimeout for short running command (excluding dial timeout)
      --debug[=false]\t\t\t\tenable client-side debug logging
      --dial-timeout=2s\t\t\t\tdial timeout for client connections
  -d, --discovery-srv=\"\"\t\t\tdomain name to query for SRV records describing cluster endpoints
      --discovery-srv-name=\"\"\t\t\tservice name to query when using DNS discovery
      --endpoints=[127.0.0.1:2379]\t\tgRPC endpoints
      --hex[=false]\t\t\t\tprint byte strings as hex encoded strings
      --insecure-discovery[=true]\t\taccept insecure SRV records describing cluster endpoints
      --insecure-skip-tls-verify[=false]\tskip server certificate verification (CAUTION: this option should be enabled only for testing purposes)
      --insecure-transport[=true]\t\tdisable transport security for client connections
      --keepalive-time=2s\t\t\tkeepalive time for client connections
      --keepalive-timeout=6s\t\t\tkeepalive timeout for client connections
      --key=\"\"\t\t\t\t\tidentify secure client using this TLS key file
      --password=\"\"\t\t\t\tpassword for authentication (if this option is used, --user option shouldn't include password)
      --user=\"\"\t\t\t\t\tusername[:password] for authentication (prompt if password is not supplied)
  -w, --write-out=\"simple\"\t\t\tset the output format (fields, json, protobuf, simple, table)

-- stderr
Error: unknown shorthand flag: 'c' in -c

Error: unknown shorthand flag: 'c' in -c
-- rc=1
keys mylock: []
revision at the end: 15
";

/// A lock around a command: ETCD_LOCK_KEY/ETCD_LOCK_REV, the child's exit
/// status passed on, a signal (255), exec failures (1), no arguments
/// (128); the key is gone after each.
#[test]
fn lock_with_command_four_ways() {
    four_ways(
        "lock_with_command_four_ways",
        lock_with_command,
        LOCK_WITH_COMMAND,
    );
}

fn lock_holders_and_waiters(r: &mut Run) {
    // A holds, B waits, C waits with a command (it waits for B).
    let mut a = r.spawn(&["lock", "mylock"]);
    a.wait_lines(2);
    let mut b = r.spawn(&["lock", "mylock"]);
    r.wait_keys("mylock", 2);
    let mut c = r.spawn(&[
        "lock",
        "mylock",
        "--",
        "sh",
        "-c",
        "echo C: $ETCD_LOCK_KEY $ETCD_LOCK_REV",
    ]);
    r.wait_keys("mylock", 3);
    r.record_keys("mylock");
    let rc = a.interrupt();
    r.record_bg("A holder, SIGINT", &a, rc);
    b.wait_lines(2);
    r.note(&format!("C while B holds: {:?}", c.stdout()));
    r.record_keys("mylock");
    let rc = b.interrupt();
    r.record_bg("B waiter then holder, SIGINT", &b, rc);
    let rc = c.exit();
    r.record_bg("C waiter with a command", &c, rc);
    r.record_keys("mylock");

    // A waiter interrupted: its key is gone when it has exited.
    let mut a = r.spawn(&["lock", "mylock"]);
    a.wait_lines(2);
    let mut b = r.spawn(&["lock", "mylock"]);
    r.wait_keys("mylock", 2);
    r.record_keys("mylock");
    let rc = b.interrupt();
    r.record_bg("waiter, SIGINT", &b, rc);
    r.record_keys("mylock");
    let rc = a.interrupt();
    r.record_bg("holder, SIGINT", &a, rc);
    r.record_keys("mylock");

    // A holder whose lease is revoked.
    let mut a = r.spawn(&["lock", "mylock"]);
    let key = a.wait_lines(2);
    r.step(
        "revoke",
        &["lease", "revoke", &lease_hex(key.lines().next().unwrap())],
    );
    let rc = a.exit();
    r.record_bg("holder, lease revoked", &a, rc);
    r.record_keys("mylock");
}

const LOCK_HOLDERS_AND_WAITERS: &str = "\
keys mylock: [mylock/<L1> mylock/<L2> mylock/<L3>]
== A holder, SIGINT
mylock/<L1>

-- stderr
-- rc=0
C while B holds: \"\"
keys mylock: [mylock/<L2> mylock/<L3>]
== B waiter then holder, SIGINT
mylock/<L2>

-- stderr
-- rc=0
== C waiter with a command
C: mylock/<L3> 6
-- stderr
-- rc=0
keys mylock: []
keys mylock: [mylock/<L4> mylock/<L5>]
== waiter, SIGINT
-- stderr
Error: context canceled
-- rc=1
keys mylock: [mylock/<L4>]
== holder, SIGINT
mylock/<L4>

-- stderr
-- rc=0
keys mylock: []
== revoke
lease <L6> revoked
-- stderr
-- rc=0
== holder, lease revoked
mylock/<L6>

-- stderr
Error: session expired
-- rc=1
keys mylock: []
";

/// Holders and waiters: a holder prints its key and a blank line and
/// unlocks on SIGINT (rc 0); the next waiter gets the lock; a waiter with a
/// command sees the revision of its predecessor's delete; an interrupted
/// waiter fails with `context canceled` and its key is gone; a holder
/// whose lease is revoked fails with `session expired`.
#[test]
fn lock_holders_and_waiters_four_ways() {
    four_ways(
        "lock_holders_and_waiters_four_ways",
        lock_holders_and_waiters,
        LOCK_HOLDERS_AND_WAITERS,
    );
}

fn lock_json_and_ttl(r: &mut Run) {
    let mut a = r.spawn(&["lock", "-w", "json", "jl"]);
    a.wait_lines(1);
    let rc = a.interrupt();
    let out = decode_json_keys(&a.stdout());
    r.section("-w json, SIGINT", &out, &a.stderr(), rc);

    let mut t = r.spawn(&["lock", "--ttl", "3", "tl"]);
    let key = t.wait_lines(2);
    let hex = lease_hex(key.lines().next().unwrap());
    let out = r.ctl(&["lease", "timetolive", &hex]);
    let mut stdout = text(&out.stdout);
    // remaining(Ns): 1 to 3 s of the 3 s TTL, by timing
    let p = stdout
        .find("remaining(")
        .expect("remaining(…) in timetolive");
    let end = p + stdout[p..].find("s)").expect("remaining(Ns)");
    let secs: i64 = stdout[p + "remaining(".len()..end]
        .parse()
        .expect("remaining seconds");
    assert!((1..=3).contains(&secs), "{stdout:?}");
    stdout.replace_range(p..end + 2, "remaining(1..3s)");
    r.section("lease timetolive", &stdout, &text(&out.stderr), out.code);
    let rc = t.interrupt();
    r.record_bg("--ttl 3, SIGINT", &t, rc);
}

const LOCK_JSON_AND_TTL: &str = "\
== -w json, SIGINT
{\"header\":{\"cluster_id\":14841639068965178418,\"member_id\":10276657743932975437,\
\"revision\":2,\"raft_term\":2},\"kvs\":[{\"key\":b64\"jl/<L1>\",\"create_revision\":2,\
\"mod_revision\":2,\"version\":1,\"lease\":<L1>}],\"count\":1}
-- stderr
-- rc=0
== lease timetolive
lease <L2> granted with TTL(3s), remaining(1..3s)
-- stderr
-- rc=0
== --ttl 3, SIGINT
tl/<L2>

-- stderr
-- rc=0
";

/// `lock -w json` prints its key's get response as JSON; `lock --ttl 3`
/// holds a lease of 3 s (seen with `lease timetolive` on the lease of its
/// key).
#[test]
fn lock_json_and_ttl_four_ways() {
    four_ways(
        "lock_json_and_ttl_four_ways",
        lock_json_and_ttl,
        LOCK_JSON_AND_TTL,
    );
}

fn elect(r: &mut Run) {
    let mut e1 = r.spawn(&["elect", "myel", "p1"]);
    e1.wait_lines(2);
    let mut obs = r.spawn(&["elect", "-l", "myel"]);
    obs.wait_lines(2);
    let mut e2 = r.spawn(&["elect", "myel", "p2"]);
    r.wait_keys("myel", 2);
    r.record_keys("myel");
    r.note(&format!("e2 while campaigning: {:?}", e2.stdout()));
    let rc = e1.interrupt();
    r.record_bg("e1 p1, SIGINT", &e1, rc);
    e2.wait_lines(2);
    obs.wait_lines(4);
    let rc = e2.interrupt();
    r.record_bg("e2 p2 (waited), SIGINT", &e2, rc);
    r.record_keys("myel");
    let mut e3 = r.spawn(&["elect", "myel", "p3"]);
    e3.wait_lines(2);
    obs.wait_lines(6);
    let rc = e3.interrupt();
    r.record_bg("e3 p3, SIGINT", &e3, rc);
    let rc = obs.interrupt();
    r.record_bg("observer, SIGINT", &obs, rc);
    r.record_keys("myel");

    r.step("no proposal", &["elect", "x"]);
    r.step("-l and a proposal", &["elect", "-l", "x", "p"]);
    r.step("three args", &["elect", "a", "b", "c"]);
    r.step("no args", &["elect"]);

    // A waiting candidate interrupted: its key is gone when it has exited.
    let mut w1 = r.spawn(&["elect", "w", "p1"]);
    w1.wait_lines(2);
    let mut w2 = r.spawn(&["elect", "w", "p2"]);
    r.wait_keys("w", 2);
    r.record_keys("w");
    let rc = w2.interrupt();
    r.record_bg("waiting candidate, SIGINT", &w2, rc);
    r.record_keys("w");
    let rc = w1.interrupt();
    r.record_bg("leader, SIGINT", &w1, rc);
    r.record_keys("w");

    // An observer of an election without a leader prints nothing. Nothing
    // shows when it is observing: once its session's lease exists, it is
    // given a moment to catch signals.
    let before = r.lease_count();
    let mut o = r.spawn(&["elect", "-l", "nobody"]);
    wait_for("the observer's lease", WAIT, || match r.lease_count() {
        n if n > before => Ok(()),
        n => Err(format!("{n} leases")),
    });
    std::thread::sleep(Duration::from_millis(300));
    o.signal("TERM");
    let rc = o.exit();
    r.record_bg("observer of no leader, SIGTERM", &o, rc);
}

const ELECT: &str = "\
keys myel: [myel/<L1> myel/<L2>]
e2 while campaigning: \"\"
== e1 p1, SIGINT
myel/<L1>
p1
-- stderr
-- rc=0
== e2 p2 (waited), SIGINT
myel/<L2>
p2
-- stderr
-- rc=0
keys myel: []
== e3 p3, SIGINT
myel/<L3>
p3
-- stderr
-- rc=0
== observer, SIGINT
myel/<L1>
p1
myel/<L2>
p2
myel/<L3>
p3
-- stderr
-- rc=0
keys myel: []
== no proposal
-- stderr
Error: no proposal argument but -l not set
-- rc=128
== -l and a proposal
-- stderr
Error: proposal given but -l is set
-- rc=128
== three args
-- stderr
Error: elect takes one election name argument and an optional proposal argument
-- rc=128
== no args
-- stderr
Error: elect takes one election name argument and an optional proposal argument
-- rc=128
keys w: [w/<L4> w/<L5>]
== waiting candidate, SIGINT
-- stderr
Error: context canceled
-- rc=1
keys w: [w/<L4>]
== leader, SIGINT
w/<L4>
p1
-- stderr
-- rc=0
keys w: []
== observer of no leader, SIGTERM
-- stderr
-- rc=0
";

/// `elect`: campaigns, an observer (`-l`) printing each leader in turn, a
/// waiting candidate elected when the leader resigns on SIGINT, an
/// interrupted candidate (`context canceled`, key gone), and the argument
/// errors (rc 128).
#[test]
fn elect_four_ways() {
    four_ways("elect_four_ways", elect, ELECT);
}

// ---------------------------------------------------------------------------
// Proofs with oxctl
// ---------------------------------------------------------------------------

fn oxctl_bg(srv: &Server, dir: &Path, label: &str, args: &[&str]) -> Bg {
    let mut all = vec![format!("--endpoints={}", srv.endpoint())];
    all.extend(args.iter().map(|a| a.to_string()));
    let mut proc = Proc::new(label, &testkit::bins::oxctl(), all, Some(dir));
    proc.spawn();
    Bg {
        proc,
        what: format!("oxctl {args:?} → {}", srv.kind.name()),
    }
}

fn oxctl(srv: &Server, args: &[&str]) -> Output {
    let out = srv.ctl(ClientKind::Oxctl, args);
    assert!(!out.timed_out, "oxctl {args:?} timed out");
    out
}

fn keys_of(srv: &Server, prefix: &str) -> Vec<String> {
    let out = oxctl(srv, &["get", "--prefix", prefix, "--keys-only"]);
    assert_eq!(out.code, 0, "get --prefix {prefix}: {out:?}");
    text(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn wait_keys_of(srv: &Server, prefix: &str, n: usize) -> Vec<String> {
    let what = format!("{n} key(s) under {prefix} on {}", srv.kind.name());
    wait_for(&what, WAIT, || {
        let k = keys_of(srv, prefix);
        if k.len() == n {
            Ok(k)
        } else {
            Err(format!("{k:?}"))
        }
    })
}

const LOCKERS: usize = 3;
const ROUNDS: usize = 10;

/// Checks a sections file (lines `start <locker> <pid> <rev>` and
/// `end <locker> <pid>`): every section whole (its own end right after its
/// start), `ROUNDS` sections per locker, lock revisions rising. Returns how
/// often the lock passed from one locker to another.
fn check_sections(lines: &[String]) -> Result<usize, String> {
    if lines.len() != 2 * LOCKERS * ROUNDS {
        return Err(format!("{} lines", lines.len()));
    }
    let mut last_rev = 0i64;
    let mut per_locker = [0usize; LOCKERS];
    let mut switches = 0;
    let mut last_locker = None;
    for (i, pair) in lines.chunks(2).enumerate() {
        let start: Vec<&str> = pair[0].split(' ').collect();
        if start.len() != 4 || start[0] != "start" {
            return Err(format!("section {i} does not begin with a start: {pair:?}"));
        }
        if pair[1] != format!("end {} {}", start[1], start[2]) {
            return Err(format!("section {i} was interleaved: {pair:?}"));
        }
        let locker: usize = start[1].parse().map_err(|_| format!("locker {pair:?}"))?;
        *per_locker
            .get_mut(locker)
            .ok_or_else(|| format!("locker {locker}"))? += 1;
        if last_locker.is_some_and(|l| l != locker) {
            switches += 1;
        }
        last_locker = Some(locker);
        let rev: i64 = start[3].parse().map_err(|_| format!("revision {pair:?}"))?;
        if rev <= last_rev {
            return Err(format!("section {i}: lock revision {rev} after {last_rev}"));
        }
        last_rev = rev;
    }
    if per_locker != [ROUNDS; LOCKERS] {
        return Err(format!("sections per locker: {per_locker:?}"));
    }
    Ok(switches)
}

/// `LOCKERS` shells each take the lock `ROUNDS` times around a critical
/// section that appends `start <locker> <pid> <rev>`, sleeps 50 ms and
/// appends `end <locker> <pid>` ([`check_sections`]). The lockers must also
/// have taken turns, which shows that they contended.
fn mutual_exclusion(kind: ServerKind) {
    let srv = Server::start(kind, &[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("sections");
    let section = "echo \"start $W $$ $ETCD_LOCK_REV\" >> \"$F\"; sleep 0.05; \
                   echo \"end $W $$\" >> \"$F\"";
    let script = format!(
        "for i in $(seq {ROUNDS}); do \
         \"$CTL\" --endpoints={} lock L -- sh -c '{section}' || exit 1; done",
        srv.endpoint()
    );
    let oxctl = testkit::bins::oxctl();
    let mut shells: Vec<Proc> = (0..LOCKERS)
        .map(|i| {
            let mut p = Proc::new(
                &format!("locker{i}"),
                Path::new("/bin/sh"),
                vec!["-c".into(), script.clone()],
                Some(dir.path()),
            )
            .env("CTL", oxctl.to_str().expect("UTF-8 path"))
            .env("F", file.to_str().expect("UTF-8 path"))
            .env("W", &i.to_string());
            p.spawn();
            p
        })
        .collect();
    let started = Instant::now();
    for p in &mut shells {
        let st = p
            .wait_exit(Duration::from_secs(45))
            .unwrap_or_else(|| panic!("{} did not finish within 45 s", p.label));
        assert!(st.success(), "{} failed: {}", p.label, p.logs());
    }
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .expect("the sections file")
        .lines()
        .map(str::to_string)
        .collect();
    let switches =
        check_sections(&lines).unwrap_or_else(|e| panic!("on {}: {e}\n{lines:#?}", kind.name()));
    assert!(
        switches >= 2,
        "the lockers never contended on {} ({switches} hand-overs):\n{lines:#?}",
        kind.name()
    );
    assert!(keys_of(&srv, "L").is_empty(), "lock keys left behind");
    eprintln!(
        "{} sections on {} in {:?}, {switches} hand-overs between lockers",
        LOCKERS * ROUNDS,
        kind.name(),
        started.elapsed()
    );
}

/// The checker of the mutual exclusion proofs rejects overlapping sections
/// and accepts whole ones.
#[test]
fn check_sections_rejects_overlaps() {
    let whole: Vec<String> = (0..LOCKERS * ROUNDS)
        .flat_map(|i| {
            let (w, pid) = (i % LOCKERS, 100 + i);
            [
                format!("start {w} {pid} {}", 2 * i + 2),
                format!("end {w} {pid}"),
            ]
        })
        .collect();
    assert_eq!(check_sections(&whole), Ok(LOCKERS * ROUNDS - 1));
    let mut overlap = whole.clone();
    overlap.swap(1, 2);
    assert!(check_sections(&overlap).is_err());
    let mut reused = whole.clone();
    reused[2] = reused[0].clone();
    reused[3] = reused[1].clone();
    assert!(check_sections(&reused).is_err(), "revisions must rise");
}

/// Mutual exclusion: 3 × 10 `oxctl lock` critical sections never overlap
/// (oxcd).
#[test]
fn lock_mutual_exclusion_on_oxcd() {
    if !testkit::bins::etcd_available("lock_mutual_exclusion_on_oxcd") {
        // The harness probes readiness with the real etcdctl.
        return;
    }
    mutual_exclusion(ServerKind::Oxcd);
}

/// The same with etcd as the server.
#[test]
fn lock_mutual_exclusion_on_etcd() {
    if !testkit::bins::etcd_available("lock_mutual_exclusion_on_etcd") {
        return;
    }
    mutual_exclusion(ServerKind::Etcd);
}

const KILLED_TTL: u64 = 2;

/// A holder with `--ttl 2` is SIGKILLed: its key stays until the lease
/// expires, and then the waiter gets the lock, within ttl + 2 s.
fn killed_holder(kind: ServerKind) {
    let srv = Server::start(kind, &[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let ttl = KILLED_TTL.to_string();
    let mut holder = oxctl_bg(&srv, dir.path(), "holder", &["lock", "--ttl", &ttl, "K"]);
    let held = holder.wait_lines(2);
    let held = held.lines().next().unwrap().to_string();
    let mut waiter = oxctl_bg(
        &srv,
        dir.path(),
        "waiter",
        &["lock", "K", "--", "sh", "-c", "echo got $ETCD_LOCK_KEY"],
    );
    let both = wait_keys_of(&srv, "K", 2);
    let mine = both
        .iter()
        .find(|k| **k != held)
        .expect("the waiter's key")
        .clone();
    holder.proc.kill();
    let killed = Instant::now();
    // Nothing released it: the key outlives its process.
    assert_eq!(keys_of(&srv, "K"), both, "right after the SIGKILL");
    assert_eq!(waiter.stdout(), "", "the waiter ran before the expiry");
    let limit = Duration::from_secs(KILLED_TTL + 2);
    let rc = waiter
        .proc
        .wait_exit(limit + Duration::from_secs(5))
        .map(exit_code);
    let took = killed.elapsed();
    assert_eq!(
        (waiter.stdout(), waiter.stderr(), rc),
        (format!("got {mine}\n"), String::new(), Some(0)),
        "the waiter on {}",
        kind.name()
    );
    assert!(
        took <= limit,
        "the lock came {took:?} after the SIGKILL on {} (ttl {KILLED_TTL} s)",
        kind.name()
    );
    // the lease was kept alive every ttl/3 until the kill: at least
    // 2/3 of it was left
    assert!(
        took >= Duration::from_millis(1000),
        "the lock came only {took:?} after the SIGKILL on {}",
        kind.name()
    );
    assert!(keys_of(&srv, "K").is_empty());
    eprintln!(
        "lock taken {took:?} after the holder's SIGKILL on {}",
        kind.name()
    );
}

/// A SIGKILLed holder (`--ttl 2`) is released by its lease's expiry (oxcd).
#[test]
fn lock_killed_holder_released_by_expiry_on_oxcd() {
    if !testkit::bins::etcd_available("lock_killed_holder_released_by_expiry_on_oxcd") {
        return;
    }
    killed_holder(ServerKind::Oxcd);
}

/// The same with etcd as the server.
#[test]
fn lock_killed_holder_released_by_expiry_on_etcd() {
    if !testkit::bins::etcd_available("lock_killed_holder_released_by_expiry_on_etcd") {
        return;
    }
    killed_holder(ServerKind::Etcd);
}

/// `elect` hands over: P1 leads with P2 and P3 waiting and an observer
/// watching; P1 exits on SIGINT and P2 leads; P2 is SIGKILLed (its key
/// stays: the 60 s lease lives on), its lease is revoked and P3 leads. The
/// observer prints p1, p2, p3.
fn elect_handover(kind: ServerKind) {
    let srv = Server::start(kind, &[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let mut p1 = oxctl_bg(&srv, d, "p1", &["elect", "E", "p1"]);
    let k1 = p1.wait_lines(2);
    let mut obs = oxctl_bg(&srv, d, "observer", &["elect", "-l", "E"]);
    obs.wait_lines(2);
    let mut p2 = oxctl_bg(&srv, d, "p2", &["elect", "E", "p2"]);
    wait_keys_of(&srv, "E", 2);
    let mut p3 = oxctl_bg(&srv, d, "p3", &["elect", "E", "p3"]);
    let keys = wait_keys_of(&srv, "E", 3);
    assert_eq!(format!("{}\np1\n", keys[0]), k1, "the oldest key leads");
    assert_eq!((p2.stdout(), p3.stdout()), (String::new(), String::new()));

    assert_eq!(p1.interrupt(), 0, "p1 on SIGINT: {}", p1.stderr());
    let k2 = p2.wait_lines(2);
    assert_eq!(k2, format!("{}\np2\n", keys[1]));
    obs.wait_lines(4);
    assert_eq!(p3.stdout(), "", "p3 led before p2 left");

    p2.proc.kill();
    assert_eq!(
        keys_of(&srv, "E"),
        keys[1..].to_vec(),
        "a SIGKILLed leader's key stays until its lease ends"
    );
    let out = oxctl(&srv, &["lease", "revoke", &lease_hex(&keys[1])]);
    assert_eq!(out.code, 0, "lease revoke: {out:?}");
    let k3 = p3.wait_lines(2);
    assert_eq!(k3, format!("{}\np3\n", keys[2]));
    obs.wait_lines(6);
    assert_eq!(p3.interrupt(), 0, "p3 on SIGINT: {}", p3.stderr());
    assert_eq!(obs.interrupt(), 0, "observer on SIGINT: {}", obs.stderr());
    assert_eq!(
        (obs.stdout(), obs.stderr()),
        (
            format!("{}\np1\n{}\np2\n{}\np3\n", keys[0], keys[1], keys[2]),
            String::new()
        ),
        "the observer on {}",
        kind.name()
    );
    assert!(keys_of(&srv, "E").is_empty());
}

/// `elect` hands over on the leader's exit and on a killed leader's
/// revoked lease (oxcd).
#[test]
fn elect_handover_on_oxcd() {
    if !testkit::bins::etcd_available("elect_handover_on_oxcd") {
        return;
    }
    elect_handover(ServerKind::Oxcd);
}

/// The same with etcd as the server.
#[test]
fn elect_handover_on_etcd() {
    if !testkit::bins::etcd_available("elect_handover_on_etcd") {
        return;
    }
    elect_handover(ServerKind::Etcd);
}

// ---------------------------------------------------------------------------
// The gRPC services, etcd and oxcd side by side
// ---------------------------------------------------------------------------

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

async fn channel(port: u16) -> Channel {
    Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(2))
        .timeout(WAIT)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
}

/// Awaits `f` for at most [`WAIT`].
async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {WAIT:?}"))
}

fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// One server's results, with the leases named.
struct Transcript {
    lines: Vec<String>,
    /// (id, name): the test's leases, then those the server granted.
    leases: Vec<(i64, String)>,
    kv: KvClient<Channel>,
    lease: LeaseClient<Channel>,
}

impl Transcript {
    async fn new(ch: &Channel) -> Transcript {
        Transcript {
            lines: Vec::new(),
            leases: Vec::new(),
            kv: KvClient::new(ch.clone()),
            lease: LeaseClient::new(ch.clone()),
        }
    }

    fn line(&mut self, l: String) {
        self.lines.push(l);
    }

    /// Grants a lease of 30 s, known as `name`.
    async fn grant(&mut self, name: &str) -> i64 {
        let r = self
            .lease
            .lease_grant(LeaseGrantRequest { ttl: 30, id: 0 })
            .await
            .expect("LeaseGrant")
            .into_inner();
        self.leases.push((r.id, name.to_string()));
        r.id
    }

    async fn revoke(&mut self, id: i64) -> String {
        let r = self
            .lease
            .lease_revoke(LeaseRevokeRequest { id })
            .await
            .expect("LeaseRevoke")
            .into_inner();
        hdr(&r.header)
    }

    /// `id`'s name; a lease not seen before is named `<newN>`.
    fn lease_name(&mut self, id: i64) -> String {
        if id == 0 {
            return "0".into();
        }
        if let Some((_, n)) = self.leases.iter().find(|(i, _)| *i == id) {
            return n.clone();
        }
        let n = format!("<new{}>", self.leases.len() + 1);
        self.leases.push((id, n.clone()));
        n
    }

    /// A key with its lease part (`name/<hex>`) named.
    fn key(&mut self, key: &[u8]) -> String {
        let k = text(key);
        match k.rsplit_once('/') {
            Some((name, hex))
                if (15..=16).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                let id = i64::from_str_radix(hex, 16).expect("hex lease");
                format!("{name}/{}", self.lease_name(id))
            }
            _ => k,
        }
    }

    fn leader(&mut self, l: &Option<LeaderKey>) -> String {
        match l {
            None => "leader=None".into(),
            Some(l) => format!(
                "leader(name={} key={} rev={} lease={})",
                text(&l.name),
                self.key(&l.key),
                l.rev,
                self.lease_name(l.lease)
            ),
        }
    }

    fn kv(&mut self, kv: &Option<KeyValue>) -> String {
        match kv {
            None => "kv=None".into(),
            Some(kv) => format!(
                "kv(key={} value={} create={} mod={} ver={} lease={})",
                self.key(&kv.key),
                text(&kv.value),
                kv.create_revision,
                kv.mod_revision,
                kv.version,
                self.lease_name(kv.lease)
            ),
        }
    }

    /// The keys under `prefix` with their create revisions.
    async fn keys(&mut self, prefix: &str) -> Vec<(String, i64)> {
        let r = self
            .kv
            .range(RangeRequest {
                key: prefix.into(),
                range_end: prefix_end(prefix.as_bytes()),
                ..Default::default()
            })
            .await
            .expect("Range")
            .into_inner();
        r.kvs
            .iter()
            .map(|kv| (self.key(&kv.key), kv.create_revision))
            .collect()
    }

    async fn record_keys(&mut self, prefix: &str) {
        let k = self.keys(prefix).await;
        self.line(format!("keys {prefix}: {k:?}"));
    }

    /// Waits until `prefix` holds `n` keys.
    async fn wait_keys(&mut self, prefix: &str, n: usize) {
        let deadline = Instant::now() + WAIT;
        loop {
            let k = self.keys(prefix).await;
            if k.len() == n {
                return;
            }
            assert!(Instant::now() < deadline, "{n} keys under {prefix}: {k:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    async fn revision(&mut self) -> i64 {
        let r = self
            .kv
            .range(RangeRequest {
                key: b"-".to_vec(),
                ..Default::default()
            })
            .await
            .expect("Range")
            .into_inner();
        r.header.map_or(0, |h| h.revision)
    }
}

fn hdr(h: &Option<ResponseHeader>) -> String {
    match h {
        None => "header=None".into(),
        Some(h) => format!(
            "header(cluster={:x} member={:x} rev={} term={})",
            h.cluster_id, h.member_id, h.revision, h.raft_term
        ),
    }
}

fn status(s: &tonic::Status) -> String {
    format!("error {:?} {:?}", s.code(), s.message())
}

/// Runs `script` against etcd and oxcd on fresh servers; the etcd
/// transcript must equal `want` and oxcd's must equal etcd's.
fn side_by_side<F, Fut>(test: &str, script: F, want: &str)
where
    F: Fn(u16) -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    if !testkit::bins::etcd_available(test) {
        return;
    }
    let got: Vec<String> = [ServerKind::Etcd, ServerKind::Oxcd]
        .into_iter()
        .map(|kind| {
            let srv = Server::start(kind, &[]);
            let mut t = block_on(script(srv.client_port)).join("\n");
            t.push('\n');
            t
        })
        .collect();
    let mut bad = Vec::new();
    if got[0] != want {
        bad.push(format!(
            "etcd is not as expected:\n--- want\n{want}\n--- got\n{}",
            got[0]
        ));
    }
    if got[1] != got[0] {
        let diff: Vec<String> = got[0]
            .lines()
            .zip(got[1].lines())
            .filter(|(e, o)| e != o)
            .map(|(e, o)| format!("  etcd: {e}\n  oxcd: {o}"))
            .collect();
        bad.push(format!(
            "oxcd differs from etcd:\n{}\n--- etcd\n{}\n--- oxcd\n{}",
            diff.join("\n"),
            got[0],
            got[1]
        ));
    }
    assert!(bad.is_empty(), "{test}:\n{}", bad.join("\n\n"));
}

fn lock_req(name: &str, lease: i64) -> LockRequest {
    LockRequest {
        name: name.into(),
        lease,
    }
}

async fn lock_script(port: u16) -> Vec<String> {
    let ch = channel(port).await;
    let mut t = Transcript::new(&ch).await;
    let mut lock = LockClient::new(ch.clone());
    let la = t.grant("La").await;
    let lb = t.grant("Lb").await;
    let lc = t.grant("Lc").await;
    let ld = t.grant("Ld").await;

    // lease 0: a lease of 60 s is granted (and not kept alive)
    match lock.lock(lock_req("g0", 0)).await {
        Ok(r) => {
            let r = r.into_inner();
            let line = format!("Lock g0 lease=0: {} key={}", hdr(&r.header), t.key(&r.key));
            t.line(line);
            let id = i64::from_str_radix(&lease_hex(&text(&r.key)), 16).unwrap();
            let ttl = t
                .lease
                .lease_time_to_live(LeaseTimeToLiveRequest { id, keys: true })
                .await
                .expect("LeaseTimeToLive")
                .into_inner();
            let keys: Vec<String> = ttl.keys.iter().map(|k| t.key(k)).collect();
            let line = format!(
                "  its lease: granted_ttl={} ttl_at_least_55={} keys={keys:?}",
                ttl.granted_ttl,
                ttl.ttl >= 55
            );
            t.line(line);
        }
        Err(e) => t.line(format!("Lock g0 lease=0: {}", status(&e))),
    }
    match lock.lock(lock_req("gm", 12345)).await {
        Ok(r) => t.line(format!("Lock missing lease: OK {:?}", r.into_inner())),
        Err(e) => t.line(format!("Lock missing lease: {}", status(&e))),
    }

    let a = lock
        .lock(lock_req("gl", la))
        .await
        .expect("Lock La")
        .into_inner();
    let line = format!("Lock gl La: {} key={}", hdr(&a.header), t.key(&a.key));
    t.line(line);
    let again = lock
        .lock(lock_req("gl", la))
        .await
        .expect("re-Lock La")
        .into_inner();
    let line = format!(
        "re-Lock gl La: {} key={}",
        hdr(&again.header),
        t.key(&again.key)
    );
    t.line(line);

    // Lb waits for La
    let mut l = lock.clone();
    let wb = tokio::spawn(async move { l.lock(lock_req("gl", lb)).await });
    t.wait_keys("gl/", 2).await;
    // Lc waits for Lb; its own lease is revoked while it waits
    let mut l = lock.clone();
    let wc = tokio::spawn(async move { l.lock(lock_req("gl", lc)).await });
    t.wait_keys("gl/", 3).await;
    t.record_keys("gl/").await;
    let rev = t.revoke(lc).await;
    t.line(format!("revoke Lc: {rev}"));
    // Ld waits for Lb, and its caller goes away: the key is withdrawn
    let mut l = lock.clone();
    let wd = tokio::spawn(async move { l.lock(lock_req("gl", ld)).await });
    t.wait_keys("gl/", 3).await;
    t.record_keys("gl/").await;
    wd.abort();
    t.wait_keys("gl/", 2).await;
    let rev = t.revision().await;
    t.line(format!(
        "Ld's caller gone: its key withdrawn, revision now {rev}"
    ));

    let un = lock
        .unlock(UnlockRequest { key: a.key.clone() })
        .await
        .expect("Unlock La")
        .into_inner();
    t.line(format!("Unlock La's key: {}", hdr(&un.header)));
    let b = within("Lb's Lock", wb)
        .await
        .expect("Lb's task")
        .expect("Lb's Lock")
        .into_inner();
    let line = format!(
        "Lb's Lock returns: {} key={}",
        hdr(&b.header),
        t.key(&b.key)
    );
    t.line(line);
    let same = b.header.as_ref().map(|h| h.revision) == un.header.as_ref().map(|h| h.revision);
    t.line(format!(
        "  its header revision is La's delete revision: {same}"
    ));
    t.line(format!(
        "Lc (lease revoked) still waits: {}",
        !wc.is_finished()
    ));
    let un = lock
        .unlock(UnlockRequest { key: b.key.clone() })
        .await
        .expect("Unlock Lb")
        .into_inner();
    t.line(format!("Unlock Lb's key: {}", hdr(&un.header)));
    match within("Lc's Lock", wc).await.expect("Lc's task") {
        Ok(r) => t.line(format!("Lc's Lock: OK {:?}", r.into_inner())),
        Err(e) => t.line(format!("Lc's Lock: {}", status(&e))),
    }
    t.record_keys("gl/").await;

    for (what, key) in [("missing", &b"nokey"[..]), ("empty", b"")] {
        match lock.unlock(UnlockRequest { key: key.to_vec() }).await {
            Ok(r) => t.line(format!(
                "Unlock {what} key: OK {}",
                hdr(&r.into_inner().header)
            )),
            Err(e) => t.line(format!("Unlock {what} key: {}", status(&e))),
        }
    }

    // an empty name: the key is `/<lease>`
    let r = lock
        .lock(lock_req("", lb))
        .await
        .expect("Lock with an empty name")
        .into_inner();
    let line = format!("Lock \"\" Lb: {} key={}", hdr(&r.header), t.key(&r.key));
    t.line(line);
    let un = lock
        .unlock(UnlockRequest { key: r.key })
        .await
        .expect("Unlock")
        .into_inner();
    t.line(format!("Unlock it: {}", hdr(&un.header)));
    // Unlock deletes whatever key it is given
    t.kv.put(PutRequest {
        key: b"plain".to_vec(),
        value: b"v".to_vec(),
        ..Default::default()
    })
    .await
    .expect("Put");
    let un = lock
        .unlock(UnlockRequest {
            key: b"plain".to_vec(),
        })
        .await
        .expect("Unlock plain")
        .into_inner();
    t.line(format!("Unlock of a plain key: {}", hdr(&un.header)));
    t.record_keys("plain").await;
    t.lines
}

const LOCK_SERVICE: &str = "\
Lock g0 lease=0: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=2 term=2) key=g0/<new5>
  its lease: granted_ttl=60 ttl_at_least_55=true keys=[\"g0/<new5>\"]
Lock missing lease: error Unknown \"etcdserver: requested lease not found\"
Lock gl La: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=3 term=2) key=gl/La
re-Lock gl La: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=3 term=2) key=gl/La
keys gl/: [(\"gl/La\", 3), (\"gl/Lb\", 4), (\"gl/Lc\", 5)]
revoke Lc: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=6 term=2)
keys gl/: [(\"gl/La\", 3), (\"gl/Lb\", 4), (\"gl/Ld\", 7)]
Ld's caller gone: its key withdrawn, revision now 8
Unlock La's key: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=9 term=2)
Lb's Lock returns: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=9 term=2) key=gl/Lb
  its header revision is La's delete revision: true
Lc (lease revoked) still waits: true
Unlock Lb's key: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=10 term=2)
Lc's Lock: error Unknown \"mutex: session is expired\"
keys gl/: []
Unlock missing key: OK header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=10 term=2)
Unlock empty key: error Unknown \"etcdserver: key is not provided\"
Lock \"\" Lb: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=11 term=2) key=/Lb
Unlock it: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=12 term=2)
Unlock of a plain key: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=14 term=2)
keys plain: []
";

/// The Lock service: lease 0 (a 60 s lease granted), a missing lease, a
/// re-Lock with the same lease, contended Locks (the header is the
/// revision of the predecessor's delete), a waiter whose lease is revoked
/// (`mutex: session is expired` once it is its turn), a waiter whose
/// caller goes away, Unlock of a missing and of an empty key.
#[test]
fn lock_service_etcd_vs_oxcd() {
    side_by_side("lock_service_etcd_vs_oxcd", lock_script, LOCK_SERVICE);
}

fn leader_key(name: &str, key: &[u8], rev: i64, lease: i64) -> LeaderKey {
    LeaderKey {
        name: name.into(),
        key: key.to_vec(),
        rev,
        lease,
    }
}

async fn next_leader(
    t: &mut Transcript,
    what: &str,
    s: &mut tonic::Streaming<LeaderResponse>,
) -> String {
    match within(what, s.message()).await {
        Ok(Some(m)) => format!("{what}: {} {}", hdr(&m.header), t.kv(&m.kv)),
        Ok(None) => format!("{what}: the stream ended"),
        Err(e) => format!("{what}: {}", status(&e)),
    }
}

async fn election_script(port: u16) -> Vec<String> {
    let ch = channel(port).await;
    let mut t = Transcript::new(&ch).await;
    let mut el = ElectionClient::new(ch.clone());
    let ea = t.grant("Ea").await;
    let eb = t.grant("Eb").await;
    let ec = t.grant("Ec").await;
    let e = |n: &str| LeaderRequest { name: n.into() };

    match el.leader(e("e")).await {
        Ok(r) => t.line(format!("Leader, none: OK {:?}", r.into_inner())),
        Err(er) => t.line(format!("Leader, none: {}", status(&er))),
    }
    let campaign = |lease: i64, value: &str| CampaignRequest {
        name: b"e".to_vec(),
        lease,
        value: value.into(),
    };
    match el.campaign(campaign(12345, "x")).await {
        Ok(r) => t.line(format!("Campaign missing lease: OK {:?}", r.into_inner())),
        Err(er) => t.line(format!("Campaign missing lease: {}", status(&er))),
    }
    let a = el
        .campaign(campaign(ea, "v1"))
        .await
        .expect("Campaign Ea")
        .into_inner();
    let line = format!("Campaign Ea v1: {} {}", hdr(&a.header), t.leader(&a.leader));
    t.line(line);
    let l = el.leader(e("e")).await.expect("Leader").into_inner();
    let line = format!("Leader: {} {}", hdr(&l.header), t.kv(&l.kv));
    t.line(line);
    let again = el
        .campaign(campaign(ea, "v1b"))
        .await
        .expect("re-Campaign")
        .into_inner();
    let line = format!(
        "re-Campaign Ea v1b: {} {}",
        hdr(&again.header),
        t.leader(&again.leader)
    );
    t.line(line);
    let l = el.leader(e("e")).await.expect("Leader").into_inner();
    let line = format!("Leader: {} {}", hdr(&l.header), t.kv(&l.kv));
    t.line(line);

    let lead = a.leader.clone().expect("a leader key");
    let p = el
        .proclaim(ProclaimRequest {
            leader: Some(lead.clone()),
            value: b"v2".to_vec(),
        })
        .await
        .expect("Proclaim")
        .into_inner();
    t.line(format!("Proclaim v2: {}", hdr(&p.header)));
    let bad = [
        (
            "Proclaim wrong rev",
            Some(leader_key("e", &lead.key, 999, ea)),
        ),
        ("Proclaim no leader", None),
        (
            "Proclaim missing lease",
            Some(leader_key("e", &lead.key, lead.rev, 12345)),
        ),
    ];
    for (what, leader) in bad {
        let r = el
            .proclaim(ProclaimRequest {
                leader,
                value: b"x".to_vec(),
            })
            .await;
        match r {
            Ok(r) => t.line(format!("{what}: OK {}", hdr(&r.into_inner().header))),
            Err(er) => t.line(format!("{what}: {}", status(&er))),
        }
    }
    let bad = [
        ("Resign no leader", None),
        (
            "Resign wrong rev",
            Some(leader_key("e", &lead.key, 999, ea)),
        ),
    ];
    for (what, leader) in bad {
        match el.resign(ResignRequest { leader }).await {
            Ok(r) => t.line(format!("{what}: OK {}", hdr(&r.into_inner().header))),
            Err(er) => t.line(format!("{what}: {}", status(&er))),
        }
    }

    let mut obs = el.observe(e("e")).await.expect("Observe").into_inner();
    let line = next_leader(&mut t, "Observe 1", &mut obs).await;
    t.line(line);
    // Eb campaigns and waits
    let mut c = el.clone();
    let wb = tokio::spawn(async move { c.campaign(campaign(eb, "w1")).await });
    t.wait_keys("e/", 2).await;
    t.record_keys("e/").await;
    let p = el
        .proclaim(ProclaimRequest {
            leader: Some(lead.clone()),
            value: b"v3".to_vec(),
        })
        .await
        .expect("Proclaim v3")
        .into_inner();
    t.line(format!("Proclaim v3: {}", hdr(&p.header)));
    let line = next_leader(&mut t, "Observe 2", &mut obs).await;
    t.line(line);
    let r = el
        .resign(ResignRequest {
            leader: Some(lead.clone()),
        })
        .await
        .expect("Resign")
        .into_inner();
    t.line(format!("Resign Ea: {}", hdr(&r.header)));
    let b = within("Eb's Campaign", wb)
        .await
        .expect("Eb's task")
        .expect("Eb's Campaign")
        .into_inner();
    let line = format!(
        "Eb's Campaign returns: {} {}",
        hdr(&b.header),
        t.leader(&b.leader)
    );
    t.line(line);
    let line = next_leader(&mut t, "Observe 3", &mut obs).await;
    t.line(line);
    let r = el
        .resign(ResignRequest {
            leader: Some(lead.clone()),
        })
        .await
        .expect("Resign again")
        .into_inner();
    t.line(format!("Resign Ea again: {}", hdr(&r.header)));

    // Ec campaigns while Eb leads, and its caller goes away
    let mut c = el.clone();
    let wc = tokio::spawn(async move { c.campaign(campaign(ec, "w2")).await });
    t.wait_keys("e/", 2).await;
    wc.abort();
    t.wait_keys("e/", 1).await;
    let rev = t.revision().await;
    t.line(format!(
        "Ec's caller gone: its key withdrawn, revision now {rev}"
    ));
    t.record_keys("e/").await;

    // An observer of an election without a leader hears of the first one,
    // with the header revision of its put
    // (etcd answers the Observe call itself only with its first message:
    // see `election_observe_answers_with_its_first_leader`)
    let mut o = el.clone();
    let obs0 = tokio::spawn(async move {
        let mut s = o.observe(e("eo")).await?.into_inner();
        s.message().await
    });
    // a moment for the observer to reach its watch
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c0 = el
        .campaign(CampaignRequest {
            name: b"eo".to_vec(),
            lease: 0,
            value: b"c0".to_vec(),
        })
        .await
        .expect("Campaign lease 0")
        .into_inner();
    let line = format!(
        "Campaign eo lease=0: {} {}",
        hdr(&c0.header),
        t.leader(&c0.leader)
    );
    t.line(line);
    let id = c0.leader.as_ref().map_or(0, |l| l.lease);
    let ttl = t
        .lease
        .lease_time_to_live(LeaseTimeToLiveRequest { id, keys: false })
        .await
        .expect("LeaseTimeToLive")
        .into_inner();
    t.line(format!("  its lease: granted_ttl={}", ttl.granted_ttl));
    let line = match within("Observe eo", obs0)
        .await
        .expect("the observer's task")
    {
        Ok(Some(m)) => format!("Observe eo 1: {} {}", hdr(&m.header), t.kv(&m.kv)),
        Ok(None) => "Observe eo 1: the stream ended".into(),
        Err(er) => format!("Observe eo 1: {}", status(&er)),
    };
    t.line(line);
    t.lines
}

const ELECTION_SERVICE: &str = "\
Leader, none: error Unknown \"election: no leader\"
Campaign missing lease: error Unknown \"etcdserver: requested lease not found\"
Campaign Ea v1: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=2 term=2) leader(name=e key=e/Ea rev=2 lease=Ea)
Leader: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=2 term=2) kv(key=e/Ea value=v1 create=2 mod=2 ver=1 lease=Ea)
re-Campaign Ea v1b: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=2 term=2) leader(name=e key=e/Ea rev=2 lease=Ea)
Leader: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=3 term=2) kv(key=e/Ea value=v1b create=2 mod=3 ver=2 lease=Ea)
Proclaim v2: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=4 term=2)
Proclaim wrong rev: error Unknown \"election: not leader\"
Proclaim no leader: error Unknown \"\\\"leader\\\" field must be provided\"
Proclaim missing lease: error Unknown \"etcdserver: requested lease not found\"
Resign no leader: error Unknown \"\\\"leader\\\" field must be provided\"
Resign wrong rev: OK header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=4 term=2)
Observe 1: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=4 term=2) kv(key=e/Ea value=v2 create=2 mod=4 ver=3 lease=Ea)
keys e/: [(\"e/Ea\", 2), (\"e/Eb\", 5)]
Proclaim v3: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=6 term=2)
Observe 2: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=6 term=2) kv(key=e/Ea value=v3 create=2 mod=6 ver=4 lease=Ea)
Resign Ea: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=7 term=2)
Eb's Campaign returns: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=5 term=2) leader(name=e key=e/Eb rev=5 lease=Eb)
Observe 3: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=7 term=2) kv(key=e/Eb value=w1 create=5 mod=5 ver=1 lease=Eb)
Resign Ea again: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=7 term=2)
Ec's caller gone: its key withdrawn, revision now 9
keys e/: [(\"e/Eb\", 5)]
Campaign eo lease=0: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=10 term=2) leader(name=eo key=eo/<new4> rev=10 lease=<new4>)
  its lease: granted_ttl=60
Observe eo 1: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=10 term=2) kv(key=eo/<new4> value=c0 create=10 mod=10 ver=1 lease=<new4>)
";

/// The Election service: Leader with none, Campaign (missing lease, a
/// re-Campaign with a new value, a blocked Campaign answering with the
/// header of its own put, a campaigner whose caller goes away, lease 0),
/// Proclaim and Resign with their errors, and an Observe stream's order
/// (the leader, its proclamation, the next leader after a Resign; a first
/// leader of an empty election).
#[test]
fn election_service_etcd_vs_oxcd() {
    side_by_side(
        "election_service_etcd_vs_oxcd",
        election_script,
        ELECTION_SERVICE,
    );
}

/// An Observe of an election without a leader: etcd (grpc-go) sends the
/// response headers with the first message only, so the call itself is
/// answered once there is a leader; the same with a Campaign in between.
async fn observe_call_script(port: u16) -> Vec<String> {
    let ch = channel(port).await;
    let mut t = Transcript::new(&ch).await;
    let mut el = ElectionClient::new(ch.clone());
    let mut o = el.clone();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = answered.clone();
    let first = tokio::spawn(async move {
        let mut s = o
            .observe(LeaderRequest {
                name: b"eo".to_vec(),
            })
            .await?
            .into_inner();
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        s.message().await
    });
    // a moment for the call to be answered, if it is answered early
    tokio::time::sleep(Duration::from_millis(500)).await;
    let early = answered.load(std::sync::atomic::Ordering::SeqCst);
    t.line(format!(
        "Observe, no leader: the call answered before any leader: {early}"
    ));
    let c = el
        .campaign(CampaignRequest {
            name: b"eo".to_vec(),
            lease: 0,
            value: b"c0".to_vec(),
        })
        .await
        .expect("Campaign")
        .into_inner();
    let line = format!("Campaign: {} {}", hdr(&c.header), t.leader(&c.leader));
    t.line(line);
    let line = match within("Observe", first).await.expect("the observer's task") {
        Ok(Some(m)) => format!("Observe: {} {}", hdr(&m.header), t.kv(&m.kv)),
        Ok(None) => "Observe: the stream ended".into(),
        Err(er) => format!("Observe: {}", status(&er)),
    };
    t.line(line);
    t.lines
}

const OBSERVE_CALL: &str = "\
Observe, no leader: the call answered before any leader: false
Campaign: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=2 term=2) leader(name=eo key=eo/<new1> rev=2 lease=<new1>)
Observe: header(cluster=cdf818194e3a8c32 member=8e9e05c52164694d rev=2 term=2) kv(key=eo/<new1> value=c0 create=2 mod=2 ver=1 lease=<new1>)
";

/// The Observe call of an election without a leader is answered (response
/// headers) only with the first leader, as etcd's.
#[test]
fn election_observe_answers_with_its_first_leader() {
    side_by_side(
        "election_observe_answers_with_its_first_leader",
        observe_call_script,
        OBSERVE_CALL,
    );
}
