//! `check perf` and `check datascale`: `--load=s` passes with oxctl against
//! oxcd and etcd 3.5.1 and with real etcdctl against oxcd, the output in
//! etcdctl's shape (pb.v1's frames, the verdict lines); their argument and
//! prefix errors match etcdctl's.
//!
//! `check perf` runs 60 s by design: the three runs share that minute.
//! Run: `cargo test -p oxctl --test check_cmd` (needs target/debug/oxcd).

#[path = "common/mod.rs"]
mod common;

use std::process::Command;

use common::{ClientKind, Server, ServerKind};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a client to its end (no timeout: `check perf` takes a minute).
fn long_run(client: ClientKind, srv: &Server, args: &[&str]) -> (String, String, i32) {
    let out = Command::new(client.binary())
        .arg(format!("--endpoints={}", srv.endpoint()))
        .args(args)
        .env_remove("ETCDCTL_ENDPOINTS")
        .output()
        .expect("run the client");
    (
        text(&out.stdout),
        text(&out.stderr),
        out.status.code().unwrap_or(-1),
    )
}

/// The text after the last `\r` frame: the final frame and the verdict.
fn after_frames(stdout: &str) -> &str {
    stdout.rsplit('\r').next().unwrap_or_default()
}

/// `PASS: <what><number><unit>` with a number, as etcdctl prints it.
fn number_after<'a>(line: &'a str, what: &str, unit: &str) -> Option<&'a str> {
    line.strip_prefix(what)?.strip_suffix(unit)
}

#[test]
fn check_perf_small_passes_three_ways() {
    if !testkit::bins::etcd_available("check_perf_small_passes_three_ways") {
        return;
    }
    let runs = [
        (ClientKind::Oxctl, ServerKind::Oxcd),
        (ClientKind::Oxctl, ServerKind::Etcd),
        (ClientKind::RealEtcdctl, ServerKind::Oxcd),
    ];
    let handles: Vec<_> = runs
        .into_iter()
        .map(|(client, server)| {
            std::thread::spawn(move || {
                let srv = Server::start(server, &[]);
                let out = long_run(client, &srv, &["check", "perf", "--load=s"]);
                let left = srv.ctl(
                    ClientKind::Oxctl,
                    &[
                        "get",
                        "--prefix",
                        "/etcdctl-check-perf/",
                        "--count-only",
                        "-w",
                        "fields",
                    ],
                );
                (client, server, out, text(&left.stdout))
            })
        })
        .collect();
    for h in handles {
        let (client, server, (stdout, stderr, code), left) = h.join().expect("run thread");
        let who = format!("{client:?} -> {server:?}");
        assert_eq!(code, 0, "{who}: stdout {stdout:?} stderr {stderr:?}");
        assert_eq!(stderr, "", "{who}");
        assert!(
            stdout.starts_with("\r 0 / 60    0.00%"),
            "{who}: {stdout:?}"
        );
        let lines: Vec<&str> = after_frames(&stdout).lines().collect();
        assert_eq!(lines.len(), 5, "{who}: {stdout:?}");
        assert_eq!(lines[0], " 60 / 60  100.00% 1m0s", "{who}");
        let writes: u32 = number_after(lines[1], "PASS: Throughput is ", " writes/s")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{who}: {:?}", lines[1]));
        assert!((136..=152).contains(&writes), "{who}: {writes} writes/s");
        for (line, what) in [
            (lines[2], "PASS: Slowest request took "),
            (lines[3], "PASS: Stddev is "),
        ] {
            let n = number_after(line, what, "s").unwrap_or_else(|| panic!("{who}: {line:?}"));
            // Go's %f: six decimals
            assert_eq!(
                n.split('.').nth(1).map(str::len),
                Some(6),
                "{who}: {line:?}"
            );
        }
        assert_eq!(lines[4], "PASS", "{who}");
        assert!(left.contains("\"Count\" : 0"), "{who}: keys left: {left}");
    }
}

#[test]
fn check_errors_match_etcdctl() {
    if !testkit::bins::etcd_available("check_errors_match_etcdctl") {
        return;
    }
    let srv = Server::start(ServerKind::Etcd, &[]);
    let cases: [&[&str]; 4] = [
        &["check", "perf", "--load=XL"],
        &["check", "datascale", "--load=huge"],
        &["check", "perf", "--prefix=/taken/"],
        &["check", "datascale", "--prefix=/taken/"],
    ];
    let put = srv.ctl(ClientKind::Oxctl, &["put", "/taken/k", "v"]);
    assert_eq!(put.code, 0);
    for args in cases {
        let want = srv.ctl(ClientKind::RealEtcdctl, args);
        let got = srv.ctl(ClientKind::Oxctl, args);
        assert_eq!(
            (text(&got.stdout), text(&got.stderr), got.code),
            (text(&want.stdout), text(&want.stderr), want.code),
            "{args:?}"
        );
        assert_ne!(want.code, 0, "{args:?}");
    }
}

#[test]
fn check_datascale_small_passes() {
    if !testkit::bins::etcd_available("check_datascale_small_passes") {
        return;
    }
    for (client, server) in [
        (ClientKind::Oxctl, ServerKind::Oxcd),
        (ClientKind::RealEtcdctl, ServerKind::Oxcd),
        (ClientKind::Oxctl, ServerKind::Etcd),
    ] {
        let who = format!("{client:?} -> {server:?}");
        let srv = Server::start(server, &[]);
        let (stdout, stderr, code) = long_run(
            client,
            &srv,
            &["check", "datascale", "--auto-compact", "--auto-defrag"],
        );
        assert_eq!(code, 0, "{who}: {stdout:?} {stderr:?}");
        assert!(
            stdout.starts_with(
                "Start data scale check for work load [10000 key-value pairs, 1024 bytes per \
                 key-value, 50 concurrent clients].\n\r 0 / 10000    0.00%"
            ),
            "{who}: {stdout:?}"
        );
        let tail: Vec<&str> = after_frames(&stdout).lines().collect();
        assert!(
            tail[0].starts_with(" 10000 / 10000  100.00% "),
            "{who}: {tail:?}"
        );
        assert!(
            tail[1].starts_with("Compacting with revision "),
            "{who}: {tail:?}"
        );
        assert!(
            tail[2].starts_with("Compacted with revision "),
            "{who}: {tail:?}"
        );
        assert_eq!(
            tail[3],
            format!("Defragmenting \"{}\"", srv.endpoint()),
            "{who}"
        );
        assert_eq!(
            tail[4],
            format!("Defragmented \"{}\"", srv.endpoint()),
            "{who}"
        );
        let mb = number_after(tail[5], "PASS: Approximate system memory used : ", " MB.")
            .unwrap_or_else(|| panic!("{who}: {tail:?}"));
        assert!(mb.parse::<f64>().is_ok(), "{who}: {mb}");
        assert_eq!(tail.len(), 6, "{who}: {tail:?}");
    }
}
