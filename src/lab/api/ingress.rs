//! The lab's stand-in for Harvester's ingress (Traefik in current Harvester,
//! rke2-ingress-nginx in older releases) on the VIP's port 443: it presents the
//! `ssl-certificates` certificate once Harvester's syncer has pointed the
//! ingress at `cattle-system/tls-ingress`, and its own certificate (as
//! Harvester's `tls-rancher-internal`) when the setting is empty; it serves
//! the protocols and TLS 1.2 ciphers of `ssl-parameters` as nginx applies
//! them (`creds::setting_values::served_tls`). It answers every request
//! 404: what matters is what a TLS dial sees.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedCipherSuite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::creds::setting_values::{ServedTls, served_tls};

/// Harvester's ingress port on the VIP.
pub const INGRESS_PORT: u16 = 443;

/// The certificate the ingress presents, switched by the ssl-certificates syncer.
#[derive(Debug)]
pub struct IngressCerts {
    internal: Arc<CertifiedKey>,
    current: RwLock<Arc<CertifiedKey>>,
    tls: RwLock<ServedTls>,
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
            tls: RwLock::new(served_tls("")),
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

    /// Serve from now on what the `ssl-parameters` value says.
    pub fn apply_ssl_parameters(&self, value: &str) {
        *self.tls.write().unwrap_or_else(|e| e.into_inner()) = served_tls(value);
    }

    /// The server configuration for the next connection; None when the
    /// parameters leave nothing to serve (every handshake then fails, as
    /// with an nginx whose protocols it cannot speak).
    fn server_config(self: &Arc<Self>) -> Option<Arc<ServerConfig>> {
        let tls = self.tls.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut provider = rustls::crypto::ring::default_provider();
        provider.cipher_suites.retain(|s| match s {
            SupportedCipherSuite::Tls13(_) => true,
            SupportedCipherSuite::Tls12(_) => tls
                .tls12_suites
                .as_ref()
                .is_none_or(|keep| keep.contains(&format!("{:?}", s.suite()).as_str())),
        });
        let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
        if tls.tls13 {
            versions.push(&rustls::version::TLS13);
        }
        if tls.tls12 {
            versions.push(&rustls::version::TLS12);
        }
        let cfg = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&versions)
            .ok()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        Some(Arc::new(cfg))
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
        // Built per connection: a new ssl-parameters value applies to the
        // next handshake, as after the ingress's restart.
        let Some(cfg) = certs.server_config() else {
            drop(tcp);
            continue;
        };
        let acceptor = TlsAcceptor::from(cfg);
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
