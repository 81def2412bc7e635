//! Server-side auth, four ways (etcdctl 3.5.1 and oxctl against real etcd
//! 3.5.1 and oxcd, the same flags; the same results required of both
//! clients and both servers unless a case says it is oxcd's own): tokens
//! that expire (`--auth-token-ttl`) and are renewed by the client, JWT
//! tokens (`--auth-token jwt,…`), the client certificate's CN as the user
//! (`--client-cert-auth`), and where oxcd is stricter than etcd 3.5.1.
//! The users and roles themselves, logging in and the permission matrix
//! are in `tests/compat/auth.rs`; persistence, snapshots and clusters in
//! `auth_server_data.rs`.
//!
//! Run: `cargo build --workspace --bins && cargo test -p oxctl --test auth_server`.

mod common;
#[path = "common/auth.rs"]
mod helpers;

use std::time::Duration;

use base64::Engine as _;
use common::{observe, ClientKind, Observed, ServerKind};
use helpers::*;
use oxcd_proto::etcdserverpb::kv_client::KvClient;
use oxcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd_proto::etcdserverpb::{
    alarm_request::AlarmAction, request_op, AlarmRequest, AlarmType, PutRequest, RequestOp,
    StatusRequest, TxnRequest,
};
use testkit::pki::{Ca, Issued, Leaf};
use tonic::Code;

const CLIENTS: [ClientKind; 2] = [ClientKind::RealEtcdctl, ClientKind::Oxctl];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `txn` logs in before it reads its standard input; the input comes
/// `delay` seconds later (after a token of `--auth-token-ttl=1` expired,
/// or after an auth change).
fn late_txn(client: ClientKind, srv: &Srv, user: &str, delay: u32, txn: &str) -> testkit::Output {
    let script = format!(
        "(sleep {delay}; printf '{txn}') | '{}' {} {user} txn",
        client.binary().display(),
        srv.endpoint()
    );
    testkit::run(std::path::Path::new("/bin/sh"), &["-c", &script], None, &[])
}

#[test]
fn expired_token_is_renewed() {
    if !testkit::bins::etcd_available("expired_token_is_renewed") {
        return;
    }
    for kind in KINDS {
        let s = Srv::with_flags(kind, &["--auth-token-ttl=1", BCRYPT]);
        s.setup(&[&["user", "add", "root:rootpw"], &["auth", "enable"]]);

        // The server forgets a simple token unused for its TTL: the same
        // request with the same token works, then is refused 3 s later.
        let token = authenticate(s.port, "root", "rootpw").expect("Authenticate");
        range(s.port, Some(&token), "k").expect("a fresh token is taken");
        std::thread::sleep(Duration::from_secs(3));
        let stale = range(s.port, Some(&token), "k").expect_err("an expired token is refused");
        assert_eq!(
            stale,
            (
                Code::Unauthenticated,
                "etcdserver: invalid auth token".into()
            ),
            "{kind:?}"
        );

        // So the clients' txn, logged in 3 s before its RPC, is refused
        // once and succeeds after logging in again.
        for client in CLIENTS {
            let value = client.name();
            let out = late_txn(client, &s, ROOT, 3, &format!("\\nput k {value}\\n\\n\\n"));
            let err = text(&out.stderr);
            assert_eq!(
                (text(&out.stdout), out.code),
                ("SUCCESS\n\nOK\n".to_string(), 0),
                "{} txn after the token expired, against {kind:?}: stderr {err}",
                client.name()
            );
            if client == ClientKind::RealEtcdctl {
                // clientv3 logs the refused attempt before it renews
                assert!(
                    err.contains("retrying of unary invoker failed")
                        && err.contains("etcdserver: invalid auth token"),
                    "etcdctl did not see its token refused ({kind:?}): {err}"
                );
            } else {
                assert!(!err.contains("Error:"), "oxctl ({kind:?}): {err}");
            }
            s.expect(
                "the renewed txn's put",
                &[ROOT, "get", "k"],
                ok(&format!("k\n{value}\n")),
            );
        }
    }
}

/// The claims of a JWT, from its payload.
fn jwt_claims(token: &str) -> serde_json::Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    assert!(parts.iter().all(|p| !p.is_empty()), "{token}");
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap_or_else(|e| panic!("payload of {token}: {e}"));
    serde_json::from_slice(&payload).expect("the payload is JSON")
}

/// `token` with a different signature.
fn forged(token: &str) -> String {
    let (signed, sig) = token.rsplit_once('.').expect("a JWT");
    let mut sig = sig.as_bytes().to_vec();
    sig[4] = if sig[4] == b'A' { b'B' } else { b'A' };
    format!("{signed}.{}", String::from_utf8(sig).expect("ASCII"))
}

fn jwt_flag(dir: &std::path::Path) -> String {
    let (private, public) = testkit::pki::es256_keys(dir, "jwt");
    format!(
        "--auth-token=jwt,pub-key={},priv-key={},sign-method=ES256",
        path(&public),
        path(&private)
    )
}

#[test]
fn jwt_tokens() {
    if !testkit::bins::etcd_available("jwt_tokens") {
        return;
    }
    let keys = tempfile::tempdir().expect("temp dir");
    let flag = jwt_flag(keys.path());
    let mut claims = Vec::new();
    for kind in KINDS {
        let s = Srv::with_flags(kind, &[&flag, BCRYPT]);
        s.setup(READER_SETUP);
        s.setup(&[&[ROOT, "put", "bar", "b0"]]);

        // what Authenticate hands out is a JWT signed with the key
        let token = authenticate(s.port, "reader", "rpw").expect("Authenticate");
        let c = jwt_claims(&token);
        assert_eq!(c["username"], "reader", "{kind:?}: {c}");
        assert!(c["revision"].is_u64() && c["exp"].is_u64(), "{kind:?}: {c}");
        let mut names: Vec<&String> = c.as_object().expect("claims").keys().collect();
        names.sort();
        claims.push(format!("{names:?}"));
        let r = range(s.port, Some(&token), "foo").expect("the JWT is taken");
        assert_eq!(r.kvs.len(), 1, "{kind:?}");
        let bad = range(s.port, Some(&forged(&token)), "foo").expect_err("a forged JWT");
        assert_eq!(
            bad,
            (
                Code::Unauthenticated,
                "etcdserver: invalid auth token".into()
            ),
            "{kind:?}"
        );

        // both clients, root and a user who may only read foo
        s.expect("root", &[ROOT, "get", "bar"], ok("bar\nb0\n"));
        s.expect("root", &[ROOT, "user", "list"], ok("reader\nroot\n"));
        s.expect("reader", &[READER, "get", "foo"], ok("foo\nv0\n"));
        s.expect("reader", &[READER, "get", "bar"], denied());
        s.expect("reader", &[READER, "put", "foo", "x"], denied());
        s.expect("reader", &[READER, "get", "f", "--prefix"], denied());
        s.expect("reader", &[READER, "user", "list"], denied());
        s.expect("nobody", &["get", "foo"], no_user());
        s.expect(
            "wrong password",
            &["--user=reader:x", "get", "foo"],
            bad_login(),
        );
        // a grant takes effect for the next log-in
        s.setup(&[&[ROOT, "role", "grant-permission", "rfoo", "readwrite", "foo"]]);
        s.expect("reader", &[READER, "put", "foo", "v1"], ok("OK\n"));
        s.expect("reader", &[READER, "get", "foo"], ok("foo\nv1\n"));
    }
    assert_eq!(claims[0], claims[1], "JWT claims of etcd, then oxcd");
}

/// A Range, a Put and a Txn with `token`: their errors as compared.
fn requests_with(port: u16, token: &str) -> [Refusal; 3] {
    let read = range(port, Some(token), "foo").expect_err("a Range with an old JWT");
    block_on(async {
        let mut kv = KvClient::new(channel(port).await);
        let put = PutRequest {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            ..Default::default()
        };
        let txn = TxnRequest {
            success: vec![RequestOp {
                request: Some(request_op::Request::RequestPut(put.clone())),
            }],
            ..Default::default()
        };
        let put = kv.put(with_token(put, Some(token))).await;
        let txn = kv.txn(with_token(txn, Some(token))).await;
        [
            read,
            status_of(&put.expect_err("a Put with an old JWT")),
            status_of(&txn.expect_err("a Txn with an old JWT")),
        ]
    })
}

/// Found by this suite: with JWTs, a request whose token was issued before
/// the last auth change. etcd 3.5.1 refuses reads and writes alike with
/// `code = Unknown desc = auth: revision in header is old` (its gRPC error
/// map does not know the error), on which neither etcdctl 3.5.1 nor oxctl
/// logs in again: both fail. oxcd answers the same (it once answered
/// rpctypes' ErrGRPCAuthOldRevision, on which oxctl logged in again where
/// etcdctl failed).
#[test]
fn jwt_older_than_the_auth_store() {
    if !testkit::bins::etcd_available("jwt_older_than_the_auth_store") {
        return;
    }
    let keys = tempfile::tempdir().expect("temp dir");
    let flag = jwt_flag(keys.path());
    let unknown = (Code::Unknown, "auth: revision in header is old".to_string());
    let old = "Error: rpc error: code = Unknown desc = auth: revision in header is old";
    for kind in KINDS {
        let s = Srv::with_flags(kind, &[&flag, BCRYPT]);
        s.setup(READER_SETUP);
        let token = authenticate(s.port, "root", "rootpw").expect("Authenticate");
        s.setup(&[&[ROOT, "user", "add", "later:pw"]]);
        assert_eq!(
            requests_with(s.port, &token),
            [unknown.clone(), unknown.clone(), unknown.clone()],
            "Range, Put, Txn against {kind:?}"
        );
        let mut seen = Vec::new();
        for (i, client) in CLIENTS.into_iter().enumerate() {
            // the txn logs in, then the auth store changes, then its RPC
            let change = format!("user{i}:pw");
            let bump = std::thread::spawn({
                let args = s.args(&[ROOT, "user", "add", &change]);
                move || {
                    std::thread::sleep(Duration::from_secs(1));
                    common::run(&testkit::bins::etcdctl(), None, &args, None, &[])
                }
            });
            let out = late_txn(client, &s, ROOT, 3, "\\nput k v\\n\\n\\n");
            assert_eq!(bump.join().expect("auth change").code, 0);
            let err = text(&out.stderr);
            let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("Error:")).collect();
            seen.push((
                client.name(),
                text(&out.stdout),
                errors.join("\n"),
                out.code,
            ));
        }
        assert_eq!(
            seen,
            [
                ("etcdctl", String::new(), old.to_string(), 1),
                ("oxctl", String::new(), old.to_string(), 1)
            ],
            "{kind:?}"
        );
    }
}

/// `--cert=… --key=…` of a client certificate.
fn cert_flags(c: &Issued) -> [String; 2] {
    [
        format!("--cert={}", path(&c.cert)),
        format!("--key={}", path(&c.key)),
    ]
}

/// A certificate's flags followed by `args`.
fn as_cert<'a>(flags: &'a [String; 2], args: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![flags[0].as_str(), flags[1].as_str()];
    a.extend_from_slice(args);
    a
}

#[test]
fn client_cert_common_name_is_the_user() {
    if !testkit::bins::etcd_available("client_cert_common_name_is_the_user") {
        return;
    }
    let d = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(d.path(), "ca");
    let server = ca.issue("server", Leaf::loopback("server"));
    let alice = cert_flags(&ca.issue("alice", Leaf::loopback("alice")));
    let root = cert_flags(&ca.issue("root", Leaf::loopback("root")));
    let nobody = cert_flags(&ca.issue("nobody", Leaf::loopback("nobody")));
    let setup = Setup {
        flags: vec![
            "--cert-file".into(),
            path(&server.cert),
            "--key-file".into(),
            path(&server.key),
            "--client-cert-auth".into(),
            "--trusted-ca-file".into(),
            path(&ca.cert_path()),
            BCRYPT.into(),
        ],
        https: true,
        client: vec![format!("--cacert={}", path(&ca.cert_path()))],
        probe: root.to_vec(),
        ..Setup::default()
    };
    let mut refused = Vec::new();
    for kind in KINDS {
        let s = Srv::start(kind, &setup);
        let steps: [&[&str]; 7] = [
            &["user", "add", "root:rootpw"],
            &["user", "add", "alice:apw"],
            &["role", "add", "rfoo"],
            &["role", "grant-permission", "rfoo", "read", "foo"],
            &["user", "grant-role", "alice", "rfoo"],
            &["put", "foo", "bar"],
            &["auth", "enable"],
        ];
        for step in steps {
            s.setup(&[as_cert(&root, step).as_slice()]);
        }
        // no --user: the certificate's CN is the user
        let a = |args: &[&'static str]| as_cert(&alice, args);
        s.expect("CN=alice", &a(&["get", "foo"]), ok("foo\nbar\n"));
        s.expect("CN=alice", &a(&["put", "foo", "x"]), denied());
        s.expect("CN=alice", &a(&["get", "foo2"]), denied());
        s.expect("CN=alice", &a(&["user", "list"]), denied());
        let r = |args: &[&'static str]| as_cert(&root, args);
        s.expect("CN=root", &r(&["user", "list"]), ok("alice\nroot\n"));
        s.expect("CN=root", &r(&["put", "foo", "x"]), ok("OK\n"));
        s.expect("CN=alice", &a(&["get", "foo"]), ok("foo\nx\n"));
        // a token, when sent, names the user instead of the certificate
        s.expect(
            "CN=alice as root",
            &a(&[ROOT, "put", "foo", "y"]),
            ok("OK\n"),
        );
        s.expect(
            "CN=root as alice",
            &r(&["--user=alice:apw", "user", "list"]),
            denied(),
        );
        s.expect(
            "CN=alice, bad password",
            &a(&["--user=alice:x", "get", "foo"]),
            bad_login(),
        );
        // a CN that names no user is refused, for reads and for writes
        let n = |args: &[&'static str]| as_cert(&nobody, args);
        let read = s.both(&n(&["get", "foo"]));
        let write = s.both(&n(&["put", "foo", "z"]));
        assert_ne!(read.2, 0, "CN=nobody get, {kind:?}: {read:?}");
        assert_ne!(write.2, 0, "CN=nobody put, {kind:?}: {write:?}");
        refused.push((read, write));
        s.expect("after CN=nobody", &r(&["get", "foo"]), ok("foo\ny\n"));
    }
    // etcd 3.5.1 finds no such user when it checks the permission:
    assert_eq!(refused[0], (denied(), denied()), "CN=nobody against etcd");
    assert_eq!(refused[1], refused[0], "CN=nobody: oxcd vs etcd");
}

/// `lease timetolive … --keys` without the remaining TTL.
fn without_remaining(o: Observed) -> Observed {
    let stdout = match (o.0.find("remaining("), o.0.find("s), attached")) {
        (Some(a), Some(b)) if a < b => format!("{}remaining(N{}", &o.0[..a], &o.0[b..]),
        _ => o.0.clone(),
    };
    (stdout, o.1, o.2)
}

/// Raises a NOSPACE alarm on the server (as root, through the API).
fn raise_nospace(port: u16, token: &str) {
    block_on(async {
        let mut m = MaintenanceClient::new(channel(port).await);
        let member_id = m
            .status(StatusRequest {})
            .await
            .expect("Status")
            .into_inner()
            .header
            .expect("header")
            .member_id;
        let req = AlarmRequest {
            action: AlarmAction::Activate as i32,
            member_id,
            alarm: AlarmType::Nospace as i32,
        };
        m.alarm(with_token(req, Some(token)))
            .await
            .expect("raise NOSPACE");
    });
}

/// Where oxcd refuses what etcd 3.5.1 lets a user without the root role
/// (or without read permission) do. etcd 3.5.1's own answers are asserted
/// too, so that the difference is on record.
#[test]
fn stricter_than_etcd_3_5_1() {
    if !testkit::bins::etcd_available("stricter_than_etcd_3_5_1") {
        return;
    }
    let alarm = "memberID:10276657743932975437 alarm:NOSPACE \n";
    for kind in KINDS {
        let s = Srv::with_flags(kind, &[BCRYPT]);
        s.setup(READER_SETUP);
        let granted = common::run(
            &testkit::bins::etcdctl(),
            None,
            &s.args(&[ROOT, "lease", "grant", "100"]),
            None,
            &[],
        );
        let id = text(&granted.stdout)
            .split_whitespace()
            .nth(1)
            .expect("lease ID")
            .to_string();
        let lease = format!("--lease={id}");
        s.setup(&[
            &[ROOT, "put", "foo", "leased", &lease],
            &[ROOT, "user", "add", "other:opw"],
        ]);
        let other = "--user=other:opw";

        // 1. The keys attached to a lease are key names: etcd 3.5.1 lists
        // them to anyone (CVE-2023-32082, fixed in etcd 3.5.9, which
        // checks read permission on each); oxcd checks as 3.5.9 does.
        let keys =
            |user: &str| without_remaining(s.both(&[user, "lease", "timetolive", &id, "--keys"]));
        let listed = ok(&format!(
            "lease {id} granted with TTL(100s), remaining(Ns), attached keys([foo])\n"
        ));
        assert_eq!(keys(READER), listed, "a reader of foo, {kind:?}");
        let expected = match kind {
            ServerKind::Etcd => listed.clone(),
            ServerKind::Oxcd => error("Error: etcdserver: permission denied", 2),
        };
        assert_eq!(
            keys(other),
            expected,
            "a user who may not read foo, {kind:?}"
        );
        let plain = without_remaining(s.both(&[other, "lease", "timetolive", &id]));
        assert!(
            plain
                .0
                .starts_with(&format!("lease {id} granted with TTL(100s), remaining(")),
            "without --keys, {kind:?}: {plain:?}"
        );

        // 2. snapshot save is for the root role: both servers refuse
        // others, and neither client leaves a file.
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("snap.db");
        s.expect(
            "snapshot save by a non-root user",
            &[READER, "snapshot", "save", &path(&file)],
            error(
                "Error: rpc error: code = Unknown desc = auth: permission denied",
                5,
            ),
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
        assert!(left.is_empty(), "files left, {kind:?}: {left:?}");
        for client in CLIENTS {
            let root_file = dir.path().join(format!("{}.db", client.name()));
            let out = observe(
                client,
                &s.args(&[ROOT, "snapshot", "save", &path(&root_file)]),
            );
            assert_eq!(out.2, 0, "root's snapshot save, {kind:?}: {out:?}");
            assert!(root_file.is_file(), "{kind:?}");
        }

        // 3. Disarming an alarm: etcd 3.5.1 lets any user who logs in do
        // it (its Alarm RPC has no auth check); oxcd wants the root role.
        let token = authenticate(s.port, "root", "rootpw").expect("Authenticate");
        for client in CLIENTS {
            raise_nospace(s.port, &token);
            s.expect("alarm list", &[READER, "alarm", "list"], ok(alarm));
            let got = observe(client, &s.args(&[READER, "alarm", "disarm"]));
            let left = s.both(&[ROOT, "alarm", "list"]);
            match kind {
                ServerKind::Etcd => {
                    assert_eq!((got, left), (ok(alarm), ok("")), "{}", client.name())
                }
                ServerKind::Oxcd => {
                    assert_eq!((got, left), (denied(), ok(alarm)), "{}", client.name());
                    let root = observe(client, &s.args(&[ROOT, "alarm", "disarm"]));
                    assert_eq!(root, ok(alarm), "root disarms, {}", client.name());
                }
            }
        }
        s.expect("alarm list", &[ROOT, "alarm", "list"], ok(""));
    }
}
