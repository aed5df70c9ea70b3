//! The credential sweep: every node's files read in one SSH command each
//! (`node::gather`), judged by `creds::report`, plus the cluster settings
//! from the API. Shared by the console (through `app::runner`) and by
//! `harvcred status` / `harvcred certs`, so both report the same thing.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};
use serde::Serialize;
use time::OffsetDateTime;

use crate::creds::certs::{CertAssessment, CertFile};
use crate::creds::level::{Finding, Level, Thresholds, sort_findings, worst_of};
use crate::creds::proxy::{self, ClusterFacts, HttpProxySetting};
use crate::creds::report::{ClusterContext, NodeReport, assess_node};
use crate::creds::settings::{self, AutoRotate};
use crate::model::{SshProblemKind, Target};
use crate::node::gather;
use crate::node::pool::{ExecError, Pool};

/// Why a node's credentials could not be read. `sudo` is told apart from SSH
/// trouble: the node answers, but rancher may not become root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadFailure {
    Auth,
    HostKey,
    Timeout,
    Refused,
    NoRoute,
    Dns,
    Sudo,
    /// The command ran but printed something that is not gather output.
    Output,
    Other,
}

impl ReadFailure {
    pub fn label(self) -> &'static str {
        match self {
            ReadFailure::Auth => "auth",
            ReadFailure::HostKey => "host key",
            ReadFailure::Timeout => "timeout",
            ReadFailure::Refused => "refused",
            ReadFailure::NoRoute => "no route",
            ReadFailure::Dns => "dns",
            ReadFailure::Sudo => "sudo",
            ReadFailure::Output => "bad output",
            ReadFailure::Other => "error",
        }
    }
}

/// A node that could not be read, and why (ssh's or sudo's own words).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    pub reason: ReadFailure,
    pub detail: String,
}

/// The result of sweeping one node.
#[derive(Debug, Clone)]
pub enum NodeOutcome {
    Report(Arc<NodeReport>),
    Failed(Unreadable),
}

/// The settings that touch credentials, as read from the API. Values are
/// parsed at once: the raw `http-proxy` (credentials) and `ssl-certificates`
/// (private key) texts are never kept.
#[derive(Debug, Clone, Default)]
pub struct ClusterSettings {
    pub http_proxy: Option<Result<HttpProxySetting, String>>,
    pub auto_rotate: Option<Result<AutoRotate, String>>,
    pub ssl_certificates: Option<Result<Vec<CertFile>, String>>,
    pub additional_ca: Option<Vec<CertFile>>,
    /// Why the API could not be read at all.
    pub error: Option<String>,
    /// The API answered, but there is no `http-proxy` Setting: not Harvester.
    pub http_proxy_missing: bool,
    /// What the nodes' files say about the cluster's network (VIP from
    /// `/oem/harvester.config`, CIDRs from `90-harvester-server.yaml`).
    pub network: crate::creds::proxy::ClusterFacts,
    /// Every InternalIP of every Node (both families), when listed.
    pub node_ips: Vec<String>,
    /// Each Node's kubeletVersion (the RKE2 version it runs), by name.
    pub kubelet_versions: std::collections::BTreeMap<String, String>,
    /// The token copy Rancher keeps in `fleet-local/local-rke-state` (short
    /// hash only), when it can be read.
    pub cluster_token: Option<crate::creds::report::TokenCopy>,
    /// The other credential settings (`additional-ca`, `ssl-certificates`,
    /// `ssl-parameters`, `containerd-registry`) described as `settings show`
    /// does (no key, no password), for the console's `:settings`; with
    /// whether the value is customized.
    pub described: Vec<(&'static str, bool, crate::creds::setting_values::Described)>,
}

impl ClusterSettings {
    /// What node reports are judged against.
    pub fn context(&self) -> ClusterContext {
        ClusterContext {
            http_proxy: match &self.http_proxy {
                Some(Ok(s)) => Some(s.clone()),
                _ => None,
            },
            kubelet_versions: self.kubelet_versions.clone(),
        }
    }
}

/// The cluster side of the status: findings about the settings.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterReport {
    pub level: Level,
    /// `http-proxy` with credentials masked; None when unset or unreadable.
    #[serde(rename = "http_proxy")]
    pub http_proxy_masked: Option<String>,
    pub findings: Vec<Finding>,
    /// Certificates of `ssl-certificates` and `additional-ca`.
    pub certs: Vec<CertAssessment>,
}

pub const HTTP_PROXY: &str = "http-proxy";
pub const AUTO_ROTATE: &str = "auto-rotate-rke2-certs";
pub const SSL_CERTIFICATES: &str = "ssl-certificates";
pub const ADDITIONAL_CA: &str = "additional-ca";

/// Where Rancher keeps the cluster's token (`serverToken`).
pub const RKE_STATE_SECRET: (&str, &str) = ("fleet-local", "local-rke-state");

/// The `serverToken` of the secret `fleet-local/local-rke-state`, as a token
/// copy (short hash only; the value is dropped at once). None when it cannot
/// be read (RBAC, not there).
pub async fn read_cluster_token(client: Client) -> Option<crate::creds::report::TokenCopy> {
    use k8s_openapi::api::core::v1::Secret;
    let api: Api<Secret> = Api::namespaced(client, RKE_STATE_SECRET.0);
    let secret = tokio::time::timeout(Duration::from_secs(10), api.get_opt(RKE_STATE_SECRET.1))
        .await
        .ok()?
        .ok()??;
    let bytes = secret.data?.remove("serverToken")?.0;
    let text = zeroize::Zeroizing::new(String::from_utf8(bytes).ok()?);
    let token = crate::creds::token::Token::parse(text.trim()).ok()?;
    Some(crate::creds::report::TokenCopy {
        source: format!(
            "secret {}/{} serverToken",
            RKE_STATE_SECRET.0, RKE_STATE_SECRET.1
        ),
        short_hash: token.short_hash(),
        format: token.format_name(),
    })
}

/// Reads the four settings. An unreachable API or a missing setting is
/// recorded, never guessed.
pub async fn read_settings(client: Client) -> ClusterSettings {
    let gvk = GroupVersionKind::gvk("harvesterhci.io", "v1beta1", "Setting");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "settings");
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let mut out = ClusterSettings {
        cluster_token: read_cluster_token(api.clone().into_client()).await,
        ..Default::default()
    };
    // The nodes' facts the judging needs (the console reads no list of its own
    // with them): every InternalIP and the RKE2 version each runs.
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(api.clone().into_client());
    if let Ok(Ok(list)) =
        tokio::time::timeout(Duration::from_secs(10), nodes.list(&Default::default())).await
    {
        out.node_ips = list
            .items
            .iter()
            .flat_map(crate::cluster::internal_ips)
            .collect();
        out.kubelet_versions = kubelet_versions(&list.items);
    }
    use crate::creds::setting_values as values;
    let names = [HTTP_PROXY, AUTO_ROTATE].into_iter().chain(values::NAMES);
    for name in names {
        let got = tokio::time::timeout(Duration::from_secs(10), api.get_opt(name)).await;
        let mut customized = false;
        let value = match got {
            Ok(Ok(Some(obj))) => {
                customized = obj
                    .data
                    .get("value")
                    .and_then(|v| v.as_str())
                    .is_some_and(|v| !v.is_empty());
                let value = effective_value(&obj.data);
                crate::cluster::wipe_object(obj);
                value
            }
            Ok(Ok(None)) if name == HTTP_PROXY => {
                out.http_proxy_missing = true;
                continue;
            }
            Ok(Ok(None)) => Default::default(),
            Ok(Err(e)) => {
                out.error = Some(format!(
                    "reading setting {name}: {}",
                    crate::cluster::chain_text(&e)
                ));
                return out;
            }
            Err(_) => {
                out.error = Some(format!("reading setting {name}: no answer within 10 s"));
                return out;
            }
        };
        if let Some(n) = values::known(name) {
            let d = values::describe(n, &value, OffsetDateTime::now_utc(), &Thresholds::default());
            out.described.push((n, customized, d));
        }
        match name {
            HTTP_PROXY => {
                let v = if value.trim().is_empty() {
                    "{}"
                } else {
                    value.as_str()
                };
                out.http_proxy = Some(HttpProxySetting::parse(v).map_err(|e| e.to_string()));
            }
            AUTO_ROTATE => {
                out.auto_rotate = Some(AutoRotate::parse(&value).map_err(|e| e.to_string()))
            }
            SSL_CERTIFICATES => {
                out.ssl_certificates =
                    Some(settings::ssl_certificates(&value).map_err(|e| e.to_string()))
            }
            ADDITIONAL_CA => out.additional_ca = Some(settings::additional_ca(&value)),
            _ => {}
        }
    }
    out
}

/// Each Node's `kubeletVersion`, by name.
pub fn kubelet_versions(
    nodes: &[k8s_openapi::api::core::v1::Node],
) -> std::collections::BTreeMap<String, String> {
    nodes
        .iter()
        .filter_map(|n| {
            let v = &n.status.as_ref()?.node_info.as_ref()?.kubelet_version;
            Some((n.metadata.name.clone()?, v.clone()))
        })
        .collect()
}

/// A setting's effective value: `value` when non-empty, else `default`.
/// Wiped when dropped: a value may hold credentials or a private key.
pub fn effective_value(data: &serde_json::Value) -> zeroize::Zeroizing<String> {
    let get = |k: &str| data.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let v = get("value");
    zeroize::Zeroizing::new(if v.is_empty() {
        get("default").to_string()
    } else {
        v.to_string()
    })
}

/// Judges the settings. `apiserver_not_after` is the `serving-kube-apiserver.crt`
/// leaf of a server node, when one has been read.
pub fn assess_cluster(
    s: &ClusterSettings,
    node_ips: &[String],
    apiserver_not_after: Option<OffsetDateTime>,
    now: OffsetDateTime,
    t: &Thresholds,
) -> ClusterReport {
    let mut findings = Vec::new();
    let mut certs = Vec::new();
    let mut http_proxy_masked = None;
    if let Some(e) = &s.error {
        findings.push(Finding::new(
            Level::Unknown,
            "settings",
            format!("{e}: check the kubeconfig and that the API answers"),
        ));
    }
    if s.http_proxy_missing {
        findings.push(Finding::new(
            Level::Unknown,
            "http-proxy setting",
            crate::cluster::settings::NOT_HARVESTER,
        ));
    }
    match &s.http_proxy {
        Some(Ok(p)) => {
            if p.proxy_set() {
                http_proxy_masked = Some(format!(
                    "httpProxy={} httpsProxy={} noProxy={}",
                    p.http_proxy.masked(),
                    p.https_proxy.masked(),
                    p.no_proxy
                ));
            }
            // The API's full list (both families) when it was read.
            let node_ips = if s.node_ips.is_empty() {
                node_ips.to_vec()
            } else {
                s.node_ips.clone()
            };
            let facts = ClusterFacts {
                node_ips,
                ..s.network.clone()
            };
            let mut f = proxy::check_setting(p, &facts);
            if f.is_empty() {
                f.push(Finding::new(
                    Level::Ok,
                    "http-proxy setting",
                    if p.proxy_set() {
                        "set; noProxy covers every node"
                    } else {
                        "no proxy is set"
                    },
                ));
            }
            findings.extend(f);
        }
        Some(Err(e)) => findings.push(Finding::new(
            Level::Critical,
            "http-proxy setting",
            format!("{e}: fix the setting (Harvester UI, Advanced > Settings > http-proxy)"),
        )),
        None => {}
    }
    match (&s.auto_rotate, apiserver_not_after) {
        (Some(Ok(a)), Some(na)) => findings.push(settings::auto_rotate_finding(a, na, now)),
        (Some(Ok(a)), None) => findings.push(Finding::new(
            Level::Unknown,
            AUTO_ROTATE,
            format!(
                "{}; when it fires is not known until a server node's kube-apiserver certificate has been read",
                if a.enable { "on" } else { "off" }
            ),
        )),
        (Some(Err(e)), _) => findings.push(Finding::new(
            Level::Warn,
            AUTO_ROTATE,
            format!("{e}: the controller ignores an invalid value; set enable and expiringInHours (1..8759)"),
        )),
        (None, _) => {}
    }
    let mut files: Vec<CertFile> = Vec::new();
    match &s.ssl_certificates {
        Some(Ok(v)) => files.extend(v.iter().cloned()),
        Some(Err(e)) => findings.push(Finding::new(
            Level::Warn,
            SSL_CERTIFICATES,
            format!("{e}: fix the setting or clear it to use the internal certificate"),
        )),
        None => {}
    }
    if let Some(v) = &s.additional_ca {
        files.extend(v.iter().cloned());
    }
    let (assessed, problems) = settings::setting_cert_findings(&files, now, t);
    findings.extend(assessed.iter().map(CertAssessment::finding));
    findings.extend(problems);
    certs.extend(assessed);
    crate::creds::certs::sort_worst_first(&mut certs);
    sort_findings(&mut findings);
    ClusterReport {
        level: worst_of(&findings),
        http_proxy_masked,
        findings,
        certs,
    }
}

/// The not-after of the kube-apiserver serving certificate (leaf, block 0)
/// in a server node's report.
pub fn apiserver_not_after<'a>(
    reports: impl IntoIterator<Item = &'a NodeReport>,
) -> Option<OffsetDateTime> {
    reports
        .into_iter()
        .flat_map(|r| r.certs.iter())
        .filter(|c| {
            c.cert.path == "/var/lib/rancher/rke2/server/tls/serving-kube-apiserver.crt"
                && c.cert.index == 0
        })
        .map(|c| c.cert.not_after)
        .min()
}

/// The command line run on every node. `sudo -n`: never wait for a password
/// prompt; the script is an argument (it holds no secret). The outer `sh`
/// hands `$SSH_CONNECTION`, which sudo drops, to the script as `$1`.
pub fn gather_command() -> (&'static str, Vec<String>) {
    (
        "sh",
        vec![
            "-c".into(),
            r#"exec sudo -n sh -c "$0" harvcred-gather "$SSH_CONNECTION""#.into(),
            gather::script(),
        ],
    )
}

/// Reads one node's files over the pool.
pub async fn read_node(
    pool: &Pool,
    t: &Target,
) -> Result<crate::creds::report::NodeFiles, Unreadable> {
    let (program, args) = gather_command();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut out = match pool
        .exec_capped(t, program, &args, gather::MAX_STDOUT_BYTES)
        .await
    {
        Ok(o) => o,
        Err(ExecError::Ssh(p)) => {
            let reason = match p.kind {
                SshProblemKind::Auth => ReadFailure::Auth,
                SshProblemKind::HostKeyUnknown(_)
                | SshProblemKind::HostKeyChanged(_)
                | SshProblemKind::HostKeyUnverified => ReadFailure::HostKey,
                SshProblemKind::Timeout => ReadFailure::Timeout,
                SshProblemKind::Refused => ReadFailure::Refused,
                SshProblemKind::NoRoute => ReadFailure::NoRoute,
                SshProblemKind::Resolve => ReadFailure::Dns,
                SshProblemKind::NoAddress | SshProblemKind::Other => ReadFailure::Other,
            };
            return Err(Unreadable {
                reason,
                detail: p.detail,
            });
        }
        Err(e @ ExecError::TooMuchOutput(_)) => {
            return Err(Unreadable {
                reason: ReadFailure::Output,
                detail: e.to_string(),
            });
        }
        Err(ExecError::Timeout(d)) => {
            return Err(Unreadable {
                reason: ReadFailure::Timeout,
                detail: format!("reading the credential files took longer than {d:?}"),
            });
        }
        Err(e) => {
            return Err(Unreadable {
                reason: ReadFailure::Other,
                detail: e.to_string(),
            });
        }
    };
    // Shadow and token files are in it: wiped when done, whatever the outcome.
    let stdout = zeroize::Zeroizing::new(std::mem::take(&mut out.stdout));
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("")
            .to_string();
        let sudo = err.contains("sudo:")
            || err.contains("a password is required")
            || err.contains("not in the sudoers");
        return Err(if sudo {
            Unreadable {
                reason: ReadFailure::Sudo,
                detail: format!(
                    "{line}: rancher needs passwordless sudo to read the credential files"
                ),
            }
        } else {
            Unreadable {
                reason: ReadFailure::Other,
                detail: format!("the read exited with {}: {line}", out.status),
            }
        });
    }
    gather::parse(&stdout).map_err(|e| Unreadable {
        reason: ReadFailure::Output,
        detail: e.to_string(),
    })
}

/// The longest harvcred spends judging one node's files.
pub const JUDGING_LIMIT: Duration = Duration::from_secs(20);

/// Reads and judges one node; the judging runs off the async threads.
pub async fn sweep_node(
    pool: &Pool,
    t: &Target,
    ctx: ClusterContext,
    thresholds: Thresholds,
) -> NodeOutcome {
    sweep_node_with_network(pool, t, ctx, thresholds).await.0
}

/// [`sweep_node`], plus what the node's files say about the cluster network.
pub async fn sweep_node_with_network(
    pool: &Pool,
    t: &Target,
    ctx: ClusterContext,
    thresholds: Thresholds,
) -> (NodeOutcome, ClusterFacts) {
    match read_node(pool, t).await {
        Ok(files) => {
            let network = crate::creds::report::network_facts(&files);
            (judge(t, files, ctx, thresholds).await, network)
        }
        Err(u) => (NodeOutcome::Failed(u), ClusterFacts::default()),
    }
}

async fn judge(
    t: &Target,
    files: crate::creds::report::NodeFiles,
    ctx: ClusterContext,
    thresholds: Thresholds,
) -> NodeOutcome {
    let name = t.name.clone();
    // Judging is bounded (crypt rounds are capped); the time limit
    // keeps one node's odd files from holding up the whole sweep anyway.
    let r = tokio::time::timeout(
        JUDGING_LIMIT,
        tokio::task::spawn_blocking(move || {
            assess_node(&name, &files, &ctx, OffsetDateTime::now_utc(), &thresholds)
        }),
    )
    .await;
    match r {
        Ok(Ok(r)) => NodeOutcome::Report(Arc::new(r)),
        Ok(Err(e)) => NodeOutcome::Failed(Unreadable {
            reason: ReadFailure::Other,
            detail: format!("judging the files failed: {e}"),
        }),
        Err(_) => NodeOutcome::Failed(Unreadable {
            reason: ReadFailure::Other,
            detail: format!(
                "judging the node's files took longer than {JUDGING_LIMIT:?}; left unjudged"
            ),
        }),
    }
}

/// One node of a full sweep.
#[derive(Debug, Clone)]
pub struct SweptNode {
    pub info: crate::model::NodeInfo,
    pub outcome: NodeOutcome,
}

/// A full sweep: nodes (token copies compared across them) and settings.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub nodes: Vec<SweptNode>,
    pub cluster: ClusterReport,
    /// Why the node list could not come from the API (the inventory was used, or nothing).
    pub api_error: Option<String>,
}

/// Lists the nodes (API, else the inventory), reads the settings, then
/// sweeps every node at once: a node that cannot be reached costs its own
/// connect timeout and nobody else's.
pub async fn sweep_all(
    kube: &crate::cluster::KubeSettings,
    pool: &Pool,
    inventory: Vec<crate::model::NodeInfo>,
    thresholds: Thresholds,
) -> Sweep {
    use k8s_openapi::api::core::v1::Node;
    let mut api_error = None;
    let mut settings = ClusterSettings::default();
    let mut infos = Vec::new();
    let mut kubelet_versions = std::collections::BTreeMap::new();
    let mut ips: Vec<String> = Vec::new();
    let mut cluster_token = None;
    match crate::cluster::connect(kube).await {
        Ok((client, _, _)) => {
            let api: Api<Node> = Api::all(client.clone());
            match tokio::time::timeout(Duration::from_secs(10), api.list(&Default::default())).await
            {
                Ok(Ok(list)) => {
                    infos = list.items.iter().map(crate::cluster::node_info).collect();
                    ips = list
                        .items
                        .iter()
                        .flat_map(crate::cluster::internal_ips)
                        .collect();
                    kubelet_versions = self::kubelet_versions(&list.items);
                }
                Ok(Err(e)) => api_error = Some(crate::cluster::classify(&e).detail),
                Err(_) => api_error = Some("listing nodes: no answer within 10 s".into()),
            }
            settings = read_settings(client).await;
            cluster_token = settings.cluster_token.clone();
        }
        Err(p) => {
            api_error = Some(p.detail.clone());
            settings.error = Some(p.detail);
        }
    }
    if infos.is_empty() {
        infos = inventory;
    }
    infos.sort_by(|a, b| crate::model::natural_cmp(&a.name, &b.name));
    let mut ctx = settings.context();
    ctx.kubelet_versions = kubelet_versions;
    let outcomes = futures::future::join_all(infos.iter().map(|i| {
        let t = Target {
            name: i.name.clone(),
            address: i.address.clone(),
        };
        let ctx = ctx.clone();
        async move { sweep_node_with_network(pool, &t, ctx, thresholds).await }
    }))
    .await;
    let (outcomes, networks): (Vec<NodeOutcome>, Vec<ClusterFacts>) = outcomes.into_iter().unzip();
    // The first node that names each fact (server nodes carry the CIDRs).
    for n in &networks {
        let net = &mut settings.network;
        net.vip = net.vip.take().or_else(|| n.vip.clone());
        net.pod_cidr = net.pod_cidr.take().or_else(|| n.pod_cidr.clone());
        net.service_cidr = net.service_cidr.take().or_else(|| n.service_cidr.clone());
    }
    let mut reports: Vec<NodeReport> = outcomes
        .iter()
        .filter_map(|o| match o {
            NodeOutcome::Report(r) => Some((**r).clone()),
            NodeOutcome::Failed(_) => None,
        })
        .collect();
    crate::creds::report::compare_tokens_with_cluster(&mut reports, cluster_token.as_ref());
    if ips.is_empty() {
        ips = infos.iter().filter_map(|i| i.address.clone()).collect();
    }
    let now = OffsetDateTime::now_utc();
    let cluster = assess_cluster(
        &settings,
        &ips,
        apiserver_not_after(&reports),
        now,
        &thresholds,
    );
    let mut reports = reports.into_iter();
    let nodes = infos
        .into_iter()
        .zip(outcomes)
        .map(|(info, o)| SweptNode {
            info,
            outcome: match o {
                NodeOutcome::Report(_) => NodeOutcome::Report(Arc::new(
                    reports.next().expect("one report per readable node"),
                )),
                f => f,
            },
        })
        .collect();
    Sweep {
        nodes,
        cluster,
        api_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_value_is_value_unless_empty_then_default() {
        let d = serde_json::json!({"value": "", "default": "{\"enable\":false}"});
        assert_eq!(*effective_value(&d), "{\"enable\":false}");
        let d = serde_json::json!({"value": "x", "default": "y"});
        assert_eq!(*effective_value(&d), "x");
        assert_eq!(*effective_value(&serde_json::json!({})), "");
    }

    #[test]
    fn proxy_credentials_are_masked_and_uncovered_nodes_are_critical() {
        let s = ClusterSettings {
            http_proxy: Some(Ok(HttpProxySetting::parse(
                r#"{"httpProxy":"http://u:S3cr3t@proxy:3128","noProxy":"localhost"}"#,
            )
            .unwrap())),
            ..Default::default()
        };
        let r = assess_cluster(
            &s,
            &["10.1.1.1".into()],
            None,
            OffsetDateTime::now_utc(),
            &Thresholds::default(),
        );
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("S3cr3t"), "{json}");
        assert!(!format!("{s:?}").contains("S3cr3t"));
        assert_eq!(r.level, Level::Critical, "{json}");
        assert!(r.http_proxy_masked.unwrap().contains("proxy:3128"));
    }

    #[test]
    fn auto_rotate_without_an_apiserver_cert_is_unknown_not_guessed() {
        let s = ClusterSettings {
            auto_rotate: Some(Ok(AutoRotate::default())),
            ..Default::default()
        };
        let now = OffsetDateTime::now_utc();
        let r = assess_cluster(&s, &[], None, now, &Thresholds::default());
        assert_eq!(r.level, Level::Unknown);
        let r = assess_cluster(
            &s,
            &[],
            Some(now + time::Duration::days(300)),
            now,
            &Thresholds::default(),
        );
        assert_eq!(r.level, Level::Ok, "{:?}", r.findings);
    }

    fn files(list: &[(&str, &str)]) -> crate::creds::report::NodeFiles {
        use crate::creds::report::FileRead;
        crate::creds::report::NodeFiles {
            files: list
                .iter()
                .map(|(p, t)| {
                    (
                        p.to_string(),
                        FileRead::Content(zeroize::Zeroizing::new(t.as_bytes().to_vec())),
                    )
                })
                .collect(),
            ..Default::default()
        }
    }

    /// The VIP and the CIDRs come from the node's own files and are checked
    /// against noProxy; every InternalIP (both families) is checked too.
    #[test]
    fn vip_cidrs_and_every_internal_ip_are_checked_against_no_proxy() {
        let node = files(&[
            (
                "/oem/harvester.config",
                "token: K10abc::server:def\nos:\n  hostname: node1\ninstall:\n  mode: create\n  role: management\n  vip: 192.168.122.100\n  vip_mode: static\n",
            ),
            (
                "/etc/rancher/rke2/config.yaml.d/90-harvester-server.yaml",
                "cni: multus,canal\ncluster-cidr: 172.30.0.0/16\nservice-cidr: 172.31.0.0/16\ncluster-dns: 172.31.0.10\ntls-san:\n  - 192.168.122.100\n",
            ),
        ]);
        let net = crate::creds::report::network_facts(&node);
        assert_eq!(net.vip.as_deref(), Some("192.168.122.100"));
        assert_eq!(net.pod_cidr.as_deref(), Some("172.30.0.0/16"));
        assert_eq!(net.service_cidr.as_deref(), Some("172.31.0.0/16"));
        let s = ClusterSettings {
            http_proxy: Some(Ok(HttpProxySetting::parse(
                r#"{"httpProxy":"http://proxy:3128","noProxy":"192.168.122.11"}"#,
            )
            .unwrap())),
            network: net,
            ..Default::default()
        };
        let r = assess_cluster(
            &s,
            &["192.168.122.11".into(), "fd00:122::11".into()],
            None,
            OffsetDateTime::now_utc(),
            &Thresholds::default(),
        );
        let said: Vec<String> = r.findings.iter().map(|f| f.message.clone()).collect();
        let has = |t: &str| said.iter().any(|m| m.contains(t));
        assert!(has("fd00:122::11"), "{said:?}");
        assert!(has("VIP 192.168.122.100 is not covered"), "{said:?}");
        assert!(has("pod CIDR 172.30.0.0/16"), "{said:?}");
        assert!(has("service CIDR 172.31.0.0/16"), "{said:?}");
        assert_eq!(r.level, Level::Critical);
    }

    /// The console hands over one address per row; the settings' own list
    /// of every InternalIP (both families) is what is checked.
    #[test]
    fn the_settings_list_of_every_internal_ip_wins_over_one_address_per_row() {
        let s = ClusterSettings {
            http_proxy: Some(Ok(HttpProxySetting::parse(
                r#"{"httpProxy":"http://proxy:3128","noProxy":"192.168.122.0/24"}"#,
            )
            .unwrap())),
            node_ips: vec!["192.168.122.11".into(), "fd00:122::11".into()],
            ..Default::default()
        };
        let r = assess_cluster(
            &s,
            &["192.168.122.11".into()],
            None,
            OffsetDateTime::now_utc(),
            &Thresholds::default(),
        );
        assert_eq!(r.level, Level::Critical, "{:?}", r.findings);
        assert!(format!("{:?}", r.findings).contains("fd00:122::11"));
    }

    #[test]
    fn a_missing_http_proxy_setting_means_not_harvester_not_no_proxy() {
        let s = ClusterSettings {
            http_proxy_missing: true,
            ..Default::default()
        };
        let r = assess_cluster(
            &s,
            &[],
            None,
            OffsetDateTime::now_utc(),
            &Thresholds::default(),
        );
        assert_eq!(r.level, Level::Unknown);
        let said = format!("{:?}", r.findings);
        assert!(said.contains("not a Harvester cluster"), "{said}");
        assert!(!said.contains("no proxy is set"), "{said}");
    }

    #[test]
    fn every_internal_ip_of_a_dual_stack_node() {
        let n: k8s_openapi::api::core::v1::Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "node1"},
            "status": {"addresses": [
                {"type": "InternalIP", "address": "192.168.122.11"},
                {"type": "InternalIP", "address": "fd00:122::11"},
                {"type": "Hostname", "address": "node1"}
            ]}
        }))
        .unwrap();
        assert_eq!(
            crate::cluster::internal_ips(&n),
            ["192.168.122.11", "fd00:122::11"]
        );
    }
}
