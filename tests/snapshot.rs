//! `oxctl snapshot save|status|restore` end to end: snapshots taken from
//! oxcd and from real etcd 3.5.1, restored by oxctl (or real etcdutl),
//! booted by real etcd and by oxcd, and the keys compared with what the
//! source served; `snapshot status` compared with real etcdutl; and the
//! failure paths (bad files, existing data dirs, unwritable targets, dead
//! or multiple endpoints), which must leave no files behind.
//!
//! Run: `cargo build -p oxctl -p oxcd && cargo test -p oxctl --test snapshot`.

mod common;

use std::path::{Path, PathBuf};

use common::{Output, Server, ServerKind};
use serde_json::Value;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/etcd-format/tests/fixtures/snapshot.db"
);

fn etcdutl() -> PathBuf {
    common::etcd_bin_dir().join("etcdutl")
}

/// Real etcd, etcdctl and etcdutl are all needed (the harness probes
/// server readiness with etcdctl, even for oxcd).
fn real_available(test: &str) -> bool {
    if !common::real_etcd_available(test) {
        return false;
    }
    if etcdutl().is_file() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} missing; CI must run .ci/install-etcd.sh",
            etcdutl().display()
        );
    }
    eprintln!("SKIPPED {test}: {} not installed", etcdutl().display());
    false
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn oxctl(endpoint: Option<&str>, args: &[&str]) -> Output {
    common::run(&common::oxctl_bin(), endpoint, args, None, &[])
}

/// Asserts success and returns stdout.
fn ok(out: Output, what: &str) -> String {
    assert_eq!(
        out.code,
        0,
        "{what} failed: stdout {:?} stderr {:?}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Asserts a clean failure: the exit code, `Error: …` on stderr (checked
/// against `stderr_starts`), no panic.
fn fails(out: &Output, code: i32, stderr_starts: &str, what: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.code, code, "exit code of {what}: stderr {err:?}");
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.starts_with(stderr_starts),
        "stderr of {what}: {err:?} should end with a line starting {stderr_starts:?}"
    );
    assert!(!err.contains("panic"), "{what} panicked: {err}");
}

/// Keys in several states: versions, a deleted key, a lease, odd bytes.
fn populate(srv: &Server) {
    let ep = srv.endpoint();
    for args in [
        &["put", "a", "1"][..],
        &["put", "a", "2"],
        &["put", "b/x", "y z\t\"q\""],
        &["put", "d", "gone"],
        &["del", "d"],
        &["put", "--", "-dash", "é✓"],
    ] {
        ok(oxctl(Some(&ep), args), &format!("{args:?}"));
    }
    let granted = ok(oxctl(Some(&ep), &["lease", "grant", "600"]), "lease grant");
    let id = granted
        .split_whitespace()
        .nth(1)
        .expect("lease id")
        .to_string();
    ok(
        oxctl(Some(&ep), &["put", "c", "leased", &format!("--lease={id}")]),
        "put --lease",
    );
}

/// `get "" --prefix -w json`, with the raft term (election timing) left
/// out: revision, IDs, count and every key-value are compared.
fn kvs(srv: &Server) -> Value {
    let out = oxctl(
        Some(&srv.endpoint()),
        &["get", "", "--prefix", "-w", "json"],
    );
    let mut v: Value =
        serde_json::from_str(&ok(out, "get --prefix")).expect("get -w json output is json");
    v["header"]
        .as_object_mut()
        .expect("header")
        .remove("raft_term");
    v
}

/// What [`populate`] leaves: four live keys, one of them leased.
fn check_populated(v: &Value) {
    assert_eq!(v["count"], 4, "keys before the snapshot: {v}");
    let leased = v["kvs"]
        .as_array()
        .expect("kvs")
        .iter()
        .filter(|kv| kv["lease"].as_i64().unwrap_or(0) != 0);
    assert_eq!(leased.count(), 1, "leased keys before the snapshot: {v}");
}

/// `oxctl snapshot status` must print what `etcdutl snapshot status` does,
/// for every writer, without a deprecation banner.
fn assert_status_matches(file: &Path) {
    for w in ["simple", "json", "table", "fields"] {
        let ours = oxctl(None, &["snapshot", "status", s(file), "-w", w]);
        let theirs = common::run(
            &etcdutl(),
            None,
            &["snapshot", "status", s(file), "-w", w],
            None,
            &[],
        );
        assert_eq!(theirs.code, 0, "etcdutl status: {}", text(&theirs.stderr));
        assert_eq!(
            (text(&ours.stdout), ours.code),
            (text(&theirs.stdout), 0),
            "snapshot status -w {w} of {}",
            file.display()
        );
        assert_eq!(text(&ours.stderr), "", "stderr of snapshot status -w {w}");
    }
}

/// `oxctl snapshot save` of `srv` into `file`: etcdctl's stdout line, a
/// private file, no `.part` left.
fn save(srv: &Server, file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let out = oxctl(Some(&srv.endpoint()), &["snapshot", "save", s(file)]);
    assert_eq!(
        ok(out, "snapshot save"),
        format!("Snapshot saved at {}\n", file.display())
    );
    let mode = std::fs::metadata(file)
        .expect("saved file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode of the saved file");
    assert!(!part(file).exists(), ".part left behind");
    let bytes = std::fs::read(file).expect("read snapshot");
    etcd_format::snapshot::verify_trailer(&bytes).expect("saved file has a valid trailer");
}

fn part(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}.part", file.display()))
}

fn oxctl_restore(file: &Path, dir: &Path) {
    let out = oxctl(
        None,
        &["snapshot", "restore", s(file), "--data-dir", s(dir)],
    );
    assert_eq!(ok(out, "snapshot restore"), "", "restore prints nothing");
}

/// Boots `kind` on a restored data dir and compares its keys.
fn boot_and_compare(kind: ServerKind, dir: &Path, before: &Value, what: &str) {
    let srv = Server::start_on(kind, dir, &[]);
    assert_eq!(&kvs(&srv), before, "{what}: keys served by {}", kind.name());
}

/// source → `oxctl snapshot save` → `oxctl snapshot restore` → real etcd
/// and oxcd, each on its own restored copy.
fn round_trip(test: &str, source: ServerKind) -> Option<(tempfile::TempDir, PathBuf)> {
    if !real_available(test) {
        return None;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("snap.db");
    let before = {
        let srv = Server::start(source, &[]);
        populate(&srv);
        save(&srv, &file);
        kvs(&srv)
    };
    check_populated(&before);
    assert_status_matches(&file);
    for kind in [ServerKind::RealEtcd, ServerKind::Oxcd] {
        let dir = work.path().join(format!("restored-for-{}", kind.name()));
        oxctl_restore(&file, &dir);
        boot_and_compare(kind, &dir, &before, test);
    }
    Some((work, file))
}

#[test]
fn oxcd_snapshot_restored_by_oxctl_boots_etcd_and_oxcd() {
    round_trip(
        "oxcd_snapshot_restored_by_oxctl_boots_etcd_and_oxcd",
        ServerKind::Oxcd,
    );
}

#[test]
fn etcd_snapshot_restored_by_oxctl_boots_etcd_and_oxcd() {
    let test = "etcd_snapshot_restored_by_oxctl_boots_etcd_and_oxcd";
    let Some((work, _)) = round_trip(test, ServerKind::RealEtcd) else {
        return;
    };
    // A file saved by the real etcdctl: same status output.
    let srv = Server::start(ServerKind::RealEtcd, &[]);
    populate(&srv);
    let file = work.path().join("by-etcdctl.db");
    let out = common::run(
        &common::real_etcdctl(),
        Some(&srv.endpoint()),
        &["snapshot", "save", s(&file)],
        None,
        &[],
    );
    ok(out, "etcdctl snapshot save");
    assert_status_matches(&file);
    assert_status_matches(Path::new(FIXTURE));
}

#[test]
fn oxcd_snapshot_restored_by_etcdutl_boots_etcd() {
    let test = "oxcd_snapshot_restored_by_etcdutl_boots_etcd";
    if !real_available(test) {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("snap.db");
    let before = {
        let srv = Server::start(ServerKind::Oxcd, &[]);
        populate(&srv);
        save(&srv, &file);
        kvs(&srv)
    };
    check_populated(&before);
    let dir = work.path().join("restored");
    let out = common::run(
        &etcdutl(),
        None,
        &["snapshot", "restore", s(&file), "--data-dir", s(&dir)],
        None,
        &[],
    );
    ok(out, "etcdutl snapshot restore");
    boot_and_compare(ServerKind::RealEtcd, &dir, &before, test);
}

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn bad_files_are_refused_cleanly() {
    let work = tempfile::tempdir().expect("tempdir");
    let good = std::fs::read(FIXTURE).expect("fixture");
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    cases.push(("truncated", good[..20000].to_vec()));
    let mut flipped = good.clone();
    flipped[2 * 4096 + 8] ^= 0xff; // the flags of page 2
    cases.push(("flipped", flipped));
    let mut trailer = good.clone();
    *trailer.last_mut().expect("non-empty") ^= 1;
    cases.push(("trailer", trailer.clone()));
    let junk: Vec<u8> = (0..3 * 4096u32).map(|i| (i * 7 + 3) as u8).collect();
    cases.push((
        "junk-with-trailer",
        etcd_format::snapshot::append_trailer(junk.clone()),
    ));
    cases.push(("junk", junk[..1000].to_vec()));
    cases.push(("empty", Vec::new()));
    for (name, bytes) in &cases {
        std::fs::write(work.path().join(name), bytes).expect("write case");
    }
    let inputs = listing(work.path());

    let status = |name: &str| oxctl(None, &["snapshot", "status", s(&work.path().join(name))]);
    // etcdutl ignores the trailer: so does status.
    assert_eq!(ok(status("trailer"), "status"), "ae7c0375, 68, 78, 53 kB\n");
    let page = "Error: page 2: expected a leaf or branch page, found flags";
    fails(&status("flipped"), 1, page, "status of a flipped page");
    fails(
        &status("truncated"),
        1,
        "Error: meta page",
        "status truncated",
    );
    fails(
        &status("junk-with-trailer"),
        1,
        "Error: not a bbolt database",
        "status junk",
    );
    fails(&status("empty"), 1, "Error: file too small", "status empty");
    fails(
        &status("missing"),
        1,
        &format!(
            "Error: stat {}: no such file or directory",
            s(&work.path().join("missing"))
        ),
        "status of a missing file",
    );

    let restore = |name: &str, extra: &[&str]| {
        let file = work.path().join(name);
        let dir = work.path().join("restored");
        let mut args = vec!["snapshot", "restore", s(&file), "--data-dir", s(&dir)];
        args.extend_from_slice(extra);
        oxctl(None, &args)
    };
    for (name, want) in [
        ("truncated", "Error: expected sha256 ["),
        ("flipped", "Error: expected sha256 ["),
        ("trailer", "Error: expected sha256 ["),
        ("junk-with-trailer", "Error: not a bbolt database"),
        (
            "junk",
            "Error: snapshot missing hash but --skip-hash-check=false",
        ),
        (
            "empty",
            "Error: snapshot missing hash but --skip-hash-check=false",
        ),
    ] {
        fails(&restore(name, &[]), 1, want, &format!("restore {name}"));
        assert_eq!(listing(work.path()), inputs, "restore {name} left files");
    }
    let skip = ["--skip-hash-check"];
    fails(
        &restore("flipped", &skip),
        1,
        page,
        "restore --skip-hash-check flipped",
    );
    fails(
        &restore("junk", &skip),
        1,
        "Error: not a bbolt database",
        "restore junk",
    );
    assert_eq!(listing(work.path()), inputs, "restores left files");
    // The database itself is intact: skipping the hash check restores it.
    assert_eq!(ok(restore("trailer", &skip), "restore"), "");
    assert!(work.path().join("restored/member/snap/db").is_file());
}

#[test]
fn restore_refuses_any_existing_data_dir() {
    let work = tempfile::tempdir().expect("tempdir");
    let full = work.path().join("full");
    std::fs::create_dir(&full).expect("mkdir");
    std::fs::write(full.join("keep"), b"mine").expect("write");
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    for dir in [&full, &empty] {
        let out = oxctl(
            None,
            &["snapshot", "restore", FIXTURE, "--data-dir", s(dir)],
        );
        assert_eq!(
            text(&out.stderr),
            format!("Error: data-dir {:?} exists\n", s(dir))
        );
        assert_eq!((text(&out.stdout), out.code), (String::new(), 1));
    }
    assert_eq!(listing(&full), ["keep"]);
    assert_eq!(std::fs::read(full.join("keep")).expect("read"), b"mine");
    assert!(listing(&empty).is_empty());
    assert_eq!(listing(work.path()), ["empty", "full"]);
    // Argument and flag checks come first.
    let out = oxctl(None, &["snapshot", "restore"]);
    fails(
        &out,
        128,
        "Error: snapshot restore requires exactly one argument",
        "no arg",
    );
    let out = oxctl(
        None,
        &[
            "snapshot",
            "restore",
            FIXTURE,
            "--name",
            "x",
            "--data-dir",
            s(&full),
        ],
    );
    let want = "Error: couldn't find local name \"x\" in the initial cluster configuration";
    fails(&out, 1, want, "unknown --name");
}

#[test]
fn save_failures_leave_no_files() {
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("snap.db");
    let out = oxctl(None, &["snapshot", "save"]);
    fails(
        &out,
        128,
        "Error: snapshot save expects one argument",
        "no argument",
    );
    let out = oxctl(
        Some("127.0.0.1:1,127.0.0.1:2"),
        &["snapshot", "save", s(&file)],
    );
    assert_eq!(
        text(&out.stderr),
        "Error: snapshot must be requested to one selected node, not multiple \
         [127.0.0.1:1 127.0.0.1:2]\n"
    );
    assert_eq!(out.code, 5);
    assert!(listing(work.path()).is_empty());
    // A dead endpoint with an explicit timeout: an existing file stays.
    std::fs::write(&file, b"old").expect("write");
    let dead = format!("127.0.0.1:{}", common::free_port());
    let out = oxctl(
        Some(&dead),
        &["--command-timeout=2s", "snapshot", "save", s(&file)],
    );
    fails(&out, 5, "Error: context deadline exceeded", "dead endpoint");
    assert_eq!(listing(work.path()), ["snap.db"]);
    assert_eq!(std::fs::read(&file).expect("read"), b"old");
}

#[test]
fn save_to_unwritable_targets_leaves_no_files() {
    if !real_available("save_to_unwritable_targets_leaves_no_files") {
        return;
    }
    let srv = Server::start(ServerKind::Oxcd, &[]);
    let ep = srv.endpoint();
    let work = tempfile::tempdir().expect("tempdir");
    let missing = work.path().join("no/such/dir/snap.db");
    let out = oxctl(Some(&ep), &["snapshot", "save", s(&missing)]);
    let p = s(&missing).to_string() + ".part";
    assert_eq!(
        text(&out.stderr),
        format!("Error: could not open {p} (open {p}: no such file or directory)\n")
    );
    assert_eq!(out.code, 5);
    std::fs::write(work.path().join("file"), b"x").expect("write");
    let under_file = work.path().join("file/snap.db");
    let out = oxctl(Some(&ep), &["snapshot", "save", s(&under_file)]);
    fails(&out, 5, "Error: could not open", "target under a file");
    assert!(text(&out.stderr).ends_with(": not a directory)\n"));
    // The target is a directory: the download succeeds, the rename fails,
    // the `.part` file goes and the directory stays as it was.
    let target = work.path().join("taken");
    std::fs::create_dir(&target).expect("mkdir");
    std::fs::write(target.join("inside"), b"y").expect("write");
    let out = oxctl(Some(&ep), &["snapshot", "save", s(&target)]);
    fails(&out, 5, "Error: could not rename", "target is a directory");
    assert_eq!(listing(work.path()), ["file", "taken"]);
    assert_eq!(listing(&target), ["inside"]);
}

#[test]
fn status_ignores_etcdctl_env_and_prints_no_banner() {
    let env = [("ETCDCTL_WRITE_OUT", "json"), ("ETCDCTL_BOGUS", "1")];
    let out = common::run(
        &common::oxctl_bin(),
        None,
        &["snapshot", "status", FIXTURE],
        None,
        &env,
    );
    assert_eq!(text(&out.stdout), "ae7c0375, 68, 78, 53 kB\n");
    assert_eq!((text(&out.stderr), out.code), (String::new(), 0));
    let out = oxctl(None, &["snapshot", "status", FIXTURE, "-w", "protobuf"]);
    fails(
        &out,
        4,
        "Error: protobuf not supported as output format",
        "protobuf",
    );
    let out = oxctl(None, &["snapshot", "status", "/nonexistent", "-w", "yaml"]);
    fails(
        &out,
        4,
        "Error: unsupported output format",
        "yaml before the file",
    );
    let out = oxctl(None, &["snapshot", "status"]);
    fails(
        &out,
        128,
        "Error: snapshot status requires exactly one argument",
        "no arg",
    );
}

#[test]
fn server_gone_mid_stream_leaves_no_files() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    if !real_available("server_gone_mid_stream_leaves_no_files") {
        return;
    }
    let srv = Server::start(ServerKind::Oxcd, &[]);
    let ep = srv.endpoint();
    // About 20 MB, so that the download takes a while.
    let value: Vec<u8> = (0..400_000u32)
        .map(|i| b'a' + (i * 31 % 26) as u8)
        .collect();
    for i in 0..50 {
        let out = common::run(
            &common::oxctl_bin(),
            Some(&ep),
            &["put", &format!("big{i}")],
            Some(&value),
            &[],
        );
        ok(out, "put big value");
    }
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("snap.db");
    let child = Command::new(common::oxctl_bin())
        .arg(format!("--endpoints={ep}"))
        .args(["snapshot", "save", s(&file)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn oxctl");
    // Stop the server as soon as the download has started.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(part(&file)).map_or(0, |m| m.len()) == 0 {
        assert!(Instant::now() < deadline, "the download never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(srv);
    let out = child.wait_with_output().expect("wait for oxctl");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "stderr {err}");
    assert!(
        err.lines().last().unwrap_or("").starts_with("Error: "),
        "{err}"
    );
    assert!(listing(work.path()).is_empty(), "files left behind");
}

#[test]
fn restore_with_bumped_revision_boots_etcd() {
    if !real_available("restore_with_bumped_revision_boots_etcd") {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    // Not oxcd yet: its import (server/src/import.rs) takes only the
    // finished compaction from `meta`, not the scheduled one etcd
    // completes on boot, so it still serves the revisions below the bump.
    let dir = work.path().join("bumped");
    let args = [
        "--bump-revision=100",
        "--mark-compacted",
        "--data-dir",
        s(&dir),
    ];
    let out = oxctl(
        None,
        &[&["snapshot", "restore", FIXTURE][..], &args].concat(),
    );
    assert_eq!(ok(out, "restore --bump-revision"), "");
    let srv = Server::start_on(ServerKind::RealEtcd, &dir, &[]);
    let v = kvs(&srv);
    assert_eq!(v["header"]["revision"], 168, "{v}");
    let out = oxctl(Some(&srv.endpoint()), &["get", "k", "--rev=100"]);
    let want = "Error: etcdserver: mvcc: required revision has been compacted";
    fails(&out, 1, want, "get below the bumped revision");
}
