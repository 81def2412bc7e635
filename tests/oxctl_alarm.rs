//! oxctl's `alarm` output with an active NOSPACE alarm, against real etcd
//! 3.5.1 and against oxcd, asserted against the exact etcdctl 3.5.1 format
//! (reference §3.5). The compat suite compares these with etcdctl too; this
//! file also covers `alarm disarm -w fields`, where etcdctl dereferences the
//! missing header of its own disarm response and panics (its stderr carries
//! a Go stack trace the suite cannot compare).
//!
//! Run: `cargo build --workspace --bins && cargo test --test oxctl_alarm`.

mod common;

use common::{ClientKind, Server, ServerKind};

const NOSPACE: &str = "memberID:10276657743932975437 alarm:NOSPACE \n";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts stdout, stderr and the exit code of one invocation.
fn check(srv: &Server, args: &[&str], stdout: &str, stderr: &str, code: i32) {
    let out = srv.ctl(ClientKind::Oxctl, args);
    let what = format!("oxctl {} → {}", args.join(" "), srv.kind.name());
    assert_eq!(text(&out.stdout), stdout, "stdout of {what}");
    assert_eq!(text(&out.stderr), stderr, "stderr of {what}");
    assert_eq!(out.code, code, "exit code of {what}");
}

/// With `--quota-backend-bytes=1` any write exceeds the quota and raises
/// NOSPACE.
fn raise(srv: &Server) {
    check(
        srv,
        &["put", "a", "b"],
        "",
        "Error: etcdserver: mvcc: database space exceeded\n",
        1,
    );
}

fn nospace_outputs(kind: ServerKind) {
    let srv = Server::start(kind, &["--quota-backend-bytes=1"]);
    check(&srv, &["alarm", "list"], "", "", 0);
    raise(&srv);
    check(&srv, &["alarm", "list"], NOSPACE, "", 0);
    // a store over its quota refuses read-only txns too (not ranges)
    let out = common::run(
        &ClientKind::Oxctl.binary(),
        Some(&srv.endpoint()),
        &["txn"],
        Some(b"\nget a\n\n\n"),
        &[],
    );
    assert_eq!(
        (text(&out.stdout), text(&out.stderr), out.code),
        (
            String::new(),
            "Error: etcdserver: mvcc: database space exceeded\n".to_string(),
            1
        ),
        "read-only txn over the quota"
    );
    check(&srv, &["get", "a"], "", "", 0);
    // The revision stays 1: no write ever succeeded.
    let header = "\"ClusterID\" : 14841639068965178418\n\"MemberID\" : 10276657743932975437\n\
                  \"Revision\" : 1\n";
    let out = srv.ctl(ClientKind::Oxctl, &["alarm", "list", "-w", "fields"]);
    let fields = text(&out.stdout);
    assert!(fields.starts_with(header), "fields: {fields:?}");
    assert!(
        fields.ends_with("\"MemberID\" : 10276657743932975437\n\"AlarmType\" : NOSPACE\n\n"),
        "fields: {fields:?}"
    );
    let out = srv.ctl(ClientKind::Oxctl, &["alarm", "list", "-w", "json"]);
    let json = text(&out.stdout);
    assert!(
        json.starts_with(
            "{\"header\":{\"cluster_id\":14841639068965178418,\"member_id\":10276657743932975437,\
             \"revision\":1,\"raft_term\":"
        ) && json.ends_with("},\"alarms\":[{\"memberID\":10276657743932975437,\"alarm\":1}]}\n"),
        "json: {json:?}"
    );
    check(
        &srv,
        &["endpoint", "health"],
        "",
        &format!(
            "{} is unhealthy: failed to commit proposal: Active Alarm(s): NOSPACE \n\
             Error: unhealthy cluster\n",
            srv.endpoint()
        ),
        1,
    );
    check(&srv, &["alarm", "disarm"], NOSPACE, "", 0);
    check(&srv, &["alarm", "list"], "", "", 0);
    raise(&srv);
    // Go's nil-pointer panic (exit 2), after the alarms were disarmed.
    check(
        &srv,
        &["alarm", "disarm", "-w", "fields"],
        "",
        "panic: runtime error: invalid memory address or nil pointer dereference\n",
        2,
    );
    check(&srv, &["alarm", "list"], "", "", 0);
    check(
        &srv,
        &["alarm", "disarm", "-w", "fields"],
        "",
        "panic: runtime error: invalid memory address or nil pointer dereference\n",
        2,
    );
    raise(&srv);
    check(
        &srv,
        &["alarm", "disarm", "-w", "json"],
        "{\"alarms\":[{\"memberID\":10276657743932975437,\"alarm\":1}]}\n",
        "",
        0,
    );
}

#[test]
fn nospace_against_etcd() {
    if !testkit::bins::etcd_available("nospace_against_etcd") {
        return;
    }
    nospace_outputs(ServerKind::Etcd);
}

#[test]
fn nospace_against_oxcd() {
    if !testkit::bins::etcd_available("nospace_against_oxcd") {
        // The harness probes server readiness with the real etcdctl.
        return;
    }
    nospace_outputs(ServerKind::Oxcd);
}
