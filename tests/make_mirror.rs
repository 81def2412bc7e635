//! `make-mirror` end to end: a mirror runs as a background process
//! (`testkit::Proc`, SIGTERM to stop it, killed on drop) between two
//! single-member servers started by the kit on free 127.0.0.1 ports, and
//! the destination is polled (with a deadline) until it holds what it
//! should.
//!
//! - Four ways (etcdctl → etcd as the reference, oxctl → oxcd, oxctl →
//!   etcd, etcdctl → oxcd): keys under `--prefix p/` are copied to
//!   `--dest-prefix m/`, then live puts, deletes and a multi-op txn are
//!   replayed, keys outside the prefix never are, and the destination's own
//!   keys stay. The destinations must end up identical: keys, values,
//!   create/mod revisions, versions and the header revision (so also the
//!   number of writes: a put per copied key, a txn per source revision).
//! - Restarts: with `--rev <last applied + 1>` (etcdctl 3.6's flag; oxctl
//!   only) the deletes made while the mirror was down are replayed; without
//!   it (etcdctl 3.5.1's only way) the keys are copied again, so puts arrive
//!   but deletes made meanwhile do not, on oxctl → oxcd as on etcdctl → etcd.
//! - Argument errors against etcdctl (texts, exit 128, nothing copied), and
//!   `--no-dest-prefix` mirroring to the destination's root.
//! - `--max-txn-ops 2` splits a 5-put source txn into 3 destination txns.
//! - `--rev` below the source's compaction: `Error: etcdserver: mvcc:
//!   required revision has been compacted`, exit 1; at the compaction
//!   revision it replays without a copy. etcdctl 3.5.1 has no `--rev` (its
//!   "unknown flag" refusal is asserted), so etcdctl is not compared there.
//!
//! The running count etcdctl prints every 30 s is not tested (too slow).
//!
//! Run: `cargo build --workspace --bins && cargo test -p oxctl --test make_mirror`.

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use base64::Engine;
use common::{ClientKind, Server, ServerKind};
use testkit::Proc;

/// How long a destination may take to catch up.
const SYNC_TIMEOUT: Duration = Duration::from_secs(15);
const POLL_EVERY: Duration = Duration::from_millis(100);
const SIGTERM: i32 = 15;

const COMPACTED: &str = "Error: etcdserver: mvcc: required revision has been compacted\n";

/// Keys and values (as text).
type Kvs = BTreeMap<String, String>;

fn kvs(pairs: &[(&str, &str)]) -> Kvs {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One key as `get -w json` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Kv {
    key: String,
    value: String,
    create_revision: i64,
    mod_revision: i64,
    version: i64,
}

/// Everything a server holds, and its revision.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Dump {
    revision: i64,
    kvs: Vec<Kv>,
}

impl Dump {
    fn map(&self) -> Kvs {
        self.kvs
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.clone()))
            .collect()
    }
}

/// A source and a destination server of one kind, driven by one client
/// kind (the mirror's, also used for the writes and reads around it).
struct Pair {
    client: ClientKind,
    src: Server,
    dst: Server,
    what: String,
}

impl Pair {
    fn start(server: ServerKind, client: ClientKind) -> Pair {
        Pair {
            client,
            src: Server::start(server, &[]),
            dst: Server::start(server, &[]),
            what: format!("{} → {}", client.name(), server.name()),
        }
    }

    /// Runs the client against `srv`; asserts success, returns stdout.
    fn ok(&self, srv: &Server, args: &[&str], stdin: Option<&[u8]>) -> String {
        let out = common::run(
            &self.client.binary(),
            Some(&srv.endpoint()),
            args,
            stdin,
            &[],
        );
        assert!(
            out.code == 0 && !out.timed_out,
            "{}: {args:?} failed: {out:?}",
            self.what
        );
        text(&out.stdout)
    }

    fn put(&self, srv: &Server, key: &str, value: &str) {
        assert_eq!(self.ok(srv, &["put", key, value], None), "OK\n");
    }

    fn del(&self, srv: &Server, key: &str) {
        assert_eq!(self.ok(srv, &["del", key], None), "1\n");
    }

    /// A txn without compares: `ops` (etcdctl's txn lines) on success.
    fn txn(&self, srv: &Server, ops: &[&str]) {
        let stdin = format!("\n{}\n\n\n", ops.join("\n"));
        let out = self.ok(srv, &["txn"], Some(stdin.as_bytes()));
        assert!(out.starts_with("SUCCESS\n"), "{}: txn: {out:?}", self.what);
    }

    fn dump(&self, srv: &Server) -> Dump {
        let out = self.ok(srv, &["get", "", "--prefix", "-w", "json"], None);
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{}: get -w json: {e}: {out:?}", self.what));
        let b64 = |v: &serde_json::Value| {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or(""))
                .expect("base64 in get -w json");
            text(&raw)
        };
        let int = |v: &serde_json::Value| v.as_i64().unwrap_or(0);
        let kvs = v["kvs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|kv| Kv {
                        key: b64(&kv["key"]),
                        value: b64(&kv["value"]),
                        create_revision: int(&kv["create_revision"]),
                        mod_revision: int(&kv["mod_revision"]),
                        version: int(&kv["version"]),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Dump {
            revision: int(&v["header"]["revision"]),
            kvs,
        }
    }

    fn src_rev(&self) -> i64 {
        self.dump(&self.src).revision
    }

    /// The source's keys under `from`, renamed to `to` (what a mirror
    /// holds), plus `extra`.
    fn mirrored(&self, from: &str, to: &str, extra: &[(&str, &str)]) -> Kvs {
        let mut want: Kvs = self
            .dump(&self.src)
            .map()
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix(from).map(|rest| (format!("{to}{rest}"), v)))
            .collect();
        want.extend(kvs(extra));
        want
    }

    fn mirror(&self, args: &[&str]) -> Mirror {
        Mirror::start(self, args)
    }
}

/// A running `make-mirror` (`--endpoints=<source> make-mirror args…
/// <destination>`); killed and reaped when dropped.
struct Mirror {
    proc: Proc,
    what: String,
}

impl Mirror {
    fn start(pair: &Pair, args: &[&str]) -> Mirror {
        let mut all = vec![
            format!("--endpoints={}", pair.src.endpoint()),
            "make-mirror".to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        all.push(pair.dst.endpoint());
        let mut proc = Proc::new("make-mirror", &pair.client.binary(), all, None);
        proc.spawn();
        Mirror {
            proc,
            what: format!("{} make-mirror {}", pair.what, args.join(" ")),
        }
    }

    /// Polls the destination until it holds exactly `want`; fails if the
    /// mirror exits meanwhile.
    fn wait(&mut self, pair: &Pair, want: &Kvs) {
        let proc = &mut self.proc;
        let what = &self.what;
        let r = testkit::wait::poll(what, SYNC_TIMEOUT, POLL_EVERY, || {
            if let Some(st) = proc.try_exit() {
                panic!("{what} exited with {st}:\n{}", proc.logs());
            }
            let got = pair.dump(&pair.dst).map();
            if &got == want {
                Ok(())
            } else {
                Err(format!("destination {got:?}, want {want:?}"))
            }
        });
        if let Err(e) = r {
            panic!("{e}\n{}", self.proc.logs());
        }
    }

    /// SIGTERM; asserts it was still running, died of the signal and
    /// printed nothing (the count comes only every 30 s).
    fn stop(mut self) {
        assert!(self.proc.is_running(), "{} is not running", self.what);
        let st = self.proc.stop();
        assert_eq!(
            (st.signal(), self.proc.stdout(), self.proc.log()),
            (Some(SIGTERM), String::new(), String::new()),
            "{}: exit status, stdout and stderr",
            self.what
        );
    }
}

/// Runs `f` for each configuration on its own thread; the results in the
/// same order.
fn each<T: Send>(configs: &[(ServerKind, ClientKind)], f: fn(Pair) -> T) -> Vec<T> {
    std::thread::scope(|s| {
        let handles: Vec<_> = configs
            .iter()
            .map(|&(server, client)| s.spawn(move || f(Pair::start(server, client))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Asserts every result equals the first (the reference).
fn same_as_first<T: PartialEq + std::fmt::Debug>(
    configs: &[(ServerKind, ClientKind)],
    results: &[T],
) {
    let name = |(s, c): (ServerKind, ClientKind)| format!("{} → {}", c.name(), s.name());
    for (cfg, r) in configs.iter().zip(results).skip(1) {
        assert_eq!(
            r,
            &results[0],
            "{} differs from the reference {}",
            name(*cfg),
            name(configs[0])
        );
    }
}

const FOUR_WAYS: [(ServerKind, ClientKind); 4] = [
    (ServerKind::Etcd, ClientKind::RealEtcdctl),
    (ServerKind::Oxcd, ClientKind::Oxctl),
    (ServerKind::Etcd, ClientKind::Oxctl),
    (ServerKind::Oxcd, ClientKind::RealEtcdctl),
];

fn live_changes(p: Pair) -> Dump {
    // "p/" itself is under the prefix, "p0" (its range end) is not.
    for (k, v) in [
        ("p/1", "a"),
        ("p/2", "b"),
        ("p/", "root"),
        ("q/1", "c"),
        ("p0", "beyond"),
    ] {
        p.put(&p.src, k, v);
    }
    p.put(&p.dst, "d/own", "mine");
    let mut m = p.mirror(&["--prefix", "p/", "--dest-prefix", "m/"]);
    let copied = kvs(&[
        ("d/own", "mine"),
        ("m/", "root"),
        ("m/1", "a"),
        ("m/2", "b"),
    ]);
    assert_eq!(p.mirrored("p/", "m/", &[("d/own", "mine")]), copied);
    m.wait(&p, &copied);

    p.put(&p.src, "p/3", "c");
    p.del(&p.src, "p/1");
    p.put(&p.src, "q/1", "c2");
    p.txn(&p.src, &["put p/4 x", "put p/5 y", "del p/2", "put q/2 z"]);
    p.put(&p.src, "p/4", "x2");
    p.put(&p.src, "p0", "beyond2");
    let live = kvs(&[
        ("d/own", "mine"),
        ("m/", "root"),
        ("m/3", "c"),
        ("m/4", "x2"),
        ("m/5", "y"),
    ]);
    assert_eq!(p.mirrored("p/", "m/", &[("d/own", "mine")]), live);
    m.wait(&p, &live);
    m.stop();
    p.dump(&p.dst)
}

/// Test 1: the initial copy and live replay, compared four ways.
#[test]
fn mirrors_copy_and_live_changes_four_ways() {
    if !testkit::bins::etcd_available("mirrors_copy_and_live_changes_four_ways") {
        return;
    }
    let dumps = each(&FOUR_WAYS, live_changes);
    same_as_first(&FOUR_WAYS, &dumps);
}

/// The common start of the restart tests: p/1..p/3 copied, p/4 replayed,
/// the mirror stopped, then deletes and puts on the source. Returns the
/// last source revision the mirror applied before it stopped.
fn mirror_then_stop(p: &Pair) -> i64 {
    for (k, v) in [("p/1", "a"), ("p/2", "b"), ("p/3", "c"), ("q/1", "z")] {
        p.put(&p.src, k, v);
    }
    let mut m = p.mirror(&["--prefix", "p/", "--dest-prefix", "m/"]);
    m.wait(p, &kvs(&[("m/1", "a"), ("m/2", "b"), ("m/3", "c")]));
    p.put(&p.src, "p/4", "d");
    let want = kvs(&[("m/1", "a"), ("m/2", "b"), ("m/3", "c"), ("m/4", "d")]);
    m.wait(p, &want);
    // The destination matches and nothing else writes to the source: the
    // mirror has applied everything up to the source's revision.
    let applied = p.src_rev();
    m.stop();
    // While the mirror is down.
    p.del(&p.src, "p/1");
    p.put(&p.src, "p/2", "b2");
    p.put(&p.src, "p/5", "e");
    p.put(&p.src, "q/2", "y");
    p.del(&p.src, "p/3");
    applied
}

fn restart_with_rev(p: Pair) -> Dump {
    let applied = mirror_then_stop(&p);
    let from = (applied + 1).to_string();
    let mut m = p.mirror(&["--prefix", "p/", "--dest-prefix", "m/", "--rev", &from]);
    let want = kvs(&[("m/2", "b2"), ("m/4", "d"), ("m/5", "e")]);
    assert_eq!(p.mirrored("p/", "m/", &[]), want);
    m.wait(&p, &want);
    // … and it keeps following.
    p.put(&p.src, "p/6", "f");
    let want = p.mirrored("p/", "m/", &[]);
    m.wait(&p, &want);
    m.stop();
    p.dump(&p.dst)
}

/// Test 2a: restarted with `--rev <applied + 1>`, the mirror replays the
/// downtime's deletes too and ends equal to the source (oxctl only:
/// etcdctl 3.5.1 has no `--rev`; against oxcd and real etcd, compared).
#[test]
fn restart_with_rev_replays_the_downtime() {
    if !testkit::bins::etcd_available("restart_with_rev_replays_the_downtime") {
        return;
    }
    let configs = [
        (ServerKind::Oxcd, ClientKind::Oxctl),
        (ServerKind::Etcd, ClientKind::Oxctl),
    ];
    let dumps = each(&configs, restart_with_rev);
    same_as_first(&configs, &dumps);
}

fn restart_without_rev(p: Pair) -> Dump {
    mirror_then_stop(&p);
    let mut m = p.mirror(&["--prefix", "p/", "--dest-prefix", "m/"]);
    // Without --rev the restarted mirror copies the source's keys again and
    // follows from there: the puts made while it was down arrive, but the
    // deletes (p/1, p/3) are never replayed, so m/1 and m/3 stay with their
    // old values. etcdctl 3.5.1 against etcd behaves the same.
    let stale = [("m/1", "a"), ("m/3", "c")];
    let want = p.mirrored("p/", "m/", &stale);
    assert_eq!(
        want,
        kvs(&[
            ("m/1", "a"),
            ("m/2", "b2"),
            ("m/3", "c"),
            ("m/4", "d"),
            ("m/5", "e")
        ])
    );
    m.wait(&p, &want);
    // A later change arrives: the copy is over and the stale keys stay.
    p.put(&p.src, "p/6", "f");
    m.wait(&p, &p.mirrored("p/", "m/", &stale));
    m.stop();
    p.dump(&p.dst)
}

/// Test 2b: a restart without `--rev` (etcdctl 3.5.1's only way) misses
/// the downtime's deletes, on oxctl → oxcd as on etcdctl → etcd.
#[test]
fn restart_without_rev_misses_downtime_deletes() {
    if !testkit::bins::etcd_available("restart_without_rev_misses_downtime_deletes") {
        return;
    }
    let configs = [
        (ServerKind::Etcd, ClientKind::RealEtcdctl),
        (ServerKind::Oxcd, ClientKind::Oxctl),
    ];
    let dumps = each(&configs, restart_without_rev);
    same_as_first(&configs, &dumps);
}

/// Test 3a: argument errors, etcdctl's texts and exit 128, from both
/// clients against both servers; nothing reaches the destination.
#[test]
fn argument_errors_match_etcdctl() {
    if !testkit::bins::etcd_available("argument_errors_match_etcdctl") {
        return;
    }
    let one_dest = "Error: make-mirror takes one destination argument\n";
    let both = "Error: `--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, \
                choose one\n";
    let servers = [ServerKind::Etcd, ServerKind::Oxcd];
    std::thread::scope(|s| {
        for kind in servers {
            s.spawn(move || {
                let p = Pair::start(kind, ClientKind::Oxctl);
                p.put(&p.src, "p/a", "1");
                let dst = p.dst.endpoint();
                let cases: [(Vec<&str>, &str); 3] = [
                    (vec!["make-mirror"], one_dest),
                    (vec!["make-mirror", "--prefix", "p/", &dst, &dst], one_dest),
                    (
                        vec![
                            "make-mirror",
                            "--prefix",
                            "p/",
                            "--dest-prefix",
                            "x",
                            "--no-dest-prefix",
                            &dst,
                        ],
                        both,
                    ),
                ];
                for (args, err) in cases {
                    for client in [ClientKind::RealEtcdctl, ClientKind::Oxctl] {
                        let out = p.src.ctl(client, &args);
                        assert_eq!(
                            (text(&out.stdout), text(&out.stderr), out.code),
                            (String::new(), err.to_string(), 128),
                            "{} {args:?} against {}",
                            client.name(),
                            kind.name()
                        );
                    }
                }
                assert_eq!(p.dump(&p.dst).kvs, vec![], "the destination was written");
            });
        }
    });
}

fn no_dest_prefix(p: Pair) -> Dump {
    for (k, v) in [("p/a", "1"), ("p/b", "2"), ("q/c", "3")] {
        p.put(&p.src, k, v);
    }
    let mut m = p.mirror(&["--prefix", "p/", "--no-dest-prefix"]);
    m.wait(&p, &kvs(&[("a", "1"), ("b", "2")]));
    p.put(&p.src, "p/d", "4");
    p.del(&p.src, "p/a");
    m.wait(&p, &kvs(&[("b", "2"), ("d", "4")]));
    m.stop();
    p.dump(&p.dst)
}

/// Test 3b: `--no-dest-prefix` strips the prefix (p/a → a), copied and
/// live, as etcdctl → etcd.
#[test]
fn no_dest_prefix_mirrors_to_the_root() {
    if !testkit::bins::etcd_available("no_dest_prefix_mirrors_to_the_root") {
        return;
    }
    let configs = [
        (ServerKind::Etcd, ClientKind::RealEtcdctl),
        (ServerKind::Oxcd, ClientKind::Oxctl),
    ];
    let dumps = each(&configs, no_dest_prefix);
    same_as_first(&configs, &dumps);
}

fn max_txn_ops(p: Pair) -> Dump {
    p.put(&p.src, "p/0", "z");
    let mut m = p.mirror(&[
        "--prefix",
        "p/",
        "--dest-prefix",
        "m/",
        "--max-txn-ops",
        "2",
    ]);
    m.wait(&p, &kvs(&[("m/0", "z")]));
    let before = p.dump(&p.dst).revision;
    p.txn(
        &p.src,
        &[
            "put p/1 a",
            "put p/2 b",
            "put p/3 c",
            "put p/4 d",
            "put p/5 e",
        ],
    );
    let want = p.mirrored("p/", "m/", &[]);
    assert_eq!(want.len(), 6);
    m.wait(&p, &want);
    m.stop();
    let dump = p.dump(&p.dst);
    // One source revision, three destination txns of 2, 2 and 1 puts.
    let mods: Vec<(&str, i64)> = dump
        .kvs
        .iter()
        .map(|kv| (kv.key.as_str(), kv.mod_revision - before))
        .collect();
    assert_eq!(
        mods,
        [
            ("m/0", 0),
            ("m/1", 1),
            ("m/2", 1),
            ("m/3", 2),
            ("m/4", 2),
            ("m/5", 3)
        ],
        "{}",
        p.what
    );
    assert_eq!(dump.revision, before + 3, "{}", p.what);
    dump
}

/// Test 4: `--max-txn-ops 2` and a source txn of 5 puts: all 5 arrive, in
/// 3 destination txns (oxctl only; against oxcd and real etcd).
#[test]
fn max_txn_ops_splits_a_large_txn() {
    if !testkit::bins::etcd_available("max_txn_ops_splits_a_large_txn") {
        return;
    }
    let configs = [
        (ServerKind::Oxcd, ClientKind::Oxctl),
        (ServerKind::Etcd, ClientKind::Oxctl),
    ];
    let dumps = each(&configs, max_txn_ops);
    same_as_first(&configs, &dumps);
}

fn compacted(p: Pair) -> Dump {
    p.put(&p.src, "p/1", "a"); // rev 2
    p.put(&p.src, "p/1", "b"); // rev 3
    p.put(&p.src, "p/2", "c"); // rev 4
    assert_eq!(p.src_rev(), 4);
    assert_eq!(
        p.ok(&p.src, &["compaction", "4"], None),
        "compacted revision 4\n"
    );
    let out = p.src.ctl(
        ClientKind::Oxctl,
        &[
            "make-mirror",
            "--rev",
            "2",
            "--prefix",
            "p/",
            &p.dst.endpoint(),
        ],
    );
    assert_eq!(
        (text(&out.stdout), text(&out.stderr), out.code),
        (String::new(), COMPACTED.to_string(), 1),
        "{}: make-mirror --rev 2 after compacting at 4",
        p.what
    );
    assert_eq!(p.dump(&p.dst).kvs, vec![], "{}: destination", p.what);
    // The compaction revision itself can still be watched: the mirror
    // replays from it, without the copy (p/1 never arrives).
    let mut m = p.mirror(&["--rev", "4", "--prefix", "p/"]);
    m.wait(&p, &kvs(&[("p/2", "c")]));
    p.put(&p.src, "p/3", "d");
    m.wait(&p, &kvs(&[("p/2", "c"), ("p/3", "d")]));
    m.stop();
    p.dump(&p.dst)
}

/// Test 5: `--rev` below the source's compaction fails as etcdctl 3.6
/// does (oxctl against oxcd and real etcd). etcdctl 3.5.1 cannot be
/// compared: it has no `--rev` (nor `--max-txn-ops`).
#[test]
fn compacted_start_revision_fails() {
    if !testkit::bins::etcd_available("compacted_start_revision_fails") {
        return;
    }
    for flag in ["--rev", "--max-txn-ops"] {
        let out = common::run(
            &testkit::bins::etcdctl(),
            Some("127.0.0.1:1"),
            &["make-mirror", flag, "2", "127.0.0.1:1"],
            None,
            &[],
        );
        let err = format!("Error: unknown flag: {flag}\n");
        assert_eq!(
            (text(&out.stderr), out.code),
            (format!("{err}\n{err}"), 1),
            "etcdctl 3.5.1 make-mirror {flag}"
        );
    }
    let configs = [
        (ServerKind::Oxcd, ClientKind::Oxctl),
        (ServerKind::Etcd, ClientKind::Oxctl),
    ];
    let dumps = each(&configs, compacted);
    same_as_first(&configs, &dumps);
}
