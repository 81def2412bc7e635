//! `watch` needs a process that runs until it is stopped, which the compat
//! runner cannot express: here real etcdctl 3.5.1 and oxctl watch side by
//! side against real etcd and against oxcd, etcdctl writes the events, and
//! both watchers' stdout must be byte-identical (only `"raft_term"` in json
//! headers is normalised). Case 48 (a compacted start revision) is checked
//! for its exact stderr and exit code 5.
//!
//! Run: `cargo build --workspace --bins && cargo test --test watch`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, ServerKind};
use testkit::Proc;

/// How long the events may take to reach a watcher.
const EVENT_TIMEOUT: Duration = Duration::from_secs(15);
/// Output unchanged for this long counts as complete.
const QUIET: Duration = Duration::from_millis(600);

/// A background `watch` (`testkit::Proc`: no `ETCD*` variables of ours
/// reach it; killed and reaped when dropped).
struct Watcher {
    proc: Proc,
    what: String,
}

impl Watcher {
    fn start(bin: &Path, srv: &Server, args: &[&str], dir: &Path, tag: &str) -> Watcher {
        let mut all = vec![format!("--endpoints={}", srv.endpoint())];
        all.extend(args.iter().map(|a| a.to_string()));
        let mut proc = Proc::new(tag, bin, all, Some(dir));
        proc.spawn();
        Watcher {
            proc,
            what: format!("{} {} → {}", tag, args.join(" "), srv.kind.name()),
        }
    }

    fn output(&self) -> Vec<u8> {
        self.proc.stdout_bytes()
    }
}

/// Waits until every watcher printed something and all outputs stayed
/// unchanged for [`QUIET`] (bounded by [`EVENT_TIMEOUT`]).
fn wait_settled(ws: &[&Watcher]) {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    let mut last: Vec<Vec<u8>> = ws.iter().map(|w| w.output()).collect();
    let mut since = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now: Vec<Vec<u8>> = ws.iter().map(|w| w.output()).collect();
        if now != last {
            last = now;
            since = Instant::now();
        } else if last.iter().all(|o| !o.is_empty()) && since.elapsed() >= QUIET {
            return;
        }
    }
}

fn normalise(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let mut out = String::new();
    let mut rest: &str = &s;
    while let Some(pos) = rest.find("\"raft_term\":") {
        let start = pos + "\"raft_term\":".len();
        out.push_str(&rest[..start]);
        out.push_str("<TERM>");
        rest = rest[start..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

fn etcdctl(srv: &Server, args: &[&str]) {
    let out = common::run(
        &testkit::bins::etcdctl(),
        Some(&srv.endpoint()),
        args,
        None,
        &[],
    );
    assert_eq!(out.code, 0, "etcdctl {args:?}: {:?}", out);
}

const EXEC: &str = "echo key=$ETCD_WATCH_KEY type=$ETCD_WATCH_EVENT_TYPE \
                    rev=$ETCD_WATCH_REVISION val=$ETCD_WATCH_VALUE";

fn live_cases() -> Vec<Vec<&'static str>> {
    vec![
        vec!["watch", "wk", "--prev-kv"],
        vec!["watch", "--prefix", "wp", "-w", "json"],
        vec!["watch", "--prefix", "wp", "--prev-kv", "-w", "json"],
        vec!["watch", "--rev=1", "--prefix", "w", "--prev-kv"],
        vec!["watch", "wa", "wz", "--hex"],
        vec!["watch", "--prefix", "wp", "--", "sh", "-c", EXEC],
    ]
}

/// Doc §6.1 case 47.
const CASE_47: &str = "PUT\nwk\nv1\nPUT\nwk\nv1\nwk\nv2\nDELETE\nwk\nv2\nwk\n\n";

fn compare(pairs: &[(Watcher, Watcher)]) {
    for (reference, ours) in pairs {
        let (r, o) = (normalise(&reference.output()), normalise(&ours.output()));
        assert!(!r.is_empty(), "no events reached {}", reference.what);
        assert_eq!(
            o, r,
            "stdout of {} differs from {}",
            ours.what, reference.what
        );
    }
}

fn watch_against(kind: ServerKind) {
    let srv = Server::start(kind, &[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let start_pair = |args: &[&str], i: usize| {
        (
            Watcher::start(
                &testkit::bins::etcdctl(),
                &srv,
                args,
                dir.path(),
                &format!("etcdctl{i}"),
            ),
            Watcher::start(
                &testkit::bins::oxctl(),
                &srv,
                args,
                dir.path(),
                &format!("oxctl{i}"),
            ),
        )
    };
    let pairs: Vec<(Watcher, Watcher)> = live_cases()
        .iter()
        .enumerate()
        .map(|(i, a)| start_pair(a, i))
        .collect();
    // The watchers print nothing when their watch is created.
    std::thread::sleep(Duration::from_millis(1500));
    for op in [
        &["put", "wk", "v1"][..],
        &["put", "wk", "v2"],
        &["del", "wk"],
        &["put", "wp/a", "1"],
        &["put", "wp/b", "2"],
        &["put", "wb", "\u{1}x"],
        &["del", "wp/a"],
    ] {
        etcdctl(&srv, op);
    }
    let all: Vec<&Watcher> = pairs.iter().flat_map(|(a, b)| [a, b]).collect();
    wait_settled(&all);
    assert_eq!(
        normalise(&pairs[0].0.output()),
        CASE_47,
        "case 47 reference"
    );
    compare(&pairs);
    drop(pairs);

    // Started after the history: `--rev` replays it.
    let replay = vec![
        start_pair(&["watch", "--rev=2", "wk", "-w", "json"], 10),
        start_pair(&["watch", "--rev=3", "--prefix", "w", "--prev-kv"], 11),
    ];
    let all: Vec<&Watcher> = replay.iter().flat_map(|(a, b)| [a, b]).collect();
    wait_settled(&all);
    compare(&replay);
}

#[test]
fn watch_matches_etcdctl_on_etcd() {
    if !testkit::bins::etcd_available("watch_matches_etcdctl_on_etcd") {
        return;
    }
    watch_against(ServerKind::Etcd);
}

#[test]
fn watch_matches_etcdctl_on_oxcd() {
    if !testkit::bins::etcd_available("watch_matches_etcdctl_on_oxcd") {
        return;
    }
    watch_against(ServerKind::Oxcd);
}

/// Doc §6.1 case 48: a start revision below the compaction.
#[test]
fn watch_compacted_revision_is_canceled() {
    if !testkit::bins::etcd_available("watch_compacted_revision_is_canceled") {
        return;
    }
    for kind in [ServerKind::Etcd, ServerKind::Oxcd] {
        let srv = Server::start(kind, &[]);
        for v in ["1", "2", "3"] {
            etcdctl(&srv, &["put", "a", v]);
        }
        etcdctl(&srv, &["compaction", "3"]);
        for bin in [testkit::bins::etcdctl(), testkit::bins::oxctl()] {
            let out = common::run(
                &bin,
                Some(&srv.endpoint()),
                &["watch", "--rev=1", "a"],
                None,
                &[],
            );
            let what = format!("{} → {}", bin.display(), kind.name());
            let stderr: String = String::from_utf8_lossy(&out.stderr)
                .lines()
                .filter(|l| !l.starts_with("{\"level\""))
                .map(|l| format!("{l}\n"))
                .collect();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "", "stdout of {what}");
            assert_eq!(
                stderr,
                "watch was canceled (etcdserver: mvcc: required revision has been compacted)\n\
                 Error: watch is canceled by the server\n",
                "stderr of {what}"
            );
            assert_eq!(out.code, 5, "exit code of {what}");
        }
    }
}

/// Interactive mode: invalid request lines are reported and skipped, a bad
/// separator ends with exit 128, the end of input with exit 3.
#[test]
fn watch_interactive_errors_match_etcdctl() {
    if !testkit::bins::etcd_available("watch_interactive_errors_match_etcdctl") {
        return;
    }
    for kind in [ServerKind::Etcd, ServerKind::Oxcd] {
        let srv = Server::start(kind, &[]);
        for input in [
            &b"foo\n\nwatch\nwatch --prefix a b\nprogress\n"[..],
            b"watch a --\n",
            b"watch --bogus a\n",
        ] {
            let run = |bin: &Path| {
                common::run(
                    bin,
                    Some(&srv.endpoint()),
                    &["watch", "-i"],
                    Some(input),
                    &[],
                )
            };
            let (r, o) = (run(&testkit::bins::etcdctl()), run(&testkit::bins::oxctl()));
            let what = format!("{:?} → {}", String::from_utf8_lossy(input), kind.name());
            assert_eq!(o.stdout, r.stdout, "stdout of {what}");
            assert_eq!(
                String::from_utf8_lossy(&o.stderr),
                String::from_utf8_lossy(&r.stderr),
                "stderr of {what}"
            );
            assert_eq!(o.code, r.code, "exit code of {what}");
        }
    }
}
