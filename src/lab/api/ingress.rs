//! The lab's stand-in for Harvester's ingress (Traefik in current Harvester,
//! rke2-ingress-nginx in older releases) on the VIP's port 443: it presents the
//! `ssl-certificates` certificate once Harvester's syncer has pointed the
//! ingress at `cattle-system/tls-ingress`, and its own certificate (as
//! Harvester's `tls-rancher-internal`) when the setting is empty. It answers
//! every request 404: what matters is the certificate a TLS dial sees.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// Harvester's ingress port on the VIP.
pub const INGRESS_PORT: u16 = 443;

/// The certificate the ingress presents, switched by the ssl-certificates syncer.
#[derive(Debug)]
pub struct IngressCerts {
    internal: Arc<CertifiedKey>,
    current: RwLock<Arc<CertifiedKey>>,
}

fn certified(cert_pem: &str, key_pem: &str) -> Result<Arc<CertifiedKey>> {
    let chain = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading the certificate PEM")?;
    if chain.is_empty() {
        return Err(anyhow!("no certificate in the PEM"));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .context("reading the key PEM")?
        .ok_or_else(|| anyhow!("no private key in the PEM"))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| anyhow!("the private key: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

impl IngressCerts {
    /// Starts with its own certificate for `host` (self-signed, like the
    /// internal one Harvester's ingress serves by default).
    pub fn new(host: IpAddr) -> Result<Arc<IngressCerts>> {
        let mut params = rcgen::CertificateParams::new(vec!["harvester-lab-ingress".to_string()])?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "harvester-lab-ingress");
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(host));
        let key = rcgen::KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let internal = certified(&cert.pem(), &key.serialize_pem())?;
        Ok(Arc::new(IngressCerts {
            current: RwLock::new(internal.clone()),
            internal,
        }))
    }

    /// Present `cert_pem` (the chain, leaf first) with `key_pem`. A pair the
    /// ingress cannot load leaves the certificate it presents as it was.
    pub fn present(&self, cert_pem: &str, key_pem: &str) -> Result<()> {
        let ck = certified(cert_pem, key_pem)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = ck;
        Ok(())
    }

    /// Back to its own certificate.
    pub fn reset(&self) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = self.internal.clone();
    }
}

impl ResolvesServerCert for IngressCerts {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// Accept TLS connections until `shutdown` flips (or its sender is dropped).
pub async fn serve(
    listener: TcpListener,
    certs: Arc<IngressCerts>,
    mut shutdown: watch::Receiver<bool>,
) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg =
        match ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
            Ok(b) => b.with_no_client_auth().with_cert_resolver(certs),
            Err(e) => {
                tracing::warn!("lab ingress: {e}");
                return;
            }
        };
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    loop {
        let tcp = tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let answer = async {
                let mut tls = acceptor.accept(tcp).await?;
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await?;
                tls.write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await?;
                tls.shutdown().await
            };
            let _ = tokio::time::timeout(Duration::from_secs(10), answer).await;
        });
    }
}
