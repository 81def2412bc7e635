//! Three-member clusters in the seed's TLS deployment: `https://` client
//! and peer URLs, `--client-cert-auth --peer-client-cert-auth`, one CA
//! (`cluster.rs`, [`Cluster::start_tls`]). The seed's commands go through
//! its alias (`--cacert=… --cert=… --key=…` before the command) with the
//! three https URLs as `--endpoints`, and are compared as every cluster
//! scenario is. A member whose certificate comes from another CA must not
//! take part in the cluster.

use std::time::{Duration, Instant};

use super::cluster::{Cluster, How};
use super::common::{same_on, Observed, ServerKind};
use super::{against_etcd, against_oxcd, serial, step, Step};

/// `endpoint status -w table` over the three https endpoints.
const STATUS_TABLE: &str = "\
+-------------------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+
|        ENDPOINT         |        ID        | VERSION | DB SIZE | IS LEADER | IS LEARNER | RAFT TERM | RAFT INDEX | RAFT APPLIED INDEX | ERRORS |
+-------------------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+
| https://<EP-m1> | <ID-m1> |   3.5.1 |  <SIZE> |      true |      false |    <TERM> |    <INDEX> |            <INDEX> |        |
| https://<EP-m2> | <ID-m2> |   3.5.1 |  <SIZE> |     false |      false |    <TERM> |    <INDEX> |            <INDEX> |        |
| https://<EP-m3> | <ID-m3> |   3.5.1 |  <SIZE> |     false |      false |    <TERM> |    <INDEX> |            <INDEX> |        |
+-------------------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+
";

/// `member list -w table` of the TLS cluster.
const MEMBER_TABLE: &str = "\
+------------------+---------+------+-------------------------+-------------------------+------------+
|        ID        | STATUS  | NAME |       PEER ADDRS        |      CLIENT ADDRS       | IS LEARNER |
+------------------+---------+------+-------------------------+-------------------------+------------+
| <ID-m1> | started |   m1 | https://<PEER-m1> | https://<EP-m1> |      false |
| <ID-m2> | started |   m2 | https://<PEER-m2> | https://<EP-m2> |      false |
| <ID-m3> | started |   m3 | https://<PEER-m3> | https://<EP-m3> |      false |
+------------------+---------+------+-------------------------+-------------------------+------------+
";

/// The seed's commands, through its alias.
fn seed_steps() -> Vec<Step> {
    let alias = [
        "--cacert={CA}",
        "--cert={CERT}",
        "--key={KEY}",
        "--endpoints={EPS}",
    ];
    let s = |rest: &[&str]| step(&[&alias[..], rest].concat());
    vec![
        s(&["endpoint", "status", "-w", "table"]).expect_out(STATUS_TABLE),
        s(&["endpoint", "health"]).expect_out(
            "https://<EP-m1> is healthy: successfully committed proposal: took = <DUR>\n\
             https://<EP-m2> is healthy: successfully committed proposal: took = <DUR>\n\
             https://<EP-m3> is healthy: successfully committed proposal: took = <DUR>\n",
        ),
        s(&["member", "list", "-w", "table"]).expect_out(MEMBER_TABLE),
        s(&["member", "list"]).expect_out(
            "<ID-m1>, started, m1, https://<PEER-m1>, https://<EP-m1>, false\n\
             <ID-m2>, started, m2, https://<PEER-m2>, https://<EP-m2>, false\n\
             <ID-m3>, started, m3, https://<PEER-m3>, https://<EP-m3>, false\n",
        ),
        s(&["put", "foo", "Hello World"]).expect_out("OK\n"),
        s(&["get", "foo"]).expect_out("foo\nHello World\n"),
        s(&["get", "foo", "-w", "json"]).any_responder().expect_out(
            "{\"header\":{\"cluster_id\":<CLUSTER-ID>,\"member_id\":<ANY-ID>,\"revision\":4,\
                 \"raft_term\":<TERM>},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":4,\
                 \"mod_revision\":4,\"version\":1,\"value\":\"SGVsbG8gV29ybGQ=\"}],\"count\":1}\n",
        ),
    ]
}

#[test]
fn etcd_tls_seed_commands() {
    against_etcd("etcd_tls_seed_commands", How::Tls, seed_steps());
}

#[test]
fn oxcd_tls_seed_commands() {
    against_oxcd("oxcd_tls_seed_commands", How::Tls, seed_steps());
}

/// The same deployment and commands, every member configured only by an
/// environment file of `ETCD_*` lines (the seed's env column).
#[test]
fn etcd_env_file_seed_commands() {
    against_etcd("etcd_env_file_seed_commands", How::TlsEnvFile, seed_steps());
}

#[test]
fn oxcd_env_file_seed_commands() {
    against_oxcd("oxcd_env_file_seed_commands", How::TlsEnvFile, seed_steps());
}

fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// How long `m3` is watched for the data it must never get.
const WATCH_M3: Duration = Duration::from_secs(6);

/// `m1` and `m2` with certificates of the cluster's CA, `m3` with one of
/// another CA (it trusts the cluster's CA): `m1` and `m2` form a quorum
/// and serve writes, `m3` never gets the data and never publishes its
/// client URLs. Four ways: etcdctl and oxctl, the same expected results
/// from etcd and oxcd.
fn member_from_another_ca(test: &str, kind: ServerKind) {
    if !testkit::bins::etcd_available(test) {
        return;
    }
    let _serial = serial();
    let c = Cluster::start_foreign_m3(kind);
    let tls = c.tls.as_ref().expect("a TLS cluster");
    let [m1, m2, m3] = [0, 1, 2].map(|i| &c.members[i]);
    let at = |m: &super::cluster::Member, ca| {
        let mut a = tls.flags_with(ca);
        a.push(format!("--endpoints={}", m.client_url()));
        a
    };
    let run = |mut a: Vec<String>, more: &[&str]| {
        a.extend(strings(more));
        same_on(kind, &a)
    };
    let ok = |s: &str| -> Observed { (s.to_string(), vec![], 0) };
    let put = run(at(m1, &tls.ca), &["put", "foo", "Hello World"]);
    assert_eq!(put, ok("OK\n"), "{kind:?}: put through m1");
    let get = run(at(m2, &tls.ca), &["get", "foo", "--consistency=s"]);
    assert_eq!(get, ok("foo\nHello World\n"), "{kind:?}: m2 has the data");

    // m3 (its server certificate is of the other CA) never has the data.
    // Neither server serves clients before the member has published itself
    // through the cluster, so the client's deadline passes.
    let want = (
        String::new(),
        vec!["Error: context deadline exceeded".to_string()],
        1,
    );
    let fast = strings(&["--dial-timeout=1s", "--command-timeout=2s"]);
    let m3_get = [fast, at(m3, &tls.other_ca)].concat();
    let until = Instant::now() + WATCH_M3;
    while Instant::now() < until {
        let got = run(m3_get.clone(), &["get", "foo", "--consistency=s"]);
        assert!(!got.0.contains("Hello"), "{kind:?}: m3 has the data");
        assert_eq!(got, want, "{kind:?}: m3 after the put");
    }

    // Both list m3 as `started` (it has a name: the one in
    // --initial-cluster) but without client URLs: it never published them.
    let m3_line = format!("{:x}, started, m3, {}, , false\n", m3.id, m3.peer_url());
    let started = |m: &super::cluster::Member| {
        let (peer, client) = (m.peer_url(), m.client_url());
        format!("{:x}, started, {}, {peer}, {client}, false\n", m.id, m.name)
    };
    let want = [started(m1), started(m2), m3_line].concat();
    let list = run(at(m1, &tls.ca), &["member", "list"]);
    assert_eq!(list, ok(&want), "{kind:?}: member list from m1");
}

#[test]
fn etcd_tls_member_from_another_ca() {
    member_from_another_ca("etcd_tls_member_from_another_ca", ServerKind::Etcd);
}

#[test]
fn oxcd_tls_member_from_another_ca() {
    member_from_another_ca("oxcd_tls_member_from_another_ca", ServerKind::Oxcd);
}
