//! What etcd checks of a certificate beyond its chain: the allowed common
//! names and hostnames (`--peer-cert-allowed-cn`, `--*-cert-allowed-hostname`),
//! a peer certificate's SAN against the address it connects from, and the
//! common name that stands for the user under client-certificate auth.

use super::TlsInfo;
use std::net::IpAddr;
use std::sync::Arc;
use tokio_rustls::rustls;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use x509_parser::extensions::GeneralName;

/// The names a certificate is valid for: (DNS names, IP addresses).
fn sans(der: &[u8]) -> Option<(Vec<String>, Vec<IpAddr>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => dns.push(d.to_ascii_lowercase()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).ok()?)),
                    16 => ips.push(IpAddr::from(<[u8; 16]>::try_from(*b).ok()?)),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Some((dns, ips))
}

/// The subject's common name, if the certificate has one.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// Go's `Certificate.VerifyHostname`: an IP against the IP SANs, a name
/// against the DNS SANs (a leading `*.` matches one label); no fallback to
/// the common name.
pub(super) fn valid_for(der: &[u8], host: &str) -> bool {
    let Some((dns, ips)) = sans(der) else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ips.contains(&ip);
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    dns.iter().any(|d| match d.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
        None => d.trim_end_matches('.') == host,
    })
}

/// Is the verified end-entity certificate one of those allowed? With
/// neither list set, any verified certificate is.
pub(super) fn is_allowed(der: &[u8], cns: &[String], hosts: &[String]) -> bool {
    if cns.is_empty() && hosts.is_empty() {
        return true;
    }
    if !cns.is_empty() {
        if let Some(cn) = common_name(der) {
            if cns.contains(&cn) {
                return true;
            }
        }
    }
    hosts.iter().any(|h| valid_for(der, h))
}

/// etcd's peer SAN check: a certificate that names IPs or hosts must name
/// the address the connection comes from (directly, or by a DNS name that
/// resolves to it). One that names nothing passes.
pub async fn check_peer_san(der: &[u8], remote: IpAddr) -> Result<(), String> {
    let Some((dns, ips)) = sans(der) else {
        return Err("cannot parse the peer certificate".into());
    };
    if dns.is_empty() && ips.is_empty() || ips.contains(&remote) {
        return Ok(());
    }
    for name in &dns {
        if let Ok(addrs) = tokio::net::lookup_host((name.as_str(), 0)).await {
            if addrs.map(|a| a.ip()).any(|ip| ip == remote) {
                return Ok(());
            }
        }
    }
    Err(format!(
        "the peer certificate's SANs ({}) do not include the remote address {remote}",
        dns.iter()
            .cloned()
            .chain(ips.iter().map(|i| i.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// A client-certificate verifier that, once the chain is verified, checks
/// the allowed common names and hostnames.
pub(super) fn allowed(
    inner: Arc<dyn ClientCertVerifier>,
    info: &TlsInfo,
) -> Arc<dyn ClientCertVerifier> {
    if info.allowed_cns.is_empty() && info.allowed_hostnames.is_empty() {
        return inner;
    }
    Arc::new(Allowed {
        inner,
        cns: info.allowed_cns.clone(),
        hosts: info.allowed_hostnames.clone(),
    })
}

#[derive(Debug)]
struct Allowed {
    inner: Arc<dyn ClientCertVerifier>,
    cns: Vec<String>,
    hosts: Vec<String>,
}

impl ClientCertVerifier for Allowed {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let ok = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if is_allowed(end_entity.as_ref(), &self.cns, &self.hosts) {
            Ok(ok)
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Accepts any server certificate (peers with self-signed certificates);
/// the handshake signatures are still checked.
#[derive(Debug)]
pub(super) struct AcceptAny(pub Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
