//! The client TLS flags (`--cert`, `--key`, `--cacert`,
//! `--insecure-transport`, `--insecure-skip-tls-verify`, `--discovery-srv`)
//! checked and read as etcdctl's `newClientCfg` does (exit 128 on errors).

use crate::error::{CtlError, Result};
use crate::flags::Flags;

/// The client TLS settings, with the files already read and checked.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Checked against the server certificate instead of the endpoint's
    /// host when not empty (`--discovery-srv`).
    pub server_name: String,
    pub skip_verify: bool,
    pub config: crate::tls::Config,
}

/// The TLS-related flag values before the files are read.
#[derive(Debug, Default)]
pub struct SecureCfg {
    pub cert: String,
    pub key: String,
    pub cacert: String,
    pub server_name: String,
    pub insecure_transport: bool,
    pub skip_verify: bool,
}

pub fn secure_cfg(fs: &Flags) -> Result<SecureCfg> {
    let mut c = SecureCfg::default();
    for (name, slot) in [
        ("cert", &mut c.cert),
        ("key", &mut c.key),
        ("cacert", &mut c.cacert),
    ] {
        *slot = fs.string(name);
        if slot.is_empty() && fs.changed(name) {
            return Err(CtlError::BadArgs(format!(
                "empty string is passed to --{name} option"
            )));
        }
    }
    c.insecure_transport = fs.bool("insecure-transport");
    c.skip_verify = fs.bool("insecure-skip-tls-verify");
    if !fs.bool("insecure-discovery") {
        c.server_name = fs.string("discovery-srv");
    }
    Ok(c)
}

/// Go's `os.Open`/`ReadFile` error text for a path.
fn read_file(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        let what = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ if std::path::Path::new(path).is_dir() => {
                return CtlError::BadArgs(format!("read {path}: is a directory"));
            }
            _ => e.to_string(),
        };
        CtlError::BadArgs(format!("open {path}: {what}"))
    })
}

/// `newClientCfg`'s TLS part: validates and reads the files and builds the
/// rustls configuration (exit 128 on errors). `None` means plaintext.
pub fn load_tls(s: &SecureCfg) -> Result<Option<TlsFiles>> {
    let any = !s.cert.is_empty()
        || !s.key.is_empty()
        || !s.cacert.is_empty()
        || !s.server_name.is_empty();
    let mut identity = None;
    if !s.cert.is_empty() || !s.key.is_empty() {
        if s.cert.is_empty() || s.key.is_empty() {
            return Err(CtlError::BadArgs(format!(
                "KeyFile and CertFile must both be present[key: {}, cert: {}]",
                s.key, s.cert
            )));
        }
        let cert = read_file(&s.cert)?;
        let key = read_file(&s.key)?;
        identity = Some(crate::tls::parse_identity(&cert, &key).map_err(CtlError::BadArgs)?);
    }
    let mut roots = None;
    if !s.cacert.is_empty() {
        let ca = read_file(&s.cacert)?;
        roots = Some(crate::tls::parse_ca(&s.cacert, &ca).map_err(CtlError::BadArgs)?);
    }
    if !any && s.insecure_transport {
        return Ok(None);
    }
    let config =
        crate::tls::client_config(roots, identity, s.skip_verify).map_err(CtlError::BadArgs)?;
    Ok(Some(TlsFiles {
        server_name: s.server_name.clone(),
        skip_verify: s.skip_verify,
        config,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--cacert` as the global flags declare it.
    #[derive(clap::Args)]
    #[allow(dead_code)]
    struct CaFlag {
        #[arg(long, default_value = "")]
        cacert: crate::flags::Text,
    }

    #[test]
    fn tls_flag_checks() {
        let args = vec!["--cacert=".to_string()];
        let fs = crate::parse::parse_with(crate::parse::own_flags::<CaFlag>("get"), args).unwrap();
        assert_eq!(
            secure_cfg(&fs).unwrap_err().to_string(),
            "empty string is passed to --cacert option"
        );
        let s = SecureCfg {
            cert: "/etc/ssl/etcd/client.crt".into(),
            insecure_transport: true,
            ..SecureCfg::default()
        };
        assert_eq!(
            load_tls(&s).unwrap_err().to_string(),
            "KeyFile and CertFile must both be present[key: , cert: /etc/ssl/etcd/client.crt]"
        );
        let s = SecureCfg {
            cacert: "/nonexistent/ca.crt".into(),
            insecure_transport: true,
            ..SecureCfg::default()
        };
        let e = load_tls(&s).unwrap_err();
        assert_eq!(
            e.to_string(),
            "open /nonexistent/ca.crt: no such file or directory"
        );
        assert_eq!(e.exit_code(), 128);
    }
}
