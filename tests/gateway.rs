//! etcd's gRPC gateway (`/v3/…` JSON over HTTP POST): the same requests
//! asked of real etcd 3.5.1 and of oxcd, answers compared — status, the
//! headers clients read, and the JSON after normalising member, cluster
//! and lease IDs and ports.

mod common;

use common::{ClientKind, Server, ServerKind};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

const KINDS: [ServerKind; 2] = [ServerKind::Etcd, ServerKind::Oxcd];

#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    /// content-type, grpc-metadata-content-type, access-control-allow-origin
    headers: Vec<Option<String>>,
    body: String,
}

fn request(endpoint: &str, method: &str, path: &str, body: &str) -> std::net::TcpStream {
    request_with(endpoint, method, path, body, "")
}

/// `extra`: more header lines, each ending in CRLF.
fn request_with(
    endpoint: &str,
    method: &str,
    path: &str,
    body: &str,
    extra: &str,
) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(endpoint).expect("connect to the client port");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {endpoint}\r\nConnection: close\r\n{extra}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send the request");
    s
}

/// The status line and the headers we compare.
fn head(r: &mut BufReader<std::net::TcpStream>) -> (u16, Vec<Option<String>>, bool) {
    let mut status = 0;
    let mut headers = vec![None, None, None];
    let mut chunked = false;
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line).expect("a header line");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if status == 0 {
            status = l
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .expect("status");
            continue;
        }
        let (k, v) = l.split_once(':').expect("a header");
        let k = k.to_ascii_lowercase();
        let v = Some(v.trim().to_string());
        match k.as_str() {
            "content-type" => headers[0] = v,
            "grpc-metadata-content-type" => headers[1] = v,
            "access-control-allow-origin" => headers[2] = v,
            "transfer-encoding" => chunked = v.as_deref() == Some("chunked"),
            _ => {}
        }
    }
    (status, headers, chunked)
}

/// Reads an HTTP/1.1 chunked body's chunks until `enough` says stop.
fn read_chunks(
    r: &mut BufReader<std::net::TcpStream>,
    mut enough: impl FnMut(&str) -> bool,
) -> String {
    let mut body = String::new();
    loop {
        let mut size = String::new();
        if r.read_line(&mut size).unwrap_or(0) == 0 {
            break;
        }
        let n = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if n == 0 {
            break;
        }
        let mut chunk = vec![0u8; n + 2];
        r.read_exact(&mut chunk).expect("a chunk");
        body.push_str(&String::from_utf8_lossy(&chunk[..n]));
        if enough(&body) {
            break;
        }
    }
    body
}

fn post(endpoint: &str, path: &str, body: &str) -> Answer {
    call(endpoint, "POST", path, body)
}

fn call(endpoint: &str, method: &str, path: &str, body: &str) -> Answer {
    call_with(endpoint, method, path, body, "")
}

fn call_with(endpoint: &str, method: &str, path: &str, body: &str, extra: &str) -> Answer {
    let mut r = BufReader::new(request_with(endpoint, method, path, body, extra));
    let (status, headers, chunked) = head(&mut r);
    let body = if chunked {
        read_chunks(&mut r, |_| false)
    } else {
        let mut b = String::new();
        r.read_to_string(&mut b).expect("the body");
        b
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// IDs, ports and other per-server values replaced by placeholders.
fn normalise(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match k.as_str() {
                    "cluster_id" | "member_id" | "ID" | "leader" | "memberID" => {
                        *x = Value::from("<id>")
                    }
                    "raft_term" => *x = Value::from("<term>"),
                    // the stores' formats differ (oxcd's Hash is its own)
                    "hash" => *x = Value::from("<hash>"),
                    _ => normalise(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalise),
        Value::String(s) => {
            if let Some(i) = s.find("127.0.0.1:") {
                *s = format!("{}127.0.0.1:<port>", &s[..i]);
            }
        }
        _ => {}
    }
}

/// A JSON body (one value, or one a line) normalised for comparison.
fn json(body: &str) -> Vec<Value> {
    body.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            normalise(&mut v);
            v
        })
        .collect()
}

/// (path, body) in order on a fresh member; each answer is compared.
const EXCHANGES: &[(&str, &str)] = &[
    ("/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy"}"#),
    (
        "/v3/kv/put",
        r#"{"key":"Zm9v","value":"YmF6","prev_kv":true}"#,
    ),
    (
        "/v3/kv/put",
        r#"{"key":"Zm9vMg==","value":"eA==","prevKv":true,"unknown":1}"#,
    ),
    ("/v3/kv/range", r#"{"key":"Zm9v"}"#),
    (
        "/v3/kv/range",
        r#"{"key":"Zm9v","range_end":"Zm9w","sort_order":"DESCEND","sort_target":"KEY","limit":1}"#,
    ),
    (
        "/v3/kv/range",
        r#"{"key":"Zm9v","rangeEnd":"Zm9w","sortOrder":1,"count_only":true}"#,
    ),
    ("/v3/kv/range", r#"{"key":"bm9uZQ=="}"#),
    ("/v3/kv/range", ""),
    ("/v3/kv/put", r#"{"key":""}"#),
    (
        "/v3/kv/txn",
        r#"{"compare":[{"key":"Zm9v","target":"VALUE","result":"EQUAL","value":"YmF6"}],"success":[{"request_put":{"key":"dA==","value":"MQ=="}},{"request_range":{"key":"Zm9v"}}],"failure":[{"request_range":{"key":"dA=="}}]}"#,
    ),
    (
        "/v3/kv/txn",
        r#"{"compare":[{"key":"Zm9v","target":"VALUE","result":"EQUAL","value":"bm8="}],"failure":[{"request_delete_range":{"key":"dA==","prev_kv":true}}]}"#,
    ),
    ("/v3/kv/deleterange", r#"{"key":"Zm9vMg==","prev_kv":true}"#),
    ("/v3/kv/compaction", r#"{"revision":"3"}"#),
    ("/v3/kv/range", r#"{"key":"Zm9v","revision":2}"#),
    ("/v3/kv/range", r#"{"key":"Zm9v","revision":"99"}"#),
    ("/v3/lease/timetolive", r#"{"ID":"999"}"#),
    ("/v3/kv/lease/timetolive", r#"{"ID":999,"keys":true}"#),
    ("/v3/lease/revoke", r#"{"ID":"999"}"#),
    ("/v3/lease/leases", "{}"),
    ("/v3/lease/keepalive", r#"{"ID":"999"}{"ID":"998"}"#),
    ("/v3/cluster/member/list", ""),
    ("/v3/maintenance/alarm", r#"{"action":"GET"}"#),
    (
        "/v3/maintenance/alarm",
        r#"{"action":"ACTIVATE","alarm":"NONE"}"#,
    ),
    ("/v3/maintenance/alarm", r#"{"action":"GET"}"#),
    ("/v3/maintenance/defragment", "{}"),
    ("/v3/maintenance/hash", "{}"),
    ("/v3/auth/status", "{}"),
    ("/v3/auth/role/add", r#"{"name":"r1"}"#),
    ("/v3/auth/role/grant", r#"{"name":"r1"}"#),
    (
        "/v3/maintenance/downgrade",
        r#"{"action":"VALIDATE","version":"3.4.0"}"#,
    ),
    (
        "/v3/maintenance/downgrade",
        r#"{"action":"VALIDATE","version":"3.6.0"}"#,
    ),
    (
        "/v3/maintenance/downgrade",
        r#"{"action":"VALIDATE","version":"abc"}"#,
    ),
    ("/v3/maintenance/downgrade", r#"{"action":"CANCEL"}"#),
    ("/v3/cluster/member/remove", r#"{"ID":"1"}"#),
    (
        "/v3/cluster/member/add",
        r#"{"peerURLs":["not a url"],"isLearner":true}"#,
    ),
    ("/v3/lock/unlock", r#"{"key":"bm9uZQ=="}"#),
    ("/v3/lock/unlock", "{}"),
    ("/v3/lock/lock", r#"{"name":"bA==","lease":"12345"}"#),
    ("/v3/election/leader", r#"{"name":"ZQ=="}"#),
    ("/v3/election/proclaim", r#"{"value":"dg=="}"#),
    ("/v3/election/resign", "{}"),
    (
        "/v3/election/campaign",
        r#"{"name":"ZQ==","lease":"12345","value":"dg=="}"#,
    ),
    ("/v3beta/kv/range", r#"{"key":"Zm9v","keys_only":true}"#),
    ("/v3/kv/nothing", "{}"),
];

#[test]
fn answers_as_etcds_gateway() {
    if !testkit::bins::etcd_available("answers_as_etcds_gateway") {
        return;
    }
    let mut seen: Vec<Vec<(Answer, Vec<Value>)>> = Vec::new();
    for kind in KINDS {
        let s = Server::start(kind, &[]);
        let ep = s.endpoint();
        let mut answers = Vec::new();
        for (path, body) in EXCHANGES {
            let a = post(&ep, path, body);
            let v = if a.headers[0].as_deref() == Some("application/json") {
                json(&a.body)
            } else {
                vec![Value::from(a.body.clone())]
            };
            answers.push((a, v));
        }
        // the methods other than POST, and OPTIONS
        for method in ["GET", "OPTIONS"] {
            let a = call(&ep, method, "/v3/kv/range", "");
            answers.push((a, Vec::new()));
        }
        seen.push(answers);
    }
    for (i, ((e, ev), (o, ov))) in seen[0].iter().zip(&seen[1]).enumerate() {
        let what = EXCHANGES.get(i).map_or("GET/OPTIONS", |x| x.0);
        assert_eq!(
            (e.status, &e.headers, ev),
            (o.status, &o.headers, ov),
            "#{i} {what}: etcd (left) and oxcd (right) differ\netcd: {}\noxcd: {}",
            e.body,
            o.body
        );
        if ev.is_empty() {
            assert_eq!(e.body, o.body, "#{i} {what}: bodies");
        }
    }
}

/// Bad input: the same status and gRPC code (the parser's wording is
/// Go's on one side and serde's on the other).
#[test]
fn bad_json_is_refused_with_etcds_codes() {
    if !testkit::bins::etcd_available("bad_json_is_refused_with_etcds_codes") {
        return;
    }
    let cases = [
        ("/v3/kv/range", "{\"key\":"),
        ("/v3/kv/range", "[]"),
        ("/v3/kv/range", r#"{"key":"!!"}"#),
        ("/v3/kv/range", r#"{"key":"Zm9v","sort_order":"BOGUS"}"#),
        ("/v3/lease/keepalive", "{\"ID\":"),
    ];
    let mut seen = Vec::new();
    for kind in KINDS {
        let s = Server::start(kind, &[]);
        let ep = s.endpoint();
        seen.push(
            cases
                .iter()
                .map(|(p, b)| {
                    let a = post(&ep, p, b);
                    let v: Value = serde_json::from_str(&a.body).expect("a JSON error");
                    (a.status, v["code"].clone(), v["error"] == v["message"])
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(seen[0], seen[1], "etcd (left), oxcd (right) for {cases:?}");
}

#[test]
fn watch_streams_events_as_etcd() {
    if !testkit::bins::etcd_available("watch_streams_events_as_etcd") {
        return;
    }
    let mut seen = Vec::new();
    for kind in KINDS {
        let s = Server::start(kind, &[]);
        let ep = s.endpoint();
        let mut r = BufReader::new(request(
            &ep,
            "POST",
            "/v3/watch",
            r#"{"create_request":{"key":"Zm9v","prev_kv":true}}"#,
        ));
        // the created message, then two events
        let mut written = false;
        let (status, headers, chunked) = head(&mut r);
        assert!(chunked, "{kind:?}: a chunked stream");
        let body = read_chunks(&mut r, |b| {
            if !written && b.lines().count() >= 1 {
                written = true;
                post(&ep, "/v3/kv/put", r#"{"key":"Zm9v","value":"MQ=="}"#);
                post(&ep, "/v3/kv/deleterange", r#"{"key":"Zm9v"}"#);
            }
            b.lines().count() >= 3
        });
        seen.push((status, headers, json(&body)));
    }
    assert_eq!(seen[0], seen[1], "etcd (left), oxcd (right)");
    assert_eq!(seen[1].2.len(), 3, "{:?}", seen[1].2);
}

/// With auth on: the token from `/v3/auth/authenticate` goes in the
/// `Authorization` header; none, or a wrong one, get etcd's errors.
#[test]
fn auth_through_the_authorization_header() {
    if !testkit::bins::etcd_available("auth_through_the_authorization_header") {
        return;
    }
    let mut seen = Vec::new();
    for kind in KINDS {
        let s = Server::start(kind, &[]);
        let ep = s.endpoint();
        for args in [&["user", "add", "root:rootpw"][..], &["auth", "enable"]] {
            let out = s.ctl(ClientKind::RealEtcdctl, args);
            assert_eq!(
                out.code,
                0,
                "{kind:?} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let a = post(
            &ep,
            "/v3/auth/authenticate",
            r#"{"name":"root","password":"rootpw"}"#,
        );
        assert_eq!(a.status, 200, "{kind:?}: {}", a.body);
        let v: Value = serde_json::from_str(&a.body).expect("JSON");
        let token = v["token"].as_str().expect("a token").to_string();
        let put = r#"{"key":"Zm9v","value":"YmFy"}"#;
        let mut answers = Vec::new();
        for header in [
            format!("Authorization: {token}\r\n"),
            String::new(),
            "Authorization: bogus\r\n".to_string(),
            format!("Authorization: Bearer {token}\r\n"),
        ] {
            let a = call_with(&ep, "POST", "/v3/kv/put", put, &header);
            answers.push((a.status, json(&a.body)));
        }
        let wrong = post(
            &ep,
            "/v3/auth/authenticate",
            r#"{"name":"root","password":"no"}"#,
        );
        answers.push((wrong.status, json(&wrong.body)));
        seen.push(answers);
    }
    assert_eq!(seen[0], seen[1], "etcd (left), oxcd (right)");
    assert_eq!(seen[1][0].0, 200);
    assert_eq!(seen[1][1].0, 400);
}
