//! What Harvester's auto-rotate-rke2-certs controller does to learn when
//! the control plane's certificates expire: a TLS dial to each apiserver
//! endpoint without verifying (Go's `InsecureSkipVerify`), keeping the
//! earliest NotAfter among the certificates the server presents.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use time::OffsetDateTime;

/// Accepts any certificate: the dial only reads what is presented.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

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

/// The earliest NotAfter among the certificates `addr` presents.
pub async fn earliest_not_after(addr: SocketAddr) -> Result<OffsetDateTime> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let dial = async {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = ServerName::IpAddress(addr.ip().into());
        connector.connect(name, tcp).await
    };
    let tls = tokio::time::timeout(Duration::from_secs(5), dial)
        .await
        .map_err(|_| anyhow!("dialing {addr}: timed out"))?
        .with_context(|| format!("dialing {addr}"))?;
    let (_, conn) = tls.get_ref();
    let certs = conn
        .peer_certificates()
        .ok_or_else(|| anyhow!("{addr} presented no certificate"))?;
    let mut earliest: Option<OffsetDateTime> = None;
    for der in certs {
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| anyhow!("{addr}: parsing a presented certificate: {e}"))?;
        let t = OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())?;
        earliest = Some(earliest.map_or(t, |e| e.min(t)));
    }
    earliest.ok_or_else(|| anyhow!("{addr} presented no certificate"))
}
