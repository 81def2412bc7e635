//! `oxctl snapshot` failure paths: bad files, existing data dirs,
//! unwritable targets, dead or multiple endpoints and a server gone
//! mid-stream fail cleanly (etcdctl's exit codes and texts) and leave no
//! files behind; `snapshot status` ignores the `ETCDCTL_*` environment and
//! prints no banner.
//!
//! Run: `cargo build --workspace --bins && cargo test -p oxctl --test snapshot_failures`.

mod common;
#[path = "common/snapshot.rs"]
mod helpers;

use common::{Server, ServerKind};
use helpers::*;

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
    // several endpoints, none answering (etcdctl 3.5 refuses several)
    let out = oxctl(
        Some("127.0.0.1:1,127.0.0.1:2"),
        &["--dial-timeout=1s", "snapshot", "save", s(&file)],
    );
    assert_eq!(
        text(&out.stderr),
        "Error: no endpoint of [127.0.0.1:1 127.0.0.1:2] answered (context deadline exceeded)\n"
    );
    assert_eq!(out.code, 5);
    assert!(listing(work.path()).is_empty());
    // A dead endpoint with an explicit timeout: an existing file stays.
    std::fs::write(&file, b"old").expect("write");
    let dead = format!("127.0.0.1:{}", testkit::free_port());
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
    if !testkit::bins::etcd_available("save_to_unwritable_targets_leaves_no_files") {
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
        &testkit::bins::oxctl(),
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
    if !testkit::bins::etcd_available("server_gone_mid_stream_leaves_no_files") {
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
            &testkit::bins::oxctl(),
            Some(&ep),
            &["put", &format!("big{i}")],
            Some(&value),
            &[],
        );
        ok(out, "put big value");
    }
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("snap.db");
    let child = Command::new(testkit::bins::oxctl())
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

/// With several endpoints (the seed's backup line), oxctl saves from the
/// leader among those that answer, and says which on stderr.
#[test]
fn save_with_several_endpoints_picks_the_leader() {
    if !testkit::bins::etcd_available("save_with_several_endpoints_picks_the_leader") {
        return;
    }
    let srv = Server::start(ServerKind::Oxcd, &[]);
    let ep = srv.endpoint();
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("snap.db");
    let dead = format!("127.0.0.1:{}", testkit::free_port());
    let out = oxctl(
        Some(&format!("{dead},{ep}")),
        &["--dial-timeout=1s", "snapshot", "save", s(&file)],
    );
    assert_eq!(out.code, 0, "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("Snapshot saved at {}\n", s(&file))
    );
    let chose = text(&out.stderr)
        .lines()
        .find(|l| l.contains("chose the endpoint to save from"))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        chose.contains(&format!("\"endpoint\":\"{ep}\",\"reason\":\"leader\"")),
        "stderr: {}",
        text(&out.stderr)
    );
    assert_eq!(listing(work.path()), ["snap.db"]);
}
