//! `restore::restore` against real etcd 3.5.1: the output equals what
//! `etcdutl snapshot restore` writes, and real `etcd` boots from it
//! (single member, three members, revision bump), serving the snapshot's
//! data with the new membership. Skipped when the binaries are absent,
//! except under CI.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::*;
use etcd_format::member::member_id;
use etcd_format::raftpb::{ConfChange, Entry, HardState, Metadata, SnapFile, Snapshot};
use etcd_format::restore::{restore, RestoreConfig, RestoreError};
use etcd_format::wal;
use prost::Message;

/// Our restore and etcdutl's agree: same tree and modes, same WAL and
/// `.snap` bytes, same database contents.
fn assert_same_as_etcdutl(snap: &Path, nodes: &[Node], skip_hash: bool) {
    let cluster = cluster_flag(nodes);
    let mut cfg = config_for(&nodes[0], &cluster, "tok1", Path::new("unset"));
    cfg.skip_hash_check = skip_hash;
    assert_cfg_same_as_etcdutl(snap, cfg);
}

/// [`assert_same_as_etcdutl`] for any config (its data dir is replaced).
fn assert_cfg_same_as_etcdutl(snap: &Path, cfg: RestoreConfig) {
    let Some(etcdutl) = etcd_bin("etcdutl") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ours = cfg;
    ours.data_dir = Some(dir.path().join("ours"));
    let mut theirs = ours.clone();
    theirs.data_dir = Some(dir.path().join("theirs"));
    let report = restore(&fs::read(snap).expect("snapshot"), &ours).expect("restore");
    etcdutl_restore(&etcdutl, snap, &theirs);
    let (a, b) = (ours.data_dir(), theirs.data_dir());

    let (mut ta, mut tb) = (tree(&a), tree(&b));
    let db = PathBuf::from("member/snap/db");
    // The database is compact in ours, bbolt-grown in etcd's.
    assert_eq!(ta.remove(&db).map(|x| x.0), tb.remove(&db).map(|x| x.0));
    assert_eq!(ta, tb, "file trees differ");
    let snap_name = report.snap_file.file_name().expect("name");
    let snap_rel = Path::new("member/snap").join(snap_name);
    assert_eq!(
        fs::read(a.join(&snap_rel)).expect("ours"),
        fs::read(b.join(&snap_rel)).expect("theirs"),
        ".snap files differ"
    );
    let wal_rel = Path::new("member/wal").join(wal::segment_name(0, 0));
    let (wa, wb) = (
        fs::read(a.join(&wal_rel)).expect("wal"),
        fs::read(b.join(&wal_rel)).expect("wal"),
    );
    assert_eq!(
        wal::decode_segment(&wa).expect("ours"),
        wal::decode_segment(&wb).expect("theirs")
    );
    assert!(wa == wb, "WAL bytes differ");
    assert_eq!(buckets(&a.join(&db)), buckets(&b.join(&db)));
}

#[test]
fn golden_single_member_matches_etcdutl() {
    let node = Node {
        name: "m1".into(),
        client: String::new(),
        peer: "http://127.0.0.1:42380".into(),
    };
    assert_same_as_etcdutl(&fixture("snapshot.db"), &[node], false);
}

/// Member names and URLs that need JSON escaping, a member with two peer
/// URLs, and member IDs whose hex-string order (the v2 store's map
/// order) differs from their numeric order (the WAL's entry order).
#[test]
fn golden_tricky_membership_matches_etcdutl() {
    let a = ["http://127.0.0.1:3001", "http://127.0.0.1:3002"];
    let b = "http://127.0.0.1:3003";
    let ids = |t: &str| {
        let ua: Vec<String> = a.iter().map(|u| u.to_string()).collect();
        (member_id(&ua, t), member_id(&[b.to_string()], t))
    };
    // A token where one ID has 15 hex digits and sorts last as a string
    // but first as a number.
    let token = (0..100_000)
        .map(|i| format!("tok-{i}"))
        .find(|t| {
            let (x, y) = ids(t);
            let (lo, hi) = (x.min(y), x.max(y));
            lo < 1 << 60 && format!("{lo:x}") > format!("{hi:x}")
        })
        .expect("a token with differing orders");
    let cfg = RestoreConfig {
        name: "a<&>\"é".into(),
        initial_cluster: format!("a<&>\"é={},a<&>\"é={},b={b}", a[1], a[0]),
        initial_cluster_token: token,
        initial_advertise_peer_urls: format!("{},{}", a[0], a[1]),
        ..Default::default()
    };
    assert_cfg_same_as_etcdutl(&fixture("snapshot.db"), cfg);
}

#[test]
fn golden_separate_wal_dir_matches_etcdutl() {
    let Some(etcdutl) = etcd_bin("etcdutl") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let snap = fixture("snapshot.db");
    let mk = |side: &str| RestoreConfig {
        data_dir: Some(dir.path().join(side).join("data")),
        wal_dir: Some(dir.path().join(side).join("wal")),
        ..Default::default()
    };
    restore(&fs::read(&snap).expect("snapshot"), &mk("ours")).expect("restore");
    etcdutl_restore(&etcdutl, &snap, &mk("theirs"));
    let (mut a, mut b) = (
        tree(&dir.path().join("ours")),
        tree(&dir.path().join("theirs")),
    );
    let db = PathBuf::from("data/member/snap/db");
    assert_eq!(a.remove(&db).map(|x| x.0), b.remove(&db).map(|x| x.0));
    assert_eq!(a, b);
    let seg = Path::new("wal").join(wal::segment_name(0, 0));
    assert!(
        fs::read(dir.path().join("ours").join(&seg)).expect("ours")
            == fs::read(dir.path().join("theirs").join(&seg)).expect("theirs")
    );
}

#[test]
fn golden_three_members_matches_etcdutl() {
    let nodes: Vec<Node> = ["m1", "m2", "m3"]
        .iter()
        .enumerate()
        .map(|(i, n)| Node {
            name: (*n).into(),
            client: String::new(),
            peer: format!("http://127.0.0.1:{}", 52380 + i),
        })
        .collect();
    assert_same_as_etcdutl(&fixture("snapshot.db"), &nodes, false);
    // A raw backend copy restores the same way with --skip-hash-check.
    assert_same_as_etcdutl(&fixture("backend.db"), &nodes[1..], true);
}

/// Checks one served endpoint against the snapshot's live keys.
fn assert_serves_snapshot(etcdctl_bin: &Path, endpoint: &str, expect: &(Live, i64)) {
    let (live, rev) = served_keys(etcdctl_bin, endpoint);
    assert_eq!(live, expect.0, "served keys differ from the snapshot");
    assert_eq!(rev, expect.1, "served revision differs");
}

fn member_list(etcdctl_bin: &Path, endpoint: &str) -> Vec<(u64, String, Vec<String>)> {
    let v = json(
        etcdctl(etcdctl_bin, endpoint, &["member", "list", "-w", "json"]),
        "member list",
    );
    let mut out: Vec<(u64, String, Vec<String>)> = v["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            let urls = m["peerURLs"]
                .as_array()
                .expect("peerURLs")
                .iter()
                .map(|u| u.as_str().expect("url").to_string())
                .collect();
            (
                m["ID"].as_u64().expect("ID"),
                m["name"].as_str().unwrap_or("").to_string(),
                urls,
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn etcd_boots_single_member_restore() {
    let (Some(etcd), Some(ctl)) = (etcd_bin("etcd"), etcd_bin("etcdctl")) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::new("m1");
    let cluster = cluster_flag(std::slice::from_ref(&node));
    let data = dir.path().join("m1.etcd");
    let bytes = snapshot_bytes();
    let report = restore(&bytes, &config_for(&node, &cluster, "tok1", &data)).expect("restore");
    let id = member_id(std::slice::from_ref(&node.peer), "tok1");
    assert_eq!(report.member_id, id);
    let expect = live_keys(&bytes);
    assert_eq!(report.revision, expect.1);

    let guard = start_etcd(&etcd, &node, &cluster, &data);
    wait_up(&ctl, &node, &guard);
    assert_serves_snapshot(&ctl, &node.client, &expect);
    assert_eq!(
        member_list(&ctl, &node.client),
        [(id, "m1".to_string(), vec![node.peer.clone()])]
    );
    let st = json(
        etcdctl(&ctl, &node.client, &["endpoint", "status", "-w", "json"]),
        "endpoint status",
    );
    assert_eq!(st[0]["Status"]["header"]["member_id"].as_u64(), Some(id));
    assert_eq!(
        st[0]["Status"]["header"]["cluster_id"].as_u64(),
        Some(report.cluster_id)
    );
    // The lease, the user and the role came along.
    let leases = run_ok(etcdctl(&ctl, &node.client, &["lease", "list"]), "lease");
    assert!(leases.contains("found 1 leases"), "{leases}");
    let users = run_ok(etcdctl(&ctl, &node.client, &["user", "list"]), "users");
    assert_eq!(users, "alice\n");
    let roles = run_ok(etcdctl(&ctl, &node.client, &["role", "list"]), "roles");
    assert_eq!(roles, "reader\n");
    run_ok(
        etcdctl(&ctl, &node.client, &["put", "after", "restore"]),
        "put",
    );
    drop(guard);

    // A restart keeps everything, including the new write.
    let guard = start_etcd(&etcd, &node, &cluster, &data);
    wait_up(&ctl, &node, &guard);
    let (live, rev) = served_keys(&ctl, &node.client);
    assert_eq!(rev, expect.1 + 1);
    assert_eq!(live.len(), expect.0.len() + 1);
    let got = run_ok(
        etcdctl(&ctl, &node.client, &["get", "after", "--print-value-only"]),
        "get",
    );
    assert_eq!(got, "restore\n");
    assert_eq!(member_list(&ctl, &node.client).len(), 1);
}

#[test]
fn etcd_boots_three_member_restore() {
    let (Some(etcd), Some(ctl)) = (etcd_bin("etcd"), etcd_bin("etcdctl")) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let nodes: Vec<Node> = ["m1", "m2", "m3"].iter().map(|n| Node::new(n)).collect();
    let cluster = cluster_flag(&nodes);
    let bytes = snapshot_bytes();
    let expect = live_keys(&bytes);
    let mut guards = Vec::new();
    let mut cluster_ids = Vec::new();
    for n in &nodes {
        let data = dir.path().join(format!("{}.etcd", n.name));
        let report = restore(&bytes, &config_for(n, &cluster, "tok3", &data)).expect("restore");
        cluster_ids.push(report.cluster_id);
        guards.push(start_etcd(&etcd, n, &cluster, &data));
    }
    assert!(cluster_ids.windows(2).all(|w| w[0] == w[1]));
    for (n, guard) in nodes.iter().zip(&guards) {
        wait_up(&ctl, n, guard);
    }
    let mut want: Vec<(u64, String, Vec<String>)> = nodes
        .iter()
        .map(|n| {
            (
                member_id(std::slice::from_ref(&n.peer), "tok3"),
                n.name.clone(),
                vec![n.peer.clone()],
            )
        })
        .collect();
    want.sort();
    for n in &nodes {
        // Names appear once a member has published itself: all started.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = member_list(&ctl, &n.client);
            if got == want {
                break;
            }
            assert!(Instant::now() < deadline, "member list {got:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_serves_snapshot(&ctl, &n.client, &expect);
    }
    run_ok(etcdctl(&ctl, &nodes[0].client, &["put", "x", "y"]), "put");
    let got = run_ok(
        etcdctl(&ctl, &nodes[2].client, &["get", "x", "--print-value-only"]),
        "get",
    );
    assert_eq!(got, "y\n");

    // A snapshot of this three-member cluster restores into a new single
    // member exactly as etcdutl does it (the old membership trimmed).
    let saved = dir.path().join("three.db");
    run_ok(
        Command::new(&ctl)
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &nodes[0].client, "snapshot", "save"])
            .arg(&saved)
            .output()
            .expect("snapshot save"),
        "snapshot save",
    );
    drop(guards);
    let members_before = buckets_of(&fs::read(&saved).expect("saved"))[&b"members"[..]].len();
    assert_eq!(members_before, 3);
    let single = Node {
        name: "solo".into(),
        client: String::new(),
        peer: "http://127.0.0.1:42380".into(),
    };
    assert_same_as_etcdutl(&saved, &[single], false);
}

#[test]
fn etcd_boots_bumped_and_compacted_restore() {
    let (Some(etcd), Some(ctl)) = (etcd_bin("etcd"), etcd_bin("etcdctl")) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::new("b1");
    let cluster = cluster_flag(std::slice::from_ref(&node));
    let data = dir.path().join("b1.etcd");
    let bytes = snapshot_bytes();
    let (live, orig) = live_keys(&bytes);
    let mut cfg = config_for(&node, &cluster, "tokb", &data);
    cfg.bump_revision = 1000;
    cfg.mark_compacted = true;
    let report = restore(&bytes, &cfg).expect("restore");
    assert_eq!(report.revision, orig + 1000);

    let guard = start_etcd(&etcd, &node, &cluster, &data);
    wait_up(&ctl, &node, &guard);
    assert_serves_snapshot(&ctl, &node.client, &(live, orig + 1000));
    let old = etcdctl(
        &ctl,
        &node.client,
        &["get", "foo", "--rev", &orig.to_string()],
    );
    assert!(!old.status.success());
    assert!(String::from_utf8_lossy(&old.stderr).contains("compacted"));
    let v = json(
        etcdctl(&ctl, &node.client, &["put", "k", "v", "-w", "json"]),
        "put",
    );
    assert_eq!(v["header"]["revision"].as_i64(), Some(orig + 1001));
}

/// Our files decode to what etcd's bootstrap expects.
#[test]
fn restored_files_decode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = RestoreConfig {
        data_dir: Some(dir.path().join("d")),
        wal_dir: Some(dir.path().join("w")),
        ..Default::default()
    };
    let report = restore(&snapshot_bytes(), &cfg).expect("restore");
    assert_eq!(format!("{:x}", report.member_id), "8e9e05c52164694d");
    assert_eq!(format!("{:x}", report.cluster_id), "cdf818194e3a8c32");
    assert_eq!(report.consistent_index, 1);
    let t = tree(dir.path());
    let names: Vec<_> = t.keys().map(|p| p.display().to_string()).collect();
    assert_eq!(
        names,
        [
            "d",
            "d/member",
            "d/member/snap",
            "d/member/snap/0000000000000001-0000000000000001.snap",
            "d/member/snap/db",
            "w",
            "w/0000000000000000-0000000000000000.wal",
        ]
    );
    assert_eq!(t[Path::new("w")].0, 0o700);
    assert_eq!(t[Path::new("d/member/snap/db")].0, 0o600);
    let wal_file = &t[Path::new("w/0000000000000000-0000000000000000.wal")];
    assert_eq!(*wal_file, (0o600, wal::SEGMENT_SIZE_BYTES));

    let seg = fs::read(dir.path().join("w").join(wal::segment_name(0, 0))).expect("wal");
    let recs = wal::decode_segment(&seg).expect("records");
    let types: Vec<i64> = recs.iter().map(|r| r.r#type).collect();
    assert_eq!(types, [4, 1, 5, 2, 3, 5]);
    let data = |i: usize| recs[i].data.clone().expect("data");
    let md = Metadata::decode(&*data(1)).expect("metadata");
    assert_eq!(
        (md.node_id, md.cluster_id),
        (report.member_id, report.cluster_id)
    );
    let e = Entry::decode(&*data(3)).expect("entry");
    assert_eq!((e.r#type, e.term, e.index), (1, 1, 1));
    let cc = ConfChange::decode(&*e.data.expect("cc")).expect("conf change");
    assert_eq!(cc.node_id, report.member_id);
    let ctx: serde_json::Value = serde_json::from_slice(&cc.context.expect("ctx")).expect("json");
    assert_eq!(ctx["name"], "default");
    assert_eq!(ctx["peerURLs"][0], "http://localhost:2380");
    let hs = HardState::decode(&*data(4)).expect("state");
    assert_eq!((hs.term, hs.vote, hs.commit), (1, report.member_id, 1));

    let snap = SnapFile::decode(&*fs::read(&report.snap_file).expect("snap")).expect("snap");
    let body = snap.data.expect("body");
    assert_eq!(snap.crc, crc32c::crc32c(&body));
    let s = Snapshot::decode(&*body).expect("raft snapshot");
    assert_eq!((s.metadata.index, s.metadata.term), (1, 1));
    assert_eq!(s.metadata.conf_state.voters, [report.member_id]);
    let store: serde_json::Value = serde_json::from_slice(&s.data.expect("store")).expect("v2");
    let attrs = &store["Root"]["Children"]["0"]["Children"]["members"]["Children"]
        ["8e9e05c52164694d"]["Children"]["raftAttributes"]["Value"];
    assert_eq!(attrs, "{\"peerURLs\":[\"http://localhost:2380\"]}");

    let db = buckets(&dir.path().join("d/member/snap/db"));
    let members = &db[&b"members"[..]];
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].0, b"8e9e05c52164694d");
    assert!(db[&b"members_removed"[..]].is_empty());
    let meta: BTreeMap<_, _> = db[&b"meta"[..]].iter().cloned().collect();
    assert_eq!(meta[&b"consistent_index"[..]], 1u64.to_be_bytes());
    assert_eq!(meta[&b"term"[..]], 1u64.to_be_bytes());
}

/// Runs etcdutl restore expecting failure; returns its last stderr line
/// without the `Error: ` prefix.
fn etcdutl_error(etcdutl: &Path, snap: &Path, extra: &[&str], data: &Path) -> String {
    let out = Command::new(etcdutl)
        .args(["snapshot", "restore"])
        .arg(snap)
        .args(extra)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("etcdutl");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().last().unwrap_or("").to_string();
    line.strip_prefix("Error: ").unwrap_or(&line).to_string()
}

fn leftovers(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn errors_are_typed_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path();
    let bytes = snapshot_bytes();
    let cfg = |d: &str| RestoreConfig {
        data_dir: Some(base.join(d)),
        ..Default::default()
    };

    // Existing directories: etcd 3.5's rule accepts an empty one.
    fs::create_dir(base.join("full")).expect("mkdir");
    fs::write(base.join("full/x"), b"x").expect("write");
    let e = restore(&bytes, &cfg("full")).unwrap_err();
    assert!(matches!(e, RestoreError::DataDirNotEmpty(_)));
    let full_msg = e.to_string();
    fs::create_dir(base.join("empty")).expect("mkdir");
    let strict = RestoreConfig {
        refuse_existing_dir: true,
        ..cfg("empty")
    };
    let e = restore(&bytes, &strict).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("data-dir \"{}\" exists", base.join("empty").display())
    );
    assert!(leftovers(&base.join("empty")).is_empty());
    restore(&bytes, &cfg("empty")).expect("empty dir is fine for etcd 3.5");
    assert_eq!(leftovers(&base.join("empty")), ["member"]);

    // Name missing from the initial cluster.
    let e = restore(
        &bytes,
        &RestoreConfig {
            name: "nope".into(),
            ..cfg("named")
        },
    )
    .unwrap_err();
    assert!(matches!(e, RestoreError::LocalNameMissing { .. }));
    let name_msg = e.to_string();

    // A raw backend copy without --skip-hash-check.
    let raw = fs::read(fixture("backend.db")).expect("backend.db");
    let e = restore(&raw, &cfg("raw")).unwrap_err();
    assert!(matches!(e, RestoreError::MissingHash));
    let raw_msg = e.to_string();

    // A corrupted snapshot.
    let mut bad = bytes.clone();
    bad[5000] ^= 0xff;
    let bad_path = base.join("bad.db");
    fs::write(&bad_path, &bad).expect("write");
    let e = restore(&bad, &cfg("bad")).unwrap_err();
    assert!(matches!(e, RestoreError::HashMismatch { .. }));
    let bad_msg = e.to_string();
    assert!(bad_msg.starts_with("expected sha256 ["), "{bad_msg}");

    // Unwritable targets: under a regular file, and (when not root) under
    // a read-only directory; a failing separate WAL dir must not leave
    // the data dir behind either.
    fs::write(base.join("file"), b"").expect("write");
    let e = restore(&bytes, &cfg("file/sub")).unwrap_err();
    assert!(matches!(e, RestoreError::Io { .. }), "{e}");
    let late = RestoreConfig {
        wal_dir: Some(base.join("file/wal")),
        ..cfg("late")
    };
    assert!(matches!(
        restore(&bytes, &late).unwrap_err(),
        RestoreError::Io { .. }
    ));
    fs::create_dir(base.join("ro")).expect("mkdir");
    fs::set_permissions(base.join("ro"), fs::Permissions::from_mode(0o500)).expect("chmod");
    let ro = restore(&bytes, &cfg("ro/data"));
    fs::set_permissions(base.join("ro"), fs::Permissions::from_mode(0o700)).expect("chmod");
    // As root, permissions do not stop the write; otherwise it fails
    // cleanly.
    if let Err(e) = ro {
        assert!(matches!(e, RestoreError::Io { .. }), "{e}");
        assert!(leftovers(&base.join("ro")).is_empty());
    }

    assert_eq!(
        leftovers(base),
        ["bad.db", "empty", "file", "full", "ro"],
        "no partial or temporary directories"
    );

    // The same texts as etcdutl 3.5.1.
    let Some(etcdutl) = etcd_bin("etcdutl") else {
        return;
    };
    let snap = fixture("snapshot.db");
    assert_eq!(
        etcdutl_error(&etcdutl, &snap, &[], &base.join("full")),
        full_msg
    );
    let named = base.join("named");
    assert_eq!(
        etcdutl_error(&etcdutl, &snap, &["--name", "nope"], &named),
        name_msg
    );
    let raw_dir = base.join("u-raw");
    assert_eq!(
        etcdutl_error(&etcdutl, &fixture("backend.db"), &[], &raw_dir),
        raw_msg
    );
    let bad_dir = base.join("u-bad");
    assert_eq!(etcdutl_error(&etcdutl, &bad_path, &[], &bad_dir), bad_msg);
    let _ = fs::remove_dir_all(raw_dir);
    let _ = fs::remove_dir_all(bad_dir);
}
