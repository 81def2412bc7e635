//! etcdctl 3.5.1 compatibility suite.
//!
//! Every scenario is a list of client invocations ("steps") run in order on a
//! FRESH single-node server. Each scenario runs four ways:
//!
//! 1. real etcdctl → real etcd   (the reference: its output is the expectation)
//! 2. oxctl        → real etcd
//! 3. real etcdctl → oxcd
//! 4. oxctl        → oxcd
//!
//! For every step, stdout, stderr (without zap JSON log lines) and the exit
//! code are compared with the reference after the explicit normalisation in
//! [`normalise_text`] / [`normalise_protobuf`] / [`mask_leases`]. Steps may
//! use `{EP}` (the server's endpoint) and `{LEASE}` (the lease granted most
//! recently in the run) in their arguments. Some steps also carry exact
//! expected outputs (acceptance cases of the project's etcdctl 3.5.1
//! reference notes, which are not in this repository: the expected text is
//! in the step itself); those are checked against the reference run, so a
//! harness problem shows up as "reference run does not match the doc".
//!
//! Environment switches:
//! - `COMPAT_ONLY_REFERENCE=1`: run only etcdctl → etcd (debugs the harness;
//!   needs neither oxctl nor oxcd to work).
//! - `COMPAT_VERBOSE=1`: print the normalised reference output of every step.
//! - `ETCD_BIN_DIR`: where the real etcd 3.5.1 binaries are
//!   (default `.ci/etcd/v3.5.1`, installed by `.ci/install-etcd.sh`).
//!
//! Layout: this file holds steps, scenarios and the runner; `compare.rs` the
//! comparison of outcomes; `normalise.rs` the normalisation rules; `kv.rs`,
//! `maintenance.rs`, `hashkv.rs` and `auth.rs` the scenarios.
//!
//! Run: `cargo build --workspace --bins && cargo test --test compat`.

mod auth;
#[path = "../common/mod.rs"]
mod common;
mod compare;
mod hashkv;
mod kv;
mod maintenance;
mod normalise;

use compare::*;
use normalise::*;

use common::{ClientKind, ServerKind};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

// ---------------------------------------------------------------------------
// Steps and scenarios
// ---------------------------------------------------------------------------

/// Placeholder in step arguments and environment values for the endpoint
/// (`127.0.0.1:<port>`) of the server the scenario runs against.
const EP: &str = "{EP}";

/// Placeholder in step arguments for the hex ID of the lease granted most
/// recently in this run (see [`granted_leases`]).
const LEASE: &str = "{LEASE}";

/// One client invocation.
#[derive(Clone)]
struct Step {
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    env: Vec<(String, String)>,
    /// Prepend `--endpoints=<server>` (default). Off for steps that spell
    /// their endpoints themselves (a repeated `--endpoints` flag appends).
    with_endpoint: bool,
    /// `Some(reason)`: stdout is not compared for this step.
    skip_stdout: Option<&'static str>,
    /// Also compare the zap log lines (level, msg, environment-variable).
    compare_zap: bool,
    /// Expectations on the (normalised) reference run, from the doc.
    expect_stdout: Option<String>,
    expect_stdout_contains: Option<String>,
    expect_stderr: Option<String>,
    expect_code: Option<i32>,
}

fn step(args: &[&str]) -> Step {
    Step {
        args: args.iter().map(OsString::from).collect(),
        stdin: None,
        env: Vec::new(),
        with_endpoint: true,
        skip_stdout: None,
        compare_zap: false,
        expect_stdout: None,
        expect_stdout_contains: None,
        expect_stderr: None,
        expect_code: None,
    }
}

/// A step whose arguments may hold arbitrary (non-UTF-8) bytes.
fn step_bytes(args: &[&[u8]]) -> Step {
    let mut s = step(&[]);
    s.args = args
        .iter()
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect();
    s
}

impl Step {
    fn stdin(mut self, bytes: &[u8]) -> Self {
        self.stdin = Some(bytes.to_vec());
        self
    }
    fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }
    /// Do not prepend `--endpoints=<server>`.
    fn raw(mut self) -> Self {
        self.with_endpoint = false;
        self
    }
    fn skip_stdout(mut self, reason: &'static str) -> Self {
        self.skip_stdout = Some(reason);
        self
    }
    fn zap(mut self) -> Self {
        self.compare_zap = true;
        self
    }
    /// Exact normalised stdout, stderr and exit code of the reference run.
    fn expect(mut self, stdout: &str, stderr: &str, code: i32) -> Self {
        self.expect_stdout = Some(stdout.to_string());
        self.expect_stderr = Some(stderr.to_string());
        self.expect_code = Some(code);
        self
    }
    fn expect_out(mut self, stdout: &str) -> Self {
        self.expect_stdout = Some(stdout.to_string());
        self.expect_code = Some(0);
        self
    }
    fn expect_contains(mut self, needle: &str) -> Self {
        self.expect_stdout_contains = Some(needle.to_string());
        self
    }
    fn expect_err(mut self, stderr: &str, code: i32) -> Self {
        self.expect_stderr = Some(stderr.to_string());
        self.expect_code = Some(code);
        self
    }
    fn expect_code(mut self, code: i32) -> Self {
        self.expect_code = Some(code);
        self
    }

    /// Does this step select the protobuf writer?
    fn is_protobuf(&self) -> bool {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        args.iter().enumerate().any(|(i, a)| {
            a == "--write-out=protobuf"
                || a == "-w=protobuf"
                || a == "-wprotobuf"
                || ((a == "-w" || a == "--write-out")
                    && args.get(i + 1).map(String::as_str) == Some("protobuf"))
        })
    }

    /// A readable, shell-like rendering of the step for reports.
    fn display(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.env {
            let _ = write!(s, "{k}={} ", shell_quote(v.as_bytes()));
        }
        if let Some(stdin) = &self.stdin {
            let _ = write!(s, "printf {} | ", shell_quote(stdin));
        }
        s.push_str("<ctl>");
        if self.with_endpoint {
            s.push_str(" --endpoints={EP}");
        }
        for a in &self.args {
            s.push(' ');
            s.push_str(&shell_quote(a.as_bytes()));
        }
        s
    }
}

fn shell_quote(b: &[u8]) -> String {
    let plain = !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_=./:{},".contains(c));
    if plain {
        return String::from_utf8_lossy(b).into_owned();
    }
    let mut s = String::from("'");
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\'' => s.push_str("'\\''"),
                '\n' => s.push_str("\\n"),
                c if c.is_control() => {
                    let _ = write!(s, "\\x{:02x}", c as u32);
                }
                c => s.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(s, "\\x{byte:02x}");
        }
    }
    s.push('\'');
    s
}

struct Scenario {
    name: &'static str,
    server_flags: Vec<&'static str>,
    steps: Vec<Step>,
}

fn scenario(name: &'static str, steps: Vec<Step>) -> Scenario {
    Scenario {
        name,
        server_flags: Vec::new(),
        steps,
    }
}

// ---------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------

/// A step's outcome after normalisation.
#[derive(Clone, Debug, PartialEq)]
struct Outcome {
    stdout: String,
    stderr: String,
    zap: String,
    code: i32,
}

// ---------------------------------------------------------------------------
// Running and comparing
// ---------------------------------------------------------------------------

const COMBINATIONS: [(ClientKind, ServerKind); 4] = [
    (ClientKind::RealEtcdctl, ServerKind::Etcd),
    (ClientKind::Oxctl, ServerKind::Etcd),
    (ClientKind::RealEtcdctl, ServerKind::Oxcd),
    (ClientKind::Oxctl, ServerKind::Oxcd),
];

fn combo_name(c: ClientKind, s: ServerKind) -> String {
    format!("{} → {}", c.name(), s.name())
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Runs all steps of `sc` on a fresh server of `server` with `client`.
/// Also returns the tail of the server's logs (for mismatch reports).
fn run_combination(
    sc: &Scenario,
    client: ClientKind,
    server: ServerKind,
) -> (Vec<Outcome>, String) {
    let srv = common::Server::start(server, &sc.server_flags);
    let endpoint = srv.endpoint();
    let bin = client.binary();
    let mut leases: Vec<i64> = Vec::new();
    let mut outcomes = Vec::new();
    for st in &sc.steps {
        let lease_hex = leases.last().map(|id| format!("{id:016x}"));
        let args: Vec<OsString> = st
            .args
            .iter()
            .map(|a| {
                let bytes = a.as_bytes();
                let s = String::from_utf8_lossy(bytes);
                if std::str::from_utf8(bytes).is_err() {
                    return a.clone();
                }
                let mut s = s.replace(EP, &endpoint);
                if let Some(h) = &lease_hex {
                    s = s.replace(LEASE, h);
                }
                OsString::from(s)
            })
            .collect();
        let env: Vec<(String, String)> = st
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.replace(EP, &endpoint)))
            .collect();
        let env_ref: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = common::run(
            &bin,
            st.with_endpoint.then_some(endpoint.as_str()),
            &args,
            st.stdin.as_deref(),
            &env_ref,
        );
        leases.extend(granted_leases(&out.stdout));
        let mut outcome = normalise(&out, &endpoint, st.is_protobuf(), &leases);
        if out.timed_out {
            outcome
                .stderr
                .push_str("<harness: client killed after timeout>\n");
        }
        outcomes.push(outcome);
    }
    let logs = srv.logs();
    let lines: Vec<&str> = logs.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    (outcomes, tail)
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

/// Runs a scenario group: every scenario, every combination (sequentially),
/// then panics with one report listing all mismatches.
fn run_scenarios(test: &str, scenarios: Vec<Scenario>) {
    if !testkit::bins::etcd_available(test) {
        return;
    }
    let only_reference = env_flag("COMPAT_ONLY_REFERENCE");
    let verbose = env_flag("COMPAT_VERBOSE");
    let mut report = String::new();
    let mut summary = String::new();
    for sc in &scenarios {
        let (rc, rs) = COMBINATIONS[0];
        let (reference, _) = run_combination(sc, rc, rs);
        for (idx, (st, out)) in sc.steps.iter().zip(&reference).enumerate() {
            if verbose {
                eprintln!(
                    "[{} step {}] {}\n--- stdout ---\n{}--- stderr ---\n{}{}--- exit {} ---",
                    sc.name,
                    idx + 1,
                    st.display(),
                    out.stdout,
                    out.stderr,
                    out.zap,
                    out.code
                );
            }
            if let Some(d) = check_doc_expectations(st, out) {
                let _ = write!(
                    report,
                    "\n=== HARNESS/DOC MISMATCH: scenario `{}`, step {} `{}`: the reference \
                     run etcdctl → etcd differs from the reference doc ===\n{d}",
                    sc.name,
                    idx + 1,
                    st.display()
                );
            }
        }
        if only_reference {
            continue;
        }
        for &(client, server) in &COMBINATIONS[1..] {
            let combo = combo_name(client, server);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_combination(sc, client, server)
            }));
            let (outcomes, server_log_tail) = match result {
                Ok(o) => o,
                Err(e) => {
                    let _ = write!(
                        report,
                        "\n=== FAILED TO RUN: scenario `{}`, combination {combo}: {}\n",
                        sc.name,
                        panic_message(e.as_ref())
                    );
                    let _ = writeln!(summary, "  `{}` {combo}: failed to run", sc.name);
                    continue;
                }
            };
            let mut failed_steps = Vec::new();
            for (idx, ((st, want), got)) in
                sc.steps.iter().zip(&reference).zip(&outcomes).enumerate()
            {
                if let Some(d) = compare(st, want, got) {
                    failed_steps.push((idx + 1).to_string());
                    let _ = write!(
                        report,
                        "\n=== MISMATCH: scenario `{}`, step {} `{}`, combination {combo} \
                         (expected: etcdctl → etcd) ===\n{d}",
                        sc.name,
                        idx + 1,
                        st.display()
                    );
                }
            }
            if !failed_steps.is_empty() {
                let _ = writeln!(
                    summary,
                    "  `{}` {combo}: {} of {} steps differ (steps {})",
                    sc.name,
                    failed_steps.len(),
                    sc.steps.len(),
                    failed_steps.join(", ")
                );
                if server == ServerKind::Oxcd {
                    let _ = write!(
                        report,
                        "\n--- last lines of the oxcd logs for `{}`, {combo} ---\n{server_log_tail}\n",
                        sc.name
                    );
                }
            }
        }
    }
    if !report.is_empty() {
        panic!("compatibility mismatches in `{test}`:\n{summary}{report}");
    }
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// Doc §3.4 header of a json response, with rule 3 applied.
fn json_header(revision: u64) -> String {
    format!(
        "{{\"header\":{{\"cluster_id\":14841639068965178418,\"member_id\":10276657743932975437,\
         \"revision\":{revision},\"raft_term\":<TERM>}}"
    )
}

/// Doc §3.4 header of a fields response, with rule 3 applied.
fn fields_header(revision: u64) -> String {
    format!(
        "\"ClusterID\" : 14841639068965178418\n\"MemberID\" : 10276657743932975437\n\
         \"Revision\" : {revision}\n\"RaftTerm\" : <TERM>\n"
    )
}
