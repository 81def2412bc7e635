//! Auth state that outlives a process or a member, four ways (etcdctl
//! 3.5.1 and oxctl against real etcd 3.5.1 and oxcd; the same results
//! required): users, roles, permissions and the auth revision after a
//! restart, in a snapshot restored into the other server (etcd → oxcd and
//! oxcd → etcd, saved by either client, restored by etcdutl or oxctl), and
//! on every member of a three-member cluster.
//!
//! Run: `cargo build --workspace --bins && cargo test -p oxctl --test auth_server_data`.

mod common;
#[path = "common/auth.rs"]
mod helpers;

use std::path::Path;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use common::{observe, same_on, ClientKind, Observed, ServerKind};
use helpers::*;
use oxcd_proto::etcdserverpb::auth_client::AuthClient;
use oxcd_proto::etcdserverpb::{
    AuthDisableRequest, AuthEnableRequest, AuthUserAddRequest, AuthenticateRequest,
};
use testkit::wait::{start_retrying, StartFailure};
use testkit::{Flags, Proc};
use tonic::Code;

/// The cluster test runs alone (2 cores: a busy machine makes elections).
static EXCLUSIVE: RwLock<()> = RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().unwrap_or_else(PoisonError::into_inner)
}

/// What root sees of the auth state, with both clients.
fn auth_state(s: &Srv) -> Vec<Observed> {
    [
        &[ROOT, "auth", "status"][..],
        &[ROOT, "user", "list"],
        &[ROOT, "role", "list"],
        &[ROOT, "user", "get", "reader", "--detail"],
        &[ROOT, "role", "get", "rfoo"],
        &[ROOT, "-w", "json", "role", "get", "rfoo"],
    ]
    .iter()
    .map(|args| {
        let mut got = s.both(args);
        assert_eq!(got.2, 0, "{args:?} against {:?}: {got:?}", s.kind);
        if args.contains(&"json") {
            // the header's revision and term move on
            let mut v: serde_json::Value = serde_json::from_str(&got.0).expect("JSON");
            v.as_object_mut().expect("an object").remove("header");
            got.0 = v.to_string();
        }
        got
    })
    .collect()
}

/// `user passwd` with the new password on standard input; must succeed.
fn passwd(s: &Srv, user: &str, new: &str) {
    let out = common::run(
        &testkit::bins::etcdctl(),
        None,
        &s.args(&[ROOT, "user", "passwd", user, "--interactive=false"]),
        Some(format!("{new}\n").as_bytes()),
        &[],
    );
    assert_eq!(out.code, 0, "{}", String::from_utf8_lossy(&out.stderr));
}

/// The permissions of the persistence scenario.
fn enforced(s: &Srv, when: &str) {
    let what = |w: &str| format!("{w} ({when})");
    s.expect(
        &what("reader reads foo"),
        &[READER, "get", "foo"],
        ok("foo\nv0\n"),
    );
    s.expect(
        &what("reader writes foo"),
        &[READER, "put", "foo", "x"],
        denied(),
    );
    s.expect(
        &what("a revoked permission"),
        &[READER, "get", "bar"],
        denied(),
    );
    s.expect(&what("root"), &[ROOT, "get", "bar"], ok("bar\nb0\n"));
    s.expect(&what("root"), &[ROOT, "put", "baz", "z"], ok("OK\n"));
    s.expect(&what("no credentials"), &["get", "foo"], no_user());
    s.expect(
        &what("a deleted user"),
        &["--user=gone:gpw", "get", "foo"],
        bad_login(),
    );
    s.expect(
        &what("an old password"),
        &["--user=changed:old", "get", "foo"],
        bad_login(),
    );
    s.expect(
        &what("a new password"),
        &["--user=changed:new", "user", "get", "changed"],
        ok("User: changed\nRoles:\n"),
    );
}

#[test]
fn auth_survives_a_restart() {
    if !testkit::bins::etcd_available("auth_survives_a_restart") {
        return;
    }
    let _shared = shared();
    let mut states = Vec::new();
    for kind in KINDS {
        let mut s = Srv::with_flags(kind, &[BCRYPT]);
        s.setup(READER_SETUP);
        s.setup(&[
            &[ROOT, "put", "bar", "b0"],
            &[ROOT, "role", "add", "rbar"],
            &[ROOT, "role", "grant-permission", "rbar", "read", "bar"],
            &[ROOT, "user", "grant-role", "reader", "rbar"],
            &[ROOT, "role", "revoke-permission", "rbar", "bar"],
            &[ROOT, "user", "add", "gone:gpw"],
            &[ROOT, "user", "delete", "gone"],
            &[ROOT, "user", "add", "changed:old"],
        ]);
        passwd(&s, "changed", "new");
        let before = auth_state(&s);
        assert_eq!(
            before[0].0.lines().next(),
            Some("Authentication Status: true"),
            "{kind:?}"
        );
        enforced(&s, "before the restart");
        s.set_probe(&[ROOT]);
        s.restart();
        assert_eq!(auth_state(&s), before, "after a restart of {kind:?}");
        enforced(&s, "after the restart");
        states.push(before);
    }
    assert_eq!(states[0], states[1], "the auth state of etcd, then oxcd");
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// A snapshot of a `from` server with auth on (saved as root by each
/// client; etcdctl's restored by etcdutl, oxctl's by oxctl) boots a `to`
/// server that enforces the same users, roles and permissions.
fn snapshot_round_trip(test: &str, from: ServerKind, to: ServerKind) {
    if !testkit::bins::etcd_available(test) {
        return;
    }
    let _shared = shared();
    let work = tempfile::tempdir().expect("temp dir");
    let files = [
        (ClientKind::RealEtcdctl, work.path().join("by-etcdctl.db")),
        (ClientKind::Oxctl, work.path().join("by-oxctl.db")),
    ];
    let state = {
        let src = Srv::with_flags(from, &[BCRYPT]);
        src.setup(READER_SETUP);
        for (client, file) in &files {
            let out = observe(*client, &src.args(&[ROOT, "snapshot", "save", s(file)]));
            let saved = format!("Snapshot saved at {}\n", file.display());
            assert_eq!(out, ok(&saved), "{} snapshot save", client.name());
        }
        auth_state(&src)
    };
    for (client, file) in &files {
        let dir = work.path().join(format!("restored-{}", client.name()));
        let restore = match client {
            ClientKind::RealEtcdctl => testkit::bins::etcdutl(),
            ClientKind::Oxctl => testkit::bins::oxctl(),
        };
        let args = ["snapshot", "restore", s(file), "--data-dir", s(&dir)];
        let out = common::run(&restore, None, &args, None, &[]);
        let what = format!("{} snapshot restore", restore.display());
        assert_eq!(
            out.code,
            0,
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let setup = Setup {
            flags: vec![BCRYPT.into()],
            data_dir: Some(dir.clone()),
            probe: vec![ROOT.into()],
            ..Setup::default()
        };
        let t = Srv::start(to, &setup);
        let when = format!("{from:?}'s snapshot by {} on {to:?}", client.name());
        assert_eq!(auth_state(&t), state, "{when}");
        let w = |x: &str| format!("{x}: {when}");
        t.expect(
            &w("reader reads foo"),
            &[READER, "get", "foo"],
            ok("foo\nv0\n"),
        );
        t.expect(
            &w("reader writes foo"),
            &[READER, "put", "foo", "x"],
            denied(),
        );
        t.expect(&w("reader reads foo2"), &[READER, "get", "foo2"], denied());
        t.expect(&w("root"), &[ROOT, "put", "foo", "v1"], ok("OK\n"));
        t.expect(
            &w("reader reads foo"),
            &[READER, "get", "foo"],
            ok("foo\nv1\n"),
        );
        t.expect(&w("no credentials"), &["get", "foo"], no_user());
        t.expect(
            &w("a bad password"),
            &["--user=reader:x", "get", "foo"],
            bad_login(),
        );
    }
}

#[test]
fn etcd_snapshot_with_auth_boots_oxcd() {
    snapshot_round_trip(
        "etcd_snapshot_with_auth_boots_oxcd",
        ServerKind::Etcd,
        ServerKind::Oxcd,
    );
}

#[test]
fn oxcd_snapshot_with_auth_boots_etcd() {
    snapshot_round_trip(
        "oxcd_snapshot_with_auth_boots_etcd",
        ServerKind::Oxcd,
        ServerKind::Etcd,
    );
}

/// Three members of one new cluster; dropping it kills them.
struct Cluster {
    kind: ServerKind,
    members: Vec<(Flags, Proc)>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start(kind: ServerKind) -> Cluster {
        start_retrying(&format!("a three-member {} cluster", kind.name()), |_| {
            let dir = tempfile::Builder::new()
                .prefix(&format!("auth-cluster-{}-", kind.name()))
                .tempdir()
                .expect("temp dir");
            let members = Flags::cluster(3, dir.path(), "", "auth-cluster")
                .into_iter()
                .map(|f| {
                    let f = f.with_extra(&[BCRYPT]);
                    let mut p = Proc::new(&f.name, &kind.binary(), f.args(), Some(dir.path()))
                        .current_dir(dir.path());
                    p.spawn();
                    (f, p)
                })
                .collect();
            let mut c = Cluster {
                kind,
                members,
                _dir: dir,
            };
            match c.wait_ready() {
                Ok(()) => Ok(c),
                Err(msg) => Err(StartFailure {
                    msg,
                    logs: c
                        .members
                        .iter()
                        .map(|(_, p)| p.logs())
                        .collect::<Vec<_>>()
                        .join("\n"),
                }),
            }
        })
    }

    /// Every member answers a linearizable `get`.
    fn wait_ready(&mut self) -> Result<(), String> {
        let name = self.kind.name();
        let eps: Vec<String> = (0..3).map(|i| self.endpoint(i)).collect();
        let every = Duration::from_millis(200);
        let members = &mut self.members;
        testkit::wait::poll(name, Duration::from_secs(40), every, || {
            for (f, p) in members.iter_mut() {
                if let Some(st) = p.try_exit() {
                    return Ok(Err(format!("{} exited with {st}", f.name)));
                }
            }
            for ep in &eps {
                let args = [ep.as_str(), "--command-timeout=2s", "get", "probe"];
                let out = common::run(&testkit::bins::etcdctl(), None, &args, None, &[]);
                if out.code != 0 {
                    return Err(format!("{ep}: {}", String::from_utf8_lossy(&out.stderr)));
                }
            }
            Ok(Ok(()))
        })?
    }

    /// `--endpoints=` member `i` (0-based) alone.
    fn endpoint(&self, i: usize) -> String {
        format!("--endpoints={}", self.members[i].0.endpoint())
    }

    fn args(&self, i: usize, args: &[&str]) -> Vec<String> {
        let mut a = vec![self.endpoint(i)];
        a.extend(strings(args));
        a
    }

    /// Both clients against member `i`; the result must be `want`.
    fn expect(&self, i: usize, what: &str, args: &[&str], want: Observed) {
        let got = same_on(self.kind, &self.args(i, args));
        assert_eq!(
            got,
            want,
            "{what}, on m{} of {:?}: {args:?}",
            i + 1,
            self.kind
        );
    }

    /// etcdctl through member `i`; each step must succeed.
    fn setup(&self, i: usize, steps: &[&[&str]]) {
        for step in steps {
            let out = common::run(
                &testkit::bins::etcdctl(),
                None,
                &self.args(i, step),
                None,
                &[],
            );
            assert_eq!(
                out.code,
                0,
                "setup {step:?} on m{} of {:?}: {}",
                i + 1,
                self.kind,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn port(&self, i: usize) -> u16 {
        self.members[i].0.client_port
    }
}

/// `n` times: a user added through `first`, then logging in as that user
/// on `other` at once.
async fn add_then_log_in(
    first: u16,
    other: u16,
    root_token: &str,
    n: usize,
) -> Vec<Result<(), Refusal>> {
    let mut m1 = AuthClient::new(channel(first).await);
    let mut m3 = AuthClient::new(channel(other).await);
    let mut results = Vec::new();
    for i in 0..n {
        let name = format!("quick{i}");
        let add = AuthUserAddRequest {
            name: name.clone(),
            password: "qpw".into(),
            ..Default::default()
        };
        m1.user_add(with_token(add, Some(root_token)))
            .await
            .expect("UserAdd on m1");
        let login = AuthenticateRequest {
            name,
            password: "qpw".into(),
        };
        results.push(
            m3.authenticate(login)
                .await
                .map(|_| ())
                .map_err(|e| status_of(&e)),
        );
    }
    results
}

/// A linearizable read on the member at `port`: refused for want of
/// credentials, but only once the member has caught up with the leader's
/// commit (etcd and oxcd both wait before they check).
fn barrier(port: u16) {
    let refused = range(port, None, "barrier").expect_err("no credentials");
    assert_eq!(
        refused,
        (
            Code::InvalidArgument,
            "etcdserver: user name is empty".into()
        )
    );
}

fn alone() -> std::sync::RwLockWriteGuard<'static, ()> {
    EXCLUSIVE.write().unwrap_or_else(PoisonError::into_inner)
}

/// `n` times: auth disabled and enabled again through `first`, then root
/// logging in on `other` at once.
async fn enable_then_log_in(first: u16, other: u16, n: usize) -> Vec<Result<(), Refusal>> {
    let mut m1 = AuthClient::new(channel(first).await);
    let mut m3 = AuthClient::new(channel(other).await);
    let root = || AuthenticateRequest {
        name: "root".into(),
        password: "rootpw".into(),
    };
    let mut results = Vec::new();
    for _ in 0..n {
        let token = m1
            .authenticate(root())
            .await
            .expect("on m1")
            .into_inner()
            .token;
        m1.auth_disable(with_token(AuthDisableRequest {}, Some(&token)))
            .await
            .expect("AuthDisable on m1");
        m1.auth_enable(AuthEnableRequest {})
            .await
            .expect("AuthEnable on m1");
        results.push(
            m3.authenticate(root())
                .await
                .map(|_| ())
                .map_err(|e| status_of(&e)),
        );
    }
    results
}

/// Users, roles and grants made through m1 hold on m2 and m3 at once: no
/// polling (writes are checked when applied, in log order; linearizable
/// reads wait for the member to catch up; the serializable reads come
/// after such a read on the same member). Logging in on a member just after
/// a user was made or auth enabled through another is preceded by such a
/// read too (neither server needs it: Authenticate is linearizable on both,
/// see `cluster_log_in_is_linearizable`).
#[test]
fn cluster_members_share_auth() {
    if !testkit::bins::etcd_available("cluster_members_share_auth") {
        return;
    }
    let _alone = alone();
    let serializable = "--consistency=s";
    for kind in KINDS {
        let c = Cluster::start(kind);
        c.setup(0, READER_SETUP);
        for m in [1, 2] {
            // etcd does not need it: `cluster_log_in_is_linearizable`
            barrier(c.port(m));
            c.expect(m, "reader", &[READER, "get", "foo"], ok("foo\nv0\n"));
            c.expect(
                m,
                "reader",
                &[READER, "get", "foo", serializable],
                ok("foo\nv0\n"),
            );
            c.expect(m, "reader", &[READER, "put", "foo", "x"], denied());
            c.expect(m, "reader", &[READER, "user", "list"], denied());
            c.expect(m, "root", &[ROOT, "user", "list"], ok("reader\nroot\n"));
        }
        // a user made through m1 logs in on m3 at once
        c.setup(0, &[&[ROOT, "user", "add", "late:lpw"]]);
        barrier(c.port(2));
        c.expect(
            2,
            "a new user",
            &["--user=late:lpw", "user", "get", "late"],
            ok("User: late\nRoles:\n"),
        );
        // a write grant through m1 holds for the next write on m3
        c.setup(
            0,
            &[&[ROOT, "role", "grant-permission", "rfoo", "readwrite", "foo"]],
        );
        c.expect(
            2,
            "granted write",
            &[READER, "put", "foo", "v1"],
            ok("OK\n"),
        );
        c.expect(1, "granted write", &[READER, "get", "foo"], ok("foo\nv1\n"));
        // a read grant through m1: a linearizable read on m3, then a
        // serializable one
        c.setup(
            0,
            &[
                &[ROOT, "put", "bar", "b0"],
                &[ROOT, "role", "grant-permission", "rfoo", "read", "bar"],
            ],
        );
        c.expect(2, "granted read", &[READER, "get", "bar"], ok("bar\nb0\n"));
        c.expect(
            2,
            "granted read",
            &[READER, "get", "bar", serializable],
            ok("bar\nb0\n"),
        );
        // a token issued by m1 is known to m3
        let token = authenticate(c.port(0), "reader", "rpw").expect("Authenticate on m1");
        let r = range(c.port(2), Some(&token), "bar").expect("m1's token on m3");
        assert_eq!(r.kvs.len(), 1, "{kind:?}");
        // a revoke through m1
        c.setup(0, &[&[ROOT, "user", "revoke-role", "reader", "rfoo"]]);
        c.expect(2, "revoked", &[READER, "get", "foo"], denied());
        c.expect(
            2,
            "revoked",
            &[READER, "get", "foo", serializable],
            denied(),
        );
        c.expect(2, "revoked", &[READER, "put", "foo", "x"], denied());
        c.expect(1, "revoked", &[READER, "get", "bar"], denied());
        c.expect(
            1,
            "revoked",
            &[READER, "get", "bar", serializable],
            denied(),
        );
    }
}

/// etcd 3.5.1's Authenticate waits for a linearizable read first, so a user
/// added through one member can log in on another at once; so does oxcd's.
/// (Found by this suite: oxcd once checked the password on the member's
/// applied state as it was, so right after a UserAdd through m1 the log-in
/// on m3 failed now and then with `etcdserver: authentication failed, invalid user ID or
/// password` (seen: 1 to 3 in 50); and a log-in on m3 right after `auth
/// enable` through m1 may find auth still off there (`etcdserver:
/// authentication is not enabled`, seen: 1 in 20). etcd: none.)
#[test]
fn cluster_log_in_is_linearizable() {
    if !testkit::bins::etcd_available("cluster_log_in_is_linearizable") {
        return;
    }
    let _alone = alone();
    for kind in KINDS {
        let c = Cluster::start(kind);
        c.setup(0, &[&["user", "add", "root:rootpw"], &["auth", "enable"]]);
        let root = authenticate(c.port(0), "root", "rootpw").expect("Authenticate on m1");
        let added = block_on(add_then_log_in(c.port(0), c.port(2), &root, 50));
        let enabled = block_on(enable_then_log_in(c.port(0), c.port(2), 20));
        let failed = |r: &[Result<(), Refusal>]| -> Vec<Refusal> {
            r.iter().filter_map(|r| r.clone().err()).collect()
        };
        assert_eq!(
            (failed(&added), failed(&enabled)),
            (vec![], vec![]),
            "{kind:?}: failed log-ins after 50 user adds, after 20 auth enables"
        );
    }
}
