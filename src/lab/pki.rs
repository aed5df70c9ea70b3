//! Real X.509 material shaped like RKE2's: the cluster CAs every server shares,
//! the leaf certificates each node carries under `/var/lib/rancher/rke2`, the
//! self-signed serving certificates kube-controller-manager and kube-scheduler
//! make for themselves, and the certificates of the lab's API.
//!
//! Keys are ECDSA P-256 and written as SEC1 `EC PRIVATE KEY`, as RKE2 writes
//! them. Every `.crt` of a leaf holds the leaf followed by its CA, as RKE2's do.
//!
//! Differences from a real node, on purpose: `service.key` and the
//! controller-manager/scheduler certificates are ECDSA (the components make
//! RSA 2048 ones; ring cannot generate RSA keys).

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::plan::{LabPlan, NodePlan};

/// RKE2's server TLS folder, relative to a root.
pub const SERVER_TLS: &str = "var/lib/rancher/rke2/server/tls";
/// RKE2's agent folder (agent certificates), relative to a root.
pub const AGENT_DIR: &str = "var/lib/rancher/rke2/agent";
/// The RKE2 a lab runs unless a scenario says otherwise (Harvester v1.6).
pub const RKE2_VERSION: &str = "v1.33.5+rke2r1";
/// An RKE2 from before May 2025, as Harvester v1.5 ships.
pub const OLD_RKE2_VERSION: &str = "v1.32.3+rke2r1";

/// `(minor, patch)` of `v1.M.P+rke2rN`.
fn minor_patch(version: &str) -> Option<(u32, u32)> {
    let core = version.trim_start_matches('v').split('+').next()?;
    let mut it = core.split('.').skip(1);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Whether `version` is one of RKE2's May 2025 releases (v1.33.1, v1.32.5,
/// v1.31.9, v1.30.13) or newer: those renew within 120 days instead of 90
/// and issue the controller-manager and scheduler serving certificates
/// from the server CA (k3s#12172) instead of letting them self-sign.
pub fn from_may_2025(version: &str) -> bool {
    match minor_patch(version) {
        Some((m, _)) if m >= 34 => true,
        Some((33, p)) => p >= 1,
        Some((32, p)) => p >= 5,
        Some((31, p)) => p >= 9,
        Some((30, p)) => p >= 13,
        _ => false,
    }
}

/// Leaf certificates this close to expiry are renewed when RKE2 starts.
pub fn renew_within_days(version: &str) -> i64 {
    if from_may_2025(version) { 120 } else { 90 }
}
/// Lifetime of RKE2's leaf certificates.
pub const LEAF_DAYS: i64 = 365;
/// Lifetime of RKE2's self-signed CAs.
pub const CA_DAYS: i64 = 3650;
/// How long before `generate(now)` the lab's cluster was "installed": the CAs
/// predate every leaf the scenarios back-date (at most 400 days).
pub const CLUSTER_AGE_DAYS: i64 = 420;

/// A validity period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// Issued `days_ago` days before `now`, valid `lifetime_days`.
    pub fn issued_days_ago(now: OffsetDateTime, days_ago: i64, lifetime_days: i64) -> Self {
        let not_before = trunc(now) - Duration::days(days_ago);
        Validity {
            not_before,
            not_after: not_before + Duration::days(lifetime_days),
        }
    }
    /// A healthy leaf: issued 30 days ago, 365-day lifetime.
    pub fn healthy(now: OffsetDateTime) -> Self {
        Self::issued_days_ago(now, 30, LEAF_DAYS)
    }
    /// A 365-day leaf with `days` left (negative: expired that many days ago).
    pub fn days_left(now: OffsetDateTime, days: i64) -> Self {
        Self::issued_days_ago(now, LEAF_DAYS - days, LEAF_DAYS)
    }
    /// Fresh: from now, `days` long (what a renewal issues).
    pub fn fresh(now: OffsetDateTime, days: i64) -> Self {
        Self::issued_days_ago(now, 0, days)
    }
}

fn trunc(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).expect("0 is a valid nanosecond")
}

/// The names a node's certificates carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeIdentity {
    pub hostname: String,
    pub ip: Ipv4Addr,
    pub vip: Ipv4Addr,
}

impl NodeIdentity {
    pub fn from_plan(plan: &LabPlan, node: &NodePlan) -> Self {
        NodeIdentity {
            hostname: node.name.clone(),
            ip: node.ip,
            vip: plan.vip(),
        }
    }
}

/// A CA certificate and its key, both PEM. `Debug` never shows the key.
#[derive(Clone, Serialize, Deserialize)]
pub struct CaPem {
    pub cert: String,
    pub key: String,
}

impl fmt::Debug for CaPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = read_chain(&self.cert)
            .ok()
            .and_then(|c| c.into_iter().next())
            .map(|c| c.subject)
            .unwrap_or_default();
        f.debug_struct("CaPem")
            .field("subject", &subject)
            .field("key", &"[elided]")
            .finish()
    }
}

/// The CAs RKE2 creates on the first server and every server shares.
#[derive(Clone, Serialize, Deserialize)]
pub struct ClusterPki {
    pub server_ca: CaPem,
    pub client_ca: CaPem,
    pub request_header_ca: CaPem,
    pub etcd_server_ca: CaPem,
    pub etcd_peer_ca: CaPem,
    /// The service-account signing key (`service.key`), shared by all servers.
    pub service_key: String,
}

impl fmt::Debug for ClusterPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterPki")
            .field("server_ca", &self.server_ca)
            .field("client_ca", &self.client_ca)
            .field("request_header_ca", &self.request_header_ca)
            .field("etcd_server_ca", &self.etcd_server_ca)
            .field("etcd_peer_ca", &self.etcd_peer_ca)
            .field("service_key", &"[elided]")
            .finish()
    }
}

/// Which cluster CA signs a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaKind {
    Server,
    Client,
    RequestHeader,
    EtcdServer,
    EtcdPeer,
}

impl CaKind {
    pub const ALL: [CaKind; 5] = [
        CaKind::Server,
        CaKind::Client,
        CaKind::RequestHeader,
        CaKind::EtcdServer,
        CaKind::EtcdPeer,
    ];
    /// File stem under `server/tls`.
    pub fn file_stem(self) -> &'static str {
        match self {
            CaKind::Server => "server-ca",
            CaKind::Client => "client-ca",
            CaKind::RequestHeader => "request-header-ca",
            CaKind::EtcdServer => "etcd/server-ca",
            CaKind::EtcdPeer => "etcd/peer-ca",
        }
    }
    /// The common name before `@<unix ts>`.
    pub fn cn_prefix(self) -> &'static str {
        match self {
            CaKind::Server => "rke2-server-ca",
            CaKind::Client => "rke2-client-ca",
            CaKind::RequestHeader => "rke2-request-header-ca",
            CaKind::EtcdServer => "etcd-server-ca",
            CaKind::EtcdPeer => "etcd-peer-ca",
        }
    }
    /// The CA that issued a certificate, from the issuer's common name.
    pub fn from_issuer_cn(cn: &str) -> Option<CaKind> {
        let prefix = cn.split('@').next()?;
        CaKind::ALL.into_iter().find(|k| k.cn_prefix() == prefix)
    }
}

/// What a leaf is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Client,
    Server,
    Both,
}

/// One leaf certificate RKE2 writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafSpec {
    /// Path of the `.crt` relative to its folder (`server/tls` or `agent`).
    pub file: String,
    pub cn: String,
    pub org: Option<String>,
    pub ca: CaKind,
    pub usage: Usage,
    pub sans: Vec<String>,
}

fn leaf(file: &str, cn: &str, org: Option<&str>, ca: CaKind, usage: Usage) -> LeafSpec {
    LeafSpec {
        file: file.to_string(),
        cn: cn.to_string(),
        org: org.map(str::to_string),
        ca,
        usage,
        sans: Vec::new(),
    }
}

/// The leaf certificates of `server/tls`, as RKE2 names them.
pub fn server_leaf_specs(node: &NodeIdentity) -> Vec<LeafSpec> {
    use CaKind::{EtcdPeer, EtcdServer, RequestHeader};
    let etcd_sans = vec![
        "localhost".to_string(),
        node.hostname.clone(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        node.ip.to_string(),
    ];
    vec![
        leaf(
            "client-admin.crt",
            "system:admin",
            Some("system:masters"),
            CaKind::Client,
            Usage::Client,
        ),
        leaf(
            "client-supervisor.crt",
            "system:rke2-supervisor",
            Some("system:masters"),
            CaKind::Client,
            Usage::Client,
        ),
        leaf(
            "client-controller.crt",
            "system:kube-controller-manager",
            None,
            CaKind::Client,
            Usage::Client,
        ),
        leaf(
            "client-scheduler.crt",
            "system:kube-scheduler",
            None,
            CaKind::Client,
            Usage::Client,
        ),
        leaf(
            "client-kube-apiserver.crt",
            "system:apiserver",
            Some("system:masters"),
            CaKind::Client,
            Usage::Client,
        ),
        leaf(
            "client-kube-proxy.crt",
            "system:kube-proxy",
            None,
            CaKind::Client,
            Usage::Client,
        ),
        leaf(
            "client-rke2-controller.crt",
            "system:rke2-controller",
            None,
            CaKind::Client,
            Usage::Client,
        ),
        leaf(
            "client-rke2-cloud-controller.crt",
            "rke2-cloud-controller-manager",
            None,
            CaKind::Client,
            Usage::Client,
        ),
        leaf(
            "client-auth-proxy.crt",
            "system:auth-proxy",
            None,
            RequestHeader,
            Usage::Client,
        ),
        LeafSpec {
            sans: vec![
                "kubernetes".into(),
                "kubernetes.default".into(),
                "kubernetes.default.svc".into(),
                "kubernetes.default.svc.cluster.local".into(),
                "localhost".into(),
                node.hostname.clone(),
                "127.0.0.1".into(),
                "::1".into(),
                node.ip.to_string(),
                node.vip.to_string(),
                "10.53.0.1".into(),
            ],
            ..leaf(
                "serving-kube-apiserver.crt",
                "kube-apiserver",
                None,
                CaKind::Server,
                Usage::Server,
            )
        },
        LeafSpec {
            sans: etcd_sans.clone(),
            ..leaf(
                "etcd/server-client.crt",
                "etcd-server",
                None,
                EtcdServer,
                Usage::Both,
            )
        },
        LeafSpec {
            sans: etcd_sans,
            ..leaf(
                "etcd/peer-server-client.crt",
                "etcd-peer",
                None,
                EtcdPeer,
                Usage::Both,
            )
        },
        leaf(
            "etcd/client.crt",
            "etcd-client",
            None,
            EtcdServer,
            Usage::Client,
        ),
    ]
}

/// The leaf certificates of `agent/`, as RKE2 names them.
pub fn agent_leaf_specs(node: &NodeIdentity) -> Vec<LeafSpec> {
    vec![
        leaf(
            "client-kubelet.crt",
            &format!("system:node:{}", node.hostname),
            Some("system:nodes"),
            CaKind::Client,
            Usage::Client,
        ),
        LeafSpec {
            sans: vec![
                node.hostname.clone(),
                "localhost".into(),
                "127.0.0.1".into(),
                node.ip.to_string(),
            ],
            ..leaf(
                "serving-kubelet.crt",
                &node.hostname,
                None,
                CaKind::Server,
                Usage::Server,
            )
        },
        leaf(
            "client-kube-proxy.crt",
            "system:kube-proxy",
            None,
            CaKind::Client,
            Usage::Client,
        ),
        leaf(
            "client-rke2-controller.crt",
            "system:rke2-controller",
            None,
            CaKind::Client,
            Usage::Client,
        ),
    ]
}

/// The self-signed serving certificates components make under `--cert-dir`.
pub const COMPONENT_CERTS: [(&str, &str); 2] = [
    (
        "kube-controller-manager",
        "kube-controller-manager/kube-controller-manager.crt",
    ),
    ("kube-scheduler", "kube-scheduler/kube-scheduler.crt"),
];

impl ClusterPki {
    /// New cluster CAs, 10 years from `now - CLUSTER_AGE_DAYS`.
    pub fn generate(now: OffsetDateTime) -> Result<Self> {
        let v = Validity::issued_days_ago(now, CLUSTER_AGE_DAYS, CA_DAYS);
        let ca = |kind: CaKind| -> Result<CaPem> {
            let cn = format!("{}@{}", kind.cn_prefix(), v.not_before.unix_timestamp());
            let (cert, key) = self_signed_ca(&cn, v)?;
            Ok(CaPem { cert, key })
        };
        Ok(ClusterPki {
            server_ca: ca(CaKind::Server)?,
            client_ca: ca(CaKind::Client)?,
            request_header_ca: ca(CaKind::RequestHeader)?,
            etcd_server_ca: ca(CaKind::EtcdServer)?,
            etcd_peer_ca: ca(CaKind::EtcdPeer)?,
            service_key: new_key_pem()?,
        })
    }

    pub fn ca(&self, kind: CaKind) -> &CaPem {
        match kind {
            CaKind::Server => &self.server_ca,
            CaKind::Client => &self.client_ca,
            CaKind::RequestHeader => &self.request_header_ca,
            CaKind::EtcdServer => &self.etcd_server_ca,
            CaKind::EtcdPeer => &self.etcd_peer_ca,
        }
    }

    /// Issue one leaf with a new key: `(leaf + CA chain PEM, SEC1 key PEM)`.
    pub fn issue(&self, spec: &LeafSpec, validity: Validity) -> Result<(String, String)> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let chain = sign_leaf(spec, &key, self.ca(spec.ca), validity)?;
        Ok((chain, key_to_sec1_pem(&key)?))
    }

    /// Write `var/lib/rancher/rke2/server/tls/...` under `root`: the CAs, the
    /// leaves with `leaf` validity, the kubelet keys, the service key, and the
    /// controller-manager/scheduler serving certs with `components` validity,
    /// as RKE2 `version` makes them (server CA, or self-signed).
    pub fn write_server_tls(
        &self,
        root: &Path,
        node: &NodeIdentity,
        leaf: Validity,
        components: Validity,
        version: &str,
    ) -> Result<()> {
        let tls = root.join(SERVER_TLS);
        for kind in CaKind::ALL {
            let ca = self.ca(kind);
            write_file(
                &tls.join(format!("{}.crt", kind.file_stem())),
                &ca.cert,
                0o644,
            )?;
            write_file(
                &tls.join(format!("{}.key", kind.file_stem())),
                &ca.key,
                0o600,
            )?;
            if matches!(
                kind,
                CaKind::Server | CaKind::Client | CaKind::RequestHeader
            ) {
                write_file(
                    &tls.join(format!("{}.nochain.crt", kind.file_stem())),
                    &ca.cert,
                    0o644,
                )?;
            }
        }
        write_file(&tls.join("service.key"), &self.service_key, 0o600)?;
        write_file(&tls.join("service.current.key"), &self.service_key, 0o600)?;
        for spec in server_leaf_specs(node) {
            let (chain, key) = self.issue(&spec, leaf)?;
            write_pair(&tls.join(&spec.file), &chain, &key)?;
        }
        write_file(&tls.join("client-kubelet.key"), &new_key_pem()?, 0o600)?;
        write_file(&tls.join("serving-kubelet.key"), &new_key_pem()?, 0o600)?;
        for (name, file) in COMPONENT_CERTS {
            let (chain, key) = if from_may_2025(version) {
                component_cert_from_ca(name, &self.server_ca, components)?
            } else {
                component_serving_cert(name, components)?
            };
            write_pair(&tls.join(file), &chain, &key)?;
        }
        Ok(())
    }

    /// Write `var/lib/rancher/rke2/agent/*.crt` (+ keys) and the CA copies under `root`.
    pub fn write_agent_certs(
        &self,
        root: &Path,
        node: &NodeIdentity,
        leaf: Validity,
    ) -> Result<()> {
        let agent = root.join(AGENT_DIR);
        write_file(&agent.join("server-ca.crt"), &self.server_ca.cert, 0o644)?;
        write_file(&agent.join("client-ca.crt"), &self.client_ca.cert, 0o644)?;
        for spec in agent_leaf_specs(node) {
            let (chain, key) = self.issue(&spec, leaf)?;
            write_pair(&agent.join(&spec.file), &chain, &key)?;
        }
        Ok(())
    }

    /// server-ca's certificate PEM (a kubeconfig's certificate-authority-data).
    pub fn server_ca_pem(&self) -> &str {
        &self.server_ca.cert
    }

    /// client-ca's certificate PEM (what the API verifies client certs with).
    pub fn client_ca_pem(&self) -> &str {
        &self.client_ca.cert
    }

    /// A serving certificate for the lab's API listener, signed by server-ca,
    /// valid one year: `(leaf + server-ca PEM, SEC1 key PEM)`.
    ///
    /// Panics only if a DNS name is not a valid IA5 string (non-ASCII).
    pub fn issue_api_serving(&self, ips: &[IpAddr], dns: &[&str]) -> (String, String) {
        let mut sans: Vec<String> = dns.iter().map(|d| d.to_string()).collect();
        sans.extend(ips.iter().map(|ip| ip.to_string()));
        let spec = LeafSpec {
            sans,
            ..leaf(
                "serving-kube-apiserver.crt",
                "kube-apiserver",
                None,
                CaKind::Server,
                Usage::Server,
            )
        };
        self.issue(
            &spec,
            Validity::issued_days_ago(OffsetDateTime::now_utc(), 0, LEAF_DAYS),
        )
        .expect("issuing the API serving certificate")
    }

    /// `CN=system:admin, O=system:masters` signed by client-ca, one year, as in
    /// an RKE2 kubeconfig: `(leaf + client-ca PEM, SEC1 "EC PRIVATE KEY" PEM)`.
    pub fn issue_admin_client(&self) -> (String, String) {
        let spec = leaf(
            "client-admin.crt",
            "system:admin",
            Some("system:masters"),
            CaKind::Client,
            Usage::Client,
        );
        self.issue(
            &spec,
            Validity::issued_days_ago(OffsetDateTime::now_utc(), 0, LEAF_DAYS),
        )
        .expect("issuing the admin client certificate")
    }
}

/// SHA-256 hex of a CA file's bytes, as in a secure token.
pub fn ca_hash(pem: &str) -> String {
    hex::encode(Sha256::digest(pem.as_bytes()))
}

/// A secure-format server token: `K10<ca hash>::server:<secret>`.
pub fn server_token(server_ca_pem: &str, secret: &str) -> String {
    format!("K10{}::server:{secret}", ca_hash(server_ca_pem))
}

/// The secret (password) part of a token in either format.
pub fn token_secret(token: &str) -> &str {
    let token = token.trim();
    if let Some(rest) = token.strip_prefix("K10")
        && let Some((_, creds)) = rest.split_once("::")
    {
        return creds.split_once(':').map(|(_, pw)| pw).unwrap_or(creds);
    }
    token
}

// ---------------------------------------------------------------------------
// Issuing

fn dn(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    if let Some(o) = org {
        dn.push(DnType::OrganizationName, o);
    }
    dn.push(DnType::CommonName, cn);
    dn
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

fn ca_params(cn: &str, v: Validity) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn, None);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    p.not_before = v.not_before;
    p.not_after = v.not_after;
    p.serial_number = Some(random_serial());
    p
}

fn self_signed_ca(cn: &str, v: Validity) -> Result<(String, String)> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let cert = ca_params(cn, v).self_signed(&key)?;
    Ok((cert.pem(), key_to_sec1_pem(&key)?))
}

fn leaf_params(spec: &LeafSpec, v: Validity) -> Result<CertificateParams> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&spec.cn, spec.org.as_deref());
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = match spec.usage {
        Usage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        Usage::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
        Usage::Both => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    };
    p.subject_alt_names = spec
        .sans
        .iter()
        .map(|s| {
            Ok(match s.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(s.clone().try_into()?),
            })
        })
        .collect::<Result<Vec<_>, rcgen::Error>>()?;
    p.use_authority_key_identifier_extension = true;
    p.not_before = v.not_before;
    p.not_after = v.not_after;
    p.serial_number = Some(random_serial());
    Ok(p)
}

/// Sign a leaf for `key` with `ca`; returns leaf PEM followed by the CA's first PEM block.
fn sign_leaf(spec: &LeafSpec, key: &KeyPair, ca: &CaPem, v: Validity) -> Result<String> {
    let ca_key = key_from_pem(&ca.key).context("reading the CA key")?;
    let ca_cert = first_pem_block(&ca.cert)?;
    let issuer =
        Issuer::from_ca_cert_pem(&ca_cert, ca_key).context("reading the CA certificate")?;
    let cert = leaf_params(spec, v)?.signed_by(key, &issuer)?;
    Ok(format!("{}{}", cert.pem(), ca_cert))
}

/// A component's self-signed serving cert (`<name>@<ts>` issued by
/// `<name>-ca@<ts>`), as client-go's `GenerateSelfSignedCertKey` makes it:
/// `(leaf + CA PEM, leaf key PEM)`.
pub fn component_serving_cert(name: &str, v: Validity) -> Result<(String, String)> {
    let ts = v.not_before.unix_timestamp();
    let (ca_cert, ca_key) = self_signed_ca(&format!("{name}-ca@{ts}"), v)?;
    let spec = LeafSpec {
        sans: vec!["localhost".into(), "127.0.0.1".into()],
        ..leaf(
            "",
            &format!("{name}@{ts}"),
            None,
            CaKind::Server,
            Usage::Server,
        )
    };
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let chain = sign_leaf(
        &spec,
        &key,
        &CaPem {
            cert: ca_cert,
            key: ca_key,
        },
        v,
    )?;
    Ok((chain, key_to_sec1_pem(&key)?))
}

/// A component's serving cert as newer RKE2 issues it: `CN=<name>`,
/// `localhost`/`127.0.0.1`, signed by server-ca.
pub fn component_cert_from_ca(name: &str, ca: &CaPem, v: Validity) -> Result<(String, String)> {
    let spec = LeafSpec {
        sans: vec!["localhost".into(), "127.0.0.1".into()],
        ..leaf("", name, None, CaKind::Server, Usage::Server)
    };
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let chain = sign_leaf(&spec, &key, ca, v)?;
    Ok((chain, key_to_sec1_pem(&key)?))
}

/// Containerd's root under `agent/`, relative to [`AGENT_DIR`].
pub const CONTAINERD_DIR: &str = "containerd";

/// The CA bundles container images carry in their layers, as containerd
/// unpacks them under `agent/containerd/`: a few roots, one of them the
/// AddTrust root that expired on 2020-05-30, which images still ship.
/// Returns `(path relative to agent/, PEM text)`.
pub fn image_layer_files() -> Result<Vec<(String, String)>> {
    let at = |y: i32, m: time::Month, d: u8| -> Result<OffsetDateTime> {
        Ok(time::Date::from_calendar_date(y, m, d)?
            .with_hms(10, 48, 38)?
            .assume_utc())
    };
    let root = |cn: &str, from: OffsetDateTime, until: OffsetDateTime| -> Result<String> {
        Ok(self_signed_ca(
            cn,
            Validity {
                not_before: from,
                not_after: until,
            },
        )?
        .0)
    };
    use time::Month::{January, May, September};
    let addtrust = root(
        "AddTrust External CA Root",
        at(2000, May, 30)?,
        at(2020, May, 30)?,
    )?;
    let isrg = root(
        "ISRG Root X1",
        at(2015, September, 4)?,
        at(2035, September, 4)?,
    )?;
    let digicert = root(
        "DigiCert Global Root G2",
        at(2013, January, 1)?,
        at(2038, January, 15)?,
    )?;
    let bundle = format!("{isrg}{addtrust}{digicert}");
    let snap = |n: u32, path: &str| {
        format!("{CONTAINERD_DIR}/io.containerd.snapshotter.v1.overlayfs/snapshots/{n}/fs/{path}")
    };
    Ok(vec![
        (snap(3, "etc/ssl/certs/ca-certificates.crt"), bundle.clone()),
        (
            snap(3, "etc/ssl/certs/AddTrust_External_Root.pem"),
            addtrust.clone(),
        ),
        (snap(3, "etc/ssl/certs/ISRG_Root_X1.pem"), isrg.clone()),
        (snap(9, "etc/pki/tls/certs/ca-bundle.crt"), bundle.clone()),
        (snap(17, "etc/ssl/certs/ca-certificates.crt"), bundle),
        (
            snap(17, "etc/ssl/certs/AddTrust_External_Root.pem"),
            addtrust,
        ),
        (
            snap(
                21,
                "usr/share/ca-certificates/mozilla/DigiCert_Global_Root_G2.crt",
            ),
            digicert,
        ),
    ])
}

/// `server/tls/dynamic-cert.json`: the supervisor listener's certificate as
/// dynamiclistener stores it (a Secret as JSON, PEM base64 in `data`),
/// signed by server-ca.
pub fn dynamic_cert_json(pki: &ClusterPki, node: &NodeIdentity, v: Validity) -> Result<String> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut sans = vec![
        "kubernetes".to_string(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        "kubernetes.default.svc.cluster.local".into(),
        "localhost".into(),
        node.hostname.clone(),
        "127.0.0.1".into(),
        "10.53.0.1".into(),
    ];
    sans.push(node.ip.to_string());
    sans.push(node.vip.to_string());
    let spec = LeafSpec {
        sans: sans.clone(),
        ..leaf("", "rke2", Some("rke2"), CaKind::Server, Usage::Server)
    };
    let (chain, key) = pki.issue(&spec, v)?;
    let mut annotations = serde_json::Map::new();
    for san in &sans {
        annotations.insert(
            format!("listener.cattle.io/cn-{}", san.replace(':', "_")),
            serde_json::Value::String(san.clone()),
        );
    }
    let secret = serde_json::json!({
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": {
            "name": "rke2-serving",
            "namespace": "kube-system",
            "creationTimestamp": null,
            "annotations": annotations,
        },
        "data": {"tls.crt": b64(&chain), "tls.key": b64(&key)},
        "type": "kubernetes.io/tls",
    });
    Ok(serde_json::to_string(&secret)?)
}

fn new_key_pem() -> Result<String> {
    key_to_sec1_pem(&KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?)
}

// ---------------------------------------------------------------------------
// Re-issuing from disk (the stand-in's renewal and rotation)

/// Re-issue the leaf in `crt` with the same subject, SANs and usages, signed
/// by the CA in `ca_crt`/`ca_key`, valid `LEAF_DAYS` from `now`. With
/// `new_key` false the key beside the cert (`.key`) is kept, as RKE2's renewal
/// at start does; with `new_key` true a new one is written, as
/// `rke2 certificate rotate` leads to. Writes `crt` (leaf + CA) and, if new, its key.
pub fn reissue_leaf_file(
    crt: &Path,
    ca_crt: &Path,
    ca_key: &Path,
    new_key: bool,
    now: OffsetDateTime,
) -> Result<()> {
    let text = fs::read_to_string(crt).with_context(|| format!("reading {}", crt.display()))?;
    let info = read_chain(&text)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("{} holds no certificate", crt.display()))?;
    let spec = info.to_spec(crt);
    let key_path = crt.with_extension("key");
    let key = if new_key {
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?
    } else {
        key_from_pem(
            &fs::read_to_string(&key_path)
                .with_context(|| format!("reading {}", key_path.display()))?,
        )?
    };
    let ca = CaPem {
        cert: fs::read_to_string(ca_crt)
            .with_context(|| format!("reading {}", ca_crt.display()))?,
        key: fs::read_to_string(ca_key).with_context(|| format!("reading {}", ca_key.display()))?,
    };
    let chain = sign_leaf(&spec, &key, &ca, Validity::fresh(now, LEAF_DAYS))?;
    if new_key {
        write_pair(crt, &chain, &key_to_sec1_pem(&key)?)
    } else {
        write_file(crt, &chain, 0o644)
    }
}

// ---------------------------------------------------------------------------
// Reading

/// What one PEM block of a `.crt` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// `O=…, CN=…` in certificate order.
    pub subject: String,
    pub cn: String,
    pub org: Option<String>,
    pub issuer_cn: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub is_ca: bool,
    pub server_auth: bool,
    pub client_auth: bool,
    pub sans: Vec<String>,
}

impl CertInfo {
    fn to_spec(&self, crt: &Path) -> LeafSpec {
        LeafSpec {
            file: crt.display().to_string(),
            cn: self.cn.clone(),
            org: self.org.clone(),
            ca: CaKind::from_issuer_cn(&self.issuer_cn).unwrap_or(CaKind::Server),
            usage: match (self.server_auth, self.client_auth) {
                (true, true) => Usage::Both,
                (true, false) => Usage::Server,
                _ => Usage::Client,
            },
            sans: self.sans.clone(),
        }
    }

    /// RKE2's USAGES column: `ClientAuth`, `ServerAuth`, `ServerAuth,ClientAuth` or `CertSign`.
    pub fn usages(&self) -> String {
        if self.is_ca {
            return "CertSign".into();
        }
        let mut u = Vec::new();
        if self.server_auth {
            u.push("ServerAuth");
        }
        if self.client_auth {
            u.push("ClientAuth");
        }
        u.join(",")
    }
}

/// Every certificate in a PEM file, in order.
pub fn read_chain(pem_text: &str) -> Result<Vec<CertInfo>> {
    let mut out = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(pem_text.as_bytes()) {
        let pem = pem.map_err(|e| anyhow!("bad PEM: {e}"))?;
        if pem.label != "CERTIFICATE" {
            continue;
        }
        let x = pem
            .parse_x509()
            .map_err(|e| anyhow!("bad certificate: {e}"))?;
        let attr = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue>| {
            it.next().and_then(|a| a.as_str().ok()).map(str::to_string)
        };
        let cn = attr(&mut x.subject().iter_common_name()).unwrap_or_default();
        let org = attr(&mut x.subject().iter_organization());
        let issuer_cn = attr(&mut x.issuer().iter_common_name()).unwrap_or_default();
        let (server_auth, client_auth) = match x.extended_key_usage() {
            Ok(Some(e)) => (e.value.server_auth, e.value.client_auth),
            _ => (false, false),
        };
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = x.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    x509_parser::extensions::GeneralName::DNSName(d) => sans.push(d.to_string()),
                    x509_parser::extensions::GeneralName::IPAddress(b) => {
                        if let Ok(a) = <[u8; 4]>::try_from(*b) {
                            sans.push(IpAddr::from(a).to_string());
                        } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                            sans.push(IpAddr::from(a).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        let subject = match &org {
            Some(o) => format!("O={o}, CN={cn}"),
            None => format!("CN={cn}"),
        };
        out.push(CertInfo {
            subject,
            cn,
            org,
            issuer_cn,
            not_before: x.validity().not_before.to_datetime(),
            not_after: x.validity().not_after.to_datetime(),
            is_ca: x.is_ca(),
            server_auth,
            client_auth,
            sans,
        });
    }
    Ok(out)
}

fn first_pem_block(text: &str) -> Result<String> {
    let begin = text
        .find("-----BEGIN CERTIFICATE-----")
        .ok_or_else(|| anyhow!("no certificate in PEM"))?;
    let end_marker = "-----END CERTIFICATE-----";
    let end = text[begin..]
        .find(end_marker)
        .ok_or_else(|| anyhow!("unterminated PEM"))?;
    Ok(format!(
        "{}\n",
        &text[begin..begin + end + end_marker.len()]
    ))
}

// ---------------------------------------------------------------------------
// Keys: SEC1 <-> PKCS#8 for P-256 (ring reads and writes only PKCS#8)

const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn der_tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first().ok_or_else(|| anyhow!("short DER"))?;
    let (&len0, mut rest) = rest.split_first().ok_or_else(|| anyhow!("short DER"))?;
    let len = if len0 < 0x80 {
        len0 as usize
    } else {
        let n = (len0 & 0x7f) as usize;
        if n == 0 || n > 3 || rest.len() < n {
            bail!("bad DER length");
        }
        let mut l = 0usize;
        for &b in &rest[..n] {
            l = (l << 8) | b as usize;
        }
        rest = &rest[n..];
        l
    };
    if rest.len() < len {
        bail!("truncated DER");
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// `(private scalar, uncompressed public point)` from an ECPrivateKey.
fn parse_ec_private_key(sec1: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let (tag, body, _) = der_tlv(sec1)?;
    if tag != 0x30 {
        bail!("ECPrivateKey is not a SEQUENCE");
    }
    let (_, _version, rest) = der_tlv(body)?;
    let (tag, private, mut rest) = der_tlv(rest)?;
    if tag != 0x04 {
        bail!("ECPrivateKey without private key");
    }
    let mut public = None;
    while !rest.is_empty() {
        let (tag, content, r) = der_tlv(rest)?;
        if tag == 0xa1 {
            let (_, bits, _) = der_tlv(content)?;
            public = Some(bits.get(1..).unwrap_or_default().to_vec());
        }
        rest = r;
    }
    Ok((
        private.to_vec(),
        public.ok_or_else(|| anyhow!("EC key without its public key"))?,
    ))
}

fn ec_private_key(private: &[u8], public: &[u8], with_params: bool) -> Vec<u8> {
    let mut body = der(0x02, &[1]);
    body.extend(der(0x04, private));
    if with_params {
        body.extend(der(0xa0, &der(0x06, OID_PRIME256V1)));
    }
    let mut bits = vec![0u8];
    bits.extend_from_slice(public);
    body.extend(der(0xa1, &der(0x03, &bits)));
    der(0x30, &body)
}

fn pkcs8_to_sec1(pkcs8: &[u8]) -> Result<Vec<u8>> {
    let (_, body, _) = der_tlv(pkcs8)?;
    let (_, _version, rest) = der_tlv(body)?;
    let (_, _alg, rest) = der_tlv(rest)?;
    let (tag, inner, _) = der_tlv(rest)?;
    if tag != 0x04 {
        bail!("PKCS#8 without a private key");
    }
    let (private, public) = parse_ec_private_key(inner)?;
    Ok(ec_private_key(&private, &public, true))
}

fn sec1_to_pkcs8(sec1: &[u8]) -> Result<Vec<u8>> {
    let (private, public) = parse_ec_private_key(sec1)?;
    let mut alg = der(0x06, OID_EC_PUBLIC_KEY);
    alg.extend(der(0x06, OID_PRIME256V1));
    let mut body = der(0x02, &[0]);
    body.extend(der(0x30, &alg));
    body.extend(der(0x04, &ec_private_key(&private, &public, false)));
    Ok(der(0x30, &body))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A P-256 key as SEC1 `EC PRIVATE KEY` PEM, as RKE2 writes keys.
pub fn key_to_sec1_pem(key: &KeyPair) -> Result<String> {
    Ok(pem_encode(
        "EC PRIVATE KEY",
        &pkcs8_to_sec1(key.serialized_der())?,
    ))
}

/// Read a P-256 key from SEC1 (`EC PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`) PEM.
pub fn key_from_pem(text: &str) -> Result<KeyPair> {
    let pem = x509_parser::pem::Pem::iter_from_buffer(text.as_bytes())
        .next()
        .ok_or_else(|| anyhow!("no PEM block in key"))?
        .map_err(|e| anyhow!("bad key PEM: {e}"))?;
    let pkcs8 = match pem.label.as_str() {
        "EC PRIVATE KEY" => sec1_to_pkcs8(&pem.contents)?,
        "PRIVATE KEY" => pem.contents.clone(),
        other => bail!("unsupported key type {other}"),
    };
    Ok(KeyPair::from_pkcs8_der_and_sign_algo(
        &pkcs8.as_slice().into(),
        &PKCS_ECDSA_P256_SHA256,
    )?)
}

// ---------------------------------------------------------------------------
// Files

/// Write `content` to `path` with `mode` (creating parent folders 0755),
/// atomically (temp file then rename).
pub fn write_file(path: &Path, content: &str, mode: u32) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent", path.display()))?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let _ = fs::remove_file(&tmp);
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(content.as_bytes())?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn write_pair(crt: &Path, chain: &str, key: &str) -> Result<()> {
    write_file(&crt.with_extension("key"), key, 0o600)?;
    write_file(crt, chain, 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn the_may_2025_releases_change_the_window_and_the_component_issuer() {
        for (v, new) in [
            ("v1.33.5+rke2r1", true),
            ("v1.33.1+rke2r1", true),
            ("v1.33.0+rke2r1", false),
            ("v1.32.5+rke2r1", true),
            ("v1.32.3+rke2r1", false),
            ("v1.31.9+rke2r1", true),
            ("v1.30.13+rke2r1", true),
            ("v1.30.12+rke2r1", false),
            ("v1.27.10+rke2r1", false),
            ("v1.34.0+rke2r1", true),
        ] {
            assert_eq!(from_may_2025(v), new, "{v}");
        }
        assert_eq!(renew_within_days(RKE2_VERSION), 120);
        assert_eq!(renew_within_days(OLD_RKE2_VERSION), 90);
        let now = OffsetDateTime::now_utc();
        let pki = ClusterPki::generate(now).unwrap();
        let dir = tempfile::tempdir().unwrap();
        pki.write_server_tls(
            dir.path(),
            &node(),
            Validity::healthy(now),
            Validity::healthy(now),
            RKE2_VERSION,
        )
        .unwrap();
        let kcm = read_chain(
            &fs::read_to_string(
                dir.path()
                    .join(SERVER_TLS)
                    .join("kube-controller-manager/kube-controller-manager.crt"),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(kcm[0].cn, "kube-controller-manager");
        assert!(kcm[0].issuer_cn.starts_with("rke2-server-ca@"), "{kcm:?}");
    }

    fn openssl(args: &[&str]) -> String {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn node() -> NodeIdentity {
        NodeIdentity {
            hostname: "node2".into(),
            ip: Ipv4Addr::new(10, 213, 7, 12),
            vip: Ipv4Addr::new(10, 213, 7, 10),
        }
    }

    #[test]
    fn server_tls_tree_is_what_openssl_sees_and_chains_verify() {
        let now = OffsetDateTime::now_utc();
        let pki = ClusterPki::generate(now).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        pki.write_server_tls(
            root,
            &node(),
            Validity::days_left(now, 10),
            Validity::issued_days_ago(now, 400, 365),
            OLD_RKE2_VERSION,
        )
        .unwrap();
        pki.write_agent_certs(root, &node(), Validity::healthy(now))
            .unwrap();
        let tls = root.join(SERVER_TLS);
        let p = |f: &str| tls.join(f).display().to_string();

        // CA subject and 10-year validity.
        let subj = openssl(&["x509", "-noout", "-subject", "-in", &p("server-ca.crt")]);
        assert!(
            subj.contains("CN=rke2-server-ca@") || subj.contains("CN = rke2-server-ca@"),
            "{subj}"
        );
        let dates = openssl(&["x509", "-noout", "-dates", "-in", &p("etcd/peer-ca.crt")]);
        let ca = &read_chain(&pki.etcd_peer_ca.cert).unwrap()[0];
        assert_eq!((ca.not_after - ca.not_before).whole_days(), CA_DAYS);
        assert!(dates.contains(&ca.not_after.year().to_string()), "{dates}");

        // Leaf: two blocks, admin subject, openssl's notAfter is 10 days out.
        let admin = fs::read_to_string(p("client-admin.crt")).unwrap();
        assert_eq!(admin.matches("BEGIN CERTIFICATE").count(), 2);
        let subj = openssl(&["x509", "-noout", "-subject", "-in", &p("client-admin.crt")]);
        assert!(
            subj.contains("system:masters") && subj.contains("system:admin"),
            "{subj}"
        );
        let end = openssl(&["x509", "-noout", "-enddate", "-in", &p("client-admin.crt")]);
        let want = (now + Duration::days(10)).date();
        let month = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ][want.month() as usize - 1];
        assert!(
            end.contains(month) && end.contains(&want.year().to_string()),
            "{end} vs {want}"
        );

        for (leaf, ca) in [
            ("client-admin.crt", "client-ca.crt"),
            ("serving-kube-apiserver.crt", "server-ca.crt"),
            ("client-auth-proxy.crt", "request-header-ca.crt"),
            ("etcd/server-client.crt", "etcd/server-ca.crt"),
            ("etcd/peer-server-client.crt", "etcd/peer-ca.crt"),
        ] {
            let out = openssl(&["verify", "-CAfile", &p(ca), &p(leaf)]);
            assert!(out.contains(": OK"), "{leaf}: {out}");
        }
        // The API serving SANs include the node IP and the VIP.
        let text = openssl(&[
            "x509",
            "-noout",
            "-text",
            "-in",
            &p("serving-kube-apiserver.crt"),
        ]);
        for san in [
            "DNS:kubernetes.default.svc.cluster.local",
            "IP Address:10.213.7.12",
            "IP Address:10.213.7.10",
            "IP Address:10.53.0.1",
        ] {
            assert!(text.contains(san), "missing {san}");
        }
        // Agent certs verify against the agent's own CA copies.
        let agent = root.join(AGENT_DIR);
        let a = |f: &str| agent.join(f).display().to_string();
        let out = openssl(&[
            "verify",
            "-CAfile",
            &a("server-ca.crt"),
            &a("serving-kubelet.crt"),
        ]);
        assert!(out.contains(": OK"), "{out}");
        let subj = openssl(&[
            "x509",
            "-noout",
            "-subject",
            "-in",
            &a("client-kubelet.crt"),
        ]);
        assert!(subj.contains("system:node:node2"), "{subj}");

        // Controller-manager: self-signed pair, expired 35 days ago.
        let kcm = read_chain(
            &fs::read_to_string(p("kube-controller-manager/kube-controller-manager.crt")).unwrap(),
        )
        .unwrap();
        assert!(kcm[0].cn.starts_with("kube-controller-manager@"));
        assert!(kcm[0].issuer_cn.starts_with("kube-controller-manager-ca@"));
        assert!(kcm[1].is_ca && kcm[0].not_after < now);

        // Keys: SEC1, 0600, and openssl reads them.
        let key = p("client-admin.key");
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(
            fs::read_to_string(&key)
                .unwrap()
                .starts_with("-----BEGIN EC PRIVATE KEY-----")
        );
        openssl(&["ec", "-noout", "-check", "-in", &key]);
        for f in [
            "client-kubelet.key",
            "serving-kubelet.key",
            "service.key",
            "service.current.key",
            "server-ca.nochain.crt",
        ] {
            assert!(tls.join(f).exists(), "{f}");
        }
    }

    #[test]
    fn reissue_keeps_subject_sans_and_key_or_makes_a_new_key() {
        let now = OffsetDateTime::now_utc();
        let pki = ClusterPki::generate(now).unwrap();
        let dir = tempfile::tempdir().unwrap();
        pki.write_server_tls(
            dir.path(),
            &node(),
            Validity::days_left(now, -5),
            Validity::healthy(now),
            RKE2_VERSION,
        )
        .unwrap();
        let tls = dir.path().join(SERVER_TLS);
        let crt = tls.join("serving-kube-apiserver.crt");
        let key_before = fs::read_to_string(crt.with_extension("key")).unwrap();
        let before = read_chain(&fs::read_to_string(&crt).unwrap()).unwrap();
        reissue_leaf_file(
            &crt,
            &tls.join("server-ca.crt"),
            &tls.join("server-ca.key"),
            false,
            now,
        )
        .unwrap();
        let after = read_chain(&fs::read_to_string(&crt).unwrap()).unwrap();
        assert_eq!(after.len(), 2);
        assert_eq!(after[0].subject, before[0].subject);
        assert_eq!(after[0].sans, before[0].sans);
        assert!(after[0].server_auth && !after[0].client_auth);
        assert_eq!((after[0].not_after - now).whole_days(), LEAF_DAYS - 1);
        assert_eq!(
            fs::read_to_string(crt.with_extension("key")).unwrap(),
            key_before
        );
        let out = openssl(&[
            "verify",
            "-CAfile",
            &tls.join("server-ca.crt").display().to_string(),
            &crt.display().to_string(),
        ]);
        assert!(out.contains(": OK"), "{out}");
        // The renewed cert matches the kept key.
        let pubkey_cert = openssl(&[
            "x509",
            "-noout",
            "-pubkey",
            "-in",
            &crt.display().to_string(),
        ]);
        let pubkey_key = openssl(&[
            "ec",
            "-pubout",
            "-in",
            &crt.with_extension("key").display().to_string(),
        ]);
        assert_eq!(pubkey_cert, pubkey_key);

        let etcd = tls.join("etcd/peer-server-client.crt");
        reissue_leaf_file(
            &etcd,
            &tls.join("etcd/peer-ca.crt"),
            &tls.join("etcd/peer-ca.key"),
            true,
            now,
        )
        .unwrap();
        let info = &read_chain(&fs::read_to_string(&etcd).unwrap()).unwrap()[0];
        assert!(info.server_auth && info.client_auth && info.cn == "etcd-peer");
    }

    #[test]
    fn api_and_admin_certs_and_token_format() {
        let pki = ClusterPki::generate(OffsetDateTime::now_utc()).unwrap();
        let (chain, key) = pki.issue_api_serving(
            &["10.213.7.1".parse().unwrap()],
            &["localhost", "kubernetes"],
        );
        let info = read_chain(&chain).unwrap();
        assert_eq!(info[0].sans, ["localhost", "kubernetes", "10.213.7.1"]);
        assert!(key_from_pem(&key).is_ok());
        let (cert, key) = pki.issue_admin_client();
        assert_eq!(
            read_chain(&cert).unwrap()[0].subject,
            "O=system:masters, CN=system:admin"
        );
        assert!(key.starts_with("-----BEGIN EC PRIVATE KEY-----"));

        let t = server_token(&pki.server_ca.cert, "s3cret");
        assert_eq!(t.len(), 3 + 64 + "::server:s3cret".len());
        assert!(t.starts_with(&format!("K10{}", ca_hash(&pki.server_ca.cert))));
        assert_eq!(token_secret(&t), "s3cret");
        assert_eq!(token_secret("plain"), "plain");
        let dbg = format!("{pki:?}");
        assert!(
            !dbg.contains("PRIVATE KEY") && dbg.contains("rke2-server-ca@"),
            "{dbg}"
        );
        // Serialisable round trip.
        let json = serde_json::to_string(&pki).unwrap();
        let back: ClusterPki = serde_json::from_str(&json).unwrap();
        assert_eq!(back.server_ca.cert, pki.server_ca.cert);
    }
}
