//! The TLS flags of both sides as [`TlsInfo`]s, and etcd's checks of the
//! listen URLs' schemes against them.

use super::{url_string, Flags};
use crate::tls::TlsInfo;

/// Go's `strconv.ParseBool`, for etcd's boolean flags given as `--flag=x`.
pub(super) fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "parse error: strconv.ParseBool: parsing {s:?}: invalid syntax"
        )),
    }
}

fn one_or_none(v: &Option<String>) -> Vec<String> {
    v.iter().filter(|s| !s.is_empty()).cloned().collect()
}

/// The two sides' TLS settings from the flags, and etcd's checks of the
/// URL schemes against them: an `https` URL needs a certificate (or auto
/// TLS); an `http` URL ignores one (etcd warns and so does oxcd).
type TlsSides = (TlsInfo, TlsInfo, bool, bool);

pub(super) fn tls_sides(
    f: &Flags,
    client: &[url::Url],
    peer: &[url::Url],
) -> Result<TlsSides, String> {
    let suites: Vec<String> = f
        .cipher_suites
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let client_tls = TlsInfo {
        cert_file: f.cert_file.clone(),
        key_file: f.key_file.clone(),
        trusted_ca_file: f.trusted_ca_file.clone(),
        client_cert_auth: f.client_cert_auth.unwrap_or(false),
        crl_file: f.client_crl_file.clone(),
        allowed_cns: Vec::new(),
        allowed_hostnames: one_or_none(&f.client_cert_allowed_hostname),
        skip_client_san: true,
        cipher_suites: suites.clone(),
        self_signed: false,
    };
    let peer_tls = TlsInfo {
        cert_file: f.peer_cert_file.clone(),
        key_file: f.peer_key_file.clone(),
        trusted_ca_file: f.peer_trusted_ca_file.clone(),
        client_cert_auth: f.peer_client_cert_auth.unwrap_or(false),
        crl_file: f.peer_crl_file.clone(),
        allowed_cns: one_or_none(&f.peer_cert_allowed_cn),
        allowed_hostnames: one_or_none(&f.peer_cert_allowed_hostname),
        skip_client_san: f
            .experimental_peer_skip_client_san_verification
            .unwrap_or(false),
        cipher_suites: suites,
        self_signed: false,
    };
    for (info, what) in [
        (&client_tls, "--cert-file/--key-file"),
        (&peer_tls, "--peer-cert-file/--peer-key-file"),
    ] {
        if info.cert_file.is_some() != info.key_file.is_some() {
            return Err(format!(
                "{what}: both a certificate and a key file are needed"
            ));
        }
    }
    // auto TLS only stands in when no certificate is given (as etcd)
    let auto_tls = f.auto_tls.unwrap_or(false) && client_tls.is_empty();
    let peer_auto_tls = f.peer_auto_tls.unwrap_or(false) && peer_tls.is_empty();
    for u in client {
        if u.scheme() == "https" && client_tls.is_empty() && !auto_tls {
            return Err(format!(
                "TLS key/cert (--cert-file, --key-file) must be provided for client url {} with HTTPS scheme",
                url_string(u)
            ));
        }
    }
    for u in peer {
        if u.scheme() == "https" && peer_tls.is_empty() && !peer_auto_tls {
            return Err(format!(
                "cannot listen on TLS for {}:{}: KeyFile and CertFile are not presented",
                u.host_str().unwrap_or(""),
                u.port().unwrap_or(0)
            ));
        }
    }
    Ok((client_tls, peer_tls, auto_tls, peer_auto_tls))
}

#[cfg(test)]
mod tests {
    use crate::config::tests::cfg;

    const HTTPS_CLIENT: [&str; 4] = [
        "--listen-client-urls=https://127.0.0.1:2379",
        "--advertise-client-urls=https://127.0.0.1:2379",
        "--listen-peer-urls=http://127.0.0.1:2380",
        "--initial-advertise-peer-urls=http://127.0.0.1:2380",
    ];

    #[test]
    fn https_needs_a_certificate_or_auto_tls() {
        let e = cfg(&HTTPS_CLIENT).unwrap_err();
        assert_eq!(
            e,
            "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme"
        );
        let mut auto = HTTPS_CLIENT.to_vec();
        auto.push("--auto-tls");
        let c = cfg(&auto).unwrap();
        assert!(c.auto_tls && c.client_tls.is_empty());
        let e = cfg(&[
            "--listen-peer-urls=https://127.0.0.1:2380",
            "--initial-advertise-peer-urls=https://127.0.0.1:2380",
        ])
        .unwrap_err();
        assert_eq!(
            e,
            "cannot listen on TLS for 127.0.0.1:2380: KeyFile and CertFile are not presented"
        );
    }

    #[test]
    fn flags_become_tls_infos() {
        let mut a = HTTPS_CLIENT.to_vec();
        a.extend([
            "--cert-file=/c",
            "--key-file=/k",
            "--trusted-ca-file=/ca",
            "--client-cert-auth",
            "--peer-cert-allowed-cn=member",
            "--peer-client-cert-auth=true",
            "--experimental-peer-skip-client-san-verification=1",
            "--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "--auto-tls",
        ]);
        let c = cfg(&a).unwrap();
        assert!(c.client_tls.client_cert_auth);
        // a certificate given: auto TLS does not stand in
        assert!(!c.auto_tls);
        assert_eq!(c.client_tls.cipher_suites.len(), 2);
        assert_eq!(c.peer_tls.allowed_cns, vec!["member".to_string()]);
        assert!(c.peer_tls.client_cert_auth && c.peer_tls.skip_client_san);
        let mut half = HTTPS_CLIENT.to_vec();
        half.push("--cert-file=/c");
        assert!(cfg(&half)
            .unwrap_err()
            .contains("both a certificate and a key"));
        let e = cfg(&["--client-cert-auth=maybe"]).unwrap_err();
        assert!(e.contains("invalid syntax"), "{e}");
    }

    #[test]
    fn auth_flags() {
        assert!(cfg(&["--bcrypt-cost=3"])
            .unwrap_err()
            .contains("bcrypt-cost"));
        assert!(cfg(&["--bcrypt-cost=4"]).is_ok());
        assert!(cfg(&["--auth-token=bogus"])
            .unwrap_err()
            .contains("unknown token type"));
        assert!(cfg(&["--auth-token=jwt,sign-method=RS256"]).is_err());
    }
}
