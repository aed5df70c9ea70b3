//! What the other credential settings hold (`additional-ca`,
//! `ssl-certificates`, `ssl-parameters`, `containerd-registry`), judged, and
//! the client-side form of Harvester's webhook rules for them (its messages,
//! harvester.md section 2), checked before anything is sent.
//!
//! Secrets in these values (the `ssl-certificates` private key, registry
//! passwords and tokens) are never copied into what is shown or returned:
//! only "set" or a masked form.

use std::net::IpAddr;

use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::certs::{CertInfo, format_expiry, parse_pem_str};
use super::level::{Finding, Level, Thresholds};

pub const ADDITIONAL_CA: &str = "additional-ca";
pub const SSL_CERTIFICATES: &str = "ssl-certificates";
pub const SSL_PARAMETERS: &str = "ssl-parameters";
pub const CONTAINERD_REGISTRY: &str = "containerd-registry";

/// The settings `harvcred settings` handles, in the order shown.
pub const NAMES: [&str; 4] = [
    ADDITIONAL_CA,
    SSL_CERTIFICATES,
    SSL_PARAMETERS,
    CONTAINERD_REGISTRY,
];

/// The static name of a handled setting.
pub fn known(name: &str) -> Option<&'static str> {
    NAMES.iter().copied().find(|n| *n == name)
}

/// The protocols Harvester's webhook accepts in `ssl-parameters`.
pub const SSL_PROTOCOLS: [&str; 6] = ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];

/// One certificate of a bundle, as `settings show` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BundleCert {
    pub subject: String,
    pub issuer: String,
    pub not_after: String,
    pub is_ca: bool,
    pub sha256: String,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
}

impl BundleCert {
    fn of(c: &CertInfo) -> BundleCert {
        BundleCert {
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            not_after: format_expiry(c.not_after),
            is_ca: c.is_ca,
            sha256: c.sha256.clone(),
            dns_names: c.dns_sans.clone(),
            ip_addresses: c.ip_sans.iter().map(ToString::to_string).collect(),
        }
    }
}

/// A setting's value described: lines for the terminal, JSON, and findings
/// (the worst sets the exit code, as `status` does).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Described {
    pub lines: Vec<String>,
    pub detail: serde_json::Value,
    pub findings: Vec<Finding>,
}

impl Described {
    /// The worst level (Ok when nothing was found).
    pub fn level(&self) -> Level {
        self.findings
            .iter()
            .map(|f| f.level)
            .fold(Level::Ok, Level::worse)
    }
}

/// A parsed JSON object whose strings are wiped when it is dropped: the
/// values hold private keys and registry passwords.
struct WipedMap(serde_json::Map<String, serde_json::Value>);

impl Drop for WipedMap {
    fn drop(&mut self) {
        fn wipe(v: &mut serde_json::Value) {
            use zeroize::Zeroize;
            match v {
                serde_json::Value::String(s) => s.zeroize(),
                serde_json::Value::Array(a) => a.iter_mut().for_each(wipe),
                serde_json::Value::Object(m) => m.values_mut().for_each(wipe),
                _ => {}
            }
        }
        self.0.values_mut().for_each(wipe);
    }
}

impl std::ops::Deref for WipedMap {
    type Target = serde_json::Map<String, serde_json::Value>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

fn json_map(value: &str) -> Result<WipedMap, String> {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(m)) => Ok(WipedMap(m)),
        Ok(_) => Err("json: cannot unmarshal into a Go value of type object".into()),
        // serde's words, without the text around the error (it may be secret).
        Err(e) => Err(format!(
            "invalid JSON at line {}, column {}",
            e.line(),
            e.column()
        )),
    }
}

/// A field looked up ignoring case, as Go's JSON decoder does.
fn go_field<'a>(
    m: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    m.get(name).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn go_string(
    m: &serde_json::Map<String, serde_json::Value>,
    name: &str,
    go_type: &str,
) -> Result<Zeroizing<String>, String> {
    match go_field(m, name) {
        None | Some(serde_json::Value::Null) => Ok(Zeroizing::new(String::new())),
        Some(serde_json::Value::String(s)) => Ok(Zeroizing::new(s.clone())),
        Some(_) => Err(format!(
            "json: cannot unmarshal into Go struct field {go_type}.{name} of type string"
        )),
    }
}

/// The `ssl-certificates` value's three fields. `Debug` says nothing of the key.
pub struct SslCertificates {
    pub ca: Zeroizing<String>,
    pub public_certificate: Zeroizing<String>,
    pub private_key: Zeroizing<String>,
}

impl std::fmt::Debug for SslCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SslCertificates")
            .field("ca_bytes", &self.ca.len())
            .field("public_certificate_bytes", &self.public_certificate.len())
            .field("private_key", &"<hidden>")
            .finish()
    }
}

impl SslCertificates {
    pub fn parse(value: &str) -> Result<SslCertificates, String> {
        if value.trim().is_empty() {
            return Ok(SslCertificates {
                ca: Zeroizing::new(String::new()),
                public_certificate: Zeroizing::new(String::new()),
                private_key: Zeroizing::new(String::new()),
            });
        }
        let m = json_map(value)?;
        Ok(SslCertificates {
            ca: go_string(&m, "ca", "SSLCertificate")?,
            public_certificate: go_string(&m, "publicCertificate", "SSLCertificate")?,
            private_key: go_string(&m, "privateKey", "SSLCertificate")?,
        })
    }

    /// The value as Harvester stores it (JSON text), zeroised when dropped.
    pub fn to_json(&self) -> Zeroizing<String> {
        #[derive(Serialize)]
        struct Borrowed<'a> {
            ca: &'a str,
            #[serde(rename = "publicCertificate")]
            public_certificate: &'a str,
            #[serde(rename = "privateKey")]
            private_key: &'a str,
        }
        // Written straight into a buffer sized up front (escaping adds a
        // little), so no copy of the key is left behind by a reallocation.
        let room =
            2 * (self.ca.len() + self.public_certificate.len() + self.private_key.len()) + 64;
        let mut out = Zeroizing::new(Vec::with_capacity(room));
        let borrowed = Borrowed {
            ca: &self.ca,
            public_certificate: &self.public_certificate,
            private_key: &self.private_key,
        };
        if serde_json::to_writer(&mut *out, &borrowed).is_err() {
            return Zeroizing::new(String::new());
        }
        Zeroizing::new(String::from_utf8_lossy(&out).into_owned())
    }

    pub fn is_empty(&self) -> bool {
        self.ca.is_empty() && self.public_certificate.is_empty() && self.private_key.is_empty()
    }
}

/// PEM blocks as (label, DER), with Harvester's error when one is malformed.
fn pem_labels(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    for p in x509_parser::pem::Pem::iter_from_buffer(text.as_bytes()) {
        match p {
            Ok(p) => out.push((p.label, p.contents)),
            Err(x509_parser::error::PEMError::MissingHeader) => break,
            Err(_) => return Err("failed to parse PEM block".into()),
        }
    }
    Ok(out)
}

/// Harvester's webhook rule for the setting, with its message; Ok when it
/// would admit the value. `additional-ca` has no rule.
pub fn webhook_rule(name: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    match name {
        SSL_PARAMETERS => {
            let m = json_map(value)?;
            let protocols = go_string(&m, "protocols", "SSLParameter")?;
            for p in protocols.split_whitespace() {
                if !SSL_PROTOCOLS.contains(&p) {
                    return Err(format!("unsupported SSL protocol: {p}"));
                }
            }
            Ok(())
        }
        SSL_CERTIFICATES => {
            let s = SslCertificates::parse(value)?;
            if s.is_empty() {
                return Ok(());
            }
            if !s.ca.is_empty() {
                cert_blocks(&s.ca, false)?;
            }
            cert_blocks(&s.public_certificate, true)?;
            key_blocks(&s.private_key)
        }
        CONTAINERD_REGISTRY => json_map(value).map(|_| ()),
        _ => Ok(()),
    }
}

/// Harvester's `ValidateCABundle` / `ValidateServingBundle`.
fn cert_blocks(text: &str, serving: bool) -> Result<(), String> {
    let blocks = pem_labels(text)?;
    if blocks.is_empty() {
        return Err("failed to locate certificate".into());
    }
    for (i, (label, der)) in blocks.iter().enumerate() {
        if label != "CERTIFICATE" {
            return Err(format!("unexpected block type '{label}'"));
        }
        if serving {
            let (_, c) = x509_parser::parse_x509_certificate(der)
                .map_err(|_| "x509: malformed certificate".to_string())?;
            if i == 0 {
                let cn = c
                    .subject()
                    .iter_common_name()
                    .any(|n| n.as_str().is_ok_and(|s| !s.trim().is_empty()));
                let san = c
                    .subject_alternative_name()
                    .ok()
                    .flatten()
                    .is_some_and(|s| {
                        s.value.general_names.iter().any(|g| {
                            matches!(
                                g,
                                x509_parser::extensions::GeneralName::DNSName(_)
                                    | x509_parser::extensions::GeneralName::IPAddress(_)
                            )
                        })
                    });
                if !cn && !san {
                    return Err("certificate has no common name or subject alt name".into());
                }
            }
        }
    }
    Ok(())
}

/// Harvester's `ValidatePrivateKey`, in the essentials: one private key.
fn key_blocks(text: &str) -> Result<(), String> {
    let blocks = Zeroizing::new(pem_labels(text)?);
    let mut keys = 0;
    for (label, _) in blocks.iter() {
        match label.as_str() {
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => keys += 1,
            "EC PARAMETERS" => {}
            other => return Err(format!("unexpected block type '{other}'")),
        }
    }
    match keys {
        0 => Err("failed to locate private key".into()),
        1 => Ok(()),
        _ => Err("multiple private keys".into()),
    }
}

fn certs_of(source: &str, text: &str) -> (Vec<CertInfo>, Vec<String>) {
    let f = parse_pem_str(source, text);
    (
        f.certs,
        f.errors
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.reason))
            .collect(),
    )
}

/// Findings about the certificates of an `additional-ca` bundle: duplicates,
/// non-CA certificates and expired ones named (subject and SHA-256 prefix).
pub fn bundle_findings(certs: &[CertInfo], now: OffsetDateTime, t: &Thresholds) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = |c: &CertInfo| {
        format!(
            "{} (sha256 {})",
            c.subject,
            &c.sha256[..c.sha256.len().min(16)]
        )
    };
    for (i, c) in certs.iter().enumerate() {
        if certs[..i].iter().any(|o| o.sha256 == c.sha256) {
            out.push(Finding::new(
                Level::Warn,
                ADDITIONAL_CA,
                format!("certificate {} is in the bundle more than once", name(c)),
            ));
            continue;
        }
        if !c.is_ca {
            out.push(Finding::new(
                Level::Warn,
                ADDITIONAL_CA,
                format!(
                    "certificate {} is not a CA (no basicConstraints CA:TRUE): it cannot sign anything the cluster should trust",
                    name(c)
                ),
            ));
        }
        out.extend(expiry_finding(ADDITIONAL_CA, c, now, t));
    }
    out
}

fn expiry_finding(
    subject: &str,
    c: &CertInfo,
    now: OffsetDateTime,
    t: &Thresholds,
) -> Option<Finding> {
    let a = super::certs::assess(c, now, t);
    match a.level {
        Level::Ok | Level::RenewsAtRestart => None,
        Level::Expired => Some(Finding::new(
            Level::Expired,
            subject,
            format!(
                "certificate {} expired {}",
                c.subject,
                format_expiry(c.not_after)
            ),
        )),
        level => Some(Finding::new(
            level,
            subject,
            format!(
                "certificate {} expires {}: replace it before then (nothing renews it)",
                c.subject,
                format_expiry(c.not_after)
            ),
        )),
    }
}

/// What the setting holds, judged at `now`. An unreadable value is a
/// finding, not an error: `show` still says what it can.
pub fn describe(name: &str, value: &str, now: OffsetDateTime, t: &Thresholds) -> Described {
    let mut d = Described::default();
    if let Err(m) = webhook_rule(name, value) {
        d.findings.push(Finding::new(
            Level::Critical,
            name,
            format!("Harvester's webhook would refuse this value: {m}"),
        ));
    }
    match name {
        ADDITIONAL_CA => describe_bundle(&mut d, value, now, t),
        SSL_CERTIFICATES => describe_ssl_certificates(&mut d, value, now, t),
        SSL_PARAMETERS => describe_ssl_parameters(&mut d, value),
        CONTAINERD_REGISTRY => describe_registry(&mut d, value),
        _ => {}
    }
    d
}

fn cert_line(c: &CertInfo) -> String {
    format!(
        "{}  issuer {}  NotAfter {}  {}  sha256 {}",
        c.subject,
        c.issuer,
        format_expiry(c.not_after),
        if c.is_ca { "CA" } else { "not a CA" },
        c.sha256
    )
}

fn describe_bundle(d: &mut Described, value: &str, now: OffsetDateTime, t: &Thresholds) {
    if value.trim().is_empty() {
        d.lines.push("empty: no additional CA is trusted".into());
        d.detail = serde_json::json!({"certificates": []});
        return;
    }
    let (certs, errors) = certs_of(ADDITIONAL_CA, value);
    d.lines.push(format!("{} certificate(s):", certs.len()));
    for c in &certs {
        d.lines.push(format!("  {}", cert_line(c)));
    }
    if certs.is_empty() {
        d.findings.push(Finding::new(
            Level::Unknown,
            ADDITIONAL_CA,
            "no PEM certificate in the value",
        ));
    } else {
        for e in &errors {
            let e = e.strip_prefix("additional-ca: ").unwrap_or(e);
            d.findings.push(Finding::new(
                Level::Unknown,
                ADDITIONAL_CA,
                format!("a block of the bundle is unreadable: {e}"),
            ));
        }
    }
    d.findings.extend(bundle_findings(&certs, now, t));
    d.detail = serde_json::json!({
        "certificates": certs.iter().map(BundleCert::of).collect::<Vec<_>>(),
    });
}

fn describe_ssl_certificates(d: &mut Described, value: &str, now: OffsetDateTime, t: &Thresholds) {
    let s = match SslCertificates::parse(value) {
        Ok(s) => s,
        Err(_) => return, // the webhook finding says why
    };
    if s.is_empty() {
        d.lines
            .push("empty: the cluster's ingress presents Harvester's own certificate".into());
        d.detail = serde_json::json!({"publicCertificate": [], "ca": [], "privateKey": false});
        return;
    }
    let (chain, _) = certs_of("publicCertificate", &s.public_certificate);
    let (ca, _) = certs_of("ca", &s.ca);
    d.lines.push("publicCertificate:".into());
    for c in &chain {
        d.lines.push(format!("  {}", cert_line(c)));
        d.findings
            .extend(expiry_finding(SSL_CERTIFICATES, c, now, t));
    }
    if let Some(earliest) = chain.iter().map(|c| c.not_after).min() {
        d.lines.push(format!(
            "  the chain's NotAfter: {}",
            format_expiry(earliest)
        ));
    }
    if !ca.is_empty() {
        d.lines.push("ca:".into());
        for c in &ca {
            d.lines.push(format!("  {}", cert_line(c)));
            d.findings
                .extend(expiry_finding(SSL_CERTIFICATES, c, now, t));
        }
    }
    if let Some(bits) = leaf_rsa_bits(&s.public_certificate)
        && bits < 2048
    {
        d.findings.push(Finding::new(
            Level::Warn,
            SSL_CERTIFICATES,
            format!("the certificate's RSA key has {bits} bits: use 2048 or more"),
        ));
    }
    let has_key = !s.private_key.trim().is_empty();
    d.lines.push(format!(
        "privateKey: {}",
        if has_key {
            "set (never shown)"
        } else {
            "missing"
        }
    ));
    d.detail = serde_json::json!({
        "publicCertificate": chain.iter().map(BundleCert::of).collect::<Vec<_>>(),
        "chain_not_after": chain.iter().map(|c| c.not_after).min().map(format_expiry),
        "ca": ca.iter().map(BundleCert::of).collect::<Vec<_>>(),
        "privateKey": has_key,
    });
}

/// The size of the leaf's RSA key (None for other key types).
fn leaf_rsa_bits(chain: &str) -> Option<usize> {
    let blocks = pem_labels(chain).ok()?;
    let (_, der) = blocks.iter().find(|(l, _)| l == "CERTIFICATE")?;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    match cert.public_key().parsed().ok()? {
        x509_parser::public_key::PublicKey::RSA(rsa) => Some(rsa.key_size()),
        _ => None,
    }
}

/// `protocols` and `ciphers` of an `ssl-parameters` value (empty when
/// absent; an empty value has neither); None when it is not JSON.
pub fn ssl_parameters(value: &str) -> Option<(String, String)> {
    let m = if value.trim().is_empty() {
        WipedMap(serde_json::Map::new())
    } else {
        json_map(value).ok()?
    };
    let get = |k| {
        go_field(&m, k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    Some((get("protocols"), get("ciphers")))
}

/// What an ingress that can only serve TLS 1.2 and 1.3 (the lab's, on
/// rustls) serves for an `ssl-parameters` value, as nginx applies
/// `ssl_protocols` and `ssl_ciphers`: the listed protocols (all when none
/// is listed; SSLv2 to TLSv1.1 are accepted but cannot be served), and for
/// TLS 1.2 the suites the ciphers select (`None`: its defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedTls {
    pub tls12: bool,
    pub tls13: bool,
    pub tls12_suites: Option<Vec<&'static str>>,
}

pub fn served_tls(value: &str) -> ServedTls {
    let (protocols, ciphers) = ssl_parameters(value).unwrap_or_default();
    let listed: Vec<&str> = protocols.split_whitespace().collect();
    let allows = |p: &str| listed.is_empty() || listed.contains(&p);
    ServedTls {
        tls12: allows("TLSv1.2"),
        tls13: allows("TLSv1.3"),
        tls12_suites: super::ciphers::servable_tls12(&ciphers),
    }
}

fn describe_ssl_parameters(d: &mut Described, value: &str) {
    let Some((protocols, ciphers)) = ssl_parameters(value) else {
        return;
    };
    let shown = |s: &str| {
        if s.is_empty() {
            "- (the ingress's defaults)".to_string()
        } else {
            s.to_string()
        }
    };
    d.lines.push(format!("protocols  {}", shown(&protocols)));
    d.lines.push(format!("ciphers    {}", shown(&ciphers)));
    let listed: Vec<&str> = protocols.split_whitespace().collect();
    if !listed.is_empty() && !listed.iter().any(|p| *p == "TLSv1.2" || *p == "TLSv1.3") {
        d.findings.push(Finding::new(
            Level::Critical,
            SSL_PARAMETERS,
            "neither TLSv1.2 nor TLSv1.3 is allowed: browsers and kubectl through a Rancher kubeconfig (which goes through the ingress) cannot connect; recover with `harvcred settings set ssl-parameters --value -` and an empty stdin (Harvester's documented fix: delete the value)",
        ));
    } else if listed
        .iter()
        .any(|p| p.starts_with("SSL") || *p == "TLSv1" || *p == "TLSv1.1")
    {
        d.findings.push(Finding::new(
            Level::Warn,
            SSL_PARAMETERS,
            "protocols older than TLSv1.2 are allowed; they have known weaknesses",
        ));
    }
    let unknown = super::ciphers::unknown(&ciphers);
    if !unknown.is_empty() {
        d.findings.push(Finding::new(
            Level::Warn,
            SSL_PARAMETERS,
            format!(
                "ciphers the ingress does not know (neither OpenSSL names, as rke2-ingress-nginx takes, nor Go names, as Traefik takes): {}; Harvester does not check them",
                unknown.join(", ")
            ),
        ));
    }
    d.detail =
        serde_json::json!({"protocols": protocols, "ciphers": ciphers, "unknown_ciphers": unknown});
}

/// A registry credential shown masked: whether it is set, never what it is.
fn masked(v: Option<&serde_json::Value>) -> &'static str {
    match v.and_then(|v| v.as_str()) {
        Some(s) if !s.is_empty() => "***",
        _ => "",
    }
}

fn describe_registry(d: &mut Described, value: &str) {
    if value.trim().is_empty() {
        d.lines
            .push("empty: containerd uses the registries directly".into());
        d.detail = serde_json::json!({"mirrors": {}, "configs": {}});
        return;
    }
    let Ok(m) = json_map(value) else { return };

    let mut mirrors = serde_json::Map::new();
    if let Some(serde_json::Value::Object(ms)) = go_field(&m, "Mirrors") {
        d.lines.push("mirrors:".into());
        for (host, mirror) in ms {
            let endpoints: Vec<String> = mirror
                .as_object()
                .and_then(|o| go_field(o, "Endpoints"))
                .and_then(|e| e.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let rewrites = mirror
                .as_object()
                .and_then(|o| go_field(o, "Rewrites"))
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            d.lines.push(format!(
                "  {host}: endpoints {}{}",
                if endpoints.is_empty() {
                    "-".to_string()
                } else {
                    endpoints.join(", ")
                },
                match rewrites.as_object() {
                    Some(r) if !r.is_empty() => format!("; {} rewrite(s)", r.len()),
                    _ => String::new(),
                }
            ));
            mirrors.insert(
                host.clone(),
                serde_json::json!({"endpoints": endpoints, "rewrites": rewrites}),
            );
        }
    }
    let mut configs = serde_json::Map::new();
    if let Some(serde_json::Value::Object(cs)) = go_field(&m, "Configs") {
        d.lines.push("configs:".into());
        for (host, cfg) in cs {
            let empty = serde_json::Map::new();
            let cfg = cfg.as_object().unwrap_or(&empty);
            let auth = go_field(cfg, "Auth").and_then(|a| a.as_object());
            let tls = go_field(cfg, "TLS").and_then(|a| a.as_object());
            let user = auth
                .and_then(|a| go_field(a, "Username"))
                .and_then(|u| u.as_str())
                .unwrap_or("")
                .to_string();
            let password = masked(auth.and_then(|a| go_field(a, "Password")));
            let token = masked(auth.and_then(|a| go_field(a, "IdentityToken")));
            let auth_b64 = masked(auth.and_then(|a| go_field(a, "Auth")));
            let tls_file = |k| {
                tls.and_then(|t| go_field(t, k))
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let insecure = tls
                .and_then(|t| go_field(t, "InsecureSkipVerify"))
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let mut line = format!("  {host}:");
            if auth.is_some() {
                line.push_str(&format!(
                    " auth user {} password {}",
                    if user.is_empty() { "-" } else { &user },
                    if password.is_empty() { "-" } else { password }
                ));
                if !token.is_empty() {
                    line.push_str(" identityToken ***");
                }
                if !auth_b64.is_empty() {
                    line.push_str(" auth ***");
                }
            }
            for (label, k) in [
                ("caFile", "CAFile"),
                ("certFile", "CertFile"),
                ("keyFile", "KeyFile"),
            ] {
                let f = tls_file(k);
                if !f.is_empty() {
                    line.push_str(&format!(" {label} {f}"));
                }
            }
            if insecure {
                line.push_str(" insecureSkipVerify");
                d.findings.push(Finding::new(
                    Level::Warn,
                    CONTAINERD_REGISTRY,
                    format!("{host}: insecureSkipVerify: containerd does not check the registry's certificate"),
                ));
            }
            d.lines.push(line);
            configs.insert(
                host.clone(),
                serde_json::json!({
                    "auth": auth.map(|_| serde_json::json!({
                        "username": user,
                        "password": password,
                        "identityToken": token,
                        "auth": auth_b64,
                    })),
                    "tls": {
                        "caFile": tls_file("CAFile"),
                        "certFile": tls_file("CertFile"),
                        "keyFile": tls_file("KeyFile"),
                        "insecureSkipVerify": insecure,
                    },
                }),
            );
        }
    }
    d.detail = serde_json::json!({"mirrors": mirrors, "configs": configs});
}

/// A `containerd-registry` value without `Configs[*].Auth` (what Harvester
/// leaves in the setting after syncing), for keeping it without passwords.
/// Values that are not a JSON object are returned as they are.
pub fn registry_without_auth(value: &str) -> Zeroizing<String> {
    let Ok(mut m) = json_map(value) else {
        return Zeroizing::new(value.to_string());
    };
    let mut removed = false;
    for (k, cfgs) in m.0.iter_mut() {
        if !k.eq_ignore_ascii_case("Configs") {
            continue;
        }
        if let Some(cfgs) = cfgs.as_object_mut() {
            for cfg in cfgs.values_mut() {
                if let Some(cfg) = cfg.as_object_mut() {
                    let before = cfg.len();
                    cfg.retain(|k, _| !k.eq_ignore_ascii_case("Auth"));
                    removed |= cfg.len() != before;
                }
            }
        }
    }
    if removed {
        Zeroizing::new(serde_json::Value::Object(m.0.clone()).to_string())
    } else {
        Zeroizing::new(value.to_string())
    }
}

/// What an `ssl-certificates` value must satisfy beyond the webhook, checked
/// before sending: the key belongs to the certificate, the chain verifies up
/// to the CA given, and the names cover `host` (the address the cluster is
/// reached by). Each entry is an error; an empty list passes.
pub fn ssl_certificate_errors(s: &SslCertificates, host: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if s.is_empty() {
        return out;
    }
    let Ok(chain) = pem_labels(&s.public_certificate) else {
        return out; // the webhook rule reports it
    };
    let ders: Vec<&Vec<u8>> = chain
        .iter()
        .filter(|(l, _)| l == "CERTIFICATE")
        .map(|(_, d)| d)
        .collect();
    let parsed: Vec<_> = ders
        .iter()
        .filter_map(|d| x509_parser::parse_x509_certificate(d).ok().map(|(_, c)| c))
        .collect();
    let Some(leaf) = parsed.first() else {
        return out;
    };
    match key_matches(&s.private_key, leaf) {
        Ok(true) => {}
        Ok(false) => out.push(
            "privateKey does not match publicCertificate (the key's public half is not the certificate's)".into(),
        ),
        Err(e) => out.push(e),
    }
    // Each certificate signed by the next; the last by a CA of `ca`.
    for pair in parsed.windows(2) {
        if pair[0]
            .verify_signature(Some(pair[1].public_key()))
            .is_err()
        {
            out.push(format!(
                "publicCertificate: {} is not signed by the next certificate of the chain ({})",
                pair[0].subject(),
                pair[1].subject()
            ));
        }
    }
    if !s.ca.trim().is_empty() {
        let ca_blocks = pem_labels(&s.ca).unwrap_or_default();
        let cas: Vec<_> = ca_blocks
            .iter()
            .filter_map(|(_, d)| x509_parser::parse_x509_certificate(d).ok().map(|(_, c)| c))
            .collect();
        let last = parsed.last().unwrap_or(leaf);
        let verified = cas
            .iter()
            .any(|ca| last.verify_signature(Some(ca.public_key())).is_ok())
            || cas
                .iter()
                .any(|ca| ca.raw_serial() == last.raw_serial() && ca.issuer() == last.issuer());
        if !verified {
            out.push(format!(
                "publicCertificate does not verify up to ca: no certificate of ca signed {}",
                last.subject()
            ));
        }
    }
    if let Some(host) = host.filter(|h| !h.is_empty()) {
        let info = parse_pem_str("publicCertificate", &s.public_certificate);
        if let Some(c) = info.certs.first()
            && !covers_host(c, host)
        {
            out.push(format!(
                "publicCertificate does not cover {host}, the address the cluster is reached by (its names: {})",
                names_of(c)
            ));
        }
    }
    out
}

fn names_of(c: &CertInfo) -> String {
    let mut names: Vec<String> = c.dns_sans.clone();
    names.extend(c.ip_sans.iter().map(ToString::to_string));
    if names.is_empty() {
        c.subject_cn.clone().unwrap_or_else(|| "none".into())
    } else {
        names.join(", ")
    }
}

/// Whether the certificate is valid for `host` (an IP or a DNS name; one
/// leading `*.` label matches one label, as TLS clients do).
pub fn covers_host(c: &CertInfo, host: &str) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return c.ip_sans.contains(&ip);
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    c.dns_sans.iter().any(|n| {
        let n = n.trim_end_matches('.').to_ascii_lowercase();
        match n.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
            None => n == host,
        }
    })
}

/// Whether the PEM private key is the one of `leaf`: PKCS#8 keys through
/// rcgen (their public half derived), PKCS#1 RSA keys by modulus and
/// exponent, SEC1 EC keys by the public point they carry.
fn key_matches(
    pem: &str,
    leaf: &x509_parser::certificate::X509Certificate<'_>,
) -> Result<bool, String> {
    use x509_parser::der_parser::ber::BerObjectContent;
    use x509_parser::der_parser::parse_der;
    use x509_parser::public_key::PublicKey;
    let blocks = Zeroizing::new(pem_labels(pem)?);
    let Some((label, der)) = blocks.iter().find(|(l, _)| l.ends_with("PRIVATE KEY")) else {
        return Err("failed to locate private key".into());
    };
    let unreadable = || format!("privateKey: the {label} block could not be read");
    let fields = || -> Result<Vec<_>, String> {
        let (_, obj) = parse_der(der).map_err(|_| unreadable())?;
        obj.as_sequence()
            .map(|v| v.to_vec())
            .map_err(|_| unreadable())
    };
    let trim = |b: &[u8]| -> Vec<u8> {
        let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
        b[start..].to_vec()
    };
    match label.as_str() {
        "PRIVATE KEY" => {
            use rcgen::PublicKeyData;
            let key = rcgen::KeyPair::try_from(der.as_slice()).map_err(|_| {
                "privateKey: the PKCS#8 key could not be read (supported: ECDSA P-256/P-384, Ed25519, RSA)".to_string()
            })?;
            Ok(key.subject_public_key_info() == leaf.tbs_certificate.subject_pki.raw)
        }
        "RSA PRIVATE KEY" => {
            // RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, ... }
            let f = fields()?;
            let int = |i: usize| match f.get(i).map(|o| &o.content) {
                Some(BerObjectContent::Integer(b)) => Ok(trim(b)),
                _ => Err(unreadable()),
            };
            let (n, e) = (int(1)?, int(2)?);
            Ok(match leaf.public_key().parsed() {
                Ok(PublicKey::RSA(rsa)) => trim(rsa.modulus) == n && trim(rsa.exponent) == e,
                _ => false,
            })
        }
        "EC PRIVATE KEY" => {
            // ECPrivateKey ::= SEQUENCE { version, privateKey, [0] params, [1] publicKey }
            let f = fields()?;
            let public = f
                .iter()
                .find(|o| o.header.tag().0 == 1 && !o.header.is_universal())
                .ok_or_else(|| {
                    "privateKey: the EC key carries no public key to compare; convert it with `openssl pkcs8 -topk8 -nocrypt`".to_string()
                })?;
            let inner = match &public.content {
                BerObjectContent::Unknown(any) => any.data,
                _ => return Err(unreadable()),
            };
            let (_, bits) = parse_der(inner).map_err(|_| unreadable())?;
            match bits.content {
                BerObjectContent::BitString(_, b) => {
                    Ok(b.data == leaf.public_key().subject_public_key.data.as_ref())
                }
                _ => Err(unreadable()),
            }
        }
        other => Err(format!("unexpected block type '{other}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creds::certs::tests::{NOW, make_chain};
    use time::Duration;

    #[test]
    fn webhook_messages_are_harvesters() {
        assert_eq!(
            webhook_rule(SSL_PARAMETERS, r#"{"protocols":"TLSv1.2 TLSv1.4"}"#).unwrap_err(),
            "unsupported SSL protocol: TLSv1.4"
        );
        webhook_rule(
            SSL_PARAMETERS,
            r#"{"protocols":"TLSv1.2 TLSv1.3","ciphers":"x"}"#,
        )
        .unwrap();
        webhook_rule(SSL_PARAMETERS, "").unwrap();
        webhook_rule(ADDITIONAL_CA, "anything").unwrap();
        assert!(webhook_rule(CONTAINERD_REGISTRY, "[1").is_err());
        assert_eq!(
            webhook_rule(
                SSL_CERTIFICATES,
                r#"{"publicCertificate":"x","privateKey":"y"}"#
            )
            .unwrap_err(),
            "failed to locate certificate"
        );
        webhook_rule(SSL_CERTIFICATES, "{}").unwrap();
    }

    #[test]
    fn a_bundle_names_duplicates_non_ca_and_expired() {
        let (leaf, ca) = make_chain(
            "corp",
            "h.corp",
            NOW - Duration::days(10),
            NOW + Duration::days(400),
        );
        let (old, _) = make_chain(
            "old",
            "x",
            NOW - Duration::days(800),
            NOW - Duration::days(1),
        );
        let bundle = format!("{ca}{ca}{leaf}{old}");
        let d = describe(ADDITIONAL_CA, &bundle, NOW, &Thresholds::default());
        let text: Vec<&str> = d.findings.iter().map(|f| f.message.as_str()).collect();
        assert!(
            text.iter().any(|m| m.contains("more than once")),
            "{text:?}"
        );
        assert!(text.iter().any(|m| m.contains("is not a CA")), "{text:?}");
        assert!(text.iter().any(|m| m.contains("expired")), "{text:?}");
        assert_eq!(d.level(), Level::Expired);
        assert_eq!(d.detail["certificates"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn ssl_certificates_round_trip_and_debug_hides_the_key() {
        let s = SslCertificates {
            ca: Zeroizing::new("CA".into()),
            public_certificate: Zeroizing::new("CERT\n".into()),
            private_key: Zeroizing::new("KEY\"1".into()),
        };
        let back = SslCertificates::parse(&s.to_json()).unwrap();
        assert_eq!(back.private_key.as_str(), "KEY\"1");
        assert_eq!(back.public_certificate.as_str(), "CERT\n");
        assert!(!format!("{back:?}").contains("KEY"));
    }

    /// A self-signed RSA-1024 certificate (made with `openssl req -x509
    /// -newkey rsa:1024`, valid 100 years; its key thrown away).
    const RSA_1024_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIICBDCCAW2gAwIBAgIUS8M01Tde9c3C3R+iVMdp9oO3h/4wDQYJKoZIhvcNAQEL\nBQAwEzERMA8GA1UEAwwId2Vhay5sYWIwIBcNMjYxMTMwMjI1NTM1WhgPMjEyNjEx\nMDYyMjU1MzVaMBMxETAPBgNVBAMMCHdlYWsubGFiMIGfMA0GCSqGSIb3DQEBAQUA\nA4GNADCBiQKBgQDfbt6XohKnfuSAJ5hA+jmJqgrED56Czwe4W2rDYKMNPQVMiB8J\nJ61NVAV8yhTcUExm2bsSQgYl4AlAW0hrgs0xqhJcxAqU/E5bpw56/+bRLekKNkG5\nes+szJsK8Jhu23m/A+l89cZMNgGxT3H5RcqpSZjOpYjBdMp+0QeFFo7I2wIDAQAB\no1MwUTAdBgNVHQ4EFgQUYGCD6kt/IE1cIYPbfHeRJab6fuQwHwYDVR0jBBgwFoAU\nYGCD6kt/IE1cIYPbfHeRJab6fuQwDwYDVR0TAQH/BAUwAwEB/zANBgkqhkiG9w0B\nAQsFAAOBgQBqBKNIzmUdTqteNEyRnN0EZ0DfI20RTmVU1FTVXZEMm0pH1woO3A+i\nwpCuWhG76KTZRgsc2kWOIqGgimtdoDN/jcblYzmaXiiiR39HEbnZviC3c72T57Xv\nzjea258DvAOY1N5wPt0B2x+8wx7bfXqV/7f7MWTqMoJy9/LA6N1BXQ==\n-----END CERTIFICATE-----\n";

    #[test]
    fn a_weak_rsa_key_is_named() {
        let v =
            serde_json::json!({"publicCertificate": RSA_1024_CERT, "privateKey": "k"}).to_string();
        let d = describe(SSL_CERTIFICATES, &v, NOW, &Thresholds::default());
        assert!(
            d.findings
                .iter()
                .any(|f| f.message.contains("RSA key has 1024 bits")),
            "{:?}",
            d.findings
        );
    }

    // Throwaway test keys made with openssl (`genrsa -traditional`,
    // `ecparam -genkey`), each with a self-signed certificate: the key
    // formats rcgen cannot read.
    const PKCS1_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEogIBAAKCAQEAzpGvsI8SKQrAPDBiLpIDWjmVreZkEgJMT1nRBRKapXPzWNDD\nzAQBR7g/1h/pdGIc161SkL0/0kf40lUV10oOcLlO0cjlCvYixEipA7Qw/1cVczGe\nynRlAi900HWJvZqD7/u4xvTkjgOyJbai8VE+mTquQXNAcW+RX8oFTxDth7stTrFx\n7/k7Jz7SuApYQI+YKKPzWoHIz6rOS4bdZmuJohWKVJasC37FZOQ1Bdy3t2TLvco3\n2NG0YEY+ZZTH8SjZIxHBEbDYM4sviBAtUIMQyXBtQSl/RLyoQojLQ9ZhuntOpnao\noWzmnG1CwzAzvZPZiW99fjx4yh5yAmZjre4nuwIDAQABAoIBAApjIgoHT7r3mu4L\n4swDtJ5zWdb6SFrteafd1Nhj9JnQSFLVgJsAMo5IMhGS3jrnehrQUOANXCm3S8hL\n1gLS6wH5F4EOEJJqCRqEqtcQVwxn9SCrRJhanP+sojufRXNe0zacmlCK3PlVLz6d\nPflThAnRfRS2dm2d1hoSfwzYRZF3HVbFPYLnbyJCjqZGvVKapCKIBo/UA4dhbVin\nApRjpcy766H5lR4CZwcOUvhh7SYrrueeTxLs/RXrgLvZyWr6sNr3LP4c0zUSvhQM\nadQqjeuNwNaWCuXdG5VP/TMB33rtYk8RJ/7hCfBXI7h90RpiEYj8h8BjHtawD5IV\nN+atKEkCgYEA/R8p7I55Sy2hRCsQITO+D7km1ykMcJQSpubUxiH4de0OTnAKutH/\nSMp349ELEN/c8jWRPPhtdKjgWmantVg384400GNOV372DWsWfJ7D2GFiPfywGprb\nm/PWzjSmtHuHUPkZ9m49WTfLL7bt4pfcwRWPnAo01oIWWiIYUQn79vkCgYEA0OsC\nCr/FTeCMW3zn6c7K32MCIf3pI+whIL7RTQfq9sennj7zj/+zh9TZ7I270hpjhxai\npqa/NpiNL4OG8G+HOUV4TomACSlDrBeTvhaWPI3VhjSs28u1gvjt12JMzu+6cwTp\nfUHTeY4IBuFqKQxMy2NcsliAaVEW3x5Zpgyx/VMCgYBJcOxSFXh95oxe4fu5FnEz\n0K3DScaxN1U+FcVwg1S6qoA3I+0JDXr7XLtyXynNyJYrtH0iapYffgwyToykYidB\nxGXwfI+zdUPg2sxYdhwuwPqnL5TM81d6pUIS7FXeEeVOCiiNRqkIJNcQTgwxbYyA\nfUgApzlzb6Uam7/ga3wuyQKBgAmvOzMAXMcVZ6w+CAogmertDgZBXPNbWNXJwq4N\ndejmrHB7fpLoSYw8Y7XBhDljG8YBWJzdEfQX8kOHl1PB98TB4afSW+sQzKBHn4Oq\nTGCWOpW0D2dI9CsUGwJm/iSBnGUEj0ZNLN5vpROck20/srei7YMe8yTuq17Aa2t1\nHzMdAoGAP1JAgPcdkvcuRMwJRt17nIEdhLSDHmUd3vyx898tF0DLWNE/YTufCSSh\ntYKaxYSeziWt/eXxJ4X0P5sJ6ZVp1plwODyUteIvtnHlCZpg0DqKdEqJDofGva2Z\nJwnXtA4roauzsnVrGGF+tS68Bc5cB8Up2R7DEUHfrjo1osOh0IM=\n-----END RSA PRIVATE KEY-----\n";
    const PKCS1_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIDCzCCAfOgAwIBAgIUeRgbNjUofdc2PY3BgFcS/3P8iEMwDQYJKoZIhvcNAQEL\nBQAwFDESMBAGA1UEAwwJcGtjczEubGFiMCAXDTI2MTEzMDIzMDE0OVoYDzIxMjYx\nMTA2MjMwMTQ5WjAUMRIwEAYDVQQDDAlwa2NzMS5sYWIwggEiMA0GCSqGSIb3DQEB\nAQUAA4IBDwAwggEKAoIBAQDOka+wjxIpCsA8MGIukgNaOZWt5mQSAkxPWdEFEpql\nc/NY0MPMBAFHuD/WH+l0YhzXrVKQvT/SR/jSVRXXSg5wuU7RyOUK9iLESKkDtDD/\nVxVzMZ7KdGUCL3TQdYm9moPv+7jG9OSOA7IltqLxUT6ZOq5Bc0Bxb5FfygVPEO2H\nuy1OsXHv+TsnPtK4ClhAj5goo/NagcjPqs5Lht1ma4miFYpUlqwLfsVk5DUF3Le3\nZMu9yjfY0bRgRj5llMfxKNkjEcERsNgziy+IEC1QgxDJcG1BKX9EvKhCiMtD1mG6\ne06mdqihbOacbULDMDO9k9mJb31+PHjKHnICZmOt7ie7AgMBAAGjUzBRMB0GA1Ud\nDgQWBBSpBN/k7vVeKD6vxP+xkhtmUS6YLTAfBgNVHSMEGDAWgBSpBN/k7vVeKD6v\nxP+xkhtmUS6YLTAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4IBAQDC\nrvaDBJm6dGyhx0BXBAx9f4WlbYN3F1gQsz2EeowNMFI3++M7rYEB+vFFUAeF2bFn\n+LbuErWgTpNzntMr7+Aw5evxGong7IKbIHBE63AmXBhncRIsC1zUe0pAOKOuAYXZ\nQGO4kSWNxxnEq6pX4i6lWHAmGSrKgjVZA5MJMP2TZlLJkzlnxtE0LpToWWdNHUK+\np90l5g7DXv7UmdzulB0qHo3rKDRqXeqYcpCBSrjlJ/oHCauJBrzE+7GDLfCCNArI\nn2IIsTQ2sp1dmLXdEvVONinzv5gS0MMSsGp7pvSYnuiZuYh8UrKKqUFs7KgI6Mh0\nXpmEEU3Ez3rrziCRwJRF\n-----END CERTIFICATE-----\n";
    const SEC1_KEY: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIO40VzmRsTaqn/1Q30DYitk0rYy4DfW5MJ2QsKs8qyJgoAoGCCqGSM49\nAwEHoUQDQgAEDhOfhaw+m54hr1Llz84zw2CnNKxiaBETd9zzTpXOdN8M16CWP3CV\nbMlXHDlnbrCyqe4EFbq/ESz5eMlKnkLVhA==\n-----END EC PRIVATE KEY-----\n";
    const SEC1_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBfDCCASOgAwIBAgIUIHG3uiQZuidAbydeERIz2WVqWfwwCgYIKoZIzj0EAwIw\nEzERMA8GA1UEAwwIc2VjMS5sYWIwIBcNMjYxMTMwMjMwMTQ5WhgPMjEyNjExMDYy\nMzAxNDlaMBMxETAPBgNVBAMMCHNlYzEubGFiMFkwEwYHKoZIzj0CAQYIKoZIzj0D\nAQcDQgAEDhOfhaw+m54hr1Llz84zw2CnNKxiaBETd9zzTpXOdN8M16CWP3CVbMlX\nHDlnbrCyqe4EFbq/ESz5eMlKnkLVhKNTMFEwHQYDVR0OBBYEFKwMrgOIWEWp0XIQ\nY8f6x3M/EWJ0MB8GA1UdIwQYMBaAFKwMrgOIWEWp0XIQY8f6x3M/EWJ0MA8GA1Ud\nEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgAL2JFGV5D9Cu9ZZkZernWhHW\nYVg9Yr47hudOPGjhvhsCIESd2w1sDAw+mxqhwmrrqH8QCf7WmWREWCYh1Fh8CygX\n-----END CERTIFICATE-----\n";

    #[test]
    fn pkcs1_and_sec1_keys_are_matched_to_their_certificates() {
        let errors = |cert: &str, key: &str| {
            let s = SslCertificates {
                ca: Zeroizing::new(String::new()),
                public_certificate: Zeroizing::new(cert.into()),
                private_key: Zeroizing::new(key.into()),
            };
            ssl_certificate_errors(&s, None)
        };
        assert_eq!(errors(PKCS1_CERT, PKCS1_KEY), Vec::<String>::new());
        assert_eq!(errors(SEC1_CERT, SEC1_KEY), Vec::<String>::new());
        assert!(errors(PKCS1_CERT, SEC1_KEY)[0].contains("does not match"));
        assert!(errors(SEC1_CERT, PKCS1_KEY)[0].contains("does not match"));
    }

    #[test]
    fn registry_passwords_are_masked() {
        let v = r#"{"Mirrors":{"docker.io":{"Endpoints":["https://m.corp"]}},"Configs":{"m.corp":{"Auth":{"Username":"bob","Password":"Pa55word"},"TLS":{"InsecureSkipVerify":true}}}}"#;
        let d = describe(CONTAINERD_REGISTRY, v, NOW, &Thresholds::default());
        let all = format!("{:?}{}", d.lines, d.detail);
        assert!(!all.contains("Pa55word"), "{all}");
        assert!(all.contains("auth user bob password ***"), "{all}");
        assert_eq!(d.level(), Level::Warn);
        let kept = registry_without_auth(v);
        assert!(
            !kept.contains("Pa55word") && !kept.contains("bob"),
            "{}",
            *kept
        );
        assert!(kept.contains("InsecureSkipVerify"), "{}", *kept);
    }

    #[test]
    fn a_cert_covers_its_names() {
        let (leaf, _) = make_chain(
            "corp",
            "h.corp",
            NOW - Duration::days(1),
            NOW + Duration::days(10),
        );
        let c = &parse_pem_str("x", &leaf).certs[0];
        assert!(covers_host(c, "kubernetes"));
        assert!(covers_host(c, "10.0.0.5"));
        assert!(!covers_host(c, "10.0.0.6"));
        assert!(!covers_host(c, "other.corp"));
    }
}
