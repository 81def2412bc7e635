//! `--config-file` and `ETCD_CONFIG_FILE`: the same YAML starts etcd 3.5.1
//! and oxcd alike, the command line and `ETCD_*` variables are then
//! ignored, and bad files get etcd's errors.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;
use testkit::Proc;

fn bins() -> Vec<std::path::PathBuf> {
    let mut bins = vec![oxcd_bin()];
    bins.extend(etcd_bin());
    bins
}

fn yaml(dir: &Path, client: u16, peer: u16) -> String {
    format!(
        "name: yamlnode\n\
         data-dir: {data}\n\
         listen-client-urls: http://127.0.0.1:{client}\n\
         advertise-client-urls: http://127.0.0.1:{client}\n\
         listen-peer-urls: http://127.0.0.1:{peer}\n\
         initial-advertise-peer-urls: http://127.0.0.1:{peer}\n\
         initial-cluster: yamlnode=http://127.0.0.1:{peer}\n\
         initial-cluster-token: yaml-token\n\
         heartbeat-interval: 50\n\
         election-timeout: 500\n\
         grpc-keepalive-interval: 7200000000000\n\
         auto-compaction-mode: periodic\n\
         auto-compaction-retention: \"1h\"\n\
         log-outputs: [stderr]\n\
         some-unknown-key: 123\n",
        data = dir.join("yaml-data").display()
    )
}

/// The fields of the "starting an etcd server" line both servers log.
fn started_as(log: &str) -> Option<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["msg"] == "starting an etcd server")
}

async fn serves(port: u16, proc: &mut Proc) {
    let r = testkit::wait::poll_async(
        "ready",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || {
            let exited = proc.try_exit();
            async move {
                if let Some(st) = exited {
                    return Ok(Err(format!("exited early with {st}")));
                }
                let mut c = connect(port).await.map_err(|e| e.to_string())?;
                c.kv.put(oxcd_proto::etcdserverpb::PutRequest {
                    key: b"k".to_vec(),
                    value: b"v".to_vec(),
                    ..Default::default()
                })
                .await
                .map(|_| Ok(()))
                .map_err(|e| e.to_string())
            }
        },
    )
    .await;
    if let Err(e) | Ok(Err(e)) = r {
        panic!("{}: {e}\n{}", proc.bin.display(), proc.log());
    }
}

#[test]
fn the_file_replaces_the_command_line_and_the_environment() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for bin in bins() {
        for via_env in [false, true] {
            let who = format!("{} (via env: {via_env})", bin.display());
            let dir = tempfile::tempdir().expect("tempdir");
            let [client, peer] = testkit::ports::free_port_array::<2>();
            let file = dir.path().join("etcd.yaml");
            std::fs::write(&file, yaml(dir.path(), client, peer)).expect("write");
            let ignored = dir.path().join("cli-data");
            let mut args = vec![
                "--name".to_string(),
                "cliname".into(),
                "--data-dir".into(),
                ignored.display().to_string(),
            ];
            if !via_env {
                args.extend(["--config-file".to_string(), file.display().to_string()]);
            }
            let mut p = Proc::new("server", &bin, args, None)
                .env("ETCD_NAME", "envname")
                .env("ETCD_SNAPSHOT_COUNT", "7");
            if via_env {
                p = p.env("ETCD_CONFIG_FILE", &file.display().to_string());
            }
            p.spawn();
            rt.block_on(serves(client, &mut p));
            p.stop();
            let log = p.log();
            let start = started_as(&log).unwrap_or_else(|| panic!("{who}: no start line\n{log}"));
            assert_eq!(start["name"], "yamlnode", "{who}");
            assert_eq!(start["heartbeat-interval"], "50ms", "{who}");
            assert_ne!(
                start["snapshot-count"], 7,
                "{who}: ETCD_SNAPSHOT_COUNT was used"
            );
            assert!(
                log.contains("\"msg\":\"loaded server configuration, other configuration command line flags and environment variables will be ignored if provided\""),
                "{who}: no notice\n{log}"
            );
            assert!(
                !ignored.exists(),
                "{who}: the command line's data dir was used"
            );
            assert!(
                dir.path().join("yaml-data/member").is_dir(),
                "{who}: the file's data dir is unused"
            );
        }
    }
}

/// (YAML, the error both give)
const REFUSED: &[(&str, &str)] = &[
    (
        "snapshot-count: abc\n",
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go struct field configYAML.snapshot-count of type uint64",
    ),
    (
        "grpc-keepalive-interval: 1.5\n",
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal number 1.5 into Go struct field configYAML.grpc-keepalive-interval of type time.Duration",
    ),
    (
        "log-outputs: stderr\n",
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go struct field configYAML.log-outputs of type []string",
    ),
    (
        "enable-v2: \"true\"\n",
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go struct field configYAML.enable-v2 of type bool",
    ),
    ("name: [unclosed\n", "error converting YAML to JSON: yaml: "),
];

#[test]
fn bad_files_get_etcds_errors() {
    for bin in bins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nonexistent.yaml");
        let (st, err) = run_to_exit(
            &bin,
            &["--config-file".into(), missing.display().to_string()],
        );
        let who = bin.display();
        assert_eq!(st.code(), Some(1), "{who}: {err}");
        assert_eq!(
            testkit::logged_error(&err),
            Some(format!(
                "open {}: no such file or directory",
                missing.display()
            )),
            "{who}"
        );
        for (text, want) in REFUSED {
            let f = dir.path().join("bad.yaml");
            std::fs::write(&f, text).expect("write");
            let (st, err) = run_to_exit(&bin, &["--config-file".into(), f.display().to_string()]);
            assert_eq!(st.code(), Some(1), "{who} {text:?}: {err}");
            let got = testkit::logged_error(&err).unwrap_or_default();
            assert!(
                got.starts_with(want),
                "{who} {text:?}: {got:?}, not {want:?}"
            );
        }
        // the command line is still parsed first: an unknown flag is refused
        let (st, err) = run_to_exit(
            &bin,
            &[
                "--config-file".into(),
                missing.display().to_string(),
                "--no-such-flag".into(),
            ],
        );
        assert_eq!(st.code(), Some(2), "{who}: {err}");
    }
}
