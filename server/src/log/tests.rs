use super::output::{backup_name, Rotation};
use super::*;
use std::time::{Duration, SystemTime};

#[test]
fn a_line_is_zap_shaped_json() {
    let ts = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    let line = format_line(
        Level::Warn,
        ts,
        Some("raft"),
        "consensus/ready.rs:12",
        "said \"hi\"\n",
        ",\"term\":2,\"ids\":[\"a\"]",
    );
    assert_eq!(
        line,
        "{\"level\":\"warn\",\"ts\":\"2023-11-14T22:13:20.123Z\",\"logger\":\"raft\",\
         \"caller\":\"consensus/ready.rs:12\",\"msg\":\"said \\\"hi\\\"\\n\",\"term\":2,\"ids\":[\"a\"]}\n"
    );
    let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
    assert_eq!(v["msg"], "said \"hi\"\n");
}

#[test]
fn levels_are_zaps() {
    for (s, l) in [
        ("debug", Level::Debug),
        ("info", Level::Info),
        ("warn", Level::Warn),
        ("error", Level::Error),
        ("panic", Level::Panic),
        ("fatal", Level::Fatal),
    ] {
        assert_eq!(Level::parse(s), Some(l));
        assert_eq!(l.name(), s);
    }
    assert_eq!(Level::parse("DEBUG"), Some(Level::Debug));
    assert_eq!(Level::parse("Info"), None);
    assert_eq!(Level::parse("warning"), None);
    assert!(Level::Debug < Level::Info && Level::Error < Level::Fatal);
}

#[test]
fn caller_is_the_path_below_src() {
    assert_eq!(
        zap::caller("server/src/consensus/ready.rs", 7),
        "consensus/ready.rs:7"
    );
    assert_eq!(
        zap::caller("/root/.cargo/registry/src/index/raft-0.7.0/src/raft.rs", 9),
        "raft.rs:9"
    );
    assert_eq!(zap::caller("main.rs", 1), "main.rs:1");
}

#[test]
fn json_values_are_marked_for_raw_embedding() {
    let s = format!("{:?}", Json(vec!["http://a:1", "http://b:2"]));
    assert_eq!(s, "\u{1}[\"http://a:1\",\"http://b:2\"]");
    assert_eq!(Id(0xbdae9bbc11dd390d).to_string(), "bdae9bbc11dd390d");
    assert_eq!(Id(0x8).to_string(), "8");
}

#[test]
fn rotation_config_is_lumberjacks() {
    let r = Rotation::parse(
        "{\"maxsize\": 100, \"maxage\": 0, \"maxbackups\": 0, \"localtime\": false, \"compress\": false}",
    )
    .expect("etcd's default");
    assert_eq!(r, Rotation::default());
    let r = Rotation::parse("{\"maxsize\": 1, \"maxbackups\": 2}").expect("partial");
    assert_eq!((r.maxsize, r.maxbackups, r.maxage), (1, 2, 0));
    assert!(Rotation::parse("{maxsize: 1}").is_err());
    assert!(Rotation::parse("{\"maxsize\": \"big\"}").is_err());
}

#[test]
fn backups_are_named_as_lumberjack_names_them() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    assert_eq!(
        backup_name(std::path::Path::new("/var/log/etcd.log"), at),
        std::path::PathBuf::from("/var/log/etcd-2023-11-14T22-13-20.123.log")
    );
    assert_eq!(
        backup_name(std::path::Path::new("logs/oxcd"), at),
        std::path::PathBuf::from("logs/oxcd-2023-11-14T22-13-20.123")
    );
}

#[test]
fn a_full_file_is_rotated_and_old_backups_are_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.log");
    let cfg = Rotation {
        maxsize: 1,
        maxbackups: 1,
        ..Rotation::default()
    };
    let mut outs = output::open(&[path.display().to_string()], Some(&cfg)).expect("open");
    let line = vec![b'x'; 400 * 1024];
    // 3 lines fill a MB: the fourth rotates, and so does the seventh
    for _ in 0..7 {
        outs[0].write_line(&line);
        // distinct backup names (millisecond timestamps)
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "the file and one backup: {names:?}");
    assert_eq!(names[1], "m.log");
    assert!(
        names[0].starts_with("m-") && names[0].ends_with(".log"),
        "{names:?}"
    );
    let live = std::fs::metadata(&path).expect("live").len();
    assert_eq!(live, 400 * 1024, "the live file holds the last line only");
    let backup = std::fs::metadata(dir.path().join(&names[0]))
        .expect("backup")
        .len();
    assert_eq!(backup, 2 * 400 * 1024);
}

#[test]
fn compressed_backups_are_gzipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.log");
    let cfg = Rotation {
        maxsize: 1,
        compress: true,
        ..Rotation::default()
    };
    let mut outs = output::open(&[path.display().to_string()], Some(&cfg)).expect("open");
    let line = vec![b'y'; 700 * 1024];
    outs[0].write_line(&line);
    outs[0].write_line(&line);
    let gz: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "gz"))
        .collect();
    assert_eq!(gz.len(), 1, "one gzipped backup");
    let mut text = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(std::fs::File::open(&gz[0]).expect("gz"))
        .read_to_end(&mut text)
        .expect("gunzip");
    assert_eq!(text, line);
}

#[test]
fn an_unwritable_log_path_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f");
    std::fs::write(&file, "").expect("file");
    // a path under a regular file cannot be created
    let bad = file.join("x.log").display().to_string();
    assert!(output::open(&[bad], None).is_err());
}
