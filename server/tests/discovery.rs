//! `--discovery-srv`: a three-member https cluster bootstraps from the
//! `_etcd-server-ssl._tcp` SRV records a DNS responder on loopback serves
//! (oxcd only: real etcd asks the system's resolver, which a test cannot
//! point elsewhere); and the refusals — a member missing from the records,
//! records missing, and `--initial-cluster` set as well (this one compared
//! with etcd 3.5.1).

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;
use testkit::dns::{Dns, Record};
use testkit::pki::{Ca, Leaf};
use testkit::Proc;

const DOMAIN: &str = "example.test";

struct Layout {
    client: [u16; 3],
    peer: [u16; 3],
}

fn member_args(i: usize, l: &Layout, dir: &Path, ca: &Ca) -> Vec<String> {
    let name = format!("m{}", i + 1);
    let own = ca.issue(&name, Leaf::loopback(&name));
    let (c, p) = (l.client[i], l.peer[i]);
    let path = |p: &Path| p.display().to_string();
    let trusted = path(&ca.cert_path());
    [
        "--name",
        &name,
        "--data-dir",
        &path(&dir.join(format!("{name}.data"))),
        "--listen-client-urls",
        &format!("https://127.0.0.1:{c}"),
        "--advertise-client-urls",
        &format!("https://127.0.0.1:{c}"),
        "--listen-peer-urls",
        &format!("https://127.0.0.1:{p}"),
        "--initial-advertise-peer-urls",
        &format!("https://127.0.0.1:{p}"),
        "--initial-cluster-token",
        "srv-test",
        "--discovery-srv",
        DOMAIN,
        "--cert-file",
        &path(&own.cert),
        "--key-file",
        &path(&own.key),
        "--trusted-ca-file",
        &trusted,
        "--client-cert-auth",
        "--peer-cert-file",
        &path(&own.cert),
        "--peer-key-file",
        &path(&own.key),
        "--peer-trusted-ca-file",
        &trusted,
        "--peer-client-cert-auth",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn srv_records(service: &str, ports: &[u16]) -> Vec<Record> {
    ports
        .iter()
        .map(|&port| Record::Srv {
            name: format!("_{service}._tcp.{DOMAIN}"),
            port,
            target: "127.0.0.1".into(),
        })
        .collect()
}

#[test]
fn a_tls_cluster_bootstraps_from_srv_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(dir.path(), "ca");
    let client = ca.issue("client", Leaf::loopback("client"));
    let ports = testkit::free_ports(6);
    let l = Layout {
        client: [ports[0], ports[1], ports[2]],
        peer: [ports[3], ports[4], ports[5]],
    };
    let dns = Dns::start(srv_records("etcd-server-ssl", &l.peer));
    let dns_addr = dns.addr.to_string();
    let mut procs: Vec<Proc> = (0..3)
        .map(|i| {
            let mut p = Proc::new(
                &format!("m{}", i + 1),
                &oxcd_bin(),
                member_args(i, &l, dir.path(), &ca),
                None,
            )
            .env(oxcd::discovery::DNS_SERVER_VAR, &dns_addr);
            p.spawn();
            p
        })
        .collect();
    let path = |p: &Path| p.display().to_string();
    let ctl = |args: &[&str]| {
        let mut all = vec![
            format!("--endpoints=https://127.0.0.1:{}", l.client[0]),
            format!("--cacert={}", path(&ca.cert_path())),
            format!("--cert={}", path(&client.cert)),
            format!("--key={}", path(&client.key)),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let out = testkit::run(&testkit::bins::oxctl(), &all, None, &[]);
        (
            out.code,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let listed = testkit::wait::poll(
        "three started members",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            for p in procs.iter_mut() {
                if let Some(st) = p.try_exit() {
                    return Ok(Err(format!("{} exited: {st}\n{}", p.label, p.log())));
                }
            }
            let (code, stdout, stderr) = ctl(&["member", "list"]);
            let started = stdout
                .lines()
                .filter(|l| l.contains(", started, m"))
                .count();
            if code == 0 && started == 3 {
                Ok(Ok(stdout))
            } else {
                Err(format!("{stdout}{stderr}"))
            }
        },
    );
    let listed = match listed {
        Ok(Ok(s)) => s,
        Ok(Err(e)) | Err(e) => panic!("{e}"),
    };
    for i in 0..3 {
        assert!(
            listed.contains(&format!(
                ", started, m{}, https://127.0.0.1:{}, https://127.0.0.1:{}, false",
                i + 1,
                l.peer[i],
                l.client[i]
            )),
            "member list:\n{listed}"
        );
    }
    assert_eq!(ctl(&["put", "k", "v"]).1, "OK\n");
    let log = procs[0].log();
    assert!(
        log.contains("\"msg\":\"got bootstrap from DNS for etcd-server\""),
        "{log}"
    );
    for p in procs.iter_mut() {
        p.stop();
    }
    drop(dns);
}

#[test]
fn a_member_missing_from_the_records_does_not_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(dir.path(), "ca");
    let ports = testkit::free_ports(6);
    let l = Layout {
        client: [ports[0], ports[1], ports[2]],
        peer: [ports[3], ports[4], ports[5]],
    };
    // the records list m2 and m3 only
    let dns = Dns::start(srv_records("etcd-server-ssl", &l.peer[1..]));
    let mut args = member_args(0, &l, dir.path(), &ca);
    let run = |args: &[String]| {
        let mut p = Proc::new("m1", &oxcd_bin(), args.to_vec(), None)
            .env(oxcd::discovery::DNS_SERVER_VAR, &dns.addr.to_string());
        p.spawn();
        let st = p.wait_exit(Duration::from_secs(20)).expect("it exits");
        assert_eq!(st.code(), Some(1), "{}", p.log());
        testkit::logged_error(&p.log()).unwrap_or_default()
    };
    assert_eq!(
        run(&args),
        "cannot find local etcd member \"m1\" in SRV records"
    );
    // another service name finds no records at all
    args.extend(["--discovery-srv-name".into(), "other".into()]);
    let e = run(&args);
    assert!(
        e.starts_with("error querying DNS SRV records for _etcd-server-ssl-other "),
        "{e}"
    );
}

#[test]
fn initial_cluster_and_discovery_srv_conflict_as_in_etcd() {
    let mut bins = vec![oxcd_bin()];
    bins.extend(etcd_bin());
    for bin in bins {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut a = base_args("default", dir.path(), free_port(), free_port());
        a.extend(["--discovery-srv".to_string(), DOMAIN.to_string()]);
        let (st, err) = run_to_exit(&bin, &a);
        assert_eq!(st.code(), Some(1), "{}: {err}", bin.display());
        assert_eq!(
            testkit::logged_error(&err).as_deref(),
            Some("multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\""),
            "{}: {err}",
            bin.display()
        );
    }
}
