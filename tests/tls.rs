//! Client TLS: oxctl must match the real etcdctl byte for byte (stdout,
//! the `Error:` lines of stderr, the exit code). The server-side tests
//! (`tls_with_cacert_and_verification_failures`, `tls_client_cert_auth`)
//! run against real etcd 3.5.1 and then oxcd with the same flags and
//! expect the same results from both: every case is checked four ways.
//! A throwaway CA, server and client certificate (RSA) are made with the
//! `openssl` command for every test; `tests/tls_server.rs` covers the rest
//! of server TLS with `testkit::pki`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::wait::{start_retrying, StartFailure};
use testkit::{Flags, Proc};

use common::{same_on, Observed, ServerKind};

/// Fast failure for the error cases (oxctl may fail sooner than etcdctl).
const FAST: [&str; 2] = ["--dial-timeout=1s", "--command-timeout=2s"];

/// Real etcd and `openssl` are both needed: print SKIPPED without them, or
/// panic under CI.
fn tools_available(test: &str) -> bool {
    if !testkit::bins::etcd_available(test) {
        return false;
    }
    let ok = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("the openssl command is needed by {test} and missing under CI");
    }
    eprintln!("\nSKIPPED {test}: the openssl command is not installed\n");
    false
}

/// A throwaway PKI: `ca.crt`, `server.crt/key` (SAN 127.0.0.1 and
/// localhost), `client.crt/key`, and a second CA `other-ca.crt` that signed
/// nothing used here.
struct Pki {
    dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("oxctl-tls-")
            .tempdir()
            .expect("temp dir for certificates");
        let d = dir.path();
        for ca in ["ca", "other-ca"] {
            openssl(
                d,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.crt"),
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN=oxctl-test-{ca}"),
                ],
            );
        }
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for who in ["server", "client"] {
            openssl(
                d,
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{who}.key"),
                    "-out",
                    &format!("{who}.csr"),
                    "-subj",
                    &format!("/CN={who}"),
                ],
            );
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{who}.csr"),
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &format!("{who}.crt"),
                    "-days",
                    "2",
                    "-extfile",
                    &format!("{who}.ext"),
                ],
            );
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    fn flag(&self, flag: &str, file: &str) -> String {
        format!("--{flag}={}", self.path(file))
    }
}

/// A server (real etcd or oxcd, the same flags) serving clients over TLS
/// only (`testkit::Proc`: dropping it kills the process, printing its log
/// tail if the test is failing).
struct TlsServer {
    port: u16,
    _proc: Proc,
    // Dropped after the process: its data and logs.
    _dir: tempfile::TempDir,
}

impl TlsServer {
    /// `client_auth`: `--client-cert-auth` with the test CA as trusted CA.
    fn start(kind: ServerKind, pki: &Pki, client_auth: bool) -> TlsServer {
        start_retrying(&format!("TLS {}", kind.name()), |_| {
            TlsServer::try_start(kind, pki, client_auth)
        })
    }

    fn try_start(
        kind: ServerKind,
        pki: &Pki,
        client_auth: bool,
    ) -> Result<TlsServer, StartFailure> {
        let name = kind.name();
        let data = tempfile::Builder::new()
            .prefix(&format!("oxctl-tls-{name}-"))
            .tempdir()
            .expect("temp dir for the server");
        let mut flags = Flags::single("default", &data.path().join("data")).with_extra(&[
            "--cert-file".to_string(),
            pki.path("server.crt"),
            "--key-file".to_string(),
            pki.path("server.key"),
        ]);
        flags.https = true;
        if client_auth {
            flags = flags.with_extra(&["--client-cert-auth", "--trusted-ca-file"]);
            flags = flags.with_extra(&[pki.path("ca.crt")]);
        }
        let port = flags.client_port;
        let mut proc = Proc::new(name, &kind.binary(), flags.args(), Some(data.path()))
            .current_dir(data.path());
        proc.spawn();
        let mut probe = vec![
            format!("--endpoints=https://127.0.0.1:{port}"),
            pki.flag("cacert", "ca.crt"),
        ];
        if client_auth {
            probe.push(pki.flag("cert", "client.crt"));
            probe.push(pki.flag("key", "client.key"));
        }
        probe.extend(FAST.iter().map(|s| s.to_string()));
        probe.extend(["get".to_string(), "readiness-probe".to_string()]);
        let every = Duration::from_millis(100);
        let what = format!("{name} over TLS");
        let ready = testkit::wait::poll(&what, common::SERVER_READY_TIMEOUT, every, || {
            if let Some(status) = proc.try_exit() {
                return Ok(Err(format!("{name} exited with {status}")));
            }
            let out = common::run(&testkit::bins::etcdctl(), None, &probe, None, &[]);
            if out.code == 0 {
                return Ok(Ok(()));
            }
            Err(format!("{name} never answered over TLS"))
        });
        match ready.and_then(|r| r) {
            Ok(()) => Ok(TlsServer {
                port,
                _proc: proc,
                _dir: data,
            }),
            Err(msg) => Err(StartFailure {
                msg,
                logs: proc.logs(),
            }),
        }
    }

    fn https(&self) -> String {
        format!("--endpoints=https://127.0.0.1:{}", self.port)
    }

    fn bare(&self) -> String {
        format!("--endpoints=127.0.0.1:{}", self.port)
    }
}

/// [`same_on`] against real etcd (or no server at all).
fn same(args: &[String]) -> Observed {
    same_on(ServerKind::Etcd, args)
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn with(mut base: Vec<String>, more: &[&str]) -> Vec<String> {
    base.extend(more.iter().map(|s| s.to_string()));
    base
}

fn deadline_error() -> Observed {
    (
        String::new(),
        vec!["Error: context deadline exceeded".to_string()],
        1,
    )
}

#[test]
fn tls_with_cacert_and_verification_failures() {
    if !tools_available("tls_with_cacert_and_verification_failures") {
        return;
    }
    let pki = Pki::new();
    for kind in [ServerKind::Etcd, ServerKind::Oxcd] {
        cacert_and_verification_failures(kind, &pki);
    }
}

/// Server TLS without client certificates, as etcdctl and oxctl see it:
/// the same results from real etcd and oxcd.
fn cacert_and_verification_failures(kind: ServerKind, pki: &Pki) {
    let srv = TlsServer::start(kind, pki, false);
    let ca = pki.flag("cacert", "ca.crt");
    let same = |a: &[String]| same_on(kind, a);

    // https:// endpoint with the CA: put then get.
    let r = same(&args(&[&srv.https(), &ca, "put", "k1", "v1"]));
    assert_eq!(r, ("OK\n".into(), vec![], 0), "{kind:?}");
    let r = same(&args(&[&srv.https(), &ca, "get", "k1"]));
    assert_eq!(r, ("k1\nv1\n".into(), vec![], 0), "{kind:?}");
    // No scheme: --cacert alone turns TLS on; localhost is in the SAN too.
    let r = same(&args(&[&srv.bare(), &ca, "get", "k1", "-w", "json"]));
    assert_eq!(r.2, 0, "{kind:?}");
    let localhost = format!("--endpoints=localhost:{}", srv.port);
    let r = same(&args(&[&localhost, &ca, "get", "k1"]));
    assert_eq!(r, ("k1\nv1\n".into(), vec![], 0), "{kind:?}");

    // Unknown authority: no CA (system roots), and the wrong CA.
    let fast = args(&FAST);
    let r = same(&with(with(fast.clone(), &[&srv.https()]), &["get", "k1"]));
    assert_eq!(r, deadline_error(), "{kind:?}");
    let other = pki.flag("cacert", "other-ca.crt");
    let r = same(&with(fast.clone(), &[&srv.https(), &other, "get", "k1"]));
    assert_eq!(r, deadline_error(), "{kind:?}");
    // A bare endpoint without TLS flags is plaintext: fails against TLS,
    // and so does an explicit http:// endpoint even with --cacert.
    let r = same(&with(fast.clone(), &[&srv.bare(), "get", "k1"]));
    assert_eq!(r, deadline_error(), "{kind:?}");
    let http = format!("--endpoints=http://127.0.0.1:{}", srv.port);
    let r = same(&with(fast.clone(), &[&http, &ca, "get", "k1"]));
    assert_eq!(r, deadline_error(), "{kind:?}");
    // --insecure-transport=false alone: TLS with the system roots.
    let r = same(&with(
        fast.clone(),
        &[&srv.bare(), "--insecure-transport=false", "get", "k1"],
    ));
    assert_eq!(r, deadline_error(), "{kind:?}");

    // --insecure-skip-tls-verify applies only once a TLS configuration
    // exists: with the https:// scheme alone it still verifies.
    let r = same(&with(
        fast.clone(),
        &[&srv.https(), "--insecure-skip-tls-verify", "get", "k1"],
    ));
    assert_eq!(r, deadline_error(), "{kind:?}");
    let r = same(&args(&[
        &srv.bare(),
        "--insecure-transport=false",
        "--insecure-skip-tls-verify",
        "get",
        "k1",
    ]));
    assert_eq!(r, ("k1\nv1\n".into(), vec![], 0), "{kind:?}");
    // Skipping verification also accepts a server the given CA rejects.
    let r = same(&args(&[
        &srv.https(),
        &other,
        "--insecure-skip-tls-verify",
        "put",
        "k2",
        "v2",
    ]));
    assert_eq!(r, ("OK\n".into(), vec![], 0), "{kind:?}");
}

#[test]
fn tls_client_cert_auth() {
    if !tools_available("tls_client_cert_auth") {
        return;
    }
    let pki = Pki::new();
    for kind in [ServerKind::Etcd, ServerKind::Oxcd] {
        client_cert_auth(kind, &pki);
    }
}

/// `--client-cert-auth`: the same results from real etcd and oxcd.
fn client_cert_auth(kind: ServerKind, pki: &Pki) {
    let srv = TlsServer::start(kind, pki, true);
    let ca = pki.flag("cacert", "ca.crt");
    let cert = pki.flag("cert", "client.crt");
    let key = pki.flag("key", "client.key");
    let same = |a: &[String]| same_on(kind, a);

    let r = same(&args(&[&srv.https(), &ca, &cert, &key, "put", "a", "1"]));
    assert_eq!(r, ("OK\n".into(), vec![], 0), "{kind:?}");
    let r = same(&args(&[&srv.bare(), &ca, &cert, &key, "get", "a"]));
    assert_eq!(r, ("a\n1\n".into(), vec![], 0), "{kind:?}");

    // No client certificate: the server refuses the handshake.
    let r = same(&with(args(&FAST), &[&srv.https(), &ca, "get", "a"]));
    assert_eq!(r, deadline_error(), "{kind:?}");
}

#[test]
fn https_endpoint_against_plaintext_etcd() {
    if !tools_available("https_endpoint_against_plaintext_etcd") {
        return;
    }
    let pki = Pki::new();
    let server = common::Server::start(ServerKind::Etcd, &[]);
    let https = format!("--endpoints=https://{}", server.endpoint());
    let r = same(&with(args(&FAST), &[&https, "get", "a"]));
    assert_eq!(r, deadline_error());
    let ca = pki.flag("cacert", "ca.crt");
    let r = same(&with(args(&FAST), &[&https, &ca, "get", "a"]));
    assert_eq!(r, deadline_error());
    // An explicit http:// endpoint stays plaintext even with --cacert.
    let http = format!("--endpoints=http://{}", server.endpoint());
    let r = same(&args(&[&http, &ca, "put", "a", "1"]));
    assert_eq!(r, ("OK\n".into(), vec![], 0));
}

#[test]
fn tls_file_errors() {
    if !tools_available("tls_file_errors") {
        return;
    }
    let pki = Pki::new();
    // Nothing listens there: every case fails before dialing.
    let ep = format!("--endpoints=https://127.0.0.1:{}", testkit::free_port());
    let base = with(args(&FAST), &[&ep]);
    let bad = |more: &[&str]| {
        let r = same(&with(with(base.clone(), more), &["get", "a"]));
        assert_eq!(r.2, 128, "{more:?}");
        assert_eq!(r.1.len(), 1, "{more:?}");
    };

    let r = same(&with(
        base.clone(),
        &["--cacert=/nonexistent/ca.crt", "get", "a"],
    ));
    assert_eq!(
        r.1,
        vec!["Error: open /nonexistent/ca.crt: no such file or directory"]
    );
    let cert = pki.flag("cert", "client.crt");
    let r = same(&with(base.clone(), &[&cert, "get", "a"]));
    assert_eq!(
        r.1,
        vec![format!(
            "Error: KeyFile and CertFile must both be present[key: , cert: {}]",
            pki.path("client.crt")
        )]
    );
    assert_eq!(r.2, 128);
    bad(&["--cacert=/nonexistent/ca.crt", "--key=/nonexistent/k"]);
    bad(&[&cert, "--key=/nonexistent/client.key"]);
    bad(&["--cacert", &pki.path("")]);
    // PEM trouble, with etcdctl's texts.
    let junk = pki.path("junk.txt");
    std::fs::write(&junk, "not pem\n").unwrap();
    bad(&[&cert, &format!("--key={junk}")]);
    bad(&[&format!("--cert={junk}"), &pki.flag("key", "client.key")]);
    bad(&[
        &pki.flag("cert", "client.key"),
        &pki.flag("key", "client.key"),
    ]);
    bad(&[&cert, &pki.flag("key", "client.crt")]);
    bad(&[&cert, &pki.flag("key", "server.key")]);
    openssl(
        pki.dir.path(),
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-out",
            "ec.key",
        ],
    );
    bad(&[&cert, &pki.flag("key", "ec.key")]);
}
