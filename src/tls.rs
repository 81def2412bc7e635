//! Client TLS on rustls (ring provider, no OpenSSL): the PEM checks that
//! run while the client configuration is built (exit 128 on errors), the
//! rustls client configuration, and the tonic connector that dials TCP and
//! runs the handshake. One connector serves every TLS case so that
//! `--insecure-skip-tls-verify` can swap in a permissive certificate
//! verifier.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tonic::transport::Uri;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// A ready rustls client configuration.
pub type Config = Arc<ClientConfig>;

/// A client certificate chain with its private key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn has_pem_marker(data: &[u8]) -> bool {
    data.windows(10).any(|w| w == b"-----BEGIN")
}

/// The recognised PEM sections of `data`, in order, up to the first
/// malformed one.
fn sections(data: &[u8]) -> Vec<(SectionKind, Vec<u8>)> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(data)
        .map_while(|r| r.ok())
        .collect()
}

fn is_key(kind: SectionKind) -> bool {
    matches!(
        kind,
        SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey
    )
}

/// Parses `--cert`/`--key` contents and checks that they belong together.
/// The error texts follow what etcdctl reports for the same inputs.
pub fn parse_identity(cert: &[u8], key: &[u8]) -> Result<Identity, String> {
    if !has_pem_marker(cert) {
        return Err("tls: failed to find any PEM data in certificate input".into());
    }
    let cert_secs = sections(cert);
    let chain: Vec<CertificateDer<'static>> = cert_secs
        .iter()
        .filter(|(k, _)| *k == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der.clone()))
        .collect();
    if chain.is_empty() {
        if cert_secs.iter().any(|(k, _)| is_key(*k)) {
            return Err("tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched".into());
        }
        return Err("tls: failed to find \"CERTIFICATE\" PEM block in certificate input".into());
    }
    if !has_pem_marker(key) {
        return Err("tls: failed to find any PEM data in key input".into());
    }
    let key_secs = sections(key);
    let Some((kind, der)) = key_secs.iter().find(|(k, _)| is_key(*k)) else {
        if key_secs.iter().any(|(k, _)| *k == SectionKind::Certificate) {
            return Err(
                "tls: found a certificate rather than a key in the PEM for the private key".into(),
            );
        }
        return Err(
            "tls: failed to find PEM block with type ending in \"PRIVATE KEY\" in key input".into(),
        );
    };
    let key = match kind {
        SectionKind::RsaPrivateKey => PrivateKeyDer::Pkcs1(der.clone().into()),
        SectionKind::EcPrivateKey => PrivateKeyDer::Sec1(der.clone().into()),
        _ => PrivateKeyDer::Pkcs8(der.clone().into()),
    };
    let id = Identity { chain, key };
    check_pair(&id)?;
    Ok(id)
}

/// Loads the key and compares it with the leaf certificate's public key.
fn check_pair(id: &Identity) -> Result<(), String> {
    let p = provider();
    let signing = p
        .key_provider
        .load_private_key(id.key.clone_key())
        .map_err(|e| format!("tls: failed to parse private key: {}", rustls_text(&e)))?;
    let key_spki = signing.public_key().map(|k| k.as_ref().to_vec());
    let ck = rustls::sign::CertifiedKey::new(id.chain.clone(), signing);
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(()),
        Err(rustls::Error::InconsistentKeys(_)) => {
            // The key's algorithm identifier missing from the certificate
            // means another key type (an EC key for an RSA certificate).
            let same_type = key_spki
                .as_ref()
                .and_then(|spki| first_element(spki))
                .map_or(true, |alg| contains(id.chain[0].as_ref(), alg));
            Err(match same_type {
                true => "tls: private key does not match public key".into(),
                false => "tls: private key type does not match public key type".into(),
            })
        }
        Err(_) => Err("x509: malformed certificate in certificate input".into()),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The length of a DER header (tag and length) and the content length.
fn der_header(b: &[u8]) -> Option<(usize, usize)> {
    let first = *b.get(1)?;
    if first < 0x80 {
        return Some((2, first as usize));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return None;
    }
    let len = b
        .get(2..2 + n)?
        .iter()
        .fold(0usize, |acc, &x| (acc << 8) | x as usize);
    Some((2 + n, len))
}

/// The first element (tag, length and content) inside a DER SEQUENCE:
/// the AlgorithmIdentifier of a SubjectPublicKeyInfo.
fn first_element(seq: &[u8]) -> Option<&[u8]> {
    let (outer, _) = der_header(seq)?;
    let inner = seq.get(outer..)?;
    let (h, len) = der_header(inner)?;
    inner.get(..h + len)
}

/// Parses the `--cacert` bundle. Like etcdctl, every PEM block must be a
/// certificate; a file without any PEM block yields an empty pool (and so
/// a failing handshake later).
pub fn parse_ca(path: &str, data: &[u8]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for (kind, der) in sections(data) {
        if kind != SectionKind::Certificate {
            return Err(format!(
                "x509: malformed certificate in {path}: PEM block is not a CERTIFICATE"
            ));
        }
        roots
            .add(CertificateDer::from(der))
            .map_err(|_| format!("x509: malformed certificate in {path}"))?;
    }
    Ok(roots)
}

/// The system trust store (used when no `--cacert` is given).
fn native_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

/// Builds the client configuration: `roots` (the system store when
/// `None`), an optional client identity, and no server verification at
/// all with `skip_verify`.
pub fn client_config(
    roots: Option<RootCertStore>,
    identity: Option<Identity>,
    skip_verify: bool,
) -> Result<Config, String> {
    let p = provider();
    let builder = ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| rustls_text(&e))?;
    let builder = if skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(p)))
    } else {
        builder.with_root_certificates(roots.unwrap_or_else(native_roots))
    };
    let mut cfg = match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain, id.key)
            .map_err(|e| format!("tls: {}", rustls_text(&e)))?,
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(cfg))
}

/// The configuration for an `https://` endpoint when no TLS flag was
/// given: system roots, full verification, no client certificate.
pub fn default_config() -> Result<Config, String> {
    client_config(None, None, false)
}

fn rustls_text(e: &rustls::Error) -> String {
    e.to_string()
}

/// A handshake signature ring cannot check (an ECDSA P-521 key, what
/// etcd's `--auto-tls` makes) is taken as it is when verification is
/// skipped: nothing authenticates that server anyway.
fn unless_unsupported(
    r: Result<HandshakeSignatureValid, rustls::Error>,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    use rustls::CertificateError::*;
    match r {
        Err(rustls::Error::InvalidCertificate(
            UnsupportedSignatureAlgorithmContext { .. }
            | UnsupportedSignatureAlgorithmForPublicKeyContext { .. },
        )) => Ok(HandshakeSignatureValid::assertion()),
        other => other,
    }
}

/// `--insecure-skip-tls-verify`: any certificate chain and name is
/// accepted; handshake signatures are still checked against the
/// presented certificate where ring can (see [`unless_unsupported`]).
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
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
        unless_unsupported(rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        unless_unsupported(rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        ))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let mut s = self.0.signature_verification_algorithms.supported_schemes();
        s.push(SignatureScheme::ECDSA_NISTP521_SHA512);
        s
    }
}

/// The host of an endpoint URI without IPv6 brackets.
pub fn uri_host(uri: &Uri) -> &str {
    uri.host()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
}

/// A tonic connector: TCP to the URI's host and port, then the TLS
/// handshake with `server_name`.
#[derive(Clone)]
pub struct Connector {
    config: Config,
    server_name: ServerName<'static>,
}

impl Connector {
    /// `server_name` is checked against the server certificate (a DNS name
    /// or an IP address).
    pub fn new(config: Config, server_name: &str) -> Result<Connector, String> {
        let server_name = ServerName::try_from(server_name.to_string())
            .map_err(|e| format!("invalid TLS server name {server_name:?}: {e}"))?;
        Ok(Connector {
            config,
            server_name,
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let host = uri_host(&uri).to_string();
        let port = uri.port_u16().unwrap_or(443);
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let server_name = self.server_name.clone();
        Box::pin(async move {
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let tls = connector.connect(server_name, tcp).await?;
            Ok(TokioIo::new(tls))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_errors() {
        let e = |c: &[u8], k: &[u8]| parse_identity(c, k).err().unwrap();
        assert_eq!(
            e(b"junk", b"junk"),
            "tls: failed to find any PEM data in certificate input"
        );
        let key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(e(key, key).contains("PEM inputs may have been switched"));
        assert_eq!(
            e(cert, b"x"),
            "tls: failed to find any PEM data in key input"
        );
        assert_eq!(
            e(cert, cert),
            "tls: found a certificate rather than a key in the PEM for the private key"
        );
        assert!(e(cert, key).starts_with("tls: failed to parse private key"));
        assert!(parse_ca("/ca", key)
            .unwrap_err()
            .starts_with("x509: malformed"));
        assert!(parse_ca("/ca", cert)
            .unwrap_err()
            .starts_with("x509: malformed"));
        assert!(parse_ca("/ca", b"no pem").unwrap().is_empty());
    }
}
