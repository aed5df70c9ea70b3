//! X.509 certificates of RKE2 nodes: parse every block of a `.crt` file, judge
//! expiry against [`Thresholds`], and say what renews it.
//!
//! RKE2 renews *leaf* certificates within 120 days of expiry when rke2-server
//! (or rke2-agent) starts (90 before the May 2025 releases: [`renew_window`]);
//! CAs (10 years) are never renewed automatically; the serving certificates
//! that kube-controller-manager and kube-scheduler sign themselves were not
//! renewed by RKE2 at all, which is why those (and only those: newer RKE2
//! issues them from its server CA) get the known workaround text.

use super::level::{Finding, Level, Thresholds};
use ::time::OffsetDateTime;
use base64::Engine as _;
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;
use x509_parser::prelude::*;

const DAY: i64 = 86_400;

/// Where on a node a certificate lives; decides which service renews it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertPlace {
    /// `/var/lib/rancher/rke2/server/tls/*.crt`
    ServerTls,
    /// `/var/lib/rancher/rke2/server/tls/etcd/*.crt`
    Etcd,
    /// `/var/lib/rancher/rke2/server/tls/kube-controller-manager/*.crt`
    ControllerManager,
    /// `/var/lib/rancher/rke2/server/tls/kube-scheduler/*.crt`
    Scheduler,
    /// `/var/lib/rancher/rke2/agent/*.crt`
    Agent,
    /// Anywhere else (settings, uploaded files).
    Other,
}

impl CertPlace {
    /// Human label for tables and messages.
    pub fn label(self) -> &'static str {
        match self {
            CertPlace::ServerTls => "server tls",
            CertPlace::Etcd => "etcd",
            CertPlace::ControllerManager => "kube-controller-manager",
            CertPlace::Scheduler => "kube-scheduler",
            CertPlace::Agent => "agent",
            CertPlace::Other => "other",
        }
    }
}

/// Classifies a path by the RKE2 folder it is in (absolute or relative paths).
pub fn classify_path(path: &str) -> CertPlace {
    let p = path.replace('\\', "/");
    if p.contains("server/tls/kube-controller-manager/") {
        CertPlace::ControllerManager
    } else if p.contains("server/tls/kube-scheduler/") {
        CertPlace::Scheduler
    } else if p.contains("server/tls/etcd/") {
        CertPlace::Etcd
    } else if p.contains("server/tls/") {
        CertPlace::ServerTls
    } else if p.contains("rke2/agent/") || p.starts_with("agent/") {
        CertPlace::Agent
    } else {
        CertPlace::Other
    }
}

/// What was read out of one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// The file it came from.
    pub path: String,
    /// 0-based position among the certificate blocks of the file (leaf first, usually).
    pub index: usize,
    /// Subject DN, RFC 4514-like.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Subject CN if any (RKE2 names its certs by CN, e.g. `rke2-server-ca@1700000000`).
    pub subject_cn: Option<String>,
    /// Issuer CN if any.
    pub issuer_cn: Option<String>,
    /// Serial number, lower-case hex without separators (as `openssl x509 -serial`, lower-cased).
    pub serial_hex: String,
    /// Start of validity.
    #[serde(serialize_with = "super::ser_time")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(serialize_with = "super::ser_time")]
    pub not_after: OffsetDateTime,
    /// basicConstraints CA flag.
    pub is_ca: bool,
    /// Subject and issuer are the same.
    pub self_signed: bool,
    /// DNS subject alternative names.
    pub dns_sans: Vec<String>,
    /// IP subject alternative names.
    pub ip_sans: Vec<IpAddr>,
    /// Key usages, e.g. `Digital Signature`.
    pub key_usage: Vec<String>,
    /// Extended key usages, e.g. `serverAuth`.
    pub ext_key_usage: Vec<String>,
    /// SHA-256 of the DER, hex; tells copies of one certificate apart from renewed ones.
    pub sha256: String,
}

/// Why a certificate file (or one block of it) could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{path}: {reason}")]
pub struct CertFileError {
    /// The file.
    pub path: String,
    /// What is wrong, with the block number when it is one block.
    pub reason: String,
}

/// All certificates of one file plus the problems found in it; a broken
/// second block does not hide a good first one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertFile {
    /// The file.
    pub path: String,
    /// Parsed certificates, in file order.
    pub certs: Vec<CertInfo>,
    /// Problems; empty when the whole file was understood.
    pub errors: Vec<CertFileError>,
}

struct PemBlock {
    label: String,
    der: Result<Vec<u8>, String>,
}

/// Splits PEM text into blocks. Our own small splitter, so that a broken
/// block gives a per-block error and the next block is still read.
fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, String> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String, usize)> = None;
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            let label = rest.strip_suffix("-----").unwrap_or(rest).to_string();
            if let Some((l, _, start)) = current.take() {
                blocks.push(PemBlock {
                    label: l,
                    der: Err(format!(
                        "block starting at line {} has no END line",
                        start + 1
                    )),
                });
            }
            current = Some((label, String::new(), no));
        } else if let Some(rest) = line.strip_prefix("-----END ") {
            let label = rest.strip_suffix("-----").unwrap_or(rest);
            match current.take() {
                Some((l, body, start)) => {
                    let der = if l != label {
                        Err(format!(
                            "block starting at line {} ends with a different label",
                            start + 1
                        ))
                    } else {
                        base64::engine::general_purpose::STANDARD
                            .decode(body.as_bytes())
                            .map_err(|_| {
                                format!("block starting at line {} is not valid base64", start + 1)
                            })
                    };
                    blocks.push(PemBlock { label: l, der });
                }
                None => return Err(format!("END line {} without BEGIN", no + 1)),
            }
        } else if let Some((_, body, _)) = current.as_mut() {
            // RFC 1421 headers (Proc-Type: ...) only appear in key blocks.
            if !line.contains(':') {
                body.push_str(line);
            }
        }
    }
    if let Some((l, _, start)) = current {
        blocks.push(PemBlock {
            label: l,
            der: Err(format!(
                "block starting at line {} is cut short (no END line)",
                start + 1
            )),
        });
    }
    Ok(blocks)
}

/// Parses a certificate file: every `CERTIFICATE` PEM block, or a single DER
/// certificate when the file is not PEM. Other PEM blocks (keys) are skipped
/// without being decoded further.
pub fn parse_cert_file(path: &str, bytes: &[u8]) -> CertFile {
    let mut out = CertFile {
        path: path.to_string(),
        certs: Vec::new(),
        errors: Vec::new(),
    };
    let err = |reason: String| CertFileError {
        path: path.to_string(),
        reason,
    };
    let looks_pem = bytes.windows(11).any(|w| w == b"-----BEGIN ");
    if !looks_pem {
        if bytes.first() == Some(&0x30) {
            match parse_der(path, 0, bytes) {
                Ok(c) => out.certs.push(c),
                Err(e) => out.errors.push(err(format!("not a DER certificate: {e}"))),
            }
        } else if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            out.errors.push(err("file is empty".into()));
        } else {
            out.errors.push(err(
                "neither PEM nor DER: no certificate in this file".into()
            ));
        }
        return out;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        out.errors.push(err("PEM file is not valid text".into()));
        return out;
    };
    let blocks = match pem_blocks(text) {
        Ok(b) => b,
        Err(e) => {
            out.errors.push(err(format!("malformed PEM: {e}")));
            return out;
        }
    };
    let mut index = 0;
    for block in blocks {
        if block.label != "CERTIFICATE" {
            continue;
        }
        let this = index;
        index += 1;
        match block.der {
            Ok(der) => match parse_der(path, this, &der) {
                Ok(c) => out.certs.push(c),
                Err(e) => out.errors.push(err(format!(
                    "certificate block {} is not a valid X.509 certificate: {e}",
                    this + 1
                ))),
            },
            Err(e) => out.errors.push(err(format!("malformed PEM: {e}"))),
        }
    }
    if out.certs.is_empty() && out.errors.is_empty() {
        out.errors
            .push(err("no CERTIFICATE block in this PEM file".into()));
    }
    out
}

/// Parses a PEM bundle held in a string (Harvester settings carry PEM text).
pub fn parse_pem_str(source: &str, text: &str) -> CertFile {
    parse_cert_file(source, text.as_bytes())
}

fn parse_der(path: &str, index: usize, der: &[u8]) -> Result<CertInfo, String> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err("trailing bytes after the certificate".into());
    }
    let cn = |name: &X509Name| {
        name.iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
            .map(str::to_string)
    };
    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|bc| bc.value.ca);
    let mut dns_sans = Vec::new();
    let mut ip_sans = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns_sans.push((*d).to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => ip_sans.push(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())),
                    16 => ip_sans.push(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    let key_usage = match cert.key_usage() {
        Ok(Some(ku)) => ku
            .value
            .to_string()
            .split(", ")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let mut ext_key_usage = Vec::new();
    if let Ok(Some(eku)) = cert.extended_key_usage() {
        let e = eku.value;
        for (on, name) in [
            (e.any, "any"),
            (e.server_auth, "serverAuth"),
            (e.client_auth, "clientAuth"),
            (e.code_signing, "codeSigning"),
            (e.email_protection, "emailProtection"),
            (e.time_stamping, "timeStamping"),
            (e.ocsp_signing, "OCSPSigning"),
        ] {
            if on {
                ext_key_usage.push(name.to_string());
            }
        }
        for oid in &e.other {
            ext_key_usage.push(oid.to_id_string());
        }
    }
    use sha2::Digest as _;
    Ok(CertInfo {
        path: path.to_string(),
        index,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        subject_cn: cn(cert.subject()),
        issuer_cn: cn(cert.issuer()),
        serial_hex: hex::encode(cert.tbs_certificate.raw_serial()),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        is_ca,
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        dns_sans,
        ip_sans,
        key_usage,
        ext_key_usage,
        sha256: hex::encode(sha2::Sha256::digest(der)),
    })
}

/// A certificate with its judgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertAssessment {
    /// The certificate.
    pub cert: CertInfo,
    /// Where it lives.
    pub place: CertPlace,
    /// How bad.
    pub level: Level,
    /// Seconds until not_after (negative once expired).
    pub remaining_secs: i64,
    /// What it means and what to do.
    pub message: String,
}

impl CertAssessment {
    /// Whole days left, rounded down (negative once expired).
    pub fn days_left(&self) -> i64 {
        self.remaining_secs.div_euclid(DAY)
    }

    /// The finding for reports.
    pub fn finding(&self) -> Finding {
        let who = self
            .cert
            .subject_cn
            .as_deref()
            .unwrap_or(&self.cert.subject);
        Finding::new(
            self.level,
            format!("{} [{}] {}", self.cert.path, self.cert.index, who),
            self.message.clone(),
        )
    }
}

/// How many days before expiry RKE2 renews leaf certificates when it
/// starts, and what that was decided from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenewWindow {
    pub days: i64,
    /// e.g. `RKE2 v1.33.5+rke2r1 (the Node's kubeletVersion)`.
    pub basis: String,
}

/// The window before the May 2025 RKE2 releases.
pub const OLD_RENEW_DAYS: i64 = 90;
/// The window from the May 2025 RKE2 releases on.
pub const NEW_RENEW_DAYS: i64 = 120;

/// The window of an RKE2 version (`v1.33.1+rke2r1`): 120 days from the May
/// 2025 releases (v1.33.1, v1.32.5, v1.31.9, v1.30.13; rke2-docs
/// `security/certificates.md`), 90 before. None when it is not a version.
pub fn renew_days_of_version(version: &str) -> Option<i64> {
    let core = version.trim().trim_start_matches('v');
    let core = core.split(['+', '-']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
    let (major, minor, patch) = (parts.next()??, parts.next()??, parts.next()??);
    if major != 1 {
        return None;
    }
    let first_new_patch = match minor {
        0..=29 => return Some(OLD_RENEW_DAYS),
        30 => 13,
        31 => 9,
        32 => 5,
        33 => 1,
        _ => 0,
    };
    Some(if patch >= first_new_patch {
        NEW_RENEW_DAYS
    } else {
        OLD_RENEW_DAYS
    })
}

/// The window for a node from the versions known about it, the Node's
/// `kubeletVersion` first (it follows upgrades; rancherd's
/// `kubernetesVersion` is what the node was installed with). Unknown: the
/// older 90 days (or less when configured), so harvcred never promises a
/// renewal RKE2 would not do.
pub fn renew_window(
    kubelet_version: Option<&str>,
    rancherd_version: Option<&str>,
    configured_days: i64,
) -> RenewWindow {
    for (v, from) in [
        (kubelet_version, "the Node's kubeletVersion"),
        (
            rancherd_version,
            "kubernetesVersion in /etc/rancher/rancherd/config.yaml",
        ),
    ] {
        if let Some(v) = v
            && let Some(days) = renew_days_of_version(v)
        {
            return RenewWindow {
                days,
                basis: format!("RKE2 {v} ({from})"),
            };
        }
    }
    RenewWindow {
        days: configured_days.min(OLD_RENEW_DAYS),
        basis: "RKE2 version unknown; assuming the window of releases before May 2025".into(),
    }
}

/// Does a controller-manager / scheduler certificate come from the
/// component itself (`kube-controller-manager-ca@…`, the older RKE2 that
/// never renews it) rather than from RKE2's server CA (newer RKE2, k3s#12172,
/// an ordinary leaf RKE2 renews)?
///
/// A self-signed CA in the same file is not the component's: newer RKE2
/// appends its server CA (`rke2-server-ca@…`) to the leaf, and that CA is
/// judged as the CA it is.
pub fn component_signed(cert: &CertInfo, component: &str) -> bool {
    (cert.self_signed && !cert.is_ca)
        || cert
            .issuer_cn
            .as_deref()
            .is_some_and(|cn| cn.starts_with(&format!("{component}-ca@")))
}

/// The text of the known workaround for the self-signed controller-manager /
/// scheduler serving certificates (rancher/rancher#41125, harvester#3863).
pub fn kcm_scheduler_workaround(component: &str) -> String {
    format!(
        "{component} signs this certificate itself and RKE2 does not renew it; after a year Rancher waits forever at \
         \"waiting for probes: kube-controller-manager, kube-scheduler\". Fix on this node: \
         rm /var/lib/rancher/rke2/server/tls/{component}/{component}.crt /var/lib/rancher/rke2/server/tls/{component}/{component}.key, \
         then restart the static pod: export CRI_CONFIG_FILE=/var/lib/rancher/rke2/agent/etc/crictl.yaml; \
         /var/lib/rancher/rke2/bin/crictl rm -f $(/var/lib/rancher/rke2/bin/crictl ps -q --name {component})"
    )
}

fn component_of(place: CertPlace) -> &'static str {
    if place == CertPlace::ControllerManager {
        "kube-controller-manager"
    } else {
        "kube-scheduler"
    }
}

fn span_text(remaining: i64) -> String {
    if remaining <= 0 {
        format!("expired {} ago", short_duration(-remaining))
    } else {
        format!("expires in {}", short_duration(remaining))
    }
}

fn restart_hint(place: CertPlace) -> &'static str {
    match place {
        CertPlace::Agent => "restart rke2-agent on a worker (rke2-server on a control-plane node)",
        _ => "restart rke2-server on this node",
    }
}

/// Judges one certificate at `now`.
pub fn assess(cert: &CertInfo, now: OffsetDateTime, t: &Thresholds) -> CertAssessment {
    let place = classify_path(&cert.path);
    let remaining = (cert.not_after - now).whole_seconds();
    let base = t.level_for_remaining(remaining);
    let when = span_text(remaining);
    let renew = t.renew_at_restart_days;
    let (level, message) = match place {
        CertPlace::ControllerManager | CertPlace::Scheduler
            if component_signed(cert, component_of(place)) =>
        {
            let component = component_of(place);
            let age_days = (now - cert.not_before).whole_days();
            let old = age_days > 365;
            let level = match base {
                // Not renewed at restart: inside the window it is a warning.
                Level::RenewsAtRestart => Level::Warn,
                Level::Ok if old => Level::Warn,
                other => other,
            };
            if level == Level::Ok {
                (level, format!("{when}; issued {age_days} days ago"))
            } else {
                let age = if old {
                    format!(" and was issued {age_days} days ago")
                } else {
                    String::new()
                };
                (
                    level,
                    format!("{when}{age}. {}", kcm_scheduler_workaround(component)),
                )
            }
        }
        CertPlace::Other => {
            // Not an RKE2 file (a setting, an uploaded bundle): nothing renews it.
            let level = match base {
                Level::RenewsAtRestart => Level::Ok,
                other => other,
            };
            let what = if cert.is_ca {
                "CA certificate"
            } else {
                "certificate"
            };
            let msg = match level {
                Level::Ok => format!("{what}, {when}; not renewed automatically"),
                Level::Expired => {
                    format!("{what} {when}: replace it now; nothing renews it automatically")
                }
                _ => format!(
                    "{what} {when}: replace it before it expires; nothing renews it automatically"
                ),
            };
            (level, msg)
        }
        _ if cert.is_ca => {
            let level = match base {
                // Nothing renews a CA at restart.
                Level::RenewsAtRestart => Level::Warn,
                other => other,
            };
            let msg = match level {
                Level::Ok => format!("CA, {when}; CAs are not renewed automatically"),
                Level::Expired => format!(
                    "CA {when}: everything it signed is rejected; a new CA is needed: `rke2 certificate rotate-ca --path=<staging dir>` (disruptive with self-signed CAs; see RKE2 docs)"
                ),
                _ => format!(
                    "CA {when} and is not renewed automatically: plan `rke2 certificate rotate-ca --path=<staging dir>` (disruptive with self-signed CAs) well before it expires"
                ),
            };
            (level, msg)
        }
        _ => {
            let restart = restart_hint(place);
            let msg = match base {
                Level::Ok => format!(
                    "{when}; RKE2 renews it at a restart once fewer than {renew} days are left"
                ),
                Level::RenewsAtRestart => format!(
                    "{when}; RKE2 renews it when it next starts: {restart} (or turn on auto-rotate-rke2-certs)"
                ),
                Level::Warn => format!(
                    "{when}: renew it now: {restart} (RKE2 renews leaf certificates within {renew} days of expiry at start), or stop it, run `rke2 certificate rotate`, start it"
                ),
                Level::Critical => format!(
                    "{when}: Harvester's upgrade pre-check fails and the cluster is at risk: {restart} now (or stop it, `rke2 certificate rotate`, start it)"
                ),
                _ => format!(
                    "{when}: auto-rotation cannot fix expired certificates; on this node stop the service, run `rke2 certificate rotate`, start it, then restart rancher-system-agent if it logs \"secret received was too old\""
                ),
            };
            (base, msg)
        }
    };
    CertAssessment {
        cert: cert.clone(),
        place,
        level,
        remaining_secs: remaining,
        message,
    }
}

/// Judges every certificate of a file; parse errors become `Unknown` findings.
pub fn assess_file(
    file: &CertFile,
    now: OffsetDateTime,
    t: &Thresholds,
) -> (Vec<CertAssessment>, Vec<Finding>) {
    let assessed = file.certs.iter().map(|c| assess(c, now, t)).collect();
    let problems = file
        .errors
        .iter()
        .map(|e| {
            Finding::new(
                Level::Unknown,
                e.path.clone(),
                format!(
                    "{}: check the file on the node (`openssl x509 -in <file> -noout -enddate`)",
                    e.reason
                ),
            )
        })
        .collect();
    (assessed, problems)
}

/// Sorts worst first, then soonest expiry, then path and block.
pub fn sort_worst_first(items: &mut [CertAssessment]) {
    items.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then(a.cert.not_after.cmp(&b.cert.not_after))
            .then_with(|| a.cert.path.cmp(&b.cert.path))
            .then(a.cert.index.cmp(&b.cert.index))
    });
}

/// [`sort_worst_first`] for certificates of several nodes, the node as a
/// tie-breaker before the path.
pub fn sort_with_nodes(all: &mut [(String, CertAssessment)]) {
    all.sort_by(|(na, a), (nb, b)| {
        b.level
            .cmp(&a.level)
            .then(a.cert.not_after.cmp(&b.cert.not_after))
            .then_with(|| na.cmp(nb))
            .then_with(|| a.cert.path.cmp(&b.cert.path))
            .then(a.cert.index.cmp(&b.cert.index))
    });
}

/// Short residual time like kubeadm's `check-expiration`: `364d`, `23h`, `9y`.
pub fn short_duration(secs: i64) -> String {
    let s = secs.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < DAY {
        format!("{}h", s / 3600)
    } else if s < 365 * DAY {
        format!("{}d", s / DAY)
    } else {
        format!("{}y", s / (365 * DAY))
    }
}

/// Residual time for a table cell: `364d`, `23h`, or `expired 3d ago`.
pub fn residual(not_after: OffsetDateTime, now: OffsetDateTime) -> String {
    let r = (not_after - now).whole_seconds();
    if r <= 0 {
        format!("expired {} ago", short_duration(-r))
    } else {
        short_duration(r)
    }
}

/// Expiry date as kubeadm prints it: `Jan 02, 2027 15:04 UTC`.
pub fn format_expiry(t: OffsetDateTime) -> String {
    let t = t.to_offset(::time::UtcOffset::UTC);
    let fmt =
        ::time::macros::format_description!("[month repr:short] [day], [year] [hour]:[minute] UTC");
    t.format(&fmt).unwrap_or_else(|_| t.to_string())
}

/// One row of a `check-expiration`-style table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertRow {
    /// File (block number appended when the file holds several certificates).
    pub file: String,
    /// Subject CN (or full subject when there is no CN).
    pub subject: String,
    /// `Jan 02, 2027 15:04 UTC`.
    pub expires: String,
    /// `364d`, `23h`, `expired 3d ago`.
    pub residual: String,
    /// The issuing CA's CN; empty for self-signed CAs (as kubeadm does).
    pub authority: String,
    /// CA or leaf.
    pub is_ca: bool,
    /// Level.
    pub level: Level,
}

impl fmt::Display for CertRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}  {}  {}  {}  {}  {}",
            self.file, self.subject, self.expires, self.residual, self.authority, self.level
        )
    }
}

/// Builds table rows; files holding several certificates get `#n` (1-based block) appended.
pub fn table_rows(items: &[CertAssessment], now: OffsetDateTime) -> Vec<CertRow> {
    use std::collections::HashMap;
    let mut per_file: HashMap<&str, usize> = HashMap::new();
    for a in items {
        *per_file.entry(a.cert.path.as_str()).or_default() += 1;
    }
    items
        .iter()
        .map(|a| {
            let c = &a.cert;
            let file = if per_file.get(c.path.as_str()).copied().unwrap_or(0) > 1 || c.index > 0 {
                format!("{}#{}", c.path, c.index + 1)
            } else {
                c.path.clone()
            };
            CertRow {
                file,
                subject: c.subject_cn.clone().unwrap_or_else(|| c.subject.clone()),
                expires: format_expiry(c.not_after),
                residual: residual(c.not_after, now),
                authority: if c.self_signed {
                    String::new()
                } else {
                    c.issuer_cn.clone().unwrap_or_else(|| c.issuer.clone())
                },
                is_ca: c.is_ca,
                level: a.level,
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ::time::{Duration, macros::datetime};
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, SanType,
    };

    pub(crate) const NOW: OffsetDateTime = datetime!(2026-11-29 12:00 UTC);

    /// A CA and a leaf, both as PEM, with chosen validity.
    pub(crate) fn make_chain(
        ca_cn: &str,
        leaf_cn: &str,
        leaf_not_before: OffsetDateTime,
        leaf_not_after: OffsetDateTime,
    ) -> (String, String) {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name.push(DnType::CommonName, ca_cn);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.not_before = datetime!(2024-01-01 0:00 UTC);
        ca.not_after = datetime!(2034-01-01 0:00 UTC);
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let mut leaf =
            CertificateParams::new(vec!["kubernetes".to_string(), "10.0.0.5".to_string()]).unwrap();
        leaf.subject_alt_names
            .push(SanType::IpAddress("fd00::5".parse().unwrap()));
        leaf.distinguished_name.push(DnType::CommonName, leaf_cn);
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.not_before = leaf_not_before;
        leaf.not_after = leaf_not_after;
        leaf.serial_number = Some(vec![0x1f, 0xa2, 0x03].into());
        let key = KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&key, &issuer).unwrap();
        (leaf_cert.pem(), ca_cert.pem())
    }

    fn leaf_expiring(days: i64) -> String {
        let (leaf, ca) = make_chain(
            "rke2-server-ca@1700000000",
            "kube-apiserver",
            NOW - Duration::days(300),
            NOW + Duration::days(days) + Duration::hours(1),
        );
        leaf + &ca
    }

    #[test]
    fn multi_block_pem_gives_leaf_then_ca() {
        let pem = leaf_expiring(200);
        let f = parse_cert_file(
            "/var/lib/rancher/rke2/server/tls/serving-kube-apiserver.crt",
            pem.as_bytes(),
        );
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(f.certs.len(), 2);
        let leaf = &f.certs[0];
        assert_eq!(leaf.subject_cn.as_deref(), Some("kube-apiserver"));
        assert_eq!(leaf.issuer_cn.as_deref(), Some("rke2-server-ca@1700000000"));
        assert!(!leaf.is_ca);
        assert!(!leaf.self_signed);
        assert_eq!(leaf.serial_hex, "1fa203");
        assert_eq!(leaf.dns_sans, vec!["kubernetes".to_string()]);
        assert!(
            leaf.ip_sans
                .contains(&"10.0.0.5".parse::<IpAddr>().unwrap())
        );
        assert!(leaf.ip_sans.contains(&"fd00::5".parse::<IpAddr>().unwrap()));
        assert_eq!(leaf.ext_key_usage, vec!["serverAuth".to_string()]);
        let ca = &f.certs[1];
        assert!(ca.is_ca && ca.self_signed);
        assert_eq!(ca.index, 1);
    }

    #[test]
    fn levels_and_messages_for_leaf_certs() {
        let t = Thresholds::default();
        let path = "/var/lib/rancher/rke2/server/tls/client-admin.crt";
        let judge = |days: i64| {
            let f = parse_cert_file(path, leaf_expiring(days).as_bytes());
            assess(&f.certs[0], NOW, &t)
        };
        let a = judge(200);
        assert_eq!(a.level, Level::Ok);
        assert_eq!(a.days_left(), 200);
        let a = judge(100);
        assert_eq!(a.level, Level::RenewsAtRestart);
        assert!(a.message.contains("restart rke2-server"), "{}", a.message);
        let a = judge(20);
        assert_eq!(a.level, Level::Warn);
        assert!(a.message.contains("renew it now"));
        let a = judge(5);
        assert_eq!(a.level, Level::Critical);
        assert!(a.message.contains("upgrade pre-check"));
        let a = judge(-4);
        assert_eq!(a.level, Level::Expired);
        assert!(a.message.contains("expired 3d ago"), "{}", a.message);
        assert!(a.message.contains("rke2 certificate rotate"));
    }

    #[test]
    fn agent_certs_name_rke2_agent() {
        let f = parse_cert_file(
            "/var/lib/rancher/rke2/agent/client-kubelet.crt",
            leaf_expiring(50).as_bytes(),
        );
        let a = assess(&f.certs[0], NOW, &Thresholds::default());
        assert_eq!(a.place, CertPlace::Agent);
        assert!(a.message.contains("rke2-agent"));
    }

    #[test]
    fn ca_is_judged_with_other_advice() {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, "rke2-client-ca@1");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.not_before = NOW - Duration::days(3600);
        ca.not_after = NOW + Duration::days(60);
        let k = KeyPair::generate().unwrap();
        let pem = ca.self_signed(&k).unwrap().pem();
        let f = parse_cert_file(
            "/var/lib/rancher/rke2/server/tls/client-ca.crt",
            pem.as_bytes(),
        );
        let a = assess(&f.certs[0], NOW, &Thresholds::default());
        assert!(a.cert.is_ca);
        // 60 days: a leaf would renew at restart, a CA does not.
        assert_eq!(a.level, Level::Warn);
        assert!(a.message.contains("rotate-ca"));
        assert!(a.message.contains("not renewed automatically"));
    }

    #[test]
    fn controller_manager_cert_gets_workaround() {
        let (leaf, ca) = make_chain(
            "kube-controller-manager-ca@1690000000",
            "kube-controller-manager@1690000000",
            NOW - Duration::days(400),
            NOW - Duration::days(35),
        );
        let path =
            "/var/lib/rancher/rke2/server/tls/kube-controller-manager/kube-controller-manager.crt";
        let f = parse_cert_file(path, (leaf + &ca).as_bytes());
        let a = assess(&f.certs[0], NOW, &Thresholds::default());
        assert_eq!(a.place, CertPlace::ControllerManager);
        assert_eq!(a.level, Level::Expired);
        assert!(a.message.contains("rm /var/lib/rancher/rke2/server/tls/kube-controller-manager/kube-controller-manager.crt"));
        assert!(
            a.message
                .contains("crictl ps -q --name kube-controller-manager")
        );
        assert!(a.message.contains("issued 400 days ago"));

        // Young and valid: fine.
        let (leaf, _) = make_chain(
            "kube-scheduler-ca@1",
            "kube-scheduler@1",
            NOW - Duration::days(10),
            NOW + Duration::days(355),
        );
        let f = parse_cert_file(
            "/var/lib/rancher/rke2/server/tls/kube-scheduler/kube-scheduler.crt",
            leaf.as_bytes(),
        );
        let a = assess(&f.certs[0], NOW, &Thresholds::default());
        assert_eq!(a.level, Level::Ok);
        // Inside 120 days: not renewed at restart, so warn with the workaround.
        let (leaf, _) = make_chain(
            "kube-scheduler-ca@1",
            "kube-scheduler@1",
            NOW - Duration::days(300),
            NOW + Duration::days(65),
        );
        let f = parse_cert_file(
            "/var/lib/rancher/rke2/server/tls/kube-scheduler/kube-scheduler.crt",
            leaf.as_bytes(),
        );
        let a = assess(&f.certs[0], NOW, &Thresholds::default());
        assert_eq!(a.level, Level::Warn);
        assert!(a.message.contains("crictl rm -f"));
    }

    /// Newer RKE2 issues these from its server CA and renews them: an
    /// ordinary leaf, and the rm-and-restart workaround (which can leave the
    /// component without a certificate, rke2#8305) is not offered.
    #[test]
    fn controller_manager_cert_from_the_server_ca_is_an_ordinary_leaf() {
        for component in ["kube-controller-manager", "kube-scheduler"] {
            let (leaf, ca) = make_chain(
                "rke2-server-ca@1735689600",
                component,
                NOW - Duration::days(300),
                NOW + Duration::days(65),
            );
            let path = format!("/var/lib/rancher/rke2/server/tls/{component}/{component}.crt");
            let f = parse_cert_file(&path, (leaf + &ca).as_bytes());
            let a = assess(&f.certs[0], NOW, &Thresholds::default());
            assert_eq!(a.level, Level::RenewsAtRestart, "{}", a.message);
            assert!(!a.message.contains("rm /var/lib"), "{}", a.message);
            assert!(!a.message.contains("crictl"), "{}", a.message);
            assert!(a.message.contains("restart rke2-server"), "{}", a.message);
            // The server CA appended after the leaf is judged as a CA, not
            // as the component's own certificate.
            let a = assess(&f.certs[1], NOW, &Thresholds::default());
            assert!(!a.message.contains("crictl"), "{}", a.message);
            // The same file self-signed (older RKE2): the workaround.
            let (leaf, _) = make_chain(
                &format!("{component}-ca@1735689600"),
                &format!("{component}@1735689600"),
                NOW - Duration::days(300),
                NOW + Duration::days(65),
            );
            let f = parse_cert_file(&path, leaf.as_bytes());
            let a = assess(&f.certs[0], NOW, &Thresholds::default());
            assert_eq!(a.level, Level::Warn);
            assert!(
                a.message
                    .contains(&format!("crictl ps -q --name {component}"))
            );
        }
    }

    #[test]
    fn the_renewal_window_follows_the_rke2_version() {
        for (v, days) in [
            ("v1.33.1+rke2r1", 120),
            ("v1.33.0+rke2r1", 90),
            ("v1.32.5+rke2r1", 120),
            ("v1.32.4+rke2r1", 90),
            ("v1.31.9+rke2r1", 120),
            ("v1.31.8+rke2r1", 90),
            ("v1.30.13+rke2r1", 120),
            ("v1.30.12+rke2r1", 90),
            ("v1.29.15+rke2r1", 90),
            ("v1.27.10+rke2r1", 90),
            ("v1.34.0+rke2r1", 120),
        ] {
            assert_eq!(renew_days_of_version(v), Some(days), "{v}");
        }
        assert_eq!(renew_days_of_version("garbage"), None);
        let w = renew_window(Some("v1.33.5+rke2r1"), Some("v1.29.9+rke2r1"), 120);
        assert_eq!(w.days, 120);
        assert!(w.basis.contains("kubeletVersion"), "{}", w.basis);
        let w = renew_window(None, Some("v1.29.9+rke2r1"), 120);
        assert_eq!(w.days, 90);
        assert!(w.basis.contains("rancherd"), "{}", w.basis);
        let w = renew_window(None, None, 120);
        assert_eq!(w.days, 90);
        assert!(w.basis.contains("unknown"), "{}", w.basis);
    }

    #[test]
    fn malformed_pem_is_a_per_file_error_not_a_panic() {
        let good = leaf_expiring(200);
        let mut lines: Vec<&str> = good.lines().collect();
        // Cut the second block short.
        lines.truncate(lines.len() - 1);
        let cut = lines.join("\n");
        let f = parse_cert_file("x.crt", cut.as_bytes());
        assert_eq!(f.certs.len(), 1);
        assert_eq!(f.errors.len(), 1);
        assert!(
            f.errors[0].to_string().starts_with("x.crt: malformed PEM"),
            "{}",
            f.errors[0]
        );

        let bad = "-----BEGIN CERTIFICATE-----\n!!!notbase64!!!\n-----END CERTIFICATE-----\n";
        let f = parse_cert_file("y.crt", bad.as_bytes());
        assert!(f.certs.is_empty());
        assert!(f.errors[0].reason.contains("not valid base64"));

        let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let f = parse_cert_file("z.crt", junk.as_bytes());
        assert!(
            f.errors[0].reason.contains("not a valid X.509"),
            "{}",
            f.errors[0]
        );

        for (bytes, want) in [
            (&b""[..], "empty"),
            (b"hello", "neither PEM nor DER"),
            (b"\x30\x03\x01\x01\x00", "not a DER"),
            (
                b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "no CERTIFICATE block",
            ),
        ] {
            let f = parse_cert_file("w", bytes);
            assert!(f.certs.is_empty());
            assert!(f.errors[0].reason.contains(want), "{want}: {:?}", f.errors);
        }
        let (_, findings) =
            assess_file(&parse_cert_file("w", b"hello"), NOW, &Thresholds::default());
        assert_eq!(findings[0].level, Level::Unknown);
    }

    /// Cut or mangled files give errors, never panics (remote bytes are untrusted).
    #[test]
    fn mangled_input_never_panics() {
        let pem = leaf_expiring(100);
        for cut in (0..pem.len()).step_by(3) {
            let _ = parse_cert_file("x", &pem.as_bytes()[..cut]);
            let mut flipped = pem.as_bytes().to_vec();
            flipped[cut] ^= 0x55;
            let _ = parse_cert_file("x", &flipped);
        }
        let block: String = pem
            .lines()
            .take_while(|l| !l.starts_with("-----END"))
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(block)
            .unwrap();
        for cut in 0..der.len() {
            let _ = parse_cert_file("x", &der[..cut]);
        }
    }

    #[test]
    fn der_file_is_accepted() {
        let (leaf, _) = make_chain(
            "ca",
            "leaf",
            NOW - Duration::days(1),
            NOW + Duration::days(364),
        );
        let block: String = leaf.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(block)
            .unwrap();
        let f = parse_cert_file("leaf.der", &der);
        assert!(f.errors.is_empty());
        assert_eq!(f.certs[0].subject_cn.as_deref(), Some("leaf"));
    }

    #[test]
    fn key_blocks_in_a_bundle_are_skipped() {
        let (leaf, ca) = make_chain(
            "ca",
            "leaf",
            NOW - Duration::days(1),
            NOW + Duration::days(364),
        );
        let pem = format!(
            "{leaf}-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END EC PRIVATE KEY-----\n{ca}"
        );
        let f = parse_cert_file("bundle.pem", pem.as_bytes());
        assert!(f.errors.is_empty());
        assert_eq!(f.certs.len(), 2);
        assert_eq!(f.certs[1].index, 1);
    }

    #[test]
    fn rows_sorted_worst_first_with_residual() {
        let t = Thresholds::default();
        let mut all = Vec::new();
        for (name, days) in [("a.crt", 200), ("b.crt", -3), ("c.crt", 20)] {
            let f = parse_cert_file(
                &format!("/var/lib/rancher/rke2/server/tls/{name}"),
                leaf_expiring(days).as_bytes(),
            );
            all.extend(f.certs.iter().map(|c| assess(c, NOW, &t)));
        }
        sort_worst_first(&mut all);
        let rows = table_rows(&all, NOW);
        assert_eq!(rows[0].level, Level::Expired);
        assert!(rows[0].file.ends_with("b.crt#1"));
        assert_eq!(rows[0].residual, "expired 2d ago");
        assert_eq!(rows[1].level, Level::Warn);
        assert_eq!(rows[1].residual, "20d");
        assert_eq!(rows[0].authority, "rke2-server-ca@1700000000");
        // The CA rows: self-signed, no authority, 7y left.
        let ca_row = rows.iter().find(|r| r.is_ca).unwrap();
        assert_eq!(ca_row.authority, "");
        assert_eq!(ca_row.residual, "7y");
        assert_eq!(ca_row.expires, "Jan 01, 2034 00:00 UTC");
    }

    #[test]
    fn residual_forms() {
        assert_eq!(
            residual(NOW + Duration::days(364) + Duration::hours(2), NOW),
            "364d"
        );
        assert_eq!(
            residual(NOW + Duration::hours(23) + Duration::minutes(5), NOW),
            "23h"
        );
        assert_eq!(residual(NOW + Duration::minutes(5), NOW), "5m");
        assert_eq!(
            residual(NOW - Duration::days(3) - Duration::hours(1), NOW),
            "expired 3d ago"
        );
        assert_eq!(residual(NOW, NOW), "expired 0s ago");
    }

    #[test]
    fn classify_paths() {
        assert_eq!(
            classify_path("/var/lib/rancher/rke2/server/tls/client-admin.crt"),
            CertPlace::ServerTls
        );
        assert_eq!(
            classify_path("/var/lib/rancher/rke2/server/tls/etcd/peer-ca.crt"),
            CertPlace::Etcd
        );
        assert_eq!(
            classify_path("/var/lib/rancher/rke2/server/tls/kube-scheduler/kube-scheduler.crt"),
            CertPlace::Scheduler
        );
        assert_eq!(
            classify_path("server/tls/kube-controller-manager/kube-controller-manager.crt"),
            CertPlace::ControllerManager
        );
        assert_eq!(
            classify_path("/var/lib/rancher/rke2/agent/serving-kubelet.crt"),
            CertPlace::Agent
        );
        assert_eq!(classify_path("/tmp/x.crt"), CertPlace::Other);
    }

    /// Independent check: openssl reads the same dates and serial.
    #[test]
    fn dates_and_serial_agree_with_openssl() {
        let not_after = datetime!(2027-03-04 05:06:07 UTC);
        let (leaf, _) = make_chain("ca", "leaf", datetime!(2026-03-04 05:06:07 UTC), not_after);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("leaf.crt");
        std::fs::write(&p, &leaf).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-enddate", "-startdate", "-serial", "-in"])
            .arg(&p)
            .output()
            .expect("openssl is installed");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("notAfter=Mar  4 05:06:07 2027 GMT"), "{text}");
        assert!(
            text.contains("notBefore=Mar  4 05:06:07 2026 GMT"),
            "{text}"
        );
        let f = parse_cert_file("leaf.crt", leaf.as_bytes());
        assert_eq!(f.certs[0].not_after, not_after);
        let serial = text
            .lines()
            .find_map(|l| l.strip_prefix("serial="))
            .unwrap();
        assert_eq!(serial.to_lowercase(), f.certs[0].serial_hex);
    }
}
