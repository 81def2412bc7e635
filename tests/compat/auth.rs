//! Scenarios: `auth`, `user` and `role` in every writer, logging in
//! (`--user`, `--password`, `ETCDCTL_USER`/`ETCDCTL_PASSWORD`, prompts),
//! and what a user without a permission gets from every kind of request.

use super::*;

const WRITERS: [&str; 5] = ["simple", "json", "fields", "protobuf", "table"];

fn all_writers(args: &[&str]) -> Vec<Step> {
    WRITERS
        .iter()
        .map(|w| {
            let mut a = vec!["-w", w];
            a.extend_from_slice(args);
            step(&a)
        })
        .collect()
}

const ROOT: &str = "--user=root:rootpw";

#[test]
fn users_and_roles() {
    let mut steps = all_writers(&["auth", "status"]);
    steps.extend([
        step(&["user", "add", "root:rootpw"]).expect_out("User root created\n"),
        step(&["-w", "json", "user", "add", "alice:apw"]),
        step(&["-w", "fields", "user", "add", "bob:bpw"]),
        step(&["-w", "protobuf", "user", "add", "carol:cpw"]),
        // the user is made, then the writer refuses (exit 4)
        step(&["-w", "table", "user", "add", "dave:dpw"])
            .expect_err("Error: table not supported as output format\n", 4),
        step(&["user", "add", "alice:x"])
            .expect_err("Error: etcdserver: user name already exists\n", 1),
        step(&["user", "add", ":pw"]).expect_err("Error: empty user name is not allowed\n", 128),
        step(&["user", "add"]).expect_code(128),
        step(&["user", "add", "a", "b"]).expect_code(128),
        step(&["user", "add", "nopw", "--no-password"]),
        step(&["user", "add", "e7:pw", "--no-password"]).expect_out("User e7:pw created\n"),
        step(&["user", "add", "e8:pw", "--new-user-password=other"]),
        step(&["user", "add", "e6:a:b"]).expect_out("User e6 created\n"),
        step(&["user", "add", "words", "--interactive=false"]).stdin(b"  lead rest\n"),
        step(&["user", "add", "prompted"]).stdin(b"pw1\npw1\n"),
        step(&["user", "add", "mismatch"])
            .stdin(b"pw1\npw2\n")
            .expect_code(128),
        step(&["user", "add", "nothing"]).expect_code(128),
    ]);
    steps.extend(all_writers(&["user", "list"]));
    steps.extend([
        step(&["role", "add", "r1"]).expect_out("Role r1 created\n"),
        step(&["role", "add", "r1"]).expect_err("Error: etcdserver: role name already exists\n", 1),
        step(&["role", "add", ""]).expect_err("Error: etcdserver: role name is empty\n", 1),
        step(&["role", "grant-permission", "r1", "read", "foo"]).expect_out("Role r1 updated\n"),
        step(&["role", "grant-permission", "r1", "write", "pre", "--prefix"]),
        step(&[
            "role",
            "grant-permission",
            "r1",
            "readwrite",
            "fk",
            "--from-key",
        ]),
        step(&["role", "grant-permission", "r1", "read", "a", "b"]),
        step(&["role", "grant-permission", "r1", "read", "a", "z"]),
        step(&["role", "grant-permission", "r1", "READ", "a"]),
        step(&["role", "grant-permission", "r1", "foo", "a"])
            .expect_err("Error: invalid permission type: foo\n", 128),
        // the empty key: every key; a second identical grant is kept too
        step(&["role", "grant-permission", "r1", "read", "", "--prefix"]),
        step(&["role", "grant-permission", "r1", "read", "", "--from-key"]),
        step(&[
            "role",
            "grant-permission",
            "r1",
            "read",
            "a",
            "b",
            "--prefix",
        ])
        .expect_err(
            "Error: unexpected endkey argument with --prefix flag\n",
            128,
        ),
        step(&[
            "role",
            "grant-permission",
            "r1",
            "read",
            "a",
            "--prefix",
            "--from-key",
        ])
        .expect_code(128),
        step(&["role", "grant-permission", "r1", "read"]).expect_code(128),
        step(&["role", "grant-permission", "nosuch", "read", "a"])
            .expect_err("Error: etcdserver: role name not found\n", 1),
        // re-granting the same range changes its type
        step(&["role", "grant-permission", "r1", "write", "foo"]),
    ]);
    steps.extend(all_writers(&["role", "get", "r1"]));
    steps.extend(all_writers(&["role", "list"]));
    steps.extend([
        step(&["role", "get", "nosuch"]).expect_err("Error: etcdserver: role name not found\n", 1),
        step(&["user", "grant-role", "alice", "r1"])
            .expect_out("Role r1 is granted to user alice\n"),
        step(&["user", "grant-role", "alice", "r1"]),
        step(&["user", "grant-role", "alice", "nosuch"])
            .expect_err("Error: etcdserver: role name not found\n", 1),
        step(&["user", "grant-role", "nosuch", "r1"])
            .expect_err("Error: etcdserver: user name not found\n", 1),
        step(&["user", "grant-role", "alice"]).expect_code(128),
    ]);
    steps.extend(all_writers(&["user", "get", "alice"]));
    steps.extend(all_writers(&["user", "get", "alice", "--detail"]));
    steps.extend([
        step(&["user", "get", "nosuch"]).expect_err("Error: etcdserver: user name not found\n", 1),
        step(&["role", "revoke-permission", "r1", "a", "b"])
            .expect_out("Permission of range [a, b) is revoked from role r1\n"),
        step(&["role", "revoke-permission", "r1", "a", "b"]).expect_err(
            "Error: etcdserver: permission is not granted to the role\n",
            1,
        ),
        step(&["role", "revoke-permission", "r1", "pre", "--prefix"]),
        step(&["role", "revoke-permission", "r1", "fk", "--from-key"]),
        step(&["role", "revoke-permission", "r1", "", "--prefix"]),
        step(&["role", "revoke-permission", "r1", "foo"])
            .expect_out("Permission of key foo is revoked from role r1\n"),
        step(&["role", "get", "r1"]),
        step(&["user", "revoke-role", "alice", "r1"])
            .expect_out("Role r1 is revoked from user alice\n"),
        step(&["user", "revoke-role", "alice", "r1"])
            .expect_err("Error: etcdserver: role is not granted to the user\n", 1),
        step(&["user", "passwd", "bob", "--interactive=false"])
            .stdin(b"newpw\n")
            .expect_out("Password updated\n"),
        step(&["user", "passwd", "bob"]).stdin(b"p\np\n"),
        step(&["user", "passwd", "nosuch", "--interactive=false"])
            .expect_err("Error: etcdserver: user name not found\n", 1),
        step(&["user", "delete", "dave"]).expect_out("User dave deleted\n"),
        step(&["user", "delete", "dave"]).expect_err("Error: etcdserver: user name not found\n", 1),
        step(&["role", "delete", "r1"]).expect_out("Role r1 deleted\n"),
        step(&["role", "delete", "r1"]).expect_err("Error: etcdserver: role name not found\n", 1),
        step(&["auth", "status", "extra"]).expect_code(128),
    ]);
    run_scenarios("users_and_roles", vec![scenario("users_and_roles", steps)]);
}

/// Root, a reader of `foo`, a writer of `foo`, a user without roles; auth on.
fn auth_setup() -> Vec<Step> {
    vec![
        step(&["auth", "enable"]).expect_err("Error: etcdserver: root user does not exist\n", 1),
        step(&["user", "add", "root:rootpw"]),
        step(&["put", "foo", "v0"]),
        step(&["put", "foo2", "v0"]),
        step(&["lease", "grant", "100"]),
        step(&["put", "leased", "v", &format!("--lease={LEASE}")]),
        step(&["user", "add", "reader:rpw"]),
        step(&["user", "add", "wfoo:wpw"]),
        step(&["user", "add", "noperm:npw"]),
        step(&["user", "add", "nopw", "--no-password"]),
        step(&["role", "add", "rfoo"]),
        step(&["role", "grant-permission", "rfoo", "read", "foo"]),
        step(&["role", "add", "wrole"]),
        step(&["role", "grant-permission", "wrole", "readwrite", "foo"]),
        step(&["user", "grant-role", "reader", "rfoo"]),
        step(&["user", "grant-role", "wfoo", "wrole"]),
        // the root role is made and granted by etcdctl itself
        step(&["auth", "enable"]).expect_out("Authentication Enabled\n"),
    ]
}

#[test]
fn logging_in() {
    let mut steps = auth_setup();
    steps.extend([
        step(&["get", "foo"]).expect_err("Error: etcdserver: user name is empty\n", 1),
        step(&[ROOT, "get", "foo"]).expect_out("foo\nv0\n"),
        step(&["--user=root:wrong", "get", "foo"]).expect_err(
            "Error: etcdserver: authentication failed, invalid user ID or password\n",
            2,
        ),
        step(&["--user=nosuch:x", "get", "foo"]).expect_code(2),
        step(&["--user=root", "--password=rootpw", "get", "foo"]).expect_out("foo\nv0\n"),
        // with --password the whole --user value is the name
        step(&["--user=root:rootpw", "--password=rootpw", "get", "foo"]).expect_code(2),
        step(&["--password=rootpw", "get", "foo"]).expect_code(1),
        step(&["--user=root:", "get", "foo"])
            .expect_err("Error: etcdserver: user name is empty\n", 1),
        step(&["--user=:rootpw", "get", "foo"]).expect_code(1),
        step(&["--user=root:rootpw:x", "get", "foo"]).expect_code(2),
        step(&["--user=nopw:x", "get", "foo"]).expect_code(2),
        step(&["get", "foo"]).env("ETCDCTL_USER", "root:rootpw"),
        step(&["get", "foo"])
            .env("ETCDCTL_USER", "root")
            .env("ETCDCTL_PASSWORD", "rootpw"),
        step(&["get", "foo"]).env("ETCDCTL_PASSWORD", "rootpw"),
        // a name alone: the password is asked for on standard input
        step(&["--user=root", "get", "foo"]).stdin(b"rootpw\n"),
        step(&["--user=root", "get", "foo"])
            .stdin(b"wrong\n")
            .expect_code(2),
        step(&["--user=root", "get", "foo"]).expect_code(1),
        step(&[ROOT, "auth", "enable"]).expect_out("Authentication Enabled\n"),
        step(&["auth", "enable"]).expect_code(1),
        step(&["--user=noperm:npw", "auth", "enable"])
            .expect_err("Error: etcdserver: permission denied\n", 1),
    ]);
    steps.extend(all_writers(&[ROOT, "auth", "status"]));
    steps.extend([
        step(&[ROOT, "user", "delete", "root"])
            .expect_err("Error: etcdserver: invalid auth management\n", 1),
        step(&[ROOT, "user", "revoke-role", "root", "root"])
            .expect_err("Error: etcdserver: invalid auth management\n", 1),
        step(&[ROOT, "role", "delete", "root"])
            .expect_err("Error: etcdserver: invalid auth management\n", 1),
        step(&[ROOT, "user", "get", "root", "--detail"]),
        step(&[ROOT, "role", "get", "root"]),
        // a password change ends the user's old log-ins
        step(&[ROOT, "user", "passwd", "reader", "--interactive=false"]).stdin(b"rpw2\n"),
        step(&["--user=reader:rpw", "get", "foo"]).expect_code(2),
        step(&["--user=reader:rpw2", "get", "foo"]).expect_out("foo\nv0\n"),
        step(&[ROOT, "auth", "disable"]).expect_out("Authentication Disabled\n"),
        step(&["auth", "status"]),
        // with auth off a log-in is not needed, and not refused
        step(&["--user=root:anything", "get", "foo"]).expect_out("foo\nv0\n"),
        step(&["auth", "disable"]).expect_out("Authentication Disabled\n"),
    ]);
    run_scenarios("logging_in", vec![scenario("logging_in", steps)]);
}

#[test]
fn permissions() {
    let mut steps = auth_setup();
    let denied = "Error: etcdserver: permission denied\n";
    let unknown_denied = "Error: rpc error: code = Unknown desc = auth: permission denied\n";
    let r = "--user=reader:rpw";
    let n = "--user=noperm:npw";
    let w = "--user=wfoo:wpw";
    steps.extend([
        // keys: read, write, ranges, prev_kv
        step(&[r, "get", "foo"]).expect_out("foo\nv0\n"),
        step(&[r, "get", "foo2"]).expect_err(denied, 1),
        step(&[r, "get", "foo", "--prefix"]).expect_err(denied, 1),
        step(&[r, "put", "foo", "x"]).expect_err(denied, 1),
        step(&[r, "del", "foo"]).expect_err(denied, 1),
        step(&[w, "put", "foo", "v1"]).expect_out("OK\n"),
        step(&[w, "put", "foo", "v2", "--prev-kv"]),
        step(&[w, "del", "foo", "--prev-kv"]),
        step(&[w, "put", "foo", "v3"]),
        step(&[n, "get", "foo"]).expect_err(denied, 1),
        step(&[n, "-w", "json", "get", "foo"]).expect_err(denied, 1),
        // txn: every compare and both branches
        step(&[w, "txn"])
            .stdin(b"value(\"foo\") = \"v3\"\n\nput foo v4\n\nput foo v5\n\n")
            .expect_out("SUCCESS\n\nOK\n"),
        step(&[w, "txn"])
            .stdin(b"value(\"foo2\") = \"x\"\n\nput foo v4\n\n\n")
            .expect_err(denied, 1),
        step(&[w, "txn"])
            .stdin(b"value(\"foo\") = \"v4\"\n\nput foo v6\n\nget foo2\n\n")
            .expect_err(denied, 1),
        step(&[r, "txn"])
            .stdin(b"\nget foo\n\n\n")
            .expect_out("SUCCESS\n\nfoo\nv4\n"),
        step(&[r, "txn"]).stdin(b"\nget foo2\n\n\n").expect_err(denied, 1),
        // watches on what the user may not read are cancelled
        step(&[n, "watch", "foo"]).expect_code(5),
        step(&[r, "watch", "foo", "--prefix"]).expect_code(5),
        step(&[r, "-w", "json", "watch", "foo2"]).expect_code(5),
        // leases: no key permission, but revoking deletes the keys
        step(&[n, "lease", "revoke", LEASE])
            .expect_err("Error: failed to revoke lease (etcdserver: permission denied)\n", 1),
        step(&[n, "lease", "timetolive", LEASE]).skip_stdout("the remaining TTL counts down"),
        step(&[n, "lease", "list"]),
        step(&[n, "lease", "grant", "60"]),
        // admin only
        step(&[n, "user", "list"]).expect_err(denied, 1),
        step(&[n, "role", "list"]).expect_err(denied, 1),
        step(&[n, "user", "add", "x:y"]).expect_err(denied, 1),
        step(&[n, "role", "add", "x"]).expect_err(denied, 1),
        step(&[n, "auth", "status"]).expect_err(denied, 1),
        step(&[n, "auth", "disable"]).expect_err(denied, 1),
        step(&[n, "user", "get", "reader"]).expect_err(denied, 1),
        step(&[n, "user", "get", "noperm"]).expect_out("User: noperm\nRoles:\n"),
        step(&[r, "user", "get", "reader", "--detail"]),
        step(&[r, "role", "get", "rfoo"]),
        step(&[r, "role", "get", "wrole"]).expect_err(denied, 1),
        step(&[n, "member", "add", "m2", "--peer-urls=http://127.0.0.1:1"])
            .expect_err(denied, 1),
        step(&[n, "endpoint", "hashkv"]).expect_err(
            &format!(
                "Failed to get the hash of endpoint <EP> (rpc error: code = Unknown desc = auth: permission denied)\n{unknown_denied}"
            ),
            1,
        ),
        step(&[n, "defrag"]).expect_code(1),
        // open to anyone, as in etcd
        step(&[n, "member", "list"]),
        step(&[n, "endpoint", "status"]).skip_stdout("sizes and indexes differ"),
        step(&[n, "alarm", "list"]),
        step(&[n, "compaction", "1"]),
        // revoking a role takes effect at once
        step(&[ROOT, "user", "revoke-role", "reader", "rfoo"]),
        step(&[r, "get", "foo"]).expect_err(denied, 1),
        step(&[ROOT, "user", "grant-role", "reader", "rfoo"]),
        step(&[r, "get", "foo"]),
        // the root role makes any user an admin
        step(&[ROOT, "user", "grant-role", "noperm", "root"]),
        step(&[n, "user", "list"]),
        step(&[n, "get", "foo2"]).expect_out("foo2\nv0\n"),
    ]);
    run_scenarios("permissions", vec![scenario("permissions", steps)]);
}
