//! Bad flags, busy ports and garbage on the wire: clean errors (etcd's texts),
//! no panic, and the server keeps serving.

mod common;

use common::*;
use oxcd_proto::etcdserverpb::RangeRequest;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;
use testkit::rng::Rng;

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn assert_failed(what: &str, status: std::process::ExitStatus, stderr: &str) {
    assert!(
        !status.success(),
        "{what}: expected a non-zero exit, got {status}; stderr:\n{}",
        tail(stderr, 2000)
    );
    assert!(
        status.code().is_some(),
        "{what}: killed by a signal ({status}) instead of exiting with an error; stderr:\n{}",
        tail(stderr, 2000)
    );
    assert!(
        !stderr.contains("panicked"),
        "{what}: panicked:\n{}",
        tail(stderr, 2000)
    );
}

#[test]
fn unknown_flag_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let a = args(&[
        "--data-dir",
        data.to_str().expect("utf-8 path"),
        "--bogus-flag",
        "1",
    ]);
    let (st, err) = run_to_exit(&oxcd_bin(), &a);
    assert_failed("unknown flag", st, &err);
    assert!(
        err.contains("bogus-flag"),
        "the error does not name the unknown flag:\n{err}"
    );
    assert!(
        !data.exists(),
        "the data dir was created despite the bad flag"
    );
}

#[test]
fn malformed_listen_client_urls_are_rejected() {
    for bad in [
        "notaurl",
        "http://127.0.0.1",
        "ftp://127.0.0.1:2379",
        "http://127.0.0.1:notaport",
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let peer = format!("http://127.0.0.1:{}", free_port());
        let a = args(&[
            "--data-dir",
            data.to_str().expect("utf-8 path"),
            "--listen-client-urls",
            bad,
            "--advertise-client-urls",
            "http://127.0.0.1:2379",
            "--listen-peer-urls",
            &peer,
        ]);
        let (st, err) = run_to_exit(&oxcd_bin(), &a);
        assert_failed(&format!("--listen-client-urls {bad}"), st, &err);
        // the flag, and the value (or at least its offending scheme)
        let shown = bad.split("://").next().expect("split");
        assert!(
            err.contains("listen-client-urls") && err.contains(shown),
            "the error for --listen-client-urls {bad} does not name the flag and the value:\n{err}"
        );
        assert!(
            !data.exists(),
            "data dir created for --listen-client-urls {bad}"
        );
    }
}

#[test]
fn name_missing_from_initial_cluster_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (c, p) = (free_port(), free_port());
    let peer = format!("http://127.0.0.1:{p}");
    let client = format!("http://127.0.0.1:{c}");
    let a = args(&[
        "--name",
        "x",
        "--data-dir",
        dir.path().to_str().expect("utf-8 path"),
        "--listen-client-urls",
        &client,
        "--advertise-client-urls",
        &client,
        "--listen-peer-urls",
        &peer,
        "--initial-advertise-peer-urls",
        &peer,
        "--initial-cluster",
        &format!("default={peer}"),
    ]);
    let (st, err) = run_to_exit(&oxcd_bin(), &a);
    assert_failed("--name x", st, &err);
    assert_eq!(
        testkit::logged_error(&err).as_deref(),
        Some(r#"couldn't find local name "x" in the initial cluster configuration"#),
        "etcd's message is missing:\n{err}"
    );
}

fn busy_port_case(which: &str) {
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind a port to hold");
    let busy = holder.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let (c, p) = if which == "client" {
        (busy, free_port())
    } else {
        (free_port(), busy)
    };
    let a = base_args("default", dir.path(), c, p);
    let (st, err) = run_to_exit(&oxcd_bin(), &a);
    assert_failed(&format!("busy {which} port"), st, &err);
    assert!(
        err.contains(&format!("127.0.0.1:{busy}"))
            && err.to_lowercase().contains("address already in use"),
        "the error for the busy {which} port {busy} is unclear:\n{err}"
    );
    drop(holder);
}

#[test]
fn busy_client_port_is_reported() {
    busy_port_case("client");
}

#[test]
fn busy_peer_port_is_reported() {
    busy_port_case("peer");
}

/// Writes `bytes` on a raw connection, reads whatever comes back for a
/// moment, and closes.
fn raw_send(port: u16, bytes: &[u8]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("raw connect");
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("read timeout");
    s.set_write_timeout(Some(Duration::from_secs(2)))
        .expect("write timeout");
    // the server may close on the first bad bytes: a failed write is fine
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf);
}

#[tokio::test]
async fn garbage_on_the_client_port_does_not_hurt() {
    bounded(Duration::from_secs(50), async {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut srv = Oxcd::start(dir.path(), &[]).await;
        let mut c = srv.clients().await;
        let rev = put(&mut c, "before", "intact").await;
        let port = srv.client_port;
        let mut rng = Rng::new(0x5eed_0bad_cafe);
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        let mut h2_garbage = preface.to_vec();
        h2_garbage.extend(rng.bytes(16 * 1024));
        // an HTTP/2 frame header claiming a 16 MiB DATA frame on stream 1
        let mut huge_frame = preface.to_vec();
        huge_frame.extend([0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]);
        huge_frame.extend(rng.bytes(100));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("random bytes", rng.bytes(64 * 1024)),
            ("nothing", Vec::new()),
            (
                "HTTP/1.1 GET",
                b"GET /etcdserverpb.KV/Range HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            ),
            ("h2 preface + random", h2_garbage),
            ("h2 oversized frame", huge_frame),
            ("NUL bytes", vec![0u8; 8192]),
        ];
        for (what, bytes) in &cases {
            let b = bytes.clone();
            tokio::task::spawn_blocking(move || raw_send(port, &b))
                .await
                .expect("raw sender");
            assert!(
                srv.is_running(),
                "oxcd died after {what}:\n{}",
                srv.stderr()
            );
        }
        // the old connection still works, and so does a new one
        let r =
            c.kv.range(RangeRequest {
                key: b"before".to_vec(),
                ..Default::default()
            })
            .await
            .expect("range after garbage")
            .into_inner();
        assert_eq!(r.kvs.len(), 1, "key written before the garbage");
        assert_eq!(r.kvs[0].value, b"intact");
        assert_eq!(r.kvs[0].mod_revision, rev);
        assert_eq!(
            current_rev(&mut c).await,
            rev,
            "garbage changed the revision"
        );
        let mut fresh = srv.clients().await;
        assert_eq!(put(&mut fresh, "after", "ok").await, rev + 1);
        srv.assert_no_panic();
    })
    .await
}

/// `--version` and `--help` (anywhere on the line) print etcd's shapes on
/// stdout and exit 0, as etcd 3.5.1 does.
#[test]
fn version_and_help_as_etcds() {
    let mut bins = vec![oxcd_bin()];
    bins.extend(etcd_bin());
    for bin in bins {
        let who = bin.display().to_string();
        let run = |args: &[&str]| {
            let out = std::process::Command::new(&bin)
                .args(args)
                .output()
                .expect("run");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, v, _) = run(&["--name", "x", "--version"]);
        assert_eq!(code, Some(0), "{who}");
        let lines: Vec<&str> = v.lines().collect();
        assert_eq!(lines.first(), Some(&"etcd Version: 3.5.1"), "{who}: {v}");
        for (i, prefix) in ["Git SHA: ", "Go Version: ", "Go OS/Arch: linux/"]
            .iter()
            .enumerate()
        {
            assert!(lines[i + 1].starts_with(prefix), "{who}: {v}");
        }
        for flag in ["--help", "-h"] {
            // etcd writes the usage lines to stderr, the flags to stdout
            let (code, h, usage) = run(&[flag]);
            assert_eq!(code, Some(0), "{who} {flag}");
            assert!(usage.starts_with("Usage:\n\n  "), "{who} {flag}: {usage}");
            assert!(
                h.contains("\n  --name 'default'\n    Human-readable name for this member.\n"),
                "{who}"
            );
        }
    }
}
