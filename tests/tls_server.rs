//! Server TLS, four ways: every case runs against real etcd 3.5.1 and then
//! oxcd (the same flags), with the real etcdctl 3.5.1 and oxctl; stdout,
//! the `Error:` lines of stderr and the exit code must be the same for both
//! clients and equal to the expected result for both servers. Certificates,
//! CRLs and CAs are made per test with `testkit::pki` (rcgen).
//!
//! Covered: client certificate auth with a CRL (valid, missing, foreign,
//! expired and revoked client certificates), a server certificate that does
//! not cover 127.0.0.1, `--client-cert-allowed-hostname`, http and https
//! client URLs side by side, `--auto-tls`, certificate rotation without a
//! restart, and the start-up errors of https URLs without certificates.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{same_on, Observed, ServerKind};
use testkit::pki::{Ca, Issued, Leaf};
use testkit::wait::{start_retrying, StartFailure};
use testkit::{Flags, Proc};

/// Fast failure for the refused cases.
const FAST: [&str; 2] = ["--dial-timeout=1s", "--command-timeout=2s"];

const KINDS: [ServerKind; 2] = [ServerKind::Etcd, ServerKind::Oxcd];

/// A server (real etcd or oxcd) with an https client URL; dropping it
/// kills the process (its log tail is printed if the test is failing).
struct TlsServer {
    kind: ServerKind,
    /// The https client port.
    port: u16,
    /// The http client port, when both schemes are served.
    http_port: Option<u16>,
    proc: Proc,
    // Dropped after the process: its data and logs.
    _dir: tempfile::TempDir,
}

/// How a server is started and how the harness knows it is ready.
struct Setup {
    /// The server's TLS flags.
    tls: Vec<String>,
    /// Client flags the readiness probe (`etcdctl get`, bare endpoint)
    /// succeeds with.
    probe: Vec<String>,
    /// Also serve plain http on a second client URL.
    http_too: bool,
}

fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `--cert-file C --key-file K` for a server certificate.
fn serve_with(cert: &Issued) -> Vec<String> {
    vec![
        "--cert-file".into(),
        path(&cert.cert),
        "--key-file".into(),
        path(&cert.key),
    ]
}

/// `--cacert=CA --cert=C --key=K` for a client.
fn client_flags(ca: &Ca, cert: Option<&Issued>) -> Vec<String> {
    let mut v = vec![format!("--cacert={}", path(&ca.cert_path()))];
    if let Some(c) = cert {
        v.push(format!("--cert={}", path(&c.cert)));
        v.push(format!("--key={}", path(&c.key)));
    }
    v
}

impl TlsServer {
    fn start(kind: ServerKind, setup: &Setup) -> TlsServer {
        start_retrying(&format!("TLS {}", kind.name()), |_| {
            TlsServer::try_start(kind, setup)
        })
    }

    fn try_start(kind: ServerKind, setup: &Setup) -> Result<TlsServer, StartFailure> {
        let name = kind.name();
        let dir = tempfile::Builder::new()
            .prefix(&format!("tls-server-{name}-"))
            .tempdir()
            .expect("temp dir for the server");
        let mut flags = Flags::single("default", &dir.path().join("data")).with_extra(&setup.tls);
        flags.https = true;
        let port = flags.client_port;
        let mut proc =
            Proc::new(name, &kind.binary(), flags.args(), Some(dir.path())).current_dir(dir.path());
        let http_port = setup.http_too.then(testkit::free_port);
        if let Some(h) = http_port {
            let urls = format!("http://127.0.0.1:{h},https://127.0.0.1:{port}");
            proc.set_flag("--listen-client-urls", &urls);
            proc.set_flag("--advertise-client-urls", &urls);
        }
        proc.spawn();
        let mut probe = vec![format!("--endpoints=127.0.0.1:{port}")];
        probe.extend(setup.probe.iter().cloned());
        probe.extend(strings(&FAST));
        probe.extend(strings(&["get", "readiness-probe"]));
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
            Err(format!(
                "{name} never answered over TLS: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        });
        match ready.and_then(|r| r) {
            Ok(()) => Ok(TlsServer {
                kind,
                port,
                http_port,
                proc,
                _dir: dir,
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

    /// The https endpoint with a client's `--cacert` (and certificate).
    fn https_as(&self, ca: &Ca, cert: Option<&Issued>) -> Vec<String> {
        [vec![self.https()], client_flags(ca, cert)].concat()
    }

    fn bare(&self) -> String {
        format!("--endpoints=127.0.0.1:{}", self.port)
    }

    /// Runs `flags… command…` with etcdctl and oxctl (the same results
    /// required) and asserts the result is `want`.
    fn expect(&self, what: &str, flags: &[String], command: &[&str], want: Observed) {
        let mut a = flags.to_vec();
        a.extend(strings(command));
        let got = same_on(self.kind, &a);
        assert_eq!(got, want, "{what}, against {:?}: {a:?}", self.kind);
    }

    /// [`TlsServer::expect`] with the fast timeouts and the deadline error.
    fn refused(&self, what: &str, flags: &[String]) {
        let mut a = strings(&FAST);
        a.extend(flags.iter().cloned());
        self.expect(what, &a, &["get", "k"], deadline());
    }
}

fn ok(stdout: &str) -> Observed {
    (stdout.to_string(), vec![], 0)
}

/// What etcdctl prints when no connection could be made in time.
fn deadline() -> Observed {
    (
        String::new(),
        vec!["Error: context deadline exceeded".to_string()],
        1,
    )
}

fn pki_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tls-server-pki-")
        .tempdir()
        .expect("temp dir for certificates")
}

#[test]
fn client_cert_auth_with_crl() {
    if !testkit::bins::etcd_available("client_cert_auth_with_crl") {
        return;
    }
    let d = pki_dir();
    let (ca, other_ca) = (Ca::new(d.path(), "ca"), Ca::new(d.path(), "other-ca"));
    let server = ca.issue("server", Leaf::loopback("server"));
    let good = ca.issue("good", Leaf::loopback("good"));
    let foreign = other_ca.issue("foreign", Leaf::loopback("foreign"));
    let expired = ca.issue(
        "expired",
        Leaf {
            expired: true,
            ..Leaf::loopback("expired")
        },
    );
    let revoked = ca.issue("revoked", Leaf::loopback("revoked"));
    let crl = ca.crl("ca", &[&revoked]);
    let mut tls = serve_with(&server);
    tls.extend([
        "--client-cert-auth".into(),
        "--trusted-ca-file".into(),
        path(&ca.cert_path()),
        "--client-crl-file".into(),
        path(&crl),
    ]);
    let setup = Setup {
        tls,
        probe: client_flags(&ca, Some(&good)),
        http_too: false,
    };
    for kind in KINDS {
        let s = TlsServer::start(kind, &setup);
        let valid = s.https_as(&ca, Some(&good));
        s.expect("valid client cert", &valid, &["put", "k", "v"], ok("OK\n"));
        s.expect("valid client cert", &valid, &["get", "k"], ok("k\nv\n"));
        s.refused("no client cert", &s.https_as(&ca, None));
        s.refused(
            "client cert of another CA",
            &s.https_as(&ca, Some(&foreign)),
        );
        s.refused("expired client cert", &s.https_as(&ca, Some(&expired)));
        s.refused("revoked client cert", &s.https_as(&ca, Some(&revoked)));
        // the server still serves the valid certificate
        s.expect("valid client cert", &valid, &["get", "k"], ok("k\nv\n"));
    }
}

#[test]
fn server_cert_not_for_loopback() {
    if !testkit::bins::etcd_available("server_cert_not_for_loopback") {
        return;
    }
    let d = pki_dir();
    let ca = Ca::new(d.path(), "ca");
    let server = ca.issue(
        "elsewhere",
        Leaf {
            cn: "elsewhere",
            sans: &["elsewhere.example", "10.9.8.7"],
            expired: false,
        },
    );
    let skip = strings(&["--insecure-transport=false", "--insecure-skip-tls-verify"]);
    let setup = Setup {
        tls: serve_with(&server),
        probe: skip.clone(),
        http_too: false,
    };
    for kind in KINDS {
        let s = TlsServer::start(kind, &setup);
        // the CA is right, the name is not
        let ca_flags = client_flags(&ca, None);
        s.refused("SANs without 127.0.0.1", &s.https_as(&ca, None));
        s.refused(
            "SANs without 127.0.0.1",
            &[vec![s.bare()], ca_flags].concat(),
        );
        let localhost = format!("--endpoints=https://localhost:{}", s.port);
        s.refused(
            "SANs without localhost",
            &[vec![localhost], client_flags(&ca, None)].concat(),
        );
        // without verification the server answers
        let a = [vec![s.bare()], skip.clone()].concat();
        s.expect("verification skipped", &a, &["put", "k", "v"], ok("OK\n"));
    }
}

#[test]
fn client_cert_allowed_hostname() {
    if !testkit::bins::etcd_available("client_cert_allowed_hostname") {
        return;
    }
    let d = pki_dir();
    let ca = Ca::new(d.path(), "ca");
    let server = ca.issue("server", Leaf::loopback("server"));
    let named = |file: &str, sans: &[&str]| {
        let cn = "client";
        ca.issue(
            file,
            Leaf {
                cn,
                sans,
                expired: false,
            },
        )
    };
    let allowed = named("allowed", &["allowed.example"]);
    let other = named("other", &["other.example"]);
    let mut tls = serve_with(&server);
    tls.extend(strings(&[
        "--client-cert-auth",
        "--trusted-ca-file",
        &path(&ca.cert_path()),
        "--client-cert-allowed-hostname",
        "allowed.example",
    ]));
    let setup = Setup {
        tls,
        probe: client_flags(&ca, Some(&allowed)),
        http_too: false,
    };
    for kind in KINDS {
        let s = TlsServer::start(kind, &setup);
        let a = s.https_as(&ca, Some(&allowed));
        s.expect("allowed hostname", &a, &["put", "k", "v"], ok("OK\n"));
        s.expect("allowed hostname", &a, &["get", "k"], ok("k\nv\n"));
        let o = s.https_as(&ca, Some(&other));
        s.refused("another hostname", &o);
        s.refused("no client cert", &s.https_as(&ca, None));
    }
}

#[test]
fn http_and_https_side_by_side() {
    if !testkit::bins::etcd_available("http_and_https_side_by_side") {
        return;
    }
    let d = pki_dir();
    let ca = Ca::new(d.path(), "ca");
    let server = ca.issue("server", Leaf::loopback("server"));
    let setup = Setup {
        tls: serve_with(&server),
        probe: client_flags(&ca, None),
        http_too: true,
    };
    for kind in KINDS {
        let s = TlsServer::start(kind, &setup);
        let http_port = s.http_port.expect("an http URL");
        let http = vec![format!("--endpoints=http://127.0.0.1:{http_port}")];
        let https = s.https_as(&ca, None);
        s.expect("http URL", &http, &["put", "a", "1"], ok("OK\n"));
        s.expect("https URL", &https, &["get", "a"], ok("a\n1\n"));
        s.expect("https URL", &https, &["put", "b", "2"], ok("OK\n"));
        s.expect("http URL", &http, &["get", "b"], ok("b\n2\n"));
        // both at once, and each port keeps its own scheme
        let both = vec![
            format!(
                "--endpoints=http://127.0.0.1:{http_port},https://127.0.0.1:{}",
                s.port
            ),
            format!("--cacert={}", path(&ca.cert_path())),
        ];
        s.expect(
            "both URLs",
            &both,
            &["get", "a", "--print-value-only"],
            ok("1\n"),
        );
        s.refused("plaintext to the https port", &[s.bare()]);
        let tls_to_http = format!("--endpoints=https://127.0.0.1:{http_port}");
        s.refused(
            "TLS to the http port",
            &[tls_to_http, format!("--cacert={}", path(&ca.cert_path()))],
        );
        // the member advertises both client URLs
        let peer = format!("http://127.0.0.1:{}", peer_port(&s));
        let id = etcd_format::member::member_id(std::slice::from_ref(&peer), "etcd-cluster");
        let line = format!(
            "{id:x}, started, default, {peer}, http://127.0.0.1:{http_port},https://127.0.0.1:{}, false\n",
            s.port
        );
        s.expect("member list", &http, &["member", "list"], ok(&line));
    }
}

/// The server's peer port, read back from its command line.
fn peer_port(s: &TlsServer) -> u16 {
    let i = s.proc.args.iter().position(|a| a == "--listen-peer-urls");
    let url = &s.proc.args[i.expect("--listen-peer-urls") + 1];
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a peer port")
}

#[test]
fn auto_tls() {
    if !testkit::bins::etcd_available("auto_tls") {
        return;
    }
    let d = pki_dir();
    let ca = Ca::new(d.path(), "ca");
    let skip = strings(&["--insecure-transport=false", "--insecure-skip-tls-verify"]);
    let setup = Setup {
        tls: strings(&["--auto-tls"]),
        probe: skip.clone(),
        http_too: false,
    };
    for kind in KINDS {
        let s = TlsServer::start(kind, &setup);
        // Verification skipped: served. The https scheme needs
        // --insecure-transport=false too for etcdctl to skip verification.
        let bare_skip = [vec![s.bare()], skip.clone()].concat();
        let https_skip = [vec![s.https()], skip.clone()].concat();
        let https_ca_skip = [
            s.https_as(&ca, None),
            strings(&["--insecure-skip-tls-verify"]),
        ];
        let served: [(&str, &[String], &[&str], &str); 3] = [
            (
                "bare endpoint, skip",
                &bare_skip,
                &["put", "k", "v"],
                "OK\n",
            ),
            ("https, skip", &https_skip, &["get", "k"], "k\nv\n"),
            (
                "https, a CA and skip",
                &https_ca_skip.concat(),
                &["get", "k"],
                "k\nv\n",
            ),
        ];
        // (etcd's certificate is ECDSA P-521, which oxctl takes too)
        for (what, flags, command, out) in served {
            s.expect(what, flags, command, ok(out));
        }
        // With a CA the self-signed certificate is refused; the https
        // scheme with skip-verify alone verifies against the system roots.
        s.refused("a CA", &s.https_as(&ca, None));
        let bare_ca = [vec![s.bare()], client_flags(&ca, None)].concat();
        s.refused("a CA, bare endpoint", &bare_ca);
        let only = vec![s.https(), "--insecure-skip-tls-verify".into()];
        s.refused("https scheme and skip-verify only", &only);
    }
}

/// Replaces `to`'s files by `from`'s: written under temporary names, then
/// renamed over (the key first).
fn rotate(from: &Issued, to: &Issued) {
    for (src, dst) in [(&from.key, &to.key), (&from.cert, &to.cert)] {
        let tmp = dst.with_extension("tmp");
        std::fs::copy(src, &tmp).expect("write the new file under a temporary name");
        std::fs::rename(&tmp, dst).expect("rename the new file over the old one");
    }
}

#[test]
fn certificate_rotation_without_restart() {
    if !testkit::bins::etcd_available("certificate_rotation_without_restart") {
        return;
    }
    let d = pki_dir();
    let (ca1, ca2) = (Ca::new(d.path(), "ca1"), Ca::new(d.path(), "ca2"));
    for kind in KINDS {
        let live = ca1.issue("live", Leaf::loopback("server"));
        let next = ca2.issue("next", Leaf::loopback("server"));
        let setup = Setup {
            tls: serve_with(&live),
            probe: client_flags(&ca1, None),
            http_too: false,
        };
        let mut s = TlsServer::start(kind, &setup);
        let pid = s.proc.pid();
        let trust1 = s.https_as(&ca1, None);
        let trust2 = s.https_as(&ca2, None);
        s.expect("first CA, before", &trust1, &["put", "k", "v"], ok("OK\n"));
        s.refused("second CA, before", &trust2);
        rotate(&next, &live);
        s.expect("second CA, after", &trust2, &["get", "k"], ok("k\nv\n"));
        s.refused("first CA, after", &trust1);
        s.expect("second CA, after", &trust2, &["put", "k", "w"], ok("OK\n"));
        assert!(s.proc.is_running(), "{kind:?} stopped during the rotation");
        assert_eq!(s.proc.pid(), pid, "{kind:?} was restarted");
    }
}

/// Starts `kind` expecting it to exit non-zero, its stderr containing
/// `text` (both log it in JSON; oxcd as the error of its fatal line).
fn fails_to_start(kind: ServerKind, flags: &Flags, text: &str) {
    let (status, stderr) = testkit::run_to_exit(&kind.binary(), &flags.args());
    assert!(
        !status.success() && status.code().is_some(),
        "{kind:?} should have exited with an error, got {status}:\n{stderr}"
    );
    assert!(
        stderr.contains(text),
        "{kind:?}: {text:?} not in:\n{stderr}"
    );
    if kind == ServerKind::Oxcd {
        assert!(
            testkit::logged_error(&stderr).is_some_and(|e| e.contains(text)),
            "oxcd: no log line with the error:\n{stderr}"
        );
    }
}

#[test]
fn https_urls_without_certificates_do_not_start() {
    if !testkit::bins::etcd_available("https_urls_without_certificates_do_not_start") {
        return;
    }
    for kind in KINDS {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut f = Flags::single("default", &dir.path().join("client"));
        f.https = true;
        let text = format!(
            "TLS key/cert (--cert-file, --key-file) must be provided for client url \
             https://127.0.0.1:{} with HTTPS scheme",
            f.client_port
        );
        fails_to_start(kind, &f, &text);
        let mut f = Flags::single("default", &dir.path().join("peer"));
        f.peer_https = true;
        let text = format!(
            "cannot listen on TLS for 127.0.0.1:{}: KeyFile and CertFile are not presented",
            f.peer_port
        );
        fails_to_start(kind, &f, &text);
    }
}
