//! `-d/--discovery-srv`: oxctl takes its endpoints from the SRV records of
//! a DNS responder the test runs on loopback (`testkit::dns`, reached
//! through `OXCD_DISCOVERY_DNS`; etcdctl cannot be pointed at it, so the
//! expectations are etcdctl 3.5.1's rules, its texts checked against a
//! real lookup failure in `unknown_domain_fails_as_etcdctl`).
//!
//! Run: `cargo test -p oxctl --test discovery_srv` (needs target/debug/oxcd).

#[path = "common/mod.rs"]
mod common;

use common::{ClientKind, Server, ServerKind};
use testkit::dns::{Dns, Record};

const DOMAIN: &str = "example.test";

fn srv(service: &str, port: u16, target: &str) -> Record {
    Record::Srv {
        name: format!("_{service}._tcp.{DOMAIN}"),
        port,
        target: target.to_string(),
    }
}

/// oxctl with the responder as its DNS server.
fn oxctl(dns: &Dns, args: &[&str]) -> testkit::Output {
    let addr = dns.addr.to_string();
    common::run(
        &ClientKind::Oxctl.binary(),
        None,
        args,
        None,
        &[(oxctl::discovery::DNS_SERVER_VAR, &addr)],
    )
}

fn port_of(srv: &Server) -> u16 {
    srv.endpoint()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("endpoint port")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn plain_records_find_the_server() {
    if !testkit::bins::etcd_available("plain_records_find_the_server") {
        return;
    }
    let srv_ = Server::start(ServerKind::Oxcd, &[]);
    let port = port_of(&srv_);
    // only the plain service exists: the failed https lookup is ignored
    let dns = Dns::start(vec![srv("etcd-client", port, "localhost")]);
    let out = oxctl(&dns, &["-d", DOMAIN, "put", "k", "v"]);
    assert_eq!(
        (text(&out.stdout), out.code),
        ("OK\n".into(), 0),
        "{}",
        text(&out.stderr)
    );
    // --endpoints is not used when discovery finds endpoints
    let out = oxctl(
        &dns,
        &[
            "-d",
            DOMAIN,
            "--endpoints=127.0.0.1:1",
            "get",
            "k",
            "--print-value-only",
        ],
    );
    assert_eq!(
        (text(&out.stdout), out.code),
        ("v\n".into(), 0),
        "{}",
        text(&out.stderr)
    );
    // without --insecure-discovery, http endpoints are dropped (with a
    // note) and --endpoints is used instead (with its scheme: TLS is on for
    // endpoints without one, the domain being the server name to check)
    let ep = format!("--endpoints=http://{}", srv_.endpoint());
    let out = oxctl(
        &dns,
        &[
            "-d",
            DOMAIN,
            "--insecure-discovery=false",
            &ep,
            "get",
            "k",
            "--print-value-only",
        ],
    );
    assert_eq!(text(&out.stdout), "v\n");
    assert_eq!(
        text(&out.stderr),
        format!("ignoring discovered insecure endpoint \"http://localhost:{port}\"\n")
    );
    assert_eq!(out.code, 0);
}

#[test]
fn the_service_name_suffix_and_both_schemes() {
    if !testkit::bins::etcd_available("the_service_name_suffix_and_both_schemes") {
        return;
    }
    let srv_ = Server::start(ServerKind::Oxcd, &[]);
    let port = port_of(&srv_);
    // nothing listens on the https one: the client moves on to the next
    let dead = testkit::free_port();
    let dns = Dns::start(vec![
        srv("etcd-client-ssl-prod", dead, "localhost"),
        srv("etcd-client-prod", port, "localhost"),
        srv("etcd-client", 1, "localhost"),
    ]);
    let args = [
        "-d",
        DOMAIN,
        "--discovery-srv-name",
        "prod",
        "--insecure-skip-tls-verify",
        "put",
        "k",
        "v",
    ];
    let out = oxctl(&dns, &args);
    assert_eq!(
        (text(&out.stdout), out.code),
        ("OK\n".into(), 0),
        "{}",
        text(&out.stderr)
    );
    // without the suffix, the one plain record (port 1) is all there is
    let out = oxctl(
        &dns,
        &["-d", DOMAIN, "--dial-timeout=300ms", "put", "k", "v"],
    );
    assert_eq!(
        (text(&out.stderr), out.code),
        ("Error: context deadline exceeded\n".into(), 1)
    );
}

#[test]
fn no_records_is_etcdctls_error() {
    let dns = Dns::start(Vec::new());
    let out = oxctl(&dns, &["-d", DOMAIN, "get", "k"]);
    let ns = dns.addr;
    assert_eq!(
        text(&out.stderr),
        format!(
            "Error: dns lookup errors: lookup _etcd-client-ssl._tcp.{DOMAIN} on {ns}: no such host \
             and lookup _etcd-client._tcp.{DOMAIN} on {ns}: no such host\n"
        )
    );
    assert_eq!(out.code, 1);
}
