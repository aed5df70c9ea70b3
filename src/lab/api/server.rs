//! TLS termination and authentication. Client certificates are optional at
//! the TLS layer (a bearer token is the other way in), so the handshake
//! accepts a client without one, and each request is then tagged with how its
//! caller proved who it is. Every request is also written to the request log
//! ([`RequestLog`]) that tests read to see what reached the API.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
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

/// The TLS configuration and a socket bound at `at` for one of the lab's
/// HTTPS servers (`what` names it in the error); with the address bound.
pub async fn bind_tls(
    cert_pem: &str,
    key_pem: &str,
    client_ca_pem: &str,
    at: SocketAddr,
    what: &str,
) -> Result<(TcpListener, Arc<ServerConfig>, SocketAddr)> {
    let tls = tls_config(cert_pem, key_pem, client_ca_pem)?;
    let listener = TcpListener::bind(at)
        .await
        .with_context(|| format!("binding {what} to {at}"))?;
    let addr = listener.local_addr()?;
    Ok((listener, tls, addr))
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
    log: RequestLog,
    faults: Arc<super::faults::Faults>,
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
        let (acceptor, router, token, log, faults, mut shutdown) = (
            acceptor.clone(),
            router.clone(),
            token.clone(),
            log.clone(),
            faults.clone(),
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
                let (router, log, faults) = (router.clone(), log.clone(), faults.clone());
                async move {
                    let (parts, body) = req.into_parts();
                    // Buffered here so the log can name the resourceVersion a
                    // write was conditioned on; the router reads it again.
                    let body = match axum::body::to_bytes(Body::new(body), MAX_BODY).await {
                        Ok(b) => b,
                        Err(_) => {
                            log.write(&parts, peer, auth, None, 413);
                            let resp = http::Response::builder()
                                .status(413)
                                .body(Body::from("request entity too large"))
                                .expect("a static response");
                            return Ok::<_, std::convert::Infallible>(resp);
                        }
                    };
                    let precondition = precondition_rv(&body);
                    let req = http::Request::from_parts(parts.clone(), Body::from(body));
                    // An armed fault (api-faults.json) answers instead of the
                    // router, or after it when the write is to land.
                    let Some(fault) = faults.hit(&parts.method, &parts.uri) else {
                        let resp = router.oneshot(req).await?;
                        log.write(&parts, peer, auth, precondition, resp.status().as_u16());
                        return Ok(resp);
                    };
                    if fault.after {
                        router.oneshot(req).await?;
                    }
                    // Logged before a hang, which may never answer.
                    log.write_fault(&parts, peer, auth, precondition, fault);
                    let info = request_info(&parts.method, parts.uri.path(), parts.uri.query());
                    Ok(fault.respond(&info).await)
                }
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

/// Largest request body accepted (Kubernetes' own limit is 3 MiB per object).
pub const MAX_BODY: usize = 4 << 20;

/// The request log's file name in the lab directory.
pub const REQUEST_LOG_FILE: &str = "api-requests.jsonl";

/// One JSON line per request that reached the API: time, client, verb,
/// resource, name, dryRun, the resourceVersion a write was conditioned on,
/// and the result code. Never a body, a header value or a query value other
/// than `dryRun`: the bodies carry secrets (the proxy password, tokens).
/// Lets tests tell "nothing was sent" from "sent and refused".
#[derive(Clone, Default)]
pub struct RequestLog(Option<Arc<Mutex<std::fs::File>>>);

impl RequestLog {
    /// Appends to `path` (mode 0600: the client addresses are nobody else's
    /// business); a log that cannot be opened is a warning, not a dead API.
    pub fn open(path: &Path) -> Self {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(f) => RequestLog(Some(Arc::new(Mutex::new(f)))),
            Err(e) => {
                tracing::warn!("lab API request log {}: {e}", path.display());
                RequestLog(None)
            }
        }
    }

    fn write(
        &self,
        parts: &http::request::Parts,
        peer: SocketAddr,
        auth: Auth,
        precondition: Option<String>,
        code: u16,
    ) {
        self.write_line(parts, peer, auth, precondition, code, None);
    }

    /// A request a fault hit: its code, and `fault` naming it.
    fn write_fault(
        &self,
        parts: &http::request::Parts,
        peer: SocketAddr,
        auth: Auth,
        precondition: Option<String>,
        fault: super::faults::Hit,
    ) {
        let name = format!(
            "{}{}",
            fault.name(),
            if fault.after { " after serving" } else { "" }
        );
        self.write_line(parts, peer, auth, precondition, fault.code(), Some(&name));
    }

    fn write_line(
        &self,
        parts: &http::request::Parts,
        peer: SocketAddr,
        auth: Auth,
        precondition: Option<String>,
        code: u16,
        fault: Option<&str>,
    ) {
        let Some(file) = &self.0 else { return };
        let mut line = request_info(&parts.method, parts.uri.path(), parts.uri.query());
        line["time"] = serde_json::json!(super::store::now_rfc3339());
        line["client"] = serde_json::json!(peer.to_string());
        line["auth"] = serde_json::json!(match auth {
            Auth::ClientCert => "client-certificate",
            Auth::BearerToken => "bearer-token",
            Auth::Anonymous => "anonymous",
        });
        let agent = parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        line["userAgent"] = serde_json::json!(agent);
        line["resourceVersion"] = serde_json::json!(precondition);
        line["code"] = serde_json::json!(code);
        if let Some(f) = fault {
            line["fault"] = serde_json::json!(f);
        }
        let mut text = line.to_string();
        text.push('\n');
        // One write per line, so concurrent requests never interleave.
        if let Ok(mut f) = file.lock() {
            let _ = f.write_all(text.as_bytes());
        }
    }
}

/// What the API server's request-info resolver makes of a request: the
/// Kubernetes verb, and for resource paths the group, resource, namespace,
/// name and subresource. Other paths (discovery, /version) keep their path.
fn request_info(method: &http::Method, path: &str, query: Option<&str>) -> serde_json::Value {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segs.as_slice() {
        ["api", "v1", rest @ ..] => Some(("", rest)),
        ["apis", group, _version, rest @ ..] => Some((*group, rest)),
        _ => None,
    };
    let query_pairs: Vec<(&str, &str)> = query
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let dry_run = query_pairs
        .iter()
        .any(|(k, v)| *k == "dryRun" && *v == "All");
    let watch = query_pairs
        .iter()
        .any(|(k, v)| *k == "watch" && (*v == "true" || *v == "1"));
    let (group, namespace, resource, name, sub) = match rest {
        Some((g, ["namespaces", ns, res, more @ ..])) => {
            (g, *ns, *res, more.first().copied(), more.get(1).copied())
        }
        Some((g, [res, more @ ..])) => (g, "", *res, more.first().copied(), more.get(1).copied()),
        _ => {
            let verb = method.as_str().to_ascii_lowercase();
            return serde_json::json!({ "verb": verb, "path": path, "dryRun": dry_run });
        }
    };
    let verb = match (method.as_str(), name.is_some()) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        (other, _) => {
            return serde_json::json!({ "verb": other.to_ascii_lowercase(), "path": path, "dryRun": dry_run });
        }
    };
    let resource = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    serde_json::json!({
        "verb": verb,
        "resource": resource,
        "namespace": namespace,
        "name": name.unwrap_or(""),
        "subresource": sub.unwrap_or(""),
        "dryRun": dry_run,
    })
}

/// The resourceVersion a write carries as its precondition: the object's
/// (or a merge patch's) `metadata.resourceVersion`, or a JSON patch's `test`
/// of `/metadata/resourceVersion`. Only this value is taken from the body.
fn precondition_rv(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let rv = match &v {
        serde_json::Value::Array(ops) => ops
            .iter()
            .find(|op| op["op"] == "test" && op["path"] == "/metadata/resourceVersion")
            .map(|op| op["value"].clone())?,
        _ => v["metadata"]["resourceVersion"].clone(),
    };
    rv.as_str().map(str::to_string)
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

    #[test]
    fn request_info_names_verbs_and_resources_as_the_api_server_does() {
        use http::Method;
        let info = |m: &Method, p: &str, q: Option<&str>| request_info(m, p, q);
        let v = info(
            &Method::PATCH,
            "/apis/harvesterhci.io/v1beta1/settings/http-proxy",
            Some("dryRun=All&fieldManager=harvcred"),
        );
        assert_eq!(v["verb"], "patch");
        assert_eq!(v["resource"], "settings.harvesterhci.io");
        assert_eq!(v["name"], "http-proxy");
        assert_eq!(v["dryRun"], true);
        let v = info(
            &Method::GET,
            "/api/v1/namespaces/fleet-local/secrets/local-rke-state",
            None,
        );
        assert_eq!(
            (v["verb"].as_str(), v["resource"].as_str()),
            (Some("get"), Some("secrets"))
        );
        assert_eq!(v["namespace"], "fleet-local");
        assert_eq!(v["dryRun"], false);
        assert_eq!(
            info(&Method::GET, "/api/v1/nodes", Some("watch=true"))["verb"],
            "watch"
        );
        assert_eq!(info(&Method::GET, "/api/v1/nodes", None)["verb"], "list");
        let v = info(&Method::PUT, "/api/v1/nodes/node1/status", None);
        assert_eq!(
            (v["verb"].as_str(), v["subresource"].as_str()),
            (Some("update"), Some("status"))
        );
        assert_eq!(info(&Method::GET, "/version", None)["path"], "/version");
    }

    #[test]
    fn precondition_comes_from_metadata_or_a_json_patch_test() {
        assert_eq!(
            precondition_rv(br#"{"metadata":{"resourceVersion":"42"},"value":"secret"}"#),
            Some("42".into())
        );
        assert_eq!(
            precondition_rv(br#"[{"op":"test","path":"/metadata/resourceVersion","value":"7"}]"#),
            Some("7".into())
        );
        assert_eq!(precondition_rv(br#"{"value":"x"}"#), None);
        assert_eq!(precondition_rv(b"not json"), None);
    }

    #[test]
    fn the_log_holds_no_body_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(REQUEST_LOG_FILE);
        let log = RequestLog::open(&path);
        let (parts, ()) = http::Request::builder()
            .method("PATCH")
            .uri("/apis/harvesterhci.io/v1beta1/settings/http-proxy?dryRun=All")
            .header("user-agent", "harvcred/0.1")
            .header("authorization", "Bearer TopS3cret")
            .body(())
            .unwrap()
            .into_parts();
        let body = br#"{"metadata":{"resourceVersion":"9"},"value":"http://u:PassW0rd@p:3128"}"#;
        log.write(
            &parts,
            "10.0.0.1:5000".parse().unwrap(),
            Auth::BearerToken,
            precondition_rv(body),
            200,
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("PassW0rd") && !text.contains("TopS3cret"),
            "{text}"
        );
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["verb"], "patch");
        assert_eq!(line["resourceVersion"], "9");
        assert_eq!(line["code"], 200);
        assert_eq!(line["client"], "10.0.0.1:5000");
        assert_eq!(line["userAgent"], "harvcred/0.1");
        assert!(line["time"].is_string());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
