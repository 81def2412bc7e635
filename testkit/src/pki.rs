//! Throwaway certificates for the TLS tests, made with rcgen: a CA per
//! [`Ca`], certificates it issues (any CN, SANs and validity, expired ones
//! included), and CRLs; and ES256 key pairs for JWT auth tokens. Files are
//! written as PEM into the CA's (or the given) directory.

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams,
    SerialNumber,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static SERIAL: AtomicU64 = AtomicU64::new(1000);

/// A certificate authority, its files under `dir`: `<name>.crt`, `<name>.key`.
pub struct Ca {
    pub name: String,
    dir: PathBuf,
    cert: Certificate,
    key: KeyPair,
}

/// What to issue.
pub struct Leaf<'a> {
    pub cn: &'a str,
    /// IP addresses and DNS names
    pub sans: &'a [&'a str],
    /// already expired
    pub expired: bool,
}

impl Leaf<'_> {
    /// A server-and-client certificate for 127.0.0.1 and localhost.
    pub fn loopback(cn: &str) -> Leaf<'_> {
        Leaf {
            cn,
            sans: &["127.0.0.1", "localhost"],
            expired: false,
        }
    }
}

/// An issued certificate's files.
#[derive(Clone, Debug)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub serial: u64,
}

fn write(path: &Path, data: &str) {
    std::fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

impl Ca {
    /// A new CA named `name` (its CN), writing into `dir`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2090, 1, 1);
        let key = KeyPair::generate().expect("CA key");
        let cert = p.self_signed(&key).expect("CA certificate");
        write(&dir.join(format!("{name}.crt")), &cert.pem());
        write(&dir.join(format!("{name}.key")), &key.serialize_pem());
        Ca {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            cert,
            key,
        }
    }

    /// The CA certificate's path.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(format!("{}.crt", self.name))
    }

    /// Issues `leaf` as `<file>.crt` / `<file>.key`, for both server and
    /// client use.
    pub fn issue(&self, file: &str, leaf: Leaf<'_>) -> Issued {
        let sans: Vec<String> = leaf.sans.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(sans).expect("leaf parameters");
        p.distinguished_name.push(DnType::CommonName, leaf.cn);
        let serial = SERIAL.fetch_add(1, Ordering::SeqCst);
        p.serial_number = Some(SerialNumber::from(serial));
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        if leaf.expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        } else {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2090, 1, 1);
        }
        let key = KeyPair::generate().expect("leaf key");
        let cert = p
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf certificate");
        let issued = Issued {
            cert: self.dir.join(format!("{file}.crt")),
            key: self.dir.join(format!("{file}.key")),
            serial,
        };
        write(&issued.cert, &cert.pem());
        write(&issued.key, &key.serialize_pem());
        issued
    }

    /// A CRL revoking `revoked`, written to `<file>.crl`.
    pub fn crl(&self, file: &str, revoked: &[&Issued]) -> PathBuf {
        let params = CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2090, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|i| RevokedCertParams {
                    serial_number: SerialNumber::from(i.serial),
                    revocation_time: rcgen::date_time_ymd(2024, 1, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&self.cert, &self.key)
            .expect("CRL signature");
        let path = self.dir.join(format!("{file}.crl"));
        write(&path, &crl.pem().expect("CRL PEM"));
        path
    }
}

/// An ECDSA P-256 key pair for signing JWTs (`sign-method=ES256`), written
/// into `dir` as `<name>.key` (the private key, PKCS#8 PEM) and
/// `<name>.pub` (the public key, SPKI PEM): (private, public).
pub fn es256_keys(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().expect("P-256 key");
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    write(&private, &key.serialize_pem());
    write(&public, &key.public_key_pem());
    (private, public)
}
