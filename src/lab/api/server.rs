//! TLS termination and authentication. Client certificates are optional at
//! the TLS layer (a bearer token is the other way in), so the handshake
//! accepts a client without one, and each request is then tagged with how its
//! caller proved who it is.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How a request's caller authenticated; a request extension for the router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// A client certificate signed by the client CA (verified in the handshake).
    ClientCert,
    /// `Authorization: Bearer <the lab's token>`.
    BearerToken,
    /// Neither: every request is answered 401.
    Anonymous,
}

/// The bearer token, kept out of Debug output.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl Token {
    pub fn new(t: &str) -> Self {
        Token(Arc::from(t))
    }

    /// Compare without stopping at the first differing byte.
    fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        if a.is_empty() || a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

pub fn tls_config(cert_pem: &str, key_pem: &str, client_ca_pem: &str) -> Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading the serving certificate PEM")?;
    if chain.is_empty() {
        return Err(anyhow!("the serving certificate PEM holds no certificate"));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .context("reading the serving key PEM")?
        .ok_or_else(|| anyhow!("the serving key PEM holds no private key"))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls_pemfile::certs(&mut client_ca_pem.as_bytes()) {
        roots
            .add(ca.context("reading the client CA PEM")?)
            .context("adding the client CA")?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .context("building the client certificate verifier")?;
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("serving certificate and key")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

fn bearer(req: &http::Request<Incoming>) -> Option<&str> {
    let v = req
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Accept connections until `shutdown` flips; each connection is dropped
/// (watches included) when it does.
pub async fn accept_loop(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    token: Token,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("lab API accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let (acceptor, router, token, mut shutdown) = (
            acceptor.clone(),
            router.clone(),
            token.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "lab API TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => return,
                };
            // The verifier has checked any presented chain against the client CA.
            let has_cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .is_some_and(|c| !c.is_empty());
            let svc = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                let auth = if has_cert {
                    Auth::ClientCert
                } else if bearer(&req).is_some_and(|t| token.matches(t)) {
                    Auth::BearerToken
                } else {
                    Auth::Anonymous
                };
                req.extensions_mut().insert(auth);
                router.clone().oneshot(req.map(Body::new))
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(tls), svc);
            tokio::select! {
                r = conn => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, "lab API connection ended: {e}");
                    }
                }
                _ = shutdown.changed() => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_compares_exactly_and_never_prints() {
        let t = Token::new("s3cret");
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre"));
        assert!(!t.matches("s3creT"));
        assert!(!Token::new("").matches(""));
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
