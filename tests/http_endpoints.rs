//! etcd's HTTP endpoints on the client port, next to gRPC: `/health`,
//! `/version`, `/metrics` and the 404 for anything else, asked of real
//! etcd 3.5.1 and of oxcd in the same way and compared (status and body;
//! for `/metrics`, the families dashboards and alerts read).

mod common;

use common::{ClientKind, Server, ServerKind};
use std::io::{Read, Write};

const KINDS: [ServerKind; 2] = [ServerKind::Etcd, ServerKind::Oxcd];

/// `GET path` over HTTP/1.0 (no chunking): the status code and the body.
fn get(endpoint: &str, path: &str) -> (u16, String) {
    let (code, _, body) = ask(endpoint, "GET", path, endpoint, "");
    (code, body)
}

#[test]
fn health_and_version_as_etcd() {
    if !testkit::bins::etcd_available("health_and_version_as_etcd") {
        return;
    }
    for kind in KINDS {
        let s = Server::start(kind, &[]);
        let ep = s.endpoint();
        let healthy = (200, r#"{"health":"true","reason":""}"#.to_string());
        assert_eq!(get(&ep, "/health"), healthy, "{kind:?}");
        assert_eq!(get(&ep, "/health?serializable=true"), healthy, "{kind:?}");
        assert_eq!(get(&ep, "/health?exclude=NOSPACE"), healthy, "{kind:?}");
        assert_eq!(
            get(&ep, "/version"),
            (
                200,
                r#"{"etcdserver":"3.5.1","etcdcluster":"3.5.0"}"#.to_string()
            ),
            "{kind:?}"
        );
        assert_eq!(
            get(&ep, "/no-such-path"),
            (404, "404 page not found\n".to_string()),
            "{kind:?}"
        );
        // gRPC still answers on the same port
        assert_eq!(
            s.ctl(ClientKind::RealEtcdctl, &["put", "k", "v"]).code,
            0,
            "{kind:?}"
        );
    }
}

#[test]
fn health_turns_503_on_nospace() {
    if !testkit::bins::etcd_available("health_turns_503_on_nospace") {
        return;
    }
    let big = vec![b'x'; 150_000];
    for kind in KINDS {
        let s = Server::start(kind, &["--quota-backend-bytes=300000"]);
        let ep = s.endpoint();
        let mut raised = false;
        for i in 0..8 {
            let out = common::run(
                &testkit::bins::etcdctl(),
                Some(&ep),
                &["put", &format!("big{i}")],
                Some(&big),
                &[],
            );
            if String::from_utf8_lossy(&out.stderr).contains("database space exceeded") {
                raised = true;
                break;
            }
        }
        assert!(raised, "{kind:?}: the quota never ran out");
        let nospace = (
            503,
            "{\"health\":\"false\",\"reason\":\"ALARM NOSPACE\"}\n".to_string(),
        );
        assert_eq!(get(&ep, "/health"), nospace, "{kind:?}");
        assert_eq!(get(&ep, "/health?serializable=true"), nospace, "{kind:?}");
        assert_eq!(
            get(&ep, "/health?exclude=NOSPACE"),
            (200, r#"{"health":"true","reason":""}"#.to_string()),
            "{kind:?}"
        );
    }
}

/// The families oxcd exports, each with etcd's name and type.
const FAMILIES: [(&str, &str); 26] = [
    ("grpc_server_started_total", "counter"),
    ("grpc_server_handled_total", "counter"),
    ("etcd_server_has_leader", "gauge"),
    ("etcd_server_is_leader", "gauge"),
    ("etcd_server_is_learner", "gauge"),
    ("etcd_server_leader_changes_seen_total", "counter"),
    ("etcd_server_id", "gauge"),
    ("etcd_server_version", "gauge"),
    ("etcd_cluster_version", "gauge"),
    ("etcd_server_quota_backend_bytes", "gauge"),
    ("etcd_server_proposals_committed_total", "gauge"),
    ("etcd_server_proposals_applied_total", "gauge"),
    ("etcd_server_proposals_pending", "gauge"),
    ("etcd_server_proposals_failed_total", "counter"),
    ("etcd_server_slow_apply_total", "counter"),
    ("etcd_server_heartbeat_send_failures_total", "counter"),
    ("etcd_mvcc_db_total_size_in_bytes", "gauge"),
    ("etcd_mvcc_db_total_size_in_use_in_bytes", "gauge"),
    ("etcd_debugging_mvcc_keys_total", "gauge"),
    ("etcd_mvcc_put_total", "counter"),
    ("etcd_mvcc_delete_total", "counter"),
    ("etcd_mvcc_range_total", "counter"),
    ("etcd_mvcc_txn_total", "counter"),
    ("etcd_disk_wal_fsync_duration_seconds", "histogram"),
    ("etcd_disk_backend_commit_duration_seconds", "histogram"),
    ("process_resident_memory_bytes", "gauge"),
];

/// One sample's value, by its exact series name (with labels).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

#[test]
fn metrics_with_etcds_names() {
    if !testkit::bins::etcd_available("metrics_with_etcds_names") {
        return;
    }
    for kind in KINDS {
        let s = Server::start(kind, &[]);
        assert_eq!(s.ctl(ClientKind::RealEtcdctl, &["put", "a", "1"]).code, 0);
        assert_eq!(s.ctl(ClientKind::RealEtcdctl, &["put", "b", "2"]).code, 0);
        assert_eq!(s.ctl(ClientKind::RealEtcdctl, &["del", "b"]).code, 0);
        let (code, m) = get(&s.endpoint(), "/metrics");
        assert_eq!(code, 200, "{kind:?}");
        for (name, ty) in FAMILIES {
            assert!(
                m.contains(&format!("# TYPE {name} {ty}\n")),
                "{kind:?}: no {ty} {name}"
            );
        }
        let v = |series: &str| sample(&m, series).unwrap_or_else(|| panic!("{kind:?}: {series}"));
        assert_eq!(v("etcd_server_has_leader"), 1.0, "{kind:?}");
        assert_eq!(v("etcd_server_is_leader"), 1.0, "{kind:?}");
        assert_eq!(v("etcd_debugging_mvcc_keys_total"), 1.0, "{kind:?}");
        assert_eq!(v("etcd_mvcc_put_total"), 2.0, "{kind:?}");
        assert_eq!(v("etcd_mvcc_delete_total"), 1.0, "{kind:?}");
        assert_eq!(
            v(r#"etcd_server_version{server_version="3.5.1"}"#),
            1.0,
            "{kind:?}"
        );
        assert_eq!(
            v(r#"etcd_server_id{server_id="8e9e05c52164694d"}"#),
            1.0,
            "{kind:?}"
        );
        assert!(
            v("etcd_disk_wal_fsync_duration_seconds_count") >= 2.0,
            "{kind:?}"
        );
        assert!(v("process_resident_memory_bytes") > 0.0, "{kind:?}");
        let put_ok = r#"grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}"#;
        assert_eq!(v(put_ok), 2.0, "{kind:?}");
        let started = r#"grpc_server_started_total{grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}"#;
        assert_eq!(v(started), 2.0, "{kind:?}");
    }
}

#[test]
fn metrics_urls_serve_health_and_metrics() {
    if !testkit::bins::etcd_available("metrics_urls_serve_health_and_metrics") {
        return;
    }
    for kind in KINDS {
        let port = testkit::free_port();
        let url = format!("--listen-metrics-urls=http://127.0.0.1:{port}");
        let _s = Server::start(kind, &[&url]);
        let ep = format!("127.0.0.1:{port}");
        assert_eq!(
            get(&ep, "/health"),
            (200, r#"{"health":"true","reason":""}"#.to_string()),
            "{kind:?}"
        );
        let (code, m) = get(&ep, "/metrics");
        assert_eq!(code, 200, "{kind:?}");
        assert!(
            m.contains("# TYPE etcd_server_has_leader gauge\n"),
            "{kind:?}"
        );
        assert_eq!(get(&ep, "/version").0, 404, "{kind:?}");
    }
}

/// A request with the given `Host` and extra header lines: the status,
/// the `Access-Control-Allow-Origin` header and the body.
fn ask(
    endpoint: &str,
    method: &str,
    path: &str,
    host: &str,
    extra: &str,
) -> (u16, Option<String>, String) {
    let mut s = std::net::TcpStream::connect(endpoint).expect("connect to the client port");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    write!(s, "{method} {path} HTTP/1.0\r\nHost: {host}\r\n{extra}\r\n").expect("send the request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("headers and a body");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let origin = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("access-control-allow-origin")
            .then(|| v.trim().to_string())
    });
    (code, origin, body.to_string())
}

#[test]
fn host_whitelist_and_cors_as_etcd() {
    if !testkit::bins::etcd_available("host_whitelist_and_cors_as_etcd") {
        return;
    }
    let mut seen = Vec::new();
    for kind in KINDS {
        let s = Server::start(
            kind,
            &[
                "--host-whitelist=localhost,127.0.0.1",
                "--cors=https://ui.example:8443",
            ],
        );
        let ep = s.endpoint();
        let ui = "Origin: https://ui.example:8443\r\n";
        seen.push(vec![
            ask(&ep, "GET", "/health", "evil.example:2379", ""),
            ask(&ep, "GET", "/health", &ep, ""),
            ask(&ep, "GET", "/health", "localhost", ui),
            ask(
                &ep,
                "GET",
                "/version",
                &ep,
                "Origin: https://other.example\r\n",
            ),
            ask(&ep, "OPTIONS", "/v3/kv/range", &ep, ui),
            ask(&ep, "OPTIONS", "/no-such-path", &ep, ""),
        ]);
    }
    assert_eq!(seen[0], seen[1], "etcd (left), oxcd (right)");
    assert_eq!(seen[1][0].0, 421);
    assert_eq!(seen[1][2].1.as_deref(), Some("https://ui.example:8443"));
}

/// A watch whose client went away, and a streamed snapshot, are counted
/// as handled with the code the server ended them with, as etcd counts
/// them (go-grpc-prometheus at the handler's return). etcd also lists
/// every code at zero from the start; oxcd only those seen.
#[test]
fn streams_are_counted_when_they_end() {
    if !testkit::bins::etcd_available("streams_are_counted_when_they_end") {
        return;
    }
    let mut seen = Vec::new();
    for kind in KINDS {
        let s = Server::start(kind, &[]);
        let ep = s.endpoint();
        let mut watch = std::process::Command::new(testkit::bins::etcdctl())
            .args([&format!("--endpoints={ep}"), "watch", "w"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("etcdctl watch");
        std::thread::sleep(std::time::Duration::from_millis(700));
        watch.kill().expect("kill the watcher");
        let _ = watch.wait();
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("s.db");
        let file = file.to_str().expect("utf-8");
        assert_eq!(
            s.ctl(ClientKind::RealEtcdctl, &["snapshot", "save", file])
                .code,
            0
        );
        // the server sees the watcher's connection close a moment later
        let handled = testkit::wait::poll(
            "the watch counted as handled",
            std::time::Duration::from_secs(10),
            std::time::Duration::from_millis(100),
            || {
                let (_, m) = get(&ep, "/metrics");
                let lines: Vec<String> = m
                    .lines()
                    .filter(|l| {
                        // etcd also lists every code at zero
                        l.starts_with("grpc_server_handled_total{")
                            && !l.ends_with(" 0")
                            && (l.contains("grpc_method=\"Watch\"")
                                || l.contains("grpc_method=\"Snapshot\""))
                    })
                    .map(String::from)
                    .collect();
                if lines.iter().any(|l| l.contains("\"Watch\"")) {
                    Ok(lines)
                } else {
                    Err(format!("{lines:?}"))
                }
            },
        )
        .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        seen.push(handled);
    }
    assert_eq!(seen[0], seen[1], "etcd (left), oxcd (right)");
}
