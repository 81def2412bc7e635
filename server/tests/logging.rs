//! `--log-outputs`, `--log-level` and the logging flags' errors, each run
//! on etcd 3.5.1 and oxcd with the same expectations.

mod common;

use common::*;

fn etcd_bins() -> Vec<std::path::PathBuf> {
    let mut bins = vec![oxcd_bin()];
    bins.extend(etcd_bin());
    bins
}

#[test]
fn a_file_output_gets_the_lines_at_or_above_the_level() {
    for bin in etcd_bins() {
        let who = bin.display().to_string();
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("member.log");
        let outputs = format!("stderr,{}", file.display());
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let (stderr, text) = rt.block_on(async {
            let mut s = Server::start_bin(
                &bin,
                &dir.path().join("data"),
                &[
                    "--log-outputs",
                    &outputs,
                    "--log-level",
                    "warn",
                    "--cors",
                    "http://x.example:80",
                ],
            )
            .await;
            s.stop().await;
            (
                s.stderr(),
                std::fs::read_to_string(&file).expect("log file"),
            )
        });
        let json: Vec<&str> = text.lines().filter(|l| l.starts_with('{')).collect();
        assert!(!json.is_empty(), "{who}: nothing in the file");
        for l in &json {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            let level = v["level"].as_str().unwrap_or_default();
            assert!(
                level == "warn" || level == "error",
                "{who}: {level} line at --log-level warn: {l}"
            );
            assert!(stderr.contains(*l), "{who}: stderr lacks {l}");
        }
    }
}

#[test]
fn logs_go_to_stdout_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut s = Server::start(&dir.path().join("data"), &["--log-outputs", "stdout"]).await;
        s.stop().await;
        let out = s.stdout();
        assert!(
            out.lines()
                .any(|l| l.contains("\"msg\":\"ready to serve client requests\"")),
            "stdout:\n{out}"
        );
        assert!(
            !s.stderr().contains("ready to serve"),
            "stderr has the lines too"
        );
    });
}

/// (flags, the fatal error both etcd and oxcd give)
const REFUSED: &[(&[&str], &str)] = &[
    (
        &["--logger", "capnslog"],
        "--logger=capnslog is removed in v3.5",
    ),
    (&["--logger", "bogus"], "unknown logger option \"bogus\""),
    (
        &["--log-outputs", "default,stderr"],
        "multi logoutput for \"default\" is not supported yet",
    ),
    (
        &["--enable-log-rotation", "--log-outputs", "stderr"],
        "--log-outputs requires a single file path when --log-rotate-config-json is defined",
    ),
    (
        &[
            "--enable-log-rotation",
            "--log-outputs",
            "/tmp/a.log,/tmp/b.log",
        ],
        "--log-outputs requires a single file path when --log-rotate-config-json is defined",
    ),
    (
        &[
            "--enable-log-rotation",
            "--log-outputs",
            "/tmp/oxcd-rotation-test.log",
            "--log-rotation-config-json",
            "{maxsize",
        ],
        "improperly formatted log rotation config",
    ),
];

#[test]
fn bad_logging_flags_are_refused_with_etcds_errors() {
    for bin in etcd_bins() {
        for (flags, want) in REFUSED {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut a = base_args("default", &dir.path().join("d"), free_port(), free_port());
            a.extend(flags.iter().map(|s| s.to_string()));
            let (st, err) = run_to_exit(&bin, &a);
            let what = format!("{} {flags:?}", bin.display());
            assert_eq!(st.code(), Some(1), "{what}: {err}");
            let got = testkit::logged_error(&err)
                .or_else(|| err.lines().find(|l| l.contains(want)).map(String::from))
                .unwrap_or_default();
            assert!(got.contains(want), "{what}: {want:?} not in {err}");
        }
    }
}

/// etcd 3.5.1 panics on an unknown level (exit 2, a Go trace); oxcd says
/// what is wrong.
#[test]
fn an_unknown_level_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = base_args("default", dir.path(), free_port(), free_port());
    a.extend(["--log-level".to_string(), "bogus".to_string()]);
    let (st, err) = run_to_exit(&oxcd_bin(), &a);
    assert_eq!(st.code(), Some(1), "{err}");
    assert_eq!(
        testkit::logged_error(&err).as_deref(),
        Some("unrecognized level: \"bogus\""),
        "{err}"
    );
}
