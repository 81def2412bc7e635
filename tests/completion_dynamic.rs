//! Dynamic completion against a running oxcd: the entry point the shell
//! calls (`COMPLETE=fish oxctl -- <words>`, fish's plain one-per-line
//! protocol) offers the keys under the typed prefix, member IDs for `member
//! remove`, lease IDs for `lease revoke` and user names, using the typed
//! `--endpoints`; an unreachable endpoint gives nothing, quickly; and
//! `COMPLETE=bash oxctl` prints the registration script.

mod common;

use common::{ClientKind, Server, ServerKind};
use std::process::Command;
use std::time::{Duration, Instant};

/// Candidates (the value before fish's tab and description) for `words`.
fn complete(words: &[&str]) -> (Vec<String>, Duration) {
    let started = Instant::now();
    let mut cmd = Command::new(testkit::bins::oxctl());
    cmd.env("COMPLETE", "fish")
        .arg("--")
        .arg("oxctl")
        .args(words);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ETCDCTL")) {
        cmd.env_remove(k);
    }
    let out = cmd.output().expect("run oxctl for completions");
    assert!(
        out.status.success(),
        "{words:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        // an empty word is offered the flags too
        .filter(|v| !v.starts_with('-'))
        .collect();
    (lines, started.elapsed())
}

#[test]
fn completes_what_the_cluster_holds() {
    let srv = Server::start(ServerKind::Oxcd, &[]);
    for k in ["foo1", "foo2", "bar"] {
        assert_eq!(srv.ctl(ClientKind::Oxctl, &["put", k, "v"]).code, 0);
    }
    let lease = srv.ctl(ClientKind::Oxctl, &["lease", "grant", "600"]);
    let lease_id = String::from_utf8_lossy(&lease.stdout)
        .split_whitespace()
        .nth(1)
        .expect("lease grant prints the ID")
        .to_string();
    assert_eq!(
        srv.ctl(ClientKind::Oxctl, &["user", "add", "alice:pw"])
            .code,
        0
    );
    let ep = format!("--endpoints={}", srv.endpoint());

    let (keys, _) = complete(&[&ep, "get", "fo"]);
    assert_eq!(keys, ["foo1", "foo2"], "keys under fo");
    let (keys, _) = complete(&[&ep, "del", ""]);
    assert_eq!(keys, ["bar", "foo1", "foo2"], "every key");
    let (members, _) = complete(&[&ep, "member", "remove", ""]);
    assert_eq!(members, ["8e9e05c52164694d"], "the member's ID");
    let (leases, _) = complete(&[&ep, "lease", "revoke", ""]);
    assert_eq!(leases, [lease_id], "the lease's ID");
    let (users, _) = complete(&[&ep, "user", "get", "a"]);
    assert_eq!(users, ["alice"], "user names");
    // subcommands still complete as before
    let (cmds, _) = complete(&["mem"]);
    assert!(cmds.contains(&"member".to_string()), "{cmds:?}");

    let dead = format!("--endpoints=127.0.0.1:{}", testkit::free_port());
    let (none, took) = complete(&[&dead, "get", "fo"]);
    assert!(none.is_empty(), "{none:?}");
    assert!(
        took < Duration::from_secs(3),
        "an unreachable cluster took {took:?}"
    );
}

#[test]
fn the_shell_gets_a_registration_script() {
    let out = Command::new(testkit::bins::oxctl())
        .env("COMPLETE", "bash")
        .output()
        .expect("run oxctl");
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && script.contains("complete"),
        "{script}"
    );
}
