//! `--config-file` (or `ETCD_CONFIG_FILE`): etcd's YAML configuration.
//!
//! As etcd 3.5: the file replaces the command line and the `ETCD_*`
//! variables (both are ignored, and a line says so), keys are the flag
//! names, unknown keys are ignored, and each key has the JSON type of
//! etcd's Go field — URL lists are comma-separated strings, `log-outputs`
//! and `cipher-suites` YAML lists, durations integers of nanoseconds, and
//! TLS settings sit in `client-transport-security` and
//! `peer-transport-security` blocks. A value of the wrong type is refused
//! with etcd's message. The file becomes a command line that the same
//! parser and checks as the flags' take.

use serde_json::Value;
use std::path::Path;

/// The Go type of a key, which decides what YAML value it takes.
#[derive(Clone, Copy)]
enum Kind {
    /// a string (URL lists too: comma-separated)
    Str,
    /// a YAML list of strings, joined with commas for the flag
    List,
    /// an unsigned integer, with Go's type name for errors
    Uint(&'static str),
    Int(&'static str),
    /// integer nanoseconds
    Duration,
    Bool,
}
use Kind::*;

const KEYS: &[(&str, Kind)] = &[
    ("name", Str),
    ("data-dir", Str),
    ("wal-dir", Str),
    ("listen-client-urls", Str),
    ("advertise-client-urls", Str),
    ("listen-peer-urls", Str),
    ("initial-advertise-peer-urls", Str),
    ("listen-metrics-urls", Str),
    ("initial-cluster", Str),
    ("initial-cluster-state", Str),
    ("initial-cluster-token", Str),
    ("discovery", Str),
    ("discovery-srv", Str),
    ("discovery-srv-name", Str),
    ("discovery-proxy", Str),
    ("discovery-fallback", Str),
    ("cors", Str),
    ("host-whitelist", Str),
    ("auto-compaction-mode", Str),
    ("auto-compaction-retention", Str),
    ("logger", Str),
    ("log-level", Str),
    ("log-rotation-config-json", Str),
    ("auth-token", Str),
    ("metrics", Str),
    ("backend-bbolt-freelist-type", Str),
    ("experimental-enable-v2v3", Str),
    ("v2-deprecation", Str),
    ("proxy", Str),
    ("log-outputs", List),
    ("cipher-suites", List),
    ("heartbeat-interval", Uint("uint")),
    ("election-timeout", Uint("uint")),
    ("snapshot-count", Uint("uint64")),
    ("experimental-snapshot-catchup-entries", Uint("uint64")),
    ("max-snapshots", Uint("uint")),
    ("max-wals", Uint("uint")),
    ("max-txn-ops", Uint("uint")),
    ("max-request-bytes", Uint("uint")),
    ("auth-token-ttl", Uint("uint")),
    ("bcrypt-cost", Uint("uint")),
    ("self-signed-cert-validity", Uint("uint")),
    ("experimental-compaction-batch-limit", Int("int")),
    (
        "experimental-bootstrap-defrag-threshold-megabytes",
        Uint("uint"),
    ),
    ("quota-backend-bytes", Int("int64")),
    ("backend-batch-limit", Int("int")),
    ("grpc-keepalive-min-time", Duration),
    ("grpc-keepalive-interval", Duration),
    ("grpc-keepalive-timeout", Duration),
    ("backend-batch-interval", Duration),
    ("experimental-corrupt-check-time", Duration),
    ("experimental-watch-progress-notify-interval", Duration),
    ("experimental-warning-apply-duration", Duration),
    ("force-new-cluster", Bool),
    ("enable-v2", Bool),
    ("strict-reconfig-check", Bool),
    ("pre-vote", Bool),
    ("enable-pprof", Bool),
    ("enable-log-rotation", Bool),
    ("unsafe-no-fsync", Bool),
    ("initial-election-tick-advance", Bool),
    ("experimental-initial-corrupt-check", Bool),
    ("experimental-enable-lease-checkpoint", Bool),
    ("experimental-enable-distributed-tracing", Bool),
    ("experimental-txn-mode-write-with-shared-buffer", Bool),
    ("socket-reuse-port", Bool),
    ("socket-reuse-address", Bool),
];

/// The keys of a `*-transport-security` block, and the flag each sets
/// (for the client block; the peer block's flags are `peer-` prefixed).
const TLS_KEYS: &[(&str, &str, Kind)] = &[
    ("cert-file", "cert-file", Str),
    ("key-file", "key-file", Str),
    ("trusted-ca-file", "trusted-ca-file", Str),
    ("client-cert-auth", "client-cert-auth", Bool),
    ("auto-tls", "auto-tls", Bool),
];

/// The file as a command line (`oxcd --flag=value …`).
pub(super) fn args(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("open {}: {}", path.display(), go_io_error(&e)))?;
    let doc: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| format!("error converting YAML to JSON: yaml: {e}"))?;
    let mut out = vec!["oxcd".to_string()];
    let Value::Object(map) = doc else {
        if doc.is_null() {
            return Ok(out);
        }
        return Err(unmarshal(json_kind(&doc), "", "main.configYAML"));
    };
    for (key, kind) in KEYS {
        if let Some(v) = map.get(*key) {
            if let Some(s) = value(key, *kind, v)? {
                out.push(format!("--{key}={s}"));
            }
        }
    }
    for (block, prefix) in [
        ("client-transport-security", ""),
        ("peer-transport-security", "peer-"),
    ] {
        let Some(b) = map.get(block) else { continue };
        let Value::Object(b) = b else {
            if b.is_null() {
                continue;
            }
            return Err(unmarshal(json_kind(b), block, "transport.TLSInfo"));
        };
        for (key, flag, kind) in TLS_KEYS {
            if let Some(v) = b.get(*key) {
                if let Some(s) = value(key, *kind, v)? {
                    // an empty path is an unset one
                    if !s.is_empty() {
                        out.push(format!("--{prefix}{flag}={s}"));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// `v` as the flag's text, `None` for null (the default stays).
fn value(key: &str, kind: Kind, v: &Value) -> Result<Option<String>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let wrong = |go: &str| unmarshal(json_kind(v), key, go);
    let s = match (kind, v) {
        (Str, Value::String(s)) => s.clone(),
        (Str, _) => return Err(wrong("string")),
        (List, Value::Array(items)) => {
            let mut parts = Vec::new();
            for i in items {
                match i {
                    Value::String(s) => parts.push(s.clone()),
                    _ => return Err(unmarshal(json_kind(i), key, "string")),
                }
            }
            parts.join(",")
        }
        (List, _) => return Err(wrong("[]string")),
        (Uint(go), Value::Number(n)) => n.as_u64().ok_or_else(|| wrong(go))?.to_string(),
        (Uint(go), _) => return Err(wrong(go)),
        (Int(go), Value::Number(n)) => n.as_i64().ok_or_else(|| wrong(go))?.to_string(),
        (Int(go), _) => return Err(wrong(go)),
        (Duration, Value::Number(n)) => {
            let ns = n.as_i64().ok_or_else(|| wrong("time.Duration"))?;
            if ns < 0 {
                return Err(format!("--{key}: a negative duration"));
            }
            format!("{ns}ns")
        }
        (Duration, _) => return Err(wrong("time.Duration")),
        (Bool, Value::Bool(b)) => b.to_string(),
        (Bool, _) => return Err(wrong("bool")),
    };
    Ok(Some(s))
}

/// encoding/json's kind names (`cannot unmarshal number 1.5 into …`
/// names the number when it is not an integer).
fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(n) if n.is_f64() => format!("number {n}"),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
    }
}

fn unmarshal(what: String, key: &str, go_type: &str) -> String {
    format!(
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {what} into Go struct field configYAML.{key} of type {go_type}"
    )
}

/// Go's text for the usual I/O errors (`no such file or directory`).
fn go_io_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            // "Is a directory (os error 21)" → "is a directory"
            let s = s.split(" (os error").next().unwrap_or(&s).to_string();
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(yaml: &str) -> Result<Vec<String>, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("c.yaml");
        std::fs::write(&p, yaml).expect("write");
        args(&p).map(|a| a[1..].to_vec())
    }

    #[test]
    fn keys_become_flags() {
        let a = from(
            "name: n1\nheartbeat-interval: 50\nlisten-client-urls: http://127.0.0.1:1,http://127.0.0.1:2\n\
             log-outputs: [stderr, /tmp/x.log]\ngrpc-keepalive-interval: 3600000000000\n\
             auto-compaction-retention: \"1h\"\nenable-v2: false\nunknown-key: 3\n\
             peer-transport-security:\n  cert-file: /p.pem\n  key-file: \"\"\n  auto-tls: true\n",
        )
        .expect("valid");
        assert_eq!(
            a,
            [
                "--name=n1",
                "--listen-client-urls=http://127.0.0.1:1,http://127.0.0.1:2",
                "--auto-compaction-retention=1h",
                "--log-outputs=stderr,/tmp/x.log",
                "--heartbeat-interval=50",
                "--grpc-keepalive-interval=3600000000000ns",
                "--enable-v2=false",
                "--peer-cert-file=/p.pem",
                "--peer-auto-tls=true",
            ]
        );
    }

    #[test]
    fn wrong_types_get_etcds_messages() {
        let e = |y: &str| from(y).expect_err("refused");
        let pre = "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal";
        assert_eq!(
            e("snapshot-count: abc"),
            format!("{pre} string into Go struct field configYAML.snapshot-count of type uint64")
        );
        assert_eq!(
            e("grpc-keepalive-interval: 1.5"),
            format!("{pre} number 1.5 into Go struct field configYAML.grpc-keepalive-interval of type time.Duration")
        );
        assert_eq!(
            e("auto-compaction-retention: 1"),
            format!("{pre} number into Go struct field configYAML.auto-compaction-retention of type string")
        );
        assert_eq!(
            e("log-outputs: stderr"),
            format!("{pre} string into Go struct field configYAML.log-outputs of type []string")
        );
        assert_eq!(
            e("listen-client-urls: [http://127.0.0.1:1]"),
            format!(
                "{pre} array into Go struct field configYAML.listen-client-urls of type string"
            )
        );
        assert_eq!(
            e("enable-v2: \"true\""),
            format!("{pre} string into Go struct field configYAML.enable-v2 of type bool")
        );
        assert!(e("name: [unclosed").starts_with("error converting YAML to JSON: yaml: "));
    }

    #[test]
    fn a_missing_file_is_gos_error() {
        let p = Path::new("/nonexistent/oxcd.yaml");
        assert_eq!(
            args(p).expect_err("missing"),
            "open /nonexistent/oxcd.yaml: no such file or directory"
        );
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        assert_eq!(from("").expect("empty"), Vec::<String>::new());
    }
}
