use super::checks::{is_allowed, valid_for};
use super::*;
use testkit::pki::{Ca, Leaf};

#[test]
fn hostnames_and_common_names() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let leaf = ca.issue(
        "m1",
        Leaf {
            cn: "member-1",
            sans: &["10.0.0.1", "*.etcd.example", "m1.local"],
            expired: false,
        },
    );
    let der = certs(&leaf.cert).unwrap().remove(0);
    let der = der.as_ref();
    assert!(valid_for(der, "10.0.0.1"));
    assert!(!valid_for(der, "10.0.0.2"));
    assert!(valid_for(der, "a.etcd.example"));
    assert!(valid_for(der, "A.ETCD.example."));
    assert!(!valid_for(der, "a.b.etcd.example"));
    assert!(!valid_for(der, "etcd.example"));
    assert!(valid_for(der, "m1.local"));
    // no fallback to the common name, as Go
    assert!(!valid_for(der, "member-1"));
    assert_eq!(common_name(der).as_deref(), Some("member-1"));
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(is_allowed(der, &[], &[]));
    assert!(is_allowed(der, &s(&["member-1"]), &[]));
    assert!(!is_allowed(der, &s(&["member-2"]), &[]));
    assert!(is_allowed(der, &s(&["member-2"]), &s(&["m1.local"])));
    assert!(!is_allowed(der, &[], &s(&["m2.local"])));
}

#[test]
fn cipher_suites_by_go_name() {
    let p = provider(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into()]).unwrap();
    // the one TLS 1.2 suite asked for, and TLS 1.3's
    assert!(p.cipher_suites.iter().all(|s| {
        s.version() == &rustls::version::TLS13
            || format!("{:?}", s.suite()) == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    }));
    assert!(provider(&["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305".into()]).is_ok());
    let e = provider(&["TLS_RSA_WITH_AES_128_CBC_SHA".into()]).unwrap_err();
    assert!(e.0.contains("not offered by oxcd"), "{e}");
    let e = provider(&["nonsense".into()]).unwrap_err();
    assert_eq!(e.0, "unexpected TLS cipher suite \"nonsense\"");
}

#[test]
fn bad_files_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let a = ca.issue("a", Leaf::loopback("a"));
    let b = ca.issue("b", Leaf::loopback("b"));
    let info = |cert: &Path, key: &Path| TlsInfo {
        cert_file: Some(cert.into()),
        key_file: Some(key.into()),
        ..TlsInfo::default()
    };
    assert!(ServerTls::new(info(&a.cert, &a.key)).is_ok());
    // key of another certificate
    assert!(ServerTls::new(info(&a.cert, &b.key)).is_err());
    // files switched, missing
    assert!(ServerTls::new(info(&a.key, &a.cert)).is_err());
    let e = ServerTls::new(info(&dir.path().join("none.crt"), &a.key))
        .err()
        .unwrap();
    assert!(e.0.starts_with("open "), "{e}");
    // cert auth without a CA
    let mut i = info(&a.cert, &a.key);
    i.client_cert_auth = true;
    assert!(ServerTls::new(i).is_err());
}

#[test]
fn rotated_files_are_reloaded_and_broken_ones_keep_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let a = ca.issue("a", Leaf::loopback("a"));
    let cert = dir.path().join("server.crt");
    let key = dir.path().join("server.key");
    std::fs::copy(&a.cert, &cert).unwrap();
    std::fs::copy(&a.key, &key).unwrap();
    let tls = ServerTls::new(TlsInfo {
        cert_file: Some(cert.clone()),
        key_file: Some(key.clone()),
        ..TlsInfo::default()
    })
    .unwrap();
    let first = tls.config();
    assert!(
        Arc::ptr_eq(&first, &tls.config()),
        "unchanged files: same config"
    );
    // a half-written certificate: the loaded one stays
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").unwrap();
    assert!(Arc::ptr_eq(&first, &tls.config()));
    // the rotation completes: a new configuration
    let b = ca.issue("b", Leaf::loopback("b"));
    std::fs::copy(&b.key, &key).unwrap();
    std::fs::copy(&b.cert, &cert).unwrap();
    assert!(!Arc::ptr_eq(&first, &tls.config()));
}

#[test]
fn auto_tls_makes_a_certificate_once() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = dir.path().join("fixtures/client");
    let info = self_signed(&fixtures, &["127.0.0.1".into(), "localhost".into()], 1).unwrap();
    assert!(info.self_signed);
    let pem = std::fs::read(fixtures.join("cert.pem")).unwrap();
    let der = certs(&fixtures.join("cert.pem")).unwrap().remove(0);
    assert!(valid_for(der.as_ref(), "127.0.0.1"));
    assert!(valid_for(der.as_ref(), "localhost"));
    ServerTls::new(info.clone()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(fixtures.join("key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // a restart reuses it
    self_signed(&fixtures, &["127.0.0.1".into()], 1).unwrap();
    assert_eq!(std::fs::read(fixtures.join("cert.pem")).unwrap(), pem);
}

/// A handshake in memory between `server` and a client presenting `cert`
/// (trusting `ca`): whether both sides complete it.
fn handshake(server: &ServerTls, ca: &Path, cert: &Path, key: &Path) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client_info = TlsInfo {
            cert_file: Some(cert.into()),
            key_file: Some(key.into()),
            trusted_ca_file: Some(ca.into()),
            ..TlsInfo::default()
        };
        let connector = tokio_rustls::TlsConnector::from(build_client(&client_info).unwrap());
        let acceptor = tokio_rustls::TlsAcceptor::from(server.config());
        let (a, b) = tokio::io::duplex(64 * 1024);
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let (c, s) = tokio::join!(connector.connect(name, a), acceptor.accept(b));
        // TLS 1.3: the client may finish before the server refuses it
        c.is_ok() && s.is_ok()
    })
}

#[test]
fn allowed_common_names_and_hostnames_in_a_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let server_cert = ca.issue("server", Leaf::loopback("server"));
    let peer = ca.issue("peer", Leaf::loopback("peer"));
    let other = ca.issue(
        "other",
        Leaf {
            cn: "intruder",
            sans: &["intruder.example"],
            expired: false,
        },
    );
    let server = |cns: &[&str], hosts: &[&str]| {
        ServerTls::new(TlsInfo {
            cert_file: Some(server_cert.cert.clone()),
            key_file: Some(server_cert.key.clone()),
            trusted_ca_file: Some(ca.cert_path()),
            client_cert_auth: true,
            allowed_cns: cns.iter().map(|s| s.to_string()).collect(),
            allowed_hostnames: hosts.iter().map(|s| s.to_string()).collect(),
            ..TlsInfo::default()
        })
        .unwrap()
    };
    let ok = |s: &ServerTls, who: &testkit::pki::Issued| {
        handshake(s, &ca.cert_path(), &who.cert, &who.key)
    };
    let any = server(&[], &[]);
    assert!(ok(&any, &peer) && ok(&any, &other));
    let by_cn = server(&["peer"], &[]);
    assert!(ok(&by_cn, &peer));
    assert!(!ok(&by_cn, &other), "a CN not allowed is refused");
    let by_host = server(&[], &["intruder.example"]);
    assert!(ok(&by_host, &other));
    assert!(!ok(&by_host, &peer), "a hostname not allowed is refused");
}
