//! One node's credential report: the files read from it (by `node::gather`)
//! judged area by area with the other `creds` modules, plus the comparison of
//! token copies across nodes. What the node table, the detail panes and
//! `harvcred status` show.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::certs::{self, CertAssessment};
use super::keys::{self, AuthorizedKey};
use super::level::{Finding, Level, Thresholds, sort_findings, worst_of};
use super::oem;
use super::password::{self, Sensitive};
use super::proxy::{self, HttpProxySetting};
use super::token::{self, Token};

/// What reading one file on a node gave.
#[derive(Clone, PartialEq, Eq)]
pub enum FileRead {
    /// The bytes (zeroised on drop: some files hold the token or a hash).
    Content(Zeroizing<Vec<u8>>),
    Missing,
    /// There, but root could not read it.
    Unreadable,
    /// Larger than any file harvcred reads (`model::MAX_FILE_BYTES`): not sent.
    TooLarge,
    /// Not sent: the node's output had reached `model::MAX_OUTPUT_BYTES`.
    OverOutputLimit,
}

impl FileRead {
    pub fn is_content(&self) -> bool {
        matches!(self, FileRead::Content(_))
    }
}

impl std::fmt::Debug for FileRead {
    // Contents can be secret: show only their size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileRead::Content(c) => write!(f, "Content({} bytes)", c.len()),
            FileRead::Missing => f.write_str("Missing"),
            FileRead::Unreadable => f.write_str("Unreadable"),
            FileRead::TooLarge => f.write_str("TooLarge"),
            FileRead::OverOutputLimit => f.write_str("OverOutputLimit"),
        }
    }
}

/// Everything read from one node, by path.
#[derive(Debug, Clone, Default)]
pub struct NodeFiles {
    pub files: BTreeMap<String, FileRead>,
    /// The node's clock (seconds since the epoch), to spot clock skew.
    pub node_time: Option<i64>,
    pub hostname: Option<String>,
    /// `SHA256:…` of the key harvcred's own connection logged in with, when
    /// sshd's log says so.
    pub login_fingerprint: Option<String>,
}

impl NodeFiles {
    pub fn content(&self, path: &str) -> Option<&[u8]> {
        match self.files.get(path) {
            Some(FileRead::Content(c)) => Some(c),
            _ => None,
        }
    }

    pub fn text(&self, path: &str) -> Option<String> {
        self.content(path)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

/// The credential areas of the node table, in column order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    Certificates,
    Keys,
    Password,
    Token,
    Proxy,
}

impl Area {
    pub const ALL: [Area; 5] = [
        Area::Certificates,
        Area::Keys,
        Area::Password,
        Area::Token,
        Area::Proxy,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Area::Certificates => "Certificates",
            Area::Keys => "Keys",
            Area::Password => "Password",
            Area::Token => "Token",
            Area::Proxy => "Proxy",
        }
    }
}

/// One area of one node: its worst level and every finding, worst first.
#[derive(Clone, Debug, Serialize)]
pub struct AreaReport {
    pub level: Level,
    pub findings: Vec<Finding>,
}

impl AreaReport {
    fn from(mut findings: Vec<Finding>) -> Self {
        sort_findings(&mut findings);
        AreaReport {
            level: worst_of(&findings),
            findings,
        }
    }
}

/// A copy of the token as the report keeps it: where, and a short hash only.
#[derive(Clone, Debug, Serialize)]
pub struct TokenCopy {
    pub source: String,
    pub short_hash: String,
    pub format: String,
}

/// A key with where it is kept.
#[derive(Clone, Debug, Serialize)]
pub struct KeySource {
    pub source: String,
    pub key: AuthorizedKey,
}

/// One node's credentials, judged.
#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    pub node: String,
    pub areas: BTreeMap<Area, AreaReport>,
    /// Every certificate block, worst first.
    pub certs: Vec<CertAssessment>,
    pub runtime_keys: Vec<AuthorizedKey>,
    pub persisted_keys: Vec<KeySource>,
    pub tokens: Vec<TokenCopy>,
    /// `SHA256:…` of the key harvcred logged in with, when sshd's log told.
    pub login_fingerprint: Option<String>,
}

impl NodeReport {
    pub fn level(&self, area: Area) -> Level {
        self.areas.get(&area).map_or(Level::Unknown, |a| a.level)
    }

    pub fn worst(&self) -> Level {
        super::level::worst(self.areas.values().map(|a| a.level))
    }
}

/// What the cluster side knows that a node's report is judged against.
#[derive(Clone, Debug, Default)]
pub struct ClusterContext {
    /// The `http-proxy` setting, when the API could be read.
    pub http_proxy: Option<HttpProxySetting>,
    /// Each Node's `status.nodeInfo.kubeletVersion`, by node name.
    pub kubelet_versions: BTreeMap<String, String>,
}

/// What a node's files say about the cluster's network: the VIP
/// (`install.vip` of `/oem/harvester.config`) and the pod and service CIDRs
/// (`cluster-cidr`, `service-cidr` of RKE2's `90-harvester-server.yaml`).
pub fn network_facts(files: &NodeFiles) -> proxy::ClusterFacts {
    #[derive(serde::Deserialize)]
    struct Install {
        vip: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct HarvesterConfig {
        install: Option<Install>,
    }
    #[derive(serde::Deserialize)]
    struct Rke2Server {
        #[serde(rename = "cluster-cidr")]
        cluster_cidr: Option<String>,
        #[serde(rename = "service-cidr")]
        service_cidr: Option<String>,
    }
    // harvester.config also holds the token: the text is zeroised.
    let vip = files
        .text("/oem/harvester.config")
        .map(Zeroizing::new)
        .and_then(|t| {
            serde_saphyr::from_str::<Option<HarvesterConfig>>(&t)
                .ok()
                .flatten()
        })
        .and_then(|c| c.install?.vip)
        .filter(|v| !v.trim().is_empty());
    let rke2 = files
        .text("/etc/rancher/rke2/config.yaml.d/90-harvester-server.yaml")
        .and_then(|t| {
            serde_saphyr::from_str::<Option<Rke2Server>>(&t)
                .ok()
                .flatten()
        });
    let (pod_cidr, service_cidr) = match rke2 {
        Some(r) => (r.cluster_cidr, r.service_cidr),
        None => (None, None),
    };
    proxy::ClusterFacts {
        vip,
        pod_cidr,
        service_cidr,
        ..Default::default()
    }
}

/// `kubernetesVersion` of rancherd's config, when the file has one.
fn rancherd_kubernetes_version(files: &NodeFiles) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Rancherd {
        #[serde(rename = "kubernetesVersion")]
        kubernetes_version: Option<String>,
    }
    let text = Zeroizing::new(files.text("/etc/rancher/rancherd/config.yaml")?);
    let doc: Option<Rancherd> = serde_saphyr::from_str(&text).ok()?;
    doc?.kubernetes_version
}

/// Judges one node's files.
pub fn assess_node(
    node: &str,
    files: &NodeFiles,
    cluster: &ClusterContext,
    now: OffsetDateTime,
    thresholds: &Thresholds,
) -> NodeReport {
    let oem_configs: Vec<(String, Result<oem::OemConfig, oem::OemError>)> = files
        .files
        .keys()
        .filter(|p| p.starts_with("/oem/") && (p.ends_with(".yaml") || p.ends_with(".yml")))
        .filter_map(|p| files.text(p).map(|t| (p.clone(), oem::parse_oem(&t))))
        .collect();

    let window = certs::renew_window(
        cluster.kubelet_versions.get(node).map(String::as_str),
        rancherd_kubernetes_version(files).as_deref(),
        thresholds.renew_at_restart_days,
    );
    let node_thresholds = Thresholds {
        renew_at_restart_days: window.days.max(thresholds.warn_days),
        ..*thresholds
    };
    let (certs, mut cert_findings) = assess_certs(files, now, &node_thresholds);
    cert_findings.push(Finding::new(
        Level::Ok,
        format!("{node} renewal window"),
        format!(
            "RKE2 renews leaf certificates within {} days of expiry when it starts: {}",
            window.days, window.basis
        ),
    ));
    let (runtime_keys, persisted_keys, key_findings) = assess_keys(node, files, &oem_configs);
    let password_findings = assess_password(node, files, &oem_configs);
    let (tokens, token_findings) = assess_tokens(node, files, &oem_configs);
    let proxy_findings = assess_proxy(node, files, &oem_configs, cluster);

    let mut areas = BTreeMap::new();
    areas.insert(Area::Certificates, AreaReport::from(cert_findings));
    areas.insert(Area::Keys, AreaReport::from(key_findings));
    areas.insert(Area::Password, AreaReport::from(password_findings));
    areas.insert(Area::Token, AreaReport::from(token_findings));
    areas.insert(Area::Proxy, AreaReport::from(proxy_findings));
    // A file that was not sent (too large, or past the node's output limit)
    // cannot be judged: say so where it matters instead of reading as absent.
    for (path, read) in &files.files {
        if path.ends_with(".crt") || !matches!(read, FileRead::TooLarge | FileRead::OverOutputLimit)
        {
            continue;
        }
        let why = if *read == FileRead::TooLarge {
            format!(
                "larger than {} KiB, so not read",
                crate::model::MAX_FILE_BYTES / 1024
            )
        } else {
            "not read: the node's files passed harvcred's limit for one node".to_string()
        };
        let f = Finding::new(
            Level::Unknown,
            format!("{node} {path}"),
            format!("{why}; what it persists is not judged: look at the file on the node"),
        );
        for area in [Area::Keys, Area::Password, Area::Token, Area::Proxy] {
            let a = areas.get_mut(&area).expect("every area is present");
            a.findings.insert(0, f.clone());
            a.level = a.level.worse(f.level);
        }
    }
    // A broken /oem file is a problem of every area it persists.
    for (path, parsed) in &oem_configs {
        if let Err(e) = parsed {
            let f = Finding::new(
                Level::Critical,
                format!("{node} {path}"),
                format!(
                    "{e}: the node may not come back after a reboot (Harvester #9519); fix the file from the backup in /oem/install/"
                ),
            );
            for area in [Area::Keys, Area::Password] {
                let a = areas.get_mut(&area).expect("every area is present");
                a.findings.insert(0, f.clone());
                a.level = a.level.worse(f.level);
            }
        }
    }
    NodeReport {
        node: node.to_string(),
        areas,
        certs,
        runtime_keys,
        persisted_keys,
        login_fingerprint: files.login_fingerprint.clone(),
        tokens,
    }
}

fn assess_certs(
    files: &NodeFiles,
    now: OffsetDateTime,
    thresholds: &Thresholds,
) -> (Vec<CertAssessment>, Vec<Finding>) {
    let mut all = Vec::new();
    let mut problems = Vec::new();
    for (path, read) in &files.files {
        if !path.ends_with(".crt") {
            continue;
        }
        match read {
            FileRead::Content(bytes) => {
                let (assessed, errs) =
                    certs::assess_file(&certs::parse_cert_file(path, bytes), now, thresholds);
                all.extend(assessed);
                problems.extend(errs);
            }
            FileRead::Unreadable => problems.push(Finding::new(
                Level::Unknown,
                path.clone(),
                "root could not read this certificate: check the file's permissions",
            )),
            FileRead::TooLarge => problems.push(Finding::new(
                Level::Unknown,
                path.clone(),
                format!(
                    "larger than {} KiB, so not read (an RKE2 certificate is a few KiB): look at the file on the node",
                    crate::model::MAX_FILE_BYTES / 1024
                ),
            )),
            FileRead::OverOutputLimit => problems.push(Finding::new(
                Level::Unknown,
                path.clone(),
                format!(
                    "not read: the node's files together passed {} MiB, harvcred's limit for one node; look at the files under /var/lib/rancher/rke2 on the node",
                    crate::model::MAX_OUTPUT_BYTES / 1024 / 1024
                ),
            )),
            FileRead::Missing => {}
        }
    }
    certs::sort_worst_first(&mut all);
    let mut findings: Vec<Finding> = all.iter().map(CertAssessment::finding).collect();
    findings.extend(problems);
    if findings.is_empty() {
        findings.push(Finding::new(
            Level::Unknown,
            "certificates",
            "no RKE2 certificate found under /var/lib/rancher/rke2: is this a Harvester node?",
        ));
    }
    (all, findings)
}

fn assess_keys(
    node: &str,
    files: &NodeFiles,
    oem_configs: &[(String, Result<oem::OemConfig, oem::OemError>)],
) -> (Vec<AuthorizedKey>, Vec<KeySource>, Vec<Finding>) {
    let mut findings = Vec::new();
    let runtime = match files.files.get("/home/rancher/.ssh/authorized_keys") {
        Some(FileRead::Content(c)) => {
            let parsed = keys::parse_authorized_keys(&String::from_utf8_lossy(c));
            for e in &parsed.errors {
                findings.push(Finding::new(
                    Level::Warn,
                    format!("{node} ~rancher/.ssh/authorized_keys line {}", e.line),
                    format!("{}: sshd ignores this line", e.reason),
                ));
            }
            parsed.entries
        }
        Some(FileRead::Unreadable) => {
            findings.push(Finding::new(
                Level::Unknown,
                format!("{node} rancher SSH keys"),
                "~rancher/.ssh/authorized_keys could not be read",
            ));
            Vec::new()
        }
        _ => Vec::new(),
    };
    let mut persisted = Vec::new();
    for (path, cfg) in oem_configs {
        if let Ok(cfg) = cfg {
            for key in cfg.rancher_keys().entries {
                persisted.push(KeySource {
                    source: path.clone(),
                    key,
                });
            }
        }
    }
    let persisted_keys: Vec<AuthorizedKey> = persisted.iter().map(|k| k.key.clone()).collect();
    let drift = keys::key_drift(&runtime, &persisted_keys);
    findings.extend(drift.findings(node));
    if let Some(fp) = &files.login_fingerprint
        && runtime.iter().any(|k| &k.fingerprint == fp)
        && !persisted_keys.iter().any(|k| &k.fingerprint == fp)
    {
        findings.push(Finding::new(
            Level::Ok,
            format!("{node} rancher SSH keys"),
            format!(
                "harvcred logged in with {fp}, which is not persisted in /oem: it keeps working across reboots (/home persists), but not on a reinstalled node"
            ),
        ));
    }
    for (path, cfg) in oem_configs {
        if let Ok(cfg) = cfg {
            for k in &cfg.unowned_keys {
                findings.push(Finding::new(
                    Level::Warn,
                    format!("{node} {path} {}", k.location),
                    format!(
                        "{} key(s) at the top level of a cloud-config with no `users:` listed: yip installs them for nobody, so they do not open this node; put them under users: rancher: ssh_authorized_keys",
                        k.keys.len()
                    ),
                ));
            }
        }
    }
    if runtime.is_empty() && persisted.is_empty() {
        findings.push(Finding::new(
            Level::Warn,
            format!("{node} rancher SSH keys"),
            "no SSH key for rancher at runtime or in /oem: only password logins reach this node",
        ));
    } else if findings.is_empty() {
        findings.push(Finding::new(
            Level::Ok,
            format!("{node} rancher SSH keys"),
            format!("{} keys, runtime and persisted agree", runtime.len()),
        ));
    }
    (runtime, persisted, findings)
}

fn assess_password(
    node: &str,
    files: &NodeFiles,
    oem_configs: &[(String, Result<oem::OemConfig, oem::OemError>)],
) -> Vec<Finding> {
    let runtime = files
        .text(crate::model::SHADOW_RANCHER)
        .and_then(|line| password::parse_shadow_line(line.trim_end(), 1).ok());
    let mut entries: Vec<(&str, &oem::PasswdEntry)> = oem_configs
        .iter()
        .filter_map(|(path, cfg)| cfg.as_ref().ok().map(|c| (path.as_str(), c)))
        .flat_map(|(path, cfg)| cfg.rancher_passwords().into_iter().map(move |p| (path, p)))
        .collect();
    entries.sort_by(|a, b| oem::boot_order(a.0, a.1).cmp(&oem::boot_order(b.0, b.1)));
    let persisted: Vec<(String, Sensitive)> = entries
        .iter()
        .map(|(path, p)| (format!("{path} {}", p.location), p.value.clone()))
        .collect();
    password::assess_password(node, runtime.as_ref(), &persisted)
}

fn assess_tokens(
    node: &str,
    files: &NodeFiles,
    oem_configs: &[(String, Result<oem::OemConfig, oem::OemError>)],
) -> (Vec<TokenCopy>, Vec<Finding>) {
    let mut copies: Vec<(String, Token)> = Vec::new();
    let mut findings = Vec::new();
    // agent-token is a link to token unless an agent token was set.
    for path in [SERVER_TOKEN, AGENT_TOKEN] {
        if let Some(text) = files.text(path) {
            match Token::parse(&Zeroizing::new(text)) {
                Ok(t) => copies.push((path.into(), t)),
                Err(e) => findings.push(unreadable_token(node, path, &e)),
            }
        }
    }
    for path in [
        "/etc/rancher/rancherd/config.yaml",
        "/oem/harvester.config",
        "/etc/rancher/rke2/config.yaml.d/40-rancherd.yaml",
        "/etc/rancher/rke2/config.yaml.d/50-rancher.yaml",
    ] {
        if let Some(text) = files.text(path) {
            match token::token_from_yaml(&Zeroizing::new(text)) {
                Ok(Some(t)) => copies.push((path.to_string(), t)),
                Ok(None) => {}
                Err(e) => findings.push(unreadable_token(node, path, &e)),
            }
        }
    }
    for (path, cfg) in oem_configs {
        if let Ok(cfg) = cfg
            && let Some((location, tok)) = &cfg.rancherd_token
        {
            match tok {
                Ok(t) => copies.push((format!("{path} {location}"), t.clone())),
                Err(e) => findings.push(unreadable_token(node, path, e)),
            }
        }
    }
    let cmp = token::compare_tokens(node, &copies);
    findings.extend(cmp.findings);
    let server_ca = files
        .content("/var/lib/rancher/rke2/server/tls/server-ca.crt")
        .or_else(|| files.content("/var/lib/rancher/rke2/agent/server-ca.crt"));
    if let Some(ca) = server_ca {
        for (source, t) in &copies {
            let check = t.check_ca(ca);
            if check != token::CaCheck::NoHash {
                findings.push(token::ca_check_finding(node, source, &check));
            }
        }
    }
    let tokens = copies
        .iter()
        .map(|(source, t)| TokenCopy {
            source: source.clone(),
            short_hash: t.short_hash(),
            format: t.format_name(),
        })
        .collect();
    (tokens, findings)
}

fn unreadable_token(node: &str, path: &str, e: &token::TokenError) -> Finding {
    Finding::new(
        Level::Warn,
        format!("{node} cluster token in {path}"),
        format!("{e}: check the file on the node"),
    )
}

fn assess_proxy(
    node: &str,
    files: &NodeFiles,
    oem_configs: &[(String, Result<oem::OemConfig, oem::OemError>)],
    cluster: &ClusterContext,
) -> Vec<Finding> {
    let Some(setting) = &cluster.http_proxy else {
        return vec![Finding::new(
            Level::Unknown,
            format!("{node} proxy"),
            "the http-proxy setting could not be read from the API, so the node's proxy cannot be compared with it",
        )];
    };
    let env = files
        .text("/etc/environment")
        .map(|t| proxy::parse_etc_environment(&Zeroizing::new(t)))
        .unwrap_or_default();
    let mut findings = proxy::environment_drift(node, &env, setting);
    // What /oem will write into /etc/environment at the next boot.
    for (path, cfg) in oem_configs {
        if let Ok(cfg) = cfg {
            let persisted = cfg.proxy_env();
            if persisted != env
                && (persisted.http_proxy.is_some() || persisted.https_proxy.is_some())
            {
                findings.push(Finding::new(
                    Level::Warn,
                    format!("{node} {path} environment"),
                    "the proxy persisted in /oem differs from /etc/environment: the node's proxy changes at the next reboot",
                ));
            }
        }
    }
    findings
}

/// The server's own copy: what rke2-server runs with.
pub const SERVER_TOKEN: &str = "/var/lib/rancher/rke2/server/token";
/// The token agents join with (RKE2: a link to `token` unless set apart).
pub const AGENT_TOKEN: &str = "/var/lib/rancher/rke2/server/agent-token";

/// Compares token copies across nodes (see [`compare_tokens_with_cluster`]).
pub fn compare_tokens_across(reports: &mut [NodeReport]) {
    compare_tokens_with_cluster(reports, None);
}

/// Compares token copies across nodes and with the cluster's record (the
/// secret `fleet-local/local-rke-state`). Each node speaks with its own
/// `server/token` (else its first copy), the secret with its `serverToken`.
/// A value more voices share than any other is the cluster's; copies that
/// differ from it are called out. When the top values tie (two nodes that
/// disagree), nobody can tell which is right from the copies alone: both
/// nodes are told so, with what each has.
pub fn compare_tokens_with_cluster(reports: &mut [NodeReport], cluster: Option<&TokenCopy>) {
    let mut votes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in reports.iter() {
        let voice = r
            .tokens
            .iter()
            .find(|t| t.source == SERVER_TOKEN)
            .or_else(|| r.tokens.first());
        if let Some(t) = voice {
            votes
                .entry(t.short_hash.clone())
                .or_default()
                .push(r.node.clone());
        }
    }
    if let Some(c) = cluster {
        votes
            .entry(c.short_hash.clone())
            .or_default()
            .push(format!("the {}", c.source));
    }
    let all_hashes: std::collections::BTreeSet<&str> = reports
        .iter()
        .flat_map(|r| r.tokens.iter().map(|t| t.short_hash.as_str()))
        .chain(cluster.map(|c| c.short_hash.as_str()))
        .collect();
    if all_hashes.len() < 2 {
        return;
    }
    let mut ranked: Vec<(String, Vec<String>)> = votes.into_iter().collect();
    ranked.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    let tie = ranked.len() > 1 && ranked[0].1.len() == ranked[1].1.len();
    let who = |(h, v): &(String, Vec<String>)| format!("{} ({h})", v.join(", "));
    for r in reports.iter_mut() {
        let own = r
            .tokens
            .iter()
            .find(|t| t.source == SERVER_TOKEN)
            .map(|t| t.short_hash.clone());
        let f = if tie {
            if r.tokens.is_empty() {
                continue;
            }
            Finding::new(
                Level::Critical,
                format!("{} cluster token", r.node),
                format!(
                    "the nodes disagree and no majority decides: {}. Which one the cluster uses is the one its datastore is encrypted with: a server with the other one logs \"bootstrap data already found and encrypted with different token\" (journalctl -u rke2-server); fix that node's copies (/etc/rancher/rancherd/config.yaml, /oem), never by `rke2 token rotate`.",
                    ranked
                        .iter()
                        .filter(|(_, v)| v.len() == ranked[0].1.len())
                        .map(who)
                        .collect::<Vec<_>>()
                        .join(" vs ")
                ),
            )
        } else {
            let (majority, voices) = &ranked[0];
            let odd: Vec<&str> = r
                .tokens
                .iter()
                .filter(|t| &t.short_hash != majority)
                .map(|t| t.source.as_str())
                .collect();
            if odd.is_empty() {
                continue;
            }
            let versus_own = match &own {
                Some(h) if h == majority => format!(
                    " ({} differ(s) from this server's own {SERVER_TOKEN})",
                    odd.join(", ")
                ),
                Some(h) => format!(
                    " (this server's own {SERVER_TOKEN} is {h}: rke2-server here runs with another token than the cluster)"
                ),
                None => String::new(),
            };
            Finding::new(
                Level::Critical,
                format!("{} cluster token", r.node),
                format!(
                    "{} differs from the token {} share ({majority}){versus_own}: this node cannot join the cluster. Set it to the cluster's token (on a working server: `sudo yq eval .token /etc/rancher/rancherd/config.yaml`) in /etc/rancher/rancherd/config.yaml and /oem; never run `rke2 token rotate`.",
                    odd.join(", "),
                    voices.join(", ")
                ),
            )
        };
        let area = r
            .areas
            .get_mut(&Area::Token)
            .expect("every area is present");
        area.level = area.level.worse(f.level);
        area.findings.insert(0, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGGFOMswY4ktRo2j4fU9viU7rFZtW81ncGnHA25rr0ZG ops@laptop";
    /// What `ssh-keygen -lf` prints for KEY.
    const KEY_FP: &str = "SHA256:9lD1qJeuw7nN43BZpCHCE+Mpg24CDGmL1aIWu5cYO8k";

    fn keys_report(login: Option<&str>, persisted: bool) -> NodeReport {
        let mut files = BTreeMap::new();
        files.insert(
            "/home/rancher/.ssh/authorized_keys".to_string(),
            FileRead::Content(Zeroizing::new(format!("{KEY}\n").into_bytes())),
        );
        if persisted {
            let oem = format!(
                "stages:\n  network:\n    - users:\n        rancher:\n          ssh_authorized_keys:\n            - {KEY}\n"
            );
            files.insert(
                "/oem/90_custom.yaml".to_string(),
                FileRead::Content(Zeroizing::new(oem.into_bytes())),
            );
        }
        let files = NodeFiles {
            files,
            node_time: None,
            hostname: None,
            login_fingerprint: login.map(String::from),
        };
        assess_node(
            "n1",
            &files,
            &ClusterContext::default(),
            OffsetDateTime::now_utc(),
            &Thresholds::default(),
        )
    }

    /// A leaf 100 days from expiry renews at the next start on RKE2 from
    /// May 2025 (120-day window), not on the older RKE2 of Harvester 1.4/1.5.
    #[test]
    fn the_renewal_window_comes_from_the_nodes_rke2_version() {
        let now = OffsetDateTime::now_utc();
        let (leaf, ca) = crate::creds::certs::tests::make_chain(
            "rke2-server-ca@1735689600",
            "kube-apiserver",
            now - time::Duration::days(265),
            now + time::Duration::days(100) + time::Duration::hours(1),
        );
        let judge = |rancherd_version: &str, kubelet: Option<&str>| {
            let mut files = BTreeMap::new();
            files.insert(
                "/var/lib/rancher/rke2/server/tls/serving-kube-apiserver.crt".to_string(),
                FileRead::Content(Zeroizing::new(format!("{leaf}{ca}").into_bytes())),
            );
            files.insert(
                "/etc/rancher/rancherd/config.yaml".to_string(),
                FileRead::Content(Zeroizing::new(
                    format!("role: cluster-init\nkubernetesVersion: {rancherd_version}\nrancherVersion: v2.10.1\n")
                        .into_bytes(),
                )),
            );
            let files = NodeFiles {
                files,
                ..Default::default()
            };
            let mut ctx = ClusterContext::default();
            if let Some(k) = kubelet {
                ctx.kubelet_versions.insert("n1".into(), k.into());
            }
            let r = assess_node("n1", &files, &ctx, now, &Thresholds::default());
            let window = r.areas[&Area::Certificates]
                .findings
                .iter()
                .find(|f| f.subject == "n1 renewal window")
                .map(|f| f.message.clone())
                .unwrap_or_default();
            (r.certs[0].level, window)
        };
        // Harvester 1.4 (RKE2 v1.30.7): 90 days.
        let (level, window) = judge("v1.30.7+rke2r1", None);
        assert_eq!(level, Level::Ok);
        assert!(window.contains("within 90 days"), "{window}");
        assert!(window.contains("v1.30.7+rke2r1"), "{window}");
        let (level, window) = judge("v1.33.5+rke2r1", None);
        assert_eq!(level, Level::RenewsAtRestart);
        assert!(window.contains("within 120 days"), "{window}");
        // Upgraded since install: the Node's kubeletVersion wins.
        let (level, window) = judge("v1.30.7+rke2r1", Some("v1.32.5+rke2r1"));
        assert_eq!(level, Level::RenewsAtRestart);
        assert!(window.contains("kubeletVersion"), "{window}");
    }

    fn oem_files(list: &[(&str, String)]) -> NodeFiles {
        NodeFiles {
            files: list
                .iter()
                .map(|(p, t)| {
                    (
                        p.to_string(),
                        FileRead::Content(Zeroizing::new(t.clone().into_bytes())),
                    )
                })
                .collect(),
            ..Default::default()
        }
    }

    fn judge(files: &NodeFiles, area: Area) -> AreaReport {
        let r = assess_node(
            "n1",
            files,
            &ClusterContext::default(),
            OffsetDateTime::now_utc(),
            &Thresholds::default(),
        );
        r.areas[&area].clone()
    }

    /// Harvester's docs change the password with a CloudInit `99_passwd.yaml`
    /// under `initramfs.after`: yip applies it after `90_custom.yaml`'s
    /// `initramfs` one, so the node boots with it and 90_custom's is overridden.
    #[test]
    fn the_password_yip_applies_last_is_the_one_judged_against_runtime() {
        let installed = "$6$installsalt$Zx9c0lYl8cC9Xy8vP9Pq1kKUnmUq8l6h7D3y5mN0e4s2y2cQ0aL9xA1R0yB2r3S4t5U6v7W8x9Y0z1A2B3C4D.";
        let changed = "$6$changedsalt$Ab1c2d3e4f5g6h7i8j9k0l1m2n3o4p5q6r7s8t9u0v1w2x3y4z5A6B7C8D9E0F1G2H3I4J5K6L7M8N9O0P1Q2R3S.";
        let custom = format!(
            "name: Harvester Configuration\nstages:\n  initramfs:\n  - commands:\n    - rm -f /etc/sudoers\n    users:\n      rancher:\n        passwd: {installed}\n        groups:\n        - admin\n"
        );
        let passwd = format!(
            "stages:\n  initramfs.after:\n    - users:\n        rancher:\n          passwd: \"{changed}\"\n"
        );
        let shadow = |h: &str| format!("rancher:{h}:20000:0:99999:7:::");
        let files = oem_files(&[
            ("/oem/90_custom.yaml", custom.clone()),
            ("/oem/99_passwd.yaml", passwd.clone()),
            (crate::model::SHADOW_RANCHER, shadow(changed)),
        ]);
        let a = judge(&files, Area::Password);
        assert_eq!(a.level, Level::Ok, "{:?}", a.findings);
        assert!(
            a.findings
                .iter()
                .any(|f| f.subject.contains("/oem/90_custom.yaml")
                    && f.message.contains("overridden at boot")
                    && f.message.contains("/oem/99_passwd.yaml")),
            "{:?}",
            a.findings
        );
        assert!(!a.findings.iter().any(|f| f.message.contains("next reboot")));
        // The runtime still has the installer's password: it changes at the
        // next reboot, to 99_passwd's.
        let files = oem_files(&[
            ("/oem/90_custom.yaml", custom),
            ("/oem/99_passwd.yaml", passwd),
            (crate::model::SHADOW_RANCHER, shadow(installed)),
        ]);
        let a = judge(&files, Area::Password);
        assert_eq!(a.level, Level::Warn);
        assert!(a.findings.iter().any(
            |f| f.subject.contains("/oem/99_passwd.yaml") && f.message.contains("next reboot")
        ));
    }

    /// Top-level cloud-config `ssh_authorized_keys` go to the users listed
    /// under `users:` and to nobody without one (yip schema/cloudinit.go).
    #[test]
    fn top_level_cloud_config_keys_are_rancher_only_when_rancher_is_listed() {
        let keys_at_top = format!("#cloud-config\nssh_authorized_keys:\n  - {KEY}\n");
        let files = oem_files(&[("/oem/99_keys.yaml", keys_at_top)]);
        let r = assess_node(
            "n1",
            &files,
            &ClusterContext::default(),
            OffsetDateTime::now_utc(),
            &Thresholds::default(),
        );
        assert!(r.persisted_keys.is_empty(), "{:?}", r.persisted_keys);
        assert!(
            r.areas[&Area::Keys]
                .findings
                .iter()
                .any(|f| f.message.contains("installs them for nobody")),
            "{:?}",
            r.areas[&Area::Keys]
        );
        let listed =
            format!("#cloud-config\nusers:\n  - name: rancher\nssh_authorized_keys:\n  - {KEY}\n");
        let files = oem_files(&[("/oem/99_keys.yaml", listed)]);
        let r = assess_node(
            "n1",
            &files,
            &ClusterContext::default(),
            OffsetDateTime::now_utc(),
            &Thresholds::default(),
        );
        assert_eq!(r.persisted_keys.len(), 1);
        assert_eq!(r.persisted_keys[0].key.fingerprint, KEY_FP);
    }

    fn token_report(node: &str, copies: &[(&str, &str)]) -> NodeReport {
        let files = oem_files(
            &copies
                .iter()
                .map(|(p, t)| (*p, t.to_string()))
                .collect::<Vec<_>>(),
        );
        assess_node(
            node,
            &files,
            &ClusterContext::default(),
            OffsetDateTime::now_utc(),
            &Thresholds::default(),
        )
    }

    const TOKEN_A: &str =
        "K10aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa::server:alpha-secret";
    const TOKEN_B: &str =
        "K10aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa::server:bravo-secret";

    /// Two nodes that disagree are a tie, not a majority of one: both are
    /// told, neither is called the odd one out.
    #[test]
    fn two_nodes_that_disagree_on_the_token_are_a_tie() {
        let mut reports = vec![
            token_report(
                "node1",
                &[
                    (SERVER_TOKEN, TOKEN_A),
                    (
                        "/etc/rancher/rancherd/config.yaml",
                        &format!("token: {TOKEN_A}\n"),
                    ),
                ],
            ),
            token_report(
                "node2",
                &[
                    (SERVER_TOKEN, TOKEN_B),
                    (
                        "/etc/rancher/rancherd/config.yaml",
                        &format!("token: {TOKEN_B}\n"),
                    ),
                ],
            ),
        ];
        compare_tokens_across(&mut reports);
        for r in &reports {
            let first = &r.areas[&Area::Token].findings[0];
            assert_eq!(first.level, Level::Critical, "{}", r.node);
            assert!(
                first.message.contains("no majority decides"),
                "{}",
                first.message
            );
            assert!(first.message.contains("node1") && first.message.contains("node2"));
            assert!(
                !first.message.contains("differs from the token"),
                "{}",
                first.message
            );
        }
        // The secret breaks the tie: node2 is the odd one, and its own
        // server/token is what differs.
        let secret = TokenCopy {
            source: "secret fleet-local/local-rke-state serverToken".into(),
            short_hash: crate::creds::token::Token::parse(TOKEN_A)
                .unwrap()
                .short_hash(),
            format: String::new(),
        };
        for r in &mut reports {
            r.areas.get_mut(&Area::Token).unwrap().findings.remove(0);
        }
        compare_tokens_with_cluster(&mut reports, Some(&secret));
        assert!(
            !reports[0].areas[&Area::Token].findings[0]
                .message
                .contains("differs from the token")
        );
        let odd = &reports[1].areas[&Area::Token].findings[0].message;
        assert!(
            odd.contains("node1, the secret fleet-local/local-rke-state serverToken"),
            "{odd}"
        );
        assert!(
            odd.contains("this server's own /var/lib/rancher/rke2/server/token"),
            "{odd}"
        );
    }

    /// Rancher's drop-in 50-rancher.yaml is a copy too.
    #[test]
    fn the_50_rancher_drop_in_is_a_token_copy() {
        let r = token_report(
            "node1",
            &[
                (SERVER_TOKEN, TOKEN_A),
                (
                    "/etc/rancher/rke2/config.yaml.d/50-rancher.yaml",
                    &format!("token: {TOKEN_B}\nagent-token: x\n"),
                ),
            ],
        );
        assert!(
            r.tokens
                .iter()
                .any(|t| t.source.ends_with("50-rancher.yaml"))
        );
        assert_eq!(r.level(Area::Token), Level::Critical);
    }

    /// An /oem file too large to be sent is not mistaken for an absent one.
    #[test]
    fn a_file_that_was_not_sent_is_unknown_not_absent() {
        let mut files = oem_files(&[(
            crate::model::SHADOW_RANCHER,
            "rancher:$6$s$h:20000:0:99999:7:::".to_string(),
        )]);
        files
            .files
            .insert("/oem/90_custom.yaml".into(), FileRead::TooLarge);
        let a = judge(&files, Area::Password);
        assert_eq!(a.level, Level::Unknown, "{:?}", a.findings);
        assert!(a.findings[0].message.contains("larger than 512 KiB"));
    }

    #[test]
    fn a_login_key_that_is_not_persisted_is_called_out() {
        let r = keys_report(Some(KEY_FP), false);
        assert_eq!(r.runtime_keys[0].fingerprint, KEY_FP);
        let said: Vec<&str> = r.areas[&Area::Keys]
            .findings
            .iter()
            .map(|f| f.message.as_str())
            .collect();
        assert!(
            said.iter().any(
                |m| m.starts_with(&format!("harvcred logged in with {KEY_FP}"))
                    && m.contains("keeps working across reboots")
            ),
            "{said:?}"
        );
        // /home persists: not a warning, and no claim it vanishes at reboot.
        assert_eq!(r.level(Area::Keys), Level::Ok);
        assert!(
            !said
                .iter()
                .any(|m| m.contains("after a reboot it no longer"))
        );
        // Persisted too: no such note; unknown login: none either.
        for r in [keys_report(Some(KEY_FP), true), keys_report(None, false)] {
            assert!(
                !r.areas[&Area::Keys]
                    .findings
                    .iter()
                    .any(|f| f.message.contains("harvcred logged in")),
                "{:?}",
                r.areas[&Area::Keys]
            );
        }
    }
}
