//! `member add|remove|update|promote` and `defrag`: real etcdctl 3.5.1 and
//! oxctl run the same invocations against the same single-node server, and
//! their stdout, stderr (without the Go client's zap log lines) and exit
//! codes must be equal. Only what differs between two runs is normalised:
//! the ID the server gives a new member, and the peer URL ports (each client
//! adds its own member, since etcd refuses to re-add a member with the same
//! peer URLs within the same second).
//!
//! Members are only ever added as learners: a second voter in a one-member
//! cluster could never start, and the cluster would lose its quorum.
//!
//! Servers: [`TARGETS`]: real etcd 3.5.1 and oxcd, each case against both.
//!
//! Run: `cargo test -p oxctl --test member_cmd`.

mod common;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use common::{ClientKind, Output, Server, ServerKind};
use oxcd_proto::etcdserverpb::MemberAddResponse;
use prost::Message;
use testkit::{Flags, Proc};

/// The servers every test runs against.
const TARGETS: &[ServerKind] = &[ServerKind::Etcd, ServerKind::Oxcd];

const CLIENTS: [ClientKind; 2] = [ClientKind::RealEtcdctl, ClientKind::Oxctl];

/// The default member, which the server harness keeps at etcd's default IDs.
const LEADER: &str = "8e9e05c52164694d";
const NIL_PANIC: &str = "panic: runtime error: invalid memory address or nil pointer dereference";

/// One test at a time: the machine has 2 cores, and the promote test runs
/// five etcd processes.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// stderr without zap's JSON log lines (etcdctl's retry interceptor logs
/// every failed RPC; oxctl does not).
fn err_text(o: &Output) -> String {
    text(&o.stderr)
        .lines()
        .filter(|l| !l.starts_with("{\"level\":"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// `client --endpoints=<server> args…`, unless `args` name their own
/// endpoints (a repeated `--endpoints` would add to the list).
fn run(client: ClientKind, srv: &Server, args: &[&str]) -> Output {
    let own = args.iter().any(|a| a.starts_with("--endpoints="));
    let ep = srv.endpoint();
    let ep = if own { None } else { Some(ep.as_str()) };
    let out = common::run(&client.binary(), ep, args, None, &[]);
    assert!(!out.timed_out, "{} {args:?} timed out", client.name());
    out
}

fn etcdctl(srv: &Server, args: &[&str]) -> Output {
    run(ClientKind::RealEtcdctl, srv, args)
}

/// Runs `args` with both clients; asserts that they print the same and
/// exit alike. Returns etcdctl's stdout and exit code.
fn same(srv: &Server, args: &[&str]) -> (String, i32) {
    let want = etcdctl(srv, args);
    let got = run(ClientKind::Oxctl, srv, args);
    let what = format!("{args:?} against {}", srv.kind.name());
    assert_eq!(text(&got.stdout), text(&want.stdout), "stdout of {what}");
    assert_eq!(err_text(&got), err_text(&want), "stderr of {what}");
    assert_eq!(got.code, want.code, "exit code of {what}");
    (text(&want.stdout), want.code)
}

/// The IDs of members that never started (the learners added here).
fn unstarted(srv: &Server) -> Vec<u64> {
    let out = etcdctl(srv, &["member", "list"]);
    assert_eq!(out.code, 0, "member list: {}", err_text(&out));
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains(", unstarted, "))
        .map(|l| u64::from_str_radix(l.split(", ").next().unwrap_or(""), 16).expect("hex ID"))
        .collect()
}

/// Removes every unstarted member (after a writer that failed on exit 4).
fn clean_up(srv: &Server) {
    for id in unstarted(srv) {
        let out = etcdctl(srv, &["member", "remove", &format!("{id:x}")]);
        assert_eq!(out.code, 0, "cleanup: {}", err_text(&out));
    }
}

/// Replaces what differs between two clients' runs: the new member's ID
/// (`%16x`, `%x`, decimal) and peer ports; sorts the lists whose order
/// follows the random ID (`ETCD_INITIAL_CLUSTER`, json `members`).
fn normalise(s: &str, id: u64, ports: &[u16]) -> String {
    let mut s = s
        .replace(&format!("{id:16x}"), "<ID16>")
        .replace(&format!("{id:x}"), "<ID>")
        .replace(&id.to_string(), "<ID>");
    for (i, p) in ports.iter().enumerate() {
        s = s.replace(&format!("127.0.0.1:{p}"), &format!("127.0.0.1:<P{i}>"));
    }
    let mut lines: Vec<String> = s.split('\n').map(str::to_string).collect();
    for l in &mut lines {
        if let Some(v) = l.strip_prefix("ETCD_INITIAL_CLUSTER=\"") {
            let mut items: Vec<&str> = v.trim_end_matches('"').split(',').collect();
            items.sort_unstable();
            *l = format!("ETCD_INITIAL_CLUSTER=\"{}\"", items.join(","));
        }
        const KEY: &str = "\"members\":[";
        if let Some(start) = l.find(KEY).map(|i| i + KEY.len()) {
            if let Some(len) = l[start..].find("}]") {
                let body = &l[start..start + len + 1];
                let mut items: Vec<String> = body
                    .trim_start_matches('{')
                    .trim_end_matches('}')
                    .split("},{")
                    .map(|m| format!("{{{m}}}"))
                    .collect();
                items.sort_unstable();
                *l = format!(
                    "{}{}{}",
                    &l[..start],
                    items.join(","),
                    &l[start + len + 1..]
                );
            }
        }
    }
    lines.join("\n")
}

/// Before [`normalise`] sorts them: the member lists of a `member add`
/// answer are in member ID order, so the default member comes first or
/// last depending on the new member's ID.
fn check_order(out: &str, id: u64) {
    let leader = u64::from_str_radix(LEADER, 16).expect("hex");
    let default_first = leader < id;
    for l in out.lines() {
        if let Some(v) = l.strip_prefix("ETCD_INITIAL_CLUSTER=\"") {
            let items: Vec<&str> = v.trim_end_matches('"').split(',').collect();
            let at = items.iter().position(|i| i.starts_with("default="));
            let want = if default_first { 0 } else { items.len() - 1 };
            assert_eq!(at, Some(want), "member order in {l}");
        }
        if let Some(at) = l.find("\"members\":[") {
            let members = &l[at..];
            let first = members.find("\"ID\":").expect("a member");
            let default = members.find(&format!("\"ID\":{leader},")).expect("default");
            assert_eq!(first == default, default_first, "member order in {l}");
        }
    }
}

/// A protobuf `member add` response with the new member's ID zeroed, its
/// ports replaced and the members sorted.
fn normalise_pb(bytes: &[u8], id: u64, ports: &[u16]) -> String {
    let mut r = MemberAddResponse::decode(bytes).expect("a MemberAddResponse");
    let fix = |m: &mut oxcd_proto::etcdserverpb::Member| {
        if m.id == id {
            m.id = 0;
        }
        for u in &mut m.peer_ur_ls {
            *u = normalise(u, id, ports);
        }
    };
    r.member.iter_mut().for_each(fix);
    r.members.iter_mut().for_each(fix);
    r.members.sort_by_key(|m| (m.id, m.peer_ur_ls.clone()));
    format!("{r:?}")
}

/// What one client printed for `member add … --learner` then `member remove`
/// of the new member, normalised.
struct AddRemove {
    add: (String, String, i32),
    remove: (String, String, i32),
    /// The raw protobuf answer, normalised (protobuf writer only).
    pb: Option<String>,
}

/// `member add <name> --learner --peer-urls=<urls> <extra>` with `client`,
/// then `member remove` of the new member with the same writer. `urls` has
/// `{0}`, `{1}` where the client's own free ports go.
fn add_remove(
    srv: &Server,
    client: ClientKind,
    name: &str,
    urls: &str,
    extra: &[&str],
) -> AddRemove {
    let ports = testkit::ports::free_port_array::<2>();
    let urls = urls
        .replace("{0}", &ports[0].to_string())
        .replace("{1}", &ports[1].to_string());
    let flag = format!("--peer-urls={urls}");
    let mut args = vec!["member", "add", name, "--learner", &flag];
    args.extend_from_slice(extra);
    let add = run(client, srv, &args);
    let ids = unstarted(srv);
    assert_eq!(ids.len(), 1, "{} {args:?} added one learner", client.name());
    let id = ids[0];
    let hex = format!("{id:x}");
    let mut args = vec!["member", "remove", &hex];
    args.extend_from_slice(extra);
    let remove = run(client, srv, &args);
    clean_up(srv);
    let norm = |o: &Output| {
        (
            normalise(&text(&o.stdout), id, &ports),
            normalise(&err_text(o), id, &ports),
            o.code,
        )
    };
    check_order(&text(&add.stdout), id);
    let mut add_out = norm(&add);
    let pb = extra.contains(&"-w=protobuf").then(|| {
        // Binary: compared decoded, and as re-encoded by prost (etcdctl's
        // bytes must be the canonical encoding oxctl writes).
        let r = MemberAddResponse::decode(add.stdout.as_slice()).expect("a MemberAddResponse");
        assert_eq!(r.encode_to_vec(), add.stdout, "canonical encoding");
        add_out.0.clear();
        normalise_pb(&add.stdout, id, &ports)
    });
    AddRemove {
        pb,
        add: add_out,
        remove: norm(&remove),
    }
}

/// [`add_remove`] with both clients; asserts equal results and returns
/// etcdctl's normalised `member add` stdout.
fn same_add_remove(srv: &Server, name: &str, urls: &str, extra: &[&str]) -> String {
    let want = add_remove(srv, ClientKind::RealEtcdctl, name, urls, extra);
    let got = add_remove(srv, ClientKind::Oxctl, name, urls, extra);
    let what = format!("member add {name:?} {urls:?} {extra:?}");
    assert_eq!(got.add, want.add, "{what}");
    assert_eq!(got.remove, want.remove, "remove after {what}");
    assert_eq!(got.pb, want.pb, "protobuf of {what}");
    want.add.0
}

fn against_targets(test: &str, f: impl Fn(&Server)) {
    if !testkit::bins::etcd_available(test) {
        return;
    }
    let _serial = serial();
    for &kind in TARGETS {
        let srv = Server::start(kind, &[]);
        f(&srv);
    }
}

#[test]
fn member_add_learner_and_remove() {
    against_targets("member_add_learner_and_remove", |srv| {
        let out = same_add_remove(srv, "n1", "http://127.0.0.1:{0}", &[]);
        assert_eq!(
            out,
            "Member <ID16> added to cluster cdf818194e3a8c32\n\n\
             ETCD_NAME=\"n1\"\n\
             ETCD_INITIAL_CLUSTER=\"default=http://localhost:2380,n1=http://127.0.0.1:<P0>\"\n\
             ETCD_INITIAL_ADVERTISE_PEER_URLS=\"http://127.0.0.1:<P0>\"\n\
             ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n"
        );
        // An empty name; a name to quote; spaces around the URLs (trimmed
        // by the check, sent as given, echoed as given).
        same_add_remove(srv, "", "http://127.0.0.1:{0}", &[]);
        let out = same_add_remove(
            srv,
            "we\"ird \u{e9}",
            " http://127.0.0.1:{0}, http://127.0.0.1:{1}",
            &[],
        );
        assert!(
            out.contains("\nETCD_INITIAL_ADVERTISE_PEER_URLS=\" http://127.0.0.1:<P0>, http://127.0.0.1:<P1>\"\n"),
            "{out}"
        );
        let json = same_add_remove(srv, "n3", "http://127.0.0.1:{0}", &["-w=json"]);
        assert!(json.contains(",\"member\":{\"ID\":<ID>,\"peerURLs\":[\"http://127.0.0.1:<P0>\"],\"isLearner\":true},"), "{json}");
        same_add_remove(srv, "n4", "http://127.0.0.1:{0}", &["-w=protobuf"]);
        // Not supported: exit 4 after the member was added (and removed).
        same_add_remove(srv, "n5", "http://127.0.0.1:{0}", &["-w=fields"]);
        same_add_remove(srv, "n6", "http://127.0.0.1:{0}", &["-w=table"]);
    });
}

#[test]
fn member_add_bad_input() {
    against_targets("member_add_bad_input", |srv| {
        for args in [
            &["member", "add"][..],
            &["member", "add", "a", "b"],
            &[
                "member",
                "add",
                "a",
                "http://x:1",
                "HTTPS://y:2",
                "ftp://z:3",
            ],
            &["member", "add", "a", "--learner"],
            &["member", "add", "a", "--learner", "--peer-urls="],
            &["member", "add", "a", "--learner", "--peer-urls=127.0.0.1:1"],
            &[
                "member",
                "add",
                "a",
                "--learner",
                "--peer-urls=localhost:2380",
            ],
            &[
                "member",
                "add",
                "a",
                "--learner",
                "--peer-urls=http://127.0.0.1",
            ],
            &[
                "member",
                "add",
                "a",
                "--learner",
                "--peer-urls=http://127.0.0.1:1/p",
            ],
            &[
                "member",
                "add",
                "a",
                "--learner",
                "--peer-urls=http://127.0.0.1:1,",
            ],
            &["member", "add", "a", "--learner", "--peer-urls=http://[::1"],
            &[
                "member",
                "add",
                "a",
                "--learner",
                "--peer-urls=http://a b:1",
            ],
            &["member", "add", "a", "--learner", "--peer-urls=http://a:b"],
            &[
                "member",
                "add",
                "a",
                "--learner",
                "--peer-urls=http://%zz:1",
            ],
            &["member", "add", "a", "--learner", "--peer-urls=:foo"],
            &["member", "add", "a", "--learner", "--peer-urls=ftp://h:1"],
            &[
                "member",
                "add",
                "a",
                "--learner",
                "--peer-urls=http://h:1",
                "-w",
                "yaml",
            ],
            &["member", "add", "--bogus"],
        ] {
            let (_, code) = same(srv, args);
            assert_ne!(code, 0, "{args:?}");
        }
        assert!(unstarted(srv).is_empty(), "no member was added");
    });
}

#[test]
fn member_remove_update_and_errors() {
    against_targets("member_remove_update_and_errors", |srv| {
        for args in [
            &["member", "remove"][..],
            &["member", "remove", "zz"],
            &["member", "remove", "1", "2"],
            &["member", "remove", "1ffffffffffffffff"],
            &["member", "remove", "1234"],
            &["member", "update"],
            &["member", "update", "zz", "--peer-urls=http://h:1"],
            &["member", "update", "1234"],
            &["member", "update", "1234", "--peer-urls=x"],
            &["member", "update", "1234", "--peer-urls=http://127.0.0.1:9"],
        ] {
            let (_, code) = same(srv, args);
            assert_ne!(code, 0, "{args:?}");
        }
        // The existing member's peer URLs, updated to the same value.
        let urls = "--peer-urls=http://localhost:2380";
        let (out, _) = same(srv, &["member", "update", LEADER, urls]);
        assert_eq!(
            out,
            "Member 8e9e05c52164694d updated in cluster cdf818194e3a8c32\n"
        );
        for w in ["json", "protobuf", "fields", "table", "yaml"] {
            same(srv, &["member", "update", LEADER, urls, "-w", w]);
        }
    });
}

#[test]
fn member_promote_errors() {
    against_targets("member_promote_errors", |srv| {
        for args in [
            &["member", "promote"][..],
            &["member", "promote", "zz"],
            &["member", "promote", "1234"],
        ] {
            same(srv, args);
        }
        for w in ["simple", "json", "protobuf", "fields", "table"] {
            let (_, code) = same(srv, &["member", "promote", LEADER, "-w", w]);
            assert_eq!(code, 1, "promote of a voter, -w {w}");
        }
        // A learner that never started is not in sync with the leader.
        let port = testkit::free_port();
        let flag = format!("--peer-urls=http://127.0.0.1:{port}");
        let out = etcdctl(srv, &["member", "add", "l", "--learner", &flag]);
        assert_eq!(out.code, 0, "{}", err_text(&out));
        let id = format!("{:x}", unstarted(srv)[0]);
        for w in ["simple", "json"] {
            let (_, code) = same(srv, &["member", "promote", &id, "-w", w]);
            assert_eq!(code, 1);
        }
        clean_up(srv);
    });
}

#[test]
fn defrag_endpoints_and_cluster() {
    against_targets("defrag_endpoints_and_cluster", |srv| {
        let (out, _) = same(srv, &["defrag"]);
        assert_eq!(
            out,
            format!("Finished defragmenting etcd member[{}]\n", srv.endpoint())
        );
        // Every writer prints the same lines; extra arguments are ignored.
        for w in ["json", "fields", "protobuf", "table"] {
            same(srv, &["defrag", "-w", w]);
        }
        same(srv, &["defrag", "extra", "args"]);
        let (out, _) = same(srv, &["defrag", "--cluster"]);
        assert_eq!(
            out,
            format!(
                "Finished defragmenting etcd member[http://{}]\n",
                srv.endpoint()
            )
        );
        let (_, code) = same(srv, &["defrag", "-w", "yaml"]);
        assert_eq!(code, 4);
        // A failed endpoint is reported, the others still run, exit 1.
        let dead = format!("127.0.0.1:{}", testkit::free_port());
        let eps = format!("--endpoints={},{dead},{}", srv.endpoint(), srv.endpoint());
        let (_, code) = same(srv, &[&eps, "--command-timeout=1s", "defrag"]);
        assert_eq!(code, 1);
        let eps = format!("--endpoints={dead}");
        let (_, code) = same(srv, &[&eps, "--command-timeout=1s", "defrag", "--cluster"]);
        assert_eq!(code, 1);
    });
}

/// A learner process: the same server binary, joining the existing
/// cluster (`testkit::Proc`: killed when dropped).
struct Learner {
    _proc: Proc,
    _dir: tempfile::TempDir,
}

/// Adds learner `name` (setup, with etcdctl) and starts it with the
/// `ETCD_INITIAL_CLUSTER` that `member add` printed.
fn start_learner(srv: &Server, name: &str) -> (Learner, String) {
    let [client, peer] = testkit::ports::free_port_array::<2>();
    let peer_url = format!("http://127.0.0.1:{peer}");
    let flag = format!("--peer-urls={peer_url}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        // Refused while the leader has not been connected to every voter
        // for a few seconds ("unhealthy cluster").
        let out = etcdctl(srv, &["member", "add", name, "--learner", &flag]);
        if out.code == 0 || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(out.code, 0, "member add {name}: {}", err_text(&out));
    let stdout = text(&out.stdout);
    let cluster = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ETCD_INITIAL_CLUSTER="))
        .expect("ETCD_INITIAL_CLUSTER line")
        .trim_matches('"')
        .to_string();
    let id = stdout
        .split_whitespace()
        .nth(1)
        .expect("new ID")
        .to_string();
    let dir = tempfile::Builder::new()
        .prefix("member-cmd-learner-")
        .tempdir()
        .expect("temp dir");
    let flags = Flags {
        initial_cluster: Some(cluster),
        state: Some("existing".into()),
        ..Flags::new(name, &dir.path().join("data"), client, peer)
    };
    let mut proc = Proc::new(name, &srv.kind.binary(), flags.args(), Some(dir.path()));
    proc.spawn();
    (
        Learner {
            _proc: proc,
            _dir: dir,
        },
        id,
    )
}

/// Promotes learner `id` with `client`, retrying while it catches up with
/// the leader. Returns the successful attempt.
fn promote(srv: &Server, client: ClientKind, id: &str, extra: &[&str]) -> Output {
    let mut args = vec!["member", "promote", id];
    args.extend_from_slice(extra);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = run(client, srv, &args);
        let err = err_text(&out);
        let waiting = err.contains("in sync with leader");
        if !waiting || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Promotion of a learner that caught up: simple prints a line; every
/// other writer hits etcdctl's nil printer (exit 2) after the promotion.
#[test]
fn member_promote_synced_learner() {
    against_targets("member_promote_synced_learner", |srv| {
        // Learners must reach the leader: advertise its real peer URL.
        let own = format!("--peer-urls=http://127.0.0.1:{}", srv.peer_port);
        same(srv, &["member", "update", LEADER, &own]);
        let mut learners = Vec::new();
        let mut simple = Vec::new();
        for client in CLIENTS {
            let (learner, id) = start_learner(srv, &format!("s-{}", client.name()));
            learners.push(learner);
            let out = promote(srv, client, &id, &[]);
            assert_eq!(out.code, 0, "{}: {}", client.name(), err_text(&out));
            let n = u64::from_str_radix(&id, 16).expect("hex ID");
            simple.push(text(&out.stdout).replace(&format!("{n:16x}"), "<ID>"));

            let (learner, id) = start_learner(srv, &format!("j-{}", client.name()));
            learners.push(learner);
            let out = promote(srv, client, &id, &["-w", "json"]);
            assert_eq!(out.code, 2, "{}: {}", client.name(), err_text(&out));
            assert!(out.stdout.is_empty());
            let first = err_text(&out).lines().next().unwrap_or("").to_string();
            assert_eq!(first, NIL_PANIC, "{}", client.name());
            let list = text(&etcdctl(srv, &["member", "list"]).stdout);
            let row = list.lines().find(|l| l.starts_with(&id)).expect("member");
            assert!(row.ends_with(", false"), "promoted anyway: {row}");
        }
        assert_eq!(
            simple[0],
            "Member <ID> promoted in cluster cdf818194e3a8c32\n"
        );
        assert_eq!(simple[1], simple[0]);
    });
}
