//! oxctl's hints: under a pseudo-terminal (`script`), one `hint:` line
//! follows etcdctl's own error line, which stays as it is, with the same
//! exit code; on a pipe the output is etcdctl's alone. Cases: a dead
//! endpoint, an https endpoint without `--cacert` (the certificate's CA is
//! unknown), and a plain-http endpoint against a TLS port.

use std::process::Command;
use std::time::Duration;
use testkit::pki::{Ca, Leaf};
use testkit::{Flags, Proc};

/// Runs oxctl `args` under a pseudo-terminal: (exit code, its output with
/// the terminal's line ends undone).
fn on_terminal(args: &[String]) -> (i32, String) {
    let line = std::iter::once(testkit::bins::oxctl().display().to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ETCDCTL")) {
        cmd.env_remove(k);
    }
    let out = cmd.output().expect("run script");
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    (out.status.code().unwrap_or(-1), text)
}

/// Runs oxctl `args` with stderr on a pipe: (exit code, stderr).
fn on_pipe(args: &[String]) -> (i32, String) {
    let out = testkit::run(&testkit::bins::oxctl(), args, None, &[]);
    (out.code, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn check(args: &[String], hint_says: &str) {
    let (code, err) = on_pipe(args);
    assert_eq!(
        (code, err.as_str()),
        (1, "Error: context deadline exceeded\n"),
        "{args:?} on a pipe"
    );
    let (tcode, text) = on_terminal(args);
    assert_eq!(tcode, code, "{args:?}: the exit code on a terminal");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"Error: context deadline exceeded"),
        "{text}"
    );
    assert_eq!(lines.len(), 2, "one hint line: {text}");
    assert!(
        lines[1].starts_with("hint: ") && lines[1].contains(hint_says),
        "{args:?}: hint {:?} should say {hint_says:?}",
        lines[1]
    );
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn hints_only_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED hints_only_on_a_terminal: no script(1) for a pseudo-terminal");
        return;
    }
    let dead = testkit::free_port();
    check(
        &args(&[
            &format!("--endpoints=127.0.0.1:{dead}"),
            "--dial-timeout=1s",
            "get",
            "k",
        ]),
        "nothing listens",
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "ca");
    let leaf = ca.issue("server", Leaf::loopback("server"));
    let mut flags = Flags::single("default", &dir.path().join("data"));
    flags.https = true;
    let tls = [
        "--cert-file",
        &leaf.cert.display().to_string(),
        "--key-file",
        &leaf.key.display().to_string(),
    ]
    .map(String::from);
    let flags = flags.with_extra(&tls);
    let mut server = Proc::new("oxcd", &testkit::bins::oxcd(), flags.args(), None);
    server.spawn();
    let https = format!("--endpoints=https://127.0.0.1:{}", flags.client_port);
    let ca_flag = format!("--cacert={}", ca.cert_path().display());
    testkit::wait::poll(
        "the TLS member",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            let (code, err) = on_pipe(&args(&[&https, &ca_flag, "get", "k"]));
            if code == 0 {
                Ok(())
            } else {
                Err(err)
            }
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));

    check(
        &args(&[&https, "--dial-timeout=1s", "get", "k"]),
        "--cacert",
    );
    let http = format!("--endpoints=http://127.0.0.1:{}", flags.client_port);
    check(&args(&[&http, "--dial-timeout=1s", "get", "k"]), "https://");
    server.kill();
}
