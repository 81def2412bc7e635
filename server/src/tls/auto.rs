//! `--auto-tls` / `--peer-auto-tls`: a self-signed certificate for the
//! listen URLs' hosts, kept under the data dir (`fixtures/client` or
//! `fixtures/peer`, as etcd) and reused on restart while it is valid.

use super::{TlsError, TlsInfo};
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The certificate and key for `hosts` in `dir`, made if missing, valid
/// for `years` from now.
pub fn self_signed(dir: &Path, hosts: &[String], years: u32) -> Result<TlsInfo, TlsError> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    let info = TlsInfo {
        cert_file: Some(cert_path.clone()),
        key_file: Some(key_path.clone()),
        self_signed: true,
        ..TlsInfo::default()
    };
    if cert_path.exists() && key_path.exists() {
        return Ok(info);
    }
    let err = |what: &str, e: &dyn std::fmt::Display| TlsError(format!("auto TLS: {what}: {e}"));
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| err("parameters", &e))?;
    for h in hosts {
        let h = h.trim_start_matches('[').trim_end_matches(']');
        let san = match h.parse::<IpAddr>() {
            Ok(ip) => rcgen::SanType::IpAddress(ip),
            Err(_) => {
                rcgen::SanType::DnsName(h.to_string().try_into().map_err(|e| err("host name", &e))?)
            }
        };
        if !params.subject_alt_names.contains(&san) {
            params.subject_alt_names.push(san);
        }
    }
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "etcd");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + now;
    params.not_after = epoch + now + Duration::from_secs(u64::from(years.max(1)) * 365 * 86400);
    let key = rcgen::KeyPair::generate().map_err(|e| err("key", &e))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| err("certificate", &e))?;
    std::fs::create_dir_all(dir).map_err(|e| err(&dir.display().to_string(), &e))?;
    // the key first and private: a crash leaves no certificate without it
    write_private(&key_path, key.serialize_pem().as_bytes())
        .map_err(|e| err(&key_path.display().to_string(), &e))?;
    std::fs::write(&cert_path, cert.pem())
        .map_err(|e| err(&cert_path.display().to_string(), &e))?;
    Ok(info)
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}
