//! etcdctl 3.5.1 compatibility against a THREE-member cluster.
//!
//! Each test starts a cluster (`cluster.rs`: real etcd 3.5.1 or `oxcd`,
//! seed flags, free ports, leader moved to `m1`, two setup puts) and runs a
//! list of client invocations ("steps") that spell their `--endpoints`
//! themselves: `{EPS}` is all three members, `{EP1}`..`{EP3}` one member;
//! on a TLS cluster `{EPS}` carries the `https://` scheme and `{CA}`,
//! `{CERT}`, `{KEY}` are the client files (`compat_cluster/tls.rs`).
//! stdout, stderr (without zap log lines) and the exit code of each step are
//! compared after normalisation (`compat_cluster/normalise.rs`: the
//! single-node suite's rules plus C1-C5).
//!
//! - `etcd_*` tests: etcdctl → etcd is the reference; oxctl → etcd must match
//!   it. They must pass.
//! - `oxcd_*` tests: the same steps; etcdctl → oxcd and oxctl → oxcd must
//!   match etcdctl → etcd.
//!
//! Clusters run one at a time (a global lock): the machine has 2 cores, and
//! parallel clusters cause elections. If the leadership moves during a run
//! anyway, the run is repeated (up to 3 times) after moving it back to m1.
//!
//! Environment: `COMPAT_VERBOSE=1` prints the normalised reference output of
//! every step; `ETCD_BIN_DIR` as in the single-node suite.
//!
//! Run: `cargo test -p oxctl --test compat_cluster` (the `oxcd_*` tests use
//! `target/debug/oxcd`: `cargo build -p oxcd` first).

#[path = "common/mod.rs"]
mod common;
// The single-node suite's normalisation rules, reused as they are.
#[path = "compat_cluster/cluster.rs"]
mod cluster;
#[allow(dead_code)]
#[path = "compat/normalise.rs"]
mod compat_normalise;
#[path = "compat_cluster/env_file.rs"]
mod env_file;
#[path = "compat_cluster/normalise.rs"]
mod normalise;
#[path = "compat_cluster/snapshot_save.rs"]
mod snapshot_save;
#[path = "compat_cluster/tls.rs"]
mod tls;

use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, PoisonError};

use cluster::{next_cluster, start, Cluster, How};
use common::{ClientKind, ServerKind};
use normalise::Layout;

/// A step's outcome after normalisation (also the type the single-node
/// rules produce).
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    stdout: String,
    stderr: String,
    zap: String,
    code: i32,
}

/// One client invocation.
#[derive(Clone)]
pub struct Step {
    args: Vec<String>,
    /// Rule C4: the answering member is the balancer's choice.
    any_responder: bool,
    /// Exact normalised stdout (and exit 0) of the reference run.
    expect_stdout: Option<String>,
}

fn step(args: &[&str]) -> Step {
    Step {
        args: args.iter().map(|a| a.to_string()).collect(),
        any_responder: false,
        expect_stdout: None,
    }
}

impl Step {
    fn any_responder(mut self) -> Self {
        self.any_responder = true;
        self
    }
    fn expect_out(mut self, stdout: &str) -> Self {
        self.expect_stdout = Some(stdout.to_string());
        self
    }
    /// The `-w` writer (`simple` by default).
    fn writer(&self) -> &str {
        let mut it = self.args.iter();
        while let Some(a) = it.next() {
            if a == "-w" || a == "--write-out" {
                return it.next().map_or("simple", String::as_str);
            }
            if let Some(w) = a
                .strip_prefix("--write-out=")
                .or_else(|| a.strip_prefix("-w="))
            {
                return w;
            }
        }
        "simple"
    }
    fn is_protobuf(&self) -> bool {
        self.writer() == "protobuf"
    }
    fn is_health(&self) -> bool {
        self.args.iter().any(|a| a == "health")
    }
    fn expand(&self, c: &Cluster) -> Vec<String> {
        self.args
            .iter()
            .map(|a| {
                let mut a = a.replace("{EPS}", &c.endpoints());
                for (i, m) in c.members.iter().enumerate() {
                    a = a.replace(&format!("{{EP{}}}", i + 1), &m.endpoint());
                }
                if let Some(t) = &c.tls {
                    for (name, p) in [("{CA}", &t.ca), ("{CERT}", &t.cert), ("{KEY}", &t.key)] {
                        a = a.replace(name, &p.display().to_string());
                    }
                }
                a
            })
            .collect()
    }
    fn display(&self) -> String {
        format!("<ctl> {}", self.args.join(" "))
    }
}

/// Clusters run one at a time.
static CLUSTER_LOCK: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    CLUSTER_LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Runs `steps` with `client` against `c`, with `m1` leading throughout
/// (repeated when the leadership or term changed during the run).
fn run_steps(c: &mut Cluster, client: ClientKind, steps: &[Step]) -> Vec<Outcome> {
    let layout = Layout::of(c);
    let bin = client.binary();
    for attempt in 1..=3 {
        let term = c.ensure_leader_m1().unwrap_or_else(|e| {
            panic!("{} cluster: cannot make m1 the leader: {e}", c.kind.name())
        });
        let outcomes: Vec<Outcome> = steps
            .iter()
            .map(|st| {
                let out = common::run(&bin, None, &st.expand(c), None, &[]);
                let mut o = normalise::normalise_step(&out, st, &layout);
                if out.timed_out {
                    o.stderr
                        .push_str("<harness: client killed after timeout>\n");
                }
                o
            })
            .collect();
        if c.leader_term() == Some((0, term)) {
            return outcomes;
        }
        eprintln!(
            "{} cluster: the leadership changed during the {} run (attempt {attempt}); \
             running the steps again",
            c.kind.name(),
            client.name()
        );
    }
    panic!("{} cluster: the leader kept changing", c.kind.name());
}

/// Line-by-line differences (`-` expected, `+` actual); outputs are short.
fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let mut s = String::new();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => {
                let _ = writeln!(s, "      {x:?}");
            }
            (x, y) => {
                if let Some(x) = x {
                    let _ = writeln!(s, "    - {x:?}");
                }
                if let Some(y) = y {
                    let _ = writeln!(s, "    + {y:?}");
                }
            }
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        let _ = writeln!(s, "    (final newline differs)");
    }
    s
}

fn compare(expected: &Outcome, actual: &Outcome) -> Option<String> {
    let mut s = String::new();
    if expected.stdout != actual.stdout {
        let _ = write!(
            s,
            "  stdout differs (- expected, + actual):\n{}",
            diff(&expected.stdout, &actual.stdout)
        );
    }
    if expected.stderr != actual.stderr {
        let _ = write!(
            s,
            "  stderr differs (- expected, + actual):\n{}",
            diff(&expected.stderr, &actual.stderr)
        );
    }
    if expected.code != actual.code {
        let _ = writeln!(
            s,
            "  exit code differs: expected {}, got {}",
            expected.code, actual.code
        );
    }
    (!s.is_empty()).then_some(s)
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = e.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "<non-string panic>".to_string()
    }
}

/// etcdctl → etcd: checks the steps' expectations, prints the outputs when
/// verbose. Returns the reference outcomes and any expectation report.
fn reference_run(c: &mut Cluster, steps: &[Step], report: &mut String) -> Vec<Outcome> {
    let reference = run_steps(c, ClientKind::RealEtcdctl, steps);
    for (i, (st, out)) in steps.iter().zip(&reference).enumerate() {
        if env_flag("COMPAT_VERBOSE") {
            eprintln!(
                "[step {}] {}\n--- stdout ---\n{}--- stderr ---\n{}--- exit {} ---",
                i + 1,
                st.display(),
                out.stdout,
                out.stderr,
                out.code
            );
        }
        if let Some(want) = &st.expect_stdout {
            if *want != out.stdout || out.code != 0 {
                let _ = write!(
                    report,
                    "\n=== HARNESS MISMATCH: step {} `{}`: etcdctl → etcd differs from the \
                     expectation (exit {}) ===\n{}",
                    i + 1,
                    st.display(),
                    out.code,
                    diff(want, &out.stdout)
                );
            }
        }
    }
    reference
}

/// Compares `outcomes` (of `combo`) with the reference, step by step.
fn compare_run(
    steps: &[Step],
    reference: &[Outcome],
    outcomes: &[Outcome],
    combo: &str,
    report: &mut String,
    summary: &mut String,
) {
    assert_eq!(
        (reference.len(), outcomes.len()),
        (steps.len(), steps.len()),
        "one outcome per step"
    );
    let mut failed = Vec::new();
    for (i, ((st, want), got)) in steps.iter().zip(reference).zip(outcomes).enumerate() {
        if let Some(d) = compare(want, got) {
            failed.push((i + 1).to_string());
            let _ = write!(
                report,
                "\n=== MISMATCH: step {} `{}`, {combo} (expected: etcdctl → etcd) ===\n{d}",
                i + 1,
                st.display()
            );
        }
    }
    if !failed.is_empty() {
        let _ = writeln!(
            summary,
            "  {combo}: {} of {} steps differ (steps {})",
            failed.len(),
            steps.len(),
            failed.join(", ")
        );
    }
}

/// `etcd_*`: etcdctl and oxctl against one real etcd cluster.
fn against_etcd(test: &str, how: How, steps: Vec<Step>) {
    if !testkit::bins::etcd_available(test) {
        return;
    }
    let _serial = serial();
    let (mut report, mut summary) = (String::new(), String::new());
    let mut c = start(ServerKind::Etcd, how);
    let reference = reference_run(&mut c, &steps, &mut report);
    let mut c = next_cluster(c, how);
    let ox = run_steps(&mut c, ClientKind::Oxctl, &steps);
    compare_run(
        &steps,
        &reference,
        &ox,
        "oxctl → etcd",
        &mut report,
        &mut summary,
    );
    if !report.is_empty() {
        panic!("cluster compatibility mismatches in `{test}`:\n{summary}{report}");
    }
}

/// `oxcd_*`: etcdctl and oxctl against an oxcd cluster, compared with
/// etcdctl against an etcd cluster.
fn against_oxcd(test: &str, how: How, steps: Vec<Step>) {
    if !testkit::bins::etcd_available(test) {
        return;
    }
    let _serial = serial();
    let (mut report, mut summary) = (String::new(), String::new());
    let reference = {
        let mut c = start(ServerKind::Etcd, how);
        reference_run(&mut c, &steps, &mut report)
    };
    let result = std::panic::catch_unwind(|| {
        let mut c = start(ServerKind::Oxcd, how);
        let e = run_steps(&mut c, ClientKind::RealEtcdctl, &steps);
        let mut c = next_cluster(c, how);
        let o = run_steps(&mut c, ClientKind::Oxctl, &steps);
        (e, o, c.logs())
    });
    match result {
        Ok((e, o, logs)) => {
            compare_run(
                &steps,
                &reference,
                &e,
                "etcdctl → oxcd",
                &mut report,
                &mut summary,
            );
            compare_run(
                &steps,
                &reference,
                &o,
                "oxctl → oxcd",
                &mut report,
                &mut summary,
            );
            if !summary.is_empty() {
                let _ = write!(report, "\n--- oxcd cluster logs ---\n{logs}");
            }
        }
        Err(e) => {
            let _ = writeln!(summary, "  oxcd cluster: failed to run");
            let _ = write!(
                report,
                "\n=== FAILED TO RUN against the oxcd cluster: {}\n",
                panic_message(e.as_ref())
            );
        }
    }
    if !report.is_empty() {
        panic!("cluster compatibility mismatches in `{test}`:\n{summary}{report}");
    }
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

const WRITERS: [&str; 5] = ["simple", "json", "fields", "protobuf", "table"];

/// The seed's `member list -w table` (plus 3.5's IS LEARNER column).
const MEMBER_TABLE: &str = "\
+------------------+---------+------+------------------------+------------------------+------------+
|        ID        | STATUS  | NAME |       PEER ADDRS       |      CLIENT ADDRS      | IS LEARNER |
+------------------+---------+------+------------------------+------------------------+------------+
| <ID-m1> | started |   m1 | http://<PEER-m1> | http://<EP-m1> |      false |
| <ID-m2> | started |   m2 | http://<PEER-m2> | http://<EP-m2> |      false |
| <ID-m3> | started |   m3 | http://<PEER-m3> | http://<EP-m3> |      false |
+------------------+---------+------+------------------------+------------------------+------------+
";

/// The seed's `endpoint status -w table` over three endpoints (plus 3.5's
/// IS LEARNER, RAFT APPLIED INDEX and ERRORS columns).
const STATUS_TABLE: &str = "\
+-----------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+
|    ENDPOINT     |        ID        | VERSION | DB SIZE | IS LEADER | IS LEARNER | RAFT TERM | RAFT INDEX | RAFT APPLIED INDEX | ERRORS |
+-----------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+
| <EP-m1> | <ID-m1> |   3.5.1 |  <SIZE> |      true |      false |    <TERM> |    <INDEX> |            <INDEX> |        |
| <EP-m2> | <ID-m2> |   3.5.1 |  <SIZE> |     false |      false |    <TERM> |    <INDEX> |            <INDEX> |        |
| <EP-m3> | <ID-m3> |   3.5.1 |  <SIZE> |     false |      false |    <TERM> |    <INDEX> |            <INDEX> |        |
+-----------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+
";

fn member_list_steps() -> Vec<Step> {
    let mut v: Vec<Step> = WRITERS
        .iter()
        .map(|w| step(&["--endpoints={EPS}", "member", "list", "-w", w]).any_responder())
        .collect();
    v[4] = v[4].clone().expect_out(MEMBER_TABLE);
    v.push(step(&["--endpoints={EPS}", "member", "list"]).expect_out(
        "<ID-m1>, started, m1, http://<PEER-m1>, http://<EP-m1>, false\n\
         <ID-m2>, started, m2, http://<PEER-m2>, http://<EP-m2>, false\n\
         <ID-m3>, started, m3, http://<PEER-m3>, http://<EP-m3>, false\n",
    ));
    // One endpoint: a follower answers, its ID is compared.
    for w in WRITERS {
        v.push(step(&["--endpoints={EP2}", "member", "list", "-w", w]));
    }
    v.push(step(&["--endpoints={EP1}", "member", "list", "-w", "json"]));
    v
}

fn endpoint_status_steps() -> Vec<Step> {
    let mut v = Vec::new();
    for w in WRITERS {
        let s = step(&["--endpoints={EPS}", "endpoint", "status", "-w", w]);
        v.push(if w == "table" {
            s.expect_out(STATUS_TABLE)
        } else {
            s
        });
        v.push(step(&[
            "--endpoints={EPS}",
            "endpoint",
            "status",
            "--cluster",
            "-w",
            w,
        ]));
    }
    // One endpoint, and --cluster discovering the others from it.
    for w in ["simple", "json", "table"] {
        v.push(step(&["--endpoints={EP2}", "endpoint", "status", "-w", w]));
        v.push(step(&[
            "--endpoints={EP3}",
            "endpoint",
            "status",
            "--cluster",
            "-w",
            w,
        ]));
    }
    v
}

fn endpoint_health_steps() -> Vec<Step> {
    let mut v = Vec::new();
    for w in WRITERS {
        v.push(step(&[
            "--endpoints={EPS}",
            "endpoint",
            "health",
            "--cluster",
            "-w",
            w,
        ]));
        v.push(step(&["--endpoints={EPS}", "endpoint", "health", "-w", w]));
    }
    v.push(step(&["--endpoints={EP2}", "endpoint", "health"]));
    v.push(step(&[
        "--endpoints={EP2}",
        "endpoint",
        "health",
        "--cluster",
    ]));
    v
}

fn endpoint_hashkv_steps() -> Vec<Step> {
    let mut v = Vec::new();
    for w in WRITERS {
        v.push(step(&[
            "--endpoints={EPS}",
            "endpoint",
            "hashkv",
            "--cluster",
            "-w",
            w,
        ]));
        v.push(step(&["--endpoints={EPS}", "endpoint", "hashkv", "-w", w]));
    }
    v.push(step(&[
        "--endpoints={EPS}",
        "endpoint",
        "hashkv",
        "--cluster",
        "--rev=2",
        "-w",
        "json",
    ]));
    v.push(step(&[
        "--endpoints={EP3}",
        "endpoint",
        "hashkv",
        "--cluster",
    ]));
    v
}

#[test]
fn etcd_member_list() {
    against_etcd("etcd_member_list", How::Plain, member_list_steps());
}

#[test]
fn etcd_endpoint_status() {
    against_etcd("etcd_endpoint_status", How::Plain, endpoint_status_steps());
}

#[test]
fn etcd_endpoint_health() {
    against_etcd("etcd_endpoint_health", How::Plain, endpoint_health_steps());
}

#[test]
fn etcd_endpoint_hashkv() {
    against_etcd("etcd_endpoint_hashkv", How::Plain, endpoint_hashkv_steps());
}

#[test]
fn oxcd_member_list() {
    against_oxcd("oxcd_member_list", How::Plain, member_list_steps());
}

#[test]
fn oxcd_endpoint_status() {
    against_oxcd("oxcd_endpoint_status", How::Plain, endpoint_status_steps());
}

#[test]
fn oxcd_endpoint_health() {
    against_oxcd("oxcd_endpoint_health", How::Plain, endpoint_health_steps());
}

#[test]
fn oxcd_endpoint_hashkv() {
    against_oxcd("oxcd_endpoint_hashkv", How::Plain, endpoint_hashkv_steps());
}

/// `m3` killed (SIGKILL) after the start: it stays in the member list, its
/// endpoint fails after `--command-timeout`.
fn member_down_steps() -> Vec<Step> {
    let t = "--command-timeout=2s";
    vec![
        step(&["--endpoints={EPS}", t, "endpoint", "status", "-w", "table"]),
        step(&["--endpoints={EPS}", t, "endpoint", "status", "--cluster"]),
        step(&["--endpoints={EPS}", t, "endpoint", "status", "-w", "json"]),
        step(&["--endpoints={EPS}", t, "endpoint", "health", "--cluster"]),
        step(&["--endpoints={EPS}", t, "endpoint", "health", "-w", "table"]),
        step(&["--endpoints={EPS}", t, "endpoint", "health", "-w", "json"]),
        step(&["--endpoints={EPS}", t, "endpoint", "hashkv", "--cluster"]),
        step(&["--endpoints={EP1}", "member", "list", "-w", "table"]).expect_out(MEMBER_TABLE),
        step(&[
            "--endpoints={EP2}",
            t,
            "endpoint",
            "status",
            "--cluster",
            "-w",
            "fields",
        ]),
    ]
}

#[test]
fn etcd_member_down() {
    against_etcd("etcd_member_down", How::Down(2), member_down_steps());
}

#[test]
fn oxcd_member_down() {
    against_oxcd("oxcd_member_down", How::Down(2), member_down_steps());
}
