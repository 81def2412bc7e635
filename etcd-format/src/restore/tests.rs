//! Unit tests of the restore: error texts, the defaults and member planning.

use super::*;

#[test]
fn error_texts() {
    let e = RestoreError::HashMismatch {
        expected: vec![10, 255],
        got: vec![1],
    };
    assert_eq!(e.to_string(), "expected sha256 [10 255], got [1]");
    let e = RestoreError::DataDirNotEmpty("/var/lib/etcd".into());
    assert_eq!(
        e.to_string(),
        "data-dir \"/var/lib/etcd\" not empty or could not be read"
    );
    assert_eq!(
        RestoreError::DataDirExists("d".into()).to_string(),
        "data-dir \"d\" exists"
    );
}

#[test]
fn defaults_and_planning() {
    let cfg = RestoreConfig::default();
    assert_eq!(cfg.data_dir(), PathBuf::from("default.etcd"));
    assert_eq!(cfg.wal_dir(), PathBuf::from("default.etcd/member/wal"));
    let (ms, cid) = plan_members(&cfg).expect("plan");
    assert_eq!(ms[0].id_hex(), "8e9e05c52164694d");
    assert_eq!(format!("{cid:x}"), "cdf818194e3a8c32");
    let other = RestoreConfig {
        name: "x".into(),
        ..Default::default()
    };
    assert_eq!(
        plan_members(&other).unwrap_err().to_string(),
        "couldn't find local name \"x\" in the initial cluster configuration"
    );
    let bump = RestoreConfig {
        bump_revision: 5,
        ..Default::default()
    };
    assert!(matches!(
        plan_members(&bump),
        Err(RestoreError::BumpNeedsMarkCompacted)
    ));
    let mismatch = RestoreConfig {
        initial_advertise_peer_urls: "http://other:2380".into(),
        ..Default::default()
    };
    assert!(plan_members(&mismatch)
        .unwrap_err()
        .to_string()
        .starts_with("--initial-cluster has default=http://localhost:2380 but missing"));
}
