use super::urls::parse_initial_cluster;
use super::*;

/// Parses `oxcd args…`; clap's and oxcd's errors as text.
pub(super) fn cfg(args: &[&str]) -> Result<Config, String> {
    let mut v = vec!["oxcd".to_string()];
    v.extend(args.iter().map(|s| s.to_string()));
    Config::from_args(v).map_err(|e| match e {
        Ok(c) => c.to_string(),
        Err(s) => s,
    })
}

#[test]
fn default_ids_match_etcd() {
    let c = cfg(&[]).expect("defaults are valid");
    assert_eq!(format!("{:x}", c.member_id), "8e9e05c52164694d");
    assert_eq!(format!("{:x}", c.cluster_id), "cdf818194e3a8c32");
    assert_eq!(c.data_dir, PathBuf::from("default.etcd"));
}

#[test]
fn restore_reference_ids() {
    // etcdctl-reference §6.1 case 38: m1 at 127.0.0.1:42380 with token tok1
    let id = member_id(&["http://127.0.0.1:42380".to_string()], "tok1");
    assert_eq!(format!("{id:x}"), "32689cdaa5c21add");
}

#[test]
fn rejects_misconfiguration() {
    assert!(
        cfg(&["--name", "x"]).is_ok(),
        "initial cluster follows the name"
    );
    // etcd's own default value counts as unset, so only another one fails
    assert!(cfg(&[
        "--name",
        "x",
        "--initial-cluster",
        "default=http://localhost:2380"
    ])
    .is_ok());
    // only bootstrapping needs this member in --initial-cluster: the
    // error waits until the data dir turns out to be new
    let c = cfg(&[
        "--name",
        "x",
        "--initial-cluster",
        "default=http://127.0.0.1:2380",
    ])
    .expect("a restart ignores --initial-cluster");
    let e = c.bootstrap_error.expect("cannot bootstrap");
    assert!(e.contains("couldn't find local name \"x\""), "{e}");
    let e = cfg(&["--initial-cluster-state", "bogus"]).unwrap_err();
    assert!(e.contains("valid values are"), "{e}");
    let e = cfg(&["--listen-client-urls", "http://127.0.0.1:1"]).unwrap_err();
    assert!(e.contains("--advertise-client-urls is required"), "{e}");
    let e = cfg(&["--listen-peer-urls", "notaurl"]).unwrap_err();
    assert!(e.contains("invalid URL"), "{e}");
}

#[test]
fn initial_cluster_grammar() {
    let ms = parse_initial_cluster(
        " b=http://127.0.0.1:2, ,a=http://127.0.0.1:1/ ,b = http://127.0.0.1:3,",
        "t",
    )
    .expect("valid");
    let got: Vec<(&str, Vec<&str>)> = ms
        .iter()
        .map(|m| {
            let urls = m.peer_urls.iter().map(String::as_str).collect();
            (m.name.as_str(), urls)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("b", vec!["http://127.0.0.1:2"]),
            ("a", vec!["http://127.0.0.1:1"]),
            ("b ", vec!["http://127.0.0.1:3"]),
        ]
    );
    assert_eq!(ms[1].id, member_id(&["http://127.0.0.1:1".into()], "t"));
    let e = parse_initial_cluster("a=http://127.0.0.1:1, x ", "t").unwrap_err();
    assert_eq!(e, "--initial-cluster: \"x\" is not of the form name=url");
    let e = parse_initial_cluster("a= ", "t").unwrap_err();
    assert_eq!(e, "--initial-cluster must not be empty");
    let e = parse_initial_cluster(" , ", "t").unwrap_err();
    assert_eq!(e, "--initial-cluster must not be empty");
    // the first bad URL as written, not in name order
    let e = parse_initial_cluster("b=ftp://h:1,a=ftp://h:2", "t").unwrap_err();
    assert!(e.ends_with(": ftp"), "{e}");
    let e = parse_initial_cluster("b=http://h:1,a=http://h", "t").unwrap_err();
    assert!(e.ends_with("http://h"), "{e}");
}

#[test]
fn single_dash_flags_are_accepted() {
    let a = normalize_args(
        ["oxcd", "-name", "n1", "--data-dir", "d", "-"]
            .iter()
            .map(|s| s.to_string()),
    );
    assert_eq!(a, vec!["oxcd", "--name", "n1", "--data-dir", "d", "-"]);
}

#[test]
fn etcd_flags_without_effect_warn_or_refuse() {
    assert!(cfg(&[]).unwrap().warnings.is_empty());
    // etcd's defaults, spelled out, are no reason to warn
    let c = cfg(&["--pre-vote=true", "--strict-reconfig-check", "--proxy=off"]).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = cfg(&["--enable-v2", "--grpc-keepalive-min-time=1s"]).unwrap();
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(c.warnings[1].starts_with("--grpc-keepalive-min-time=1s is accepted"));
    let c = cfg(&["--grpc-keepalive-timeout=5s", "--grpc-keepalive-interval=0"]).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(
        c.grpc_keepalive_timeout,
        Some(std::time::Duration::from_secs(5))
    );
    assert_eq!(c.grpc_keepalive_interval, None);
    assert!(cfg(&["--grpc-keepalive-timeout=soon"]).is_err());
    // a config file's nanoseconds are etcd's default spelled another way
    let c = cfg(&["--grpc-keepalive-interval=7200000000000ns"]).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(cfg(&["--force-new-cluster"]).unwrap().force_new_cluster);
    assert!(
        !cfg(&["--force-new-cluster=false"])
            .unwrap()
            .force_new_cluster
    );
    // flags that act: pre-vote, no-fsync, socket reuse, CORS, hosts
    let c = cfg(&[
        "--pre-vote=false",
        "--unsafe-no-fsync",
        "--socket-reuse-port",
        "--cors=https://a.example:1, *,http://x.example:80",
        "--host-whitelist=",
    ])
    .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(!c.pre_vote && c.unsafe_no_fsync && c.socket_reuse == (false, true));
    assert_eq!(c.cors, ["https://a.example:1", "*", "http://x.example:80"]);
    assert_eq!(c.host_whitelist, ["*"]);
    assert!(cfg(&["--cors=not-a-url"]).is_err());
    let c = cfg(&[
        "--backend-batch-interval=100ms",
        "--backend-batch-limit=10000",
    ])
    .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(
        (c.backend_batch_interval, c.backend_batch_limit),
        (Some(std::time::Duration::from_millis(100)), Some(10000))
    );
    let c = cfg(&[]).unwrap();
    assert_eq!(
        (c.backend_batch_interval, c.backend_batch_limit),
        (None, None)
    );
    // DNS discovery instead of --initial-cluster, not beside it
    let c = cfg(&["--discovery-srv=example.com", "--discovery-srv-name=x"]).unwrap();
    assert_eq!(c.discovery_srv, Some(("example.com".into(), "x".into())));
    assert!(cfg(&[
        "--discovery-srv=example.com",
        "--initial-cluster=a=http://127.0.0.1:2380"
    ])
    .is_err());
    assert!(cfg(&["--proxy=on"]).is_err());
    assert!(cfg(&["--enable-v2=sometimes"]).is_err());
}
