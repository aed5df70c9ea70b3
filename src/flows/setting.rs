//! The guided change of one of the other credential settings
//! (`additional-ca`, `ssl-certificates`, `ssl-parameters`,
//! `containerd-registry`) on the walkthrough engine, shaped like the proxy
//! change: one target (the cluster), Harvester's webhook rules with its
//! messages before sending, a preview that shows what the value holds (never
//! a key or password), a dry run, the patch at the resourceVersion read, and
//! the `configured` condition followed. An empty value restores Harvester's
//! default (the documented recovery for `ssl-parameters`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use kube::Client;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::Severity;
use super::engine::{AuditLine, Change, ChangeIo, Planned, Problem, Refusal, TargetState};
use crate::audit;
use crate::cluster::settings::{self, SettingPatchFailure, SettingRead, Verified};
use crate::creds::level::{Level, Thresholds};
use crate::creds::setting_values::{self as values, SslCertificates};

pub use super::proxy::CLUSTER;

/// A value as Harvester stores it. `Debug` shows its size only.
#[derive(Clone, PartialEq, Eq)]
pub struct SettingValue(pub Zeroizing<String>);

impl std::fmt::Debug for SettingValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SettingValue(<{} bytes>)", self.0.len())
    }
}

impl SettingValue {
    pub fn new(s: &str) -> SettingValue {
        SettingValue(Zeroizing::new(s.to_string()))
    }
}

/// What the checks need beyond the value: the host the cluster is reached
/// by (a new `ssl-certificates` certificate must cover it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub host: Option<String>,
}

/// What is read before editing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingFacts {
    pub current: SettingRead,
    pub context: Context,
}

/// The patch: the value conditioned on the version read, and the value it
/// replaces (kept for `settings rollback`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingWork {
    pub new: SettingValue,
    pub old: SettingValue,
    pub resource_version: String,
}

/// A change of one setting, or its rollback (the same walk with the kept
/// old value as the new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingChange {
    pub name: &'static str,
    pub rollback: bool,
}

/// Whether `settings rollback` can restore this setting: not
/// `ssl-certificates`, whose old value holds a private key that harvcred
/// never writes to a file (an empty value resets to Harvester's own).
pub fn can_roll_back(name: &str) -> bool {
    name != values::SSL_CERTIFICATES
}

/// Every check of a proposed value: Harvester's webhook rule (its exact
/// message, blocking), then harvcred's own (blocking where the cluster would
/// break, else warnings). Messages never carry a secret.
pub fn validate(name: &'static str, value: &str, ctx: &Context) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Err(m) = values::webhook_rule(name, value) {
        out.push(Problem {
            field: name,
            severity: Severity::Error,
            message: m,
        });
        return out;
    }
    if name == values::SSL_CERTIFICATES
        && let Ok(s) = SslCertificates::parse(value)
    {
        for m in values::ssl_certificate_errors(&s, ctx.host.as_deref()) {
            out.push(Problem {
                field: name,
                severity: Severity::Error,
                message: m,
            });
        }
    }
    let d = values::describe(
        name,
        value,
        OffsetDateTime::now_utc(),
        &Thresholds::default(),
    );
    for f in d.findings {
        let severity = match f.level {
            Level::Ok | Level::RenewsAtRestart => continue,
            Level::Expired if name == values::SSL_CERTIFICATES => Severity::Error,
            // Harvester has no rule for additional-ca and would copy text
            // that is no certificate into every CA secret: harvcred refuses.
            Level::Unknown if name == values::ADDITIONAL_CA => Severity::Error,
            _ => Severity::Warning,
        };
        if out.iter().any(|p| p.message == f.message) {
            continue;
        }
        out.push(Problem {
            field: name,
            severity,
            message: f.message,
        });
    }
    out
}

/// Whether any problem blocks sending.
pub fn blocks(problems: &[Problem]) -> bool {
    problems.iter().any(|p| p.severity == Severity::Error)
}

/// What the change does once applied, for the preview.
pub fn consequences(name: &str) -> Vec<String> {
    let s = |t: &str| vec![t.to_string()];
    match name {
        values::ADDITIONAL_CA => s(
            "Harvester copies the bundle into its CA secrets (Harvester, longhorn-system, cattle-system) and the CDI config maps; RKE2 is unaffected",
        ),
        values::SSL_CERTIFICATES => s(
            "Harvester writes cattle-system/tls-ingress, points the ingress at it and redeploys Rancher; an empty value resets the ingress to Harvester's own certificate (tls-rancher-internal) but leaves the last certificate and key in cattle-system/tls-ingress; harvcred then dials the ingress (port 443 of the kubeconfig's host) until it presents the new one",
        ),
        values::SSL_PARAMETERS => s(
            "the ingress restarts with these protocols and ciphers; harvcred then dials it (port 443 of the kubeconfig's host) offering TLSv1.2 and TLSv1.3 and reports which it negotiates; if no handshake works, clients can no longer connect: delete the value (an empty value) or roll back to recover",
        ),
        values::CONTAINERD_REGISTRY => s(
            "Harvester writes the secret cattle-system/harvester-containerd-registry and removes Configs[*].Auth from the setting after syncing (the credentials move to fleet-local secrets); Rancher writes /etc/rancher/rke2/registries.yaml and restarts RKE2 on every node, one node at a time; harvcred then compares each node's file with the setting",
        ),
        _ => Vec::new(),
    }
}

fn action_of(name: &str, rollback: bool) -> &'static str {
    match (name, rollback) {
        (values::ADDITIONAL_CA, false) => "settings.set.additional-ca",
        (values::SSL_CERTIFICATES, false) => "settings.set.ssl-certificates",
        (values::SSL_PARAMETERS, false) => "settings.set.ssl-parameters",
        (values::CONTAINERD_REGISTRY, false) => "settings.set.containerd-registry",
        (values::ADDITIONAL_CA, true) => "settings.rollback.additional-ca",
        (values::SSL_PARAMETERS, true) => "settings.rollback.ssl-parameters",
        (values::CONTAINERD_REGISTRY, true) => "settings.rollback.containerd-registry",
        (_, false) => "settings.set",
        (_, true) => "settings.rollback",
    }
}

fn summary_of(name: &str, value: &str) -> serde_json::Value {
    values::describe(
        name,
        value,
        OffsetDateTime::now_utc(),
        &Thresholds::default(),
    )
    .detail
}

impl Change for SettingChange {
    type Draft = SettingValue;
    type Facts = SettingFacts;
    type Work = SettingWork;

    fn action(&self) -> &'static str {
        action_of(self.name, self.rollback)
    }

    fn validate(&self, draft: &SettingValue, facts: &SettingFacts) -> Vec<Problem> {
        validate(self.name, &draft.0, &facts.context)
    }

    fn plan(
        &self,
        draft: &SettingValue,
        facts: &SettingFacts,
        targets: &[String],
    ) -> Result<Vec<Planned<SettingWork>>, String> {
        if *draft.0 == *facts.current.value {
            return Ok(Vec::new());
        }
        let mut preview = vec![format!(
            "settings.harvesterhci.io {}, patched at resourceVersion {}:",
            self.name, facts.current.resource_version
        )];
        if draft.0.is_empty() {
            preview.push("value removed: Harvester's default applies".into());
        }
        let now = OffsetDateTime::now_utc();
        let t = Thresholds::default();
        preview.push("now:".into());
        preview.extend(
            values::describe(self.name, facts.current.effective(), now, &t)
                .lines
                .into_iter()
                .map(|l| format!("  {l}")),
        );
        preview.push("new:".into());
        let shown = if draft.0.is_empty() {
            facts.current.default.as_str()
        } else {
            draft.0.as_str()
        };
        preview.extend(
            values::describe(self.name, shown, now, &t)
                .lines
                .into_iter()
                .map(|l| format!("  {l}")),
        );
        Ok(targets
            .iter()
            .map(|target| Planned {
                target: target.clone(),
                preview: preview.clone(),
                work: SettingWork {
                    new: draft.clone(),
                    old: SettingValue(facts.current.value.clone()),
                    resource_version: facts.current.resource_version.clone(),
                },
            })
            .collect())
    }

    fn consequences(&self, _facts: &SettingFacts) -> Vec<String> {
        consequences(self.name)
    }

    fn audit_values(
        &self,
        draft: &SettingValue,
        facts: &SettingFacts,
    ) -> Option<(serde_json::Value, serde_json::Value)> {
        Some((
            summary_of(self.name, facts.current.effective()),
            summary_of(self.name, &draft.0),
        ))
    }

    fn changed(&self, before: &SettingFacts, now: &SettingFacts) -> Vec<String> {
        if before.current.value == now.current.value {
            Vec::new()
        } else {
            vec![format!(
                "{}: the value was changed by someone else (resourceVersion {} -> {})",
                self.name, before.current.resource_version, now.current.resource_version
            )]
        }
    }

    fn whole(&self) -> &'static str {
        "the cluster"
    }

    fn summary(&self, states: &BTreeMap<String, TargetState>) -> Option<String> {
        Some(match states.get(CLUSTER)? {
            TargetState::Verified { changed: true } => {
                "applied; the cluster reports it configured".into()
            }
            TargetState::Verified { changed: false } => {
                "the cluster already had the value and reports it configured".into()
            }
            TargetState::Failed(e) => match e.strip_prefix("verify: ") {
                Some(m) => format!("applied, but {m}"),
                None => e.replacen("apply: ", "applying failed: ", 1),
            },
            TargetState::Skipped(why) => format!("not applied: {why}"),
            _ => return None,
        })
    }
}

/// The I/O of a setting change: reads, patches at the version read, follows
/// `configured` at the version it wrote, writes the audit log.
pub struct Io {
    pub client: Client,
    pub name: &'static str,
    /// Kubeconfig context (the rollback file is per context).
    pub kube_context: String,
    pub state_dir: PathBuf,
    /// `context (server)`, for the audit log.
    pub cluster: String,
    pub context: Context,
    pub verify_timeout: Duration,
    written: Mutex<Option<String>>,
    /// For `containerd-registry`: the nodes whose `registries.yaml` the
    /// verification waits for (Rancher writes them after `configured`).
    registry_nodes: Option<std::sync::Arc<crate::node::Pool>>,
}

/// One node's `registries.yaml` against the `containerd-registry` setting:
/// what differs (nothing: it matches), or why it was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRegistries {
    pub node: String,
    pub compared: Result<Vec<String>, String>,
}

/// Every node's `registries.yaml` read over SSH at once and compared with
/// the setting's mirrors and TLS skips (auth is never compared: Harvester
/// removes it from the setting after syncing). Nodes in natural order.
pub async fn registries_on_nodes(
    client: &Client,
    pool: &crate::node::Pool,
    setting: &crate::creds::registries::RegistryShape,
) -> Result<Vec<NodeRegistries>, String> {
    use crate::creds::registries::{self as reg, REGISTRIES_YAML};
    let mut nodes = crate::cluster::rotation::nodes(client).await?;
    nodes.sort_by(|a, b| crate::model::natural_cmp(&a.name, &b.name));
    let targets: Vec<crate::model::Target> = nodes
        .into_iter()
        .map(|i| crate::model::Target {
            name: i.name,
            address: i.address,
        })
        .collect();
    let files = futures::future::join_all(
        targets
            .iter()
            .map(|t| crate::node::write::read(pool, t, REGISTRIES_YAML)),
    )
    .await;
    Ok(targets
        .into_iter()
        .zip(files)
        .map(|(t, file)| NodeRegistries {
            node: t.name,
            compared: file.map_err(|e| e.to_string()).and_then(|f| {
                reg::from_file(f.content.as_deref().map(|c| c.as_slice()))
                    .map(|node| reg::differences(setting, &node))
            }),
        })
        .collect())
}

impl Io {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        name: &'static str,
        kube_context: String,
        state_dir: PathBuf,
        cluster: String,
        context: Context,
        verify_timeout: Duration,
    ) -> Io {
        Io {
            client,
            name,
            kube_context,
            state_dir,
            cluster,
            context,
            verify_timeout,
            written: Mutex::new(None),
            registry_nodes: None,
        }
    }

    /// A `containerd-registry` change is verified on the nodes too: each
    /// node's `registries.yaml` until all match the setting.
    pub fn with_registry_nodes(mut self, pool: std::sync::Arc<crate::node::Pool>) -> Io {
        self.registry_nodes = Some(pool);
        self
    }

    /// Rancher writes `registries.yaml` and restarts RKE2 one node at a
    /// time after `configured`: each node's file compared with the setting
    /// (as Harvester stores it now) until all match or the time is up. A
    /// line per node whenever what it says changes.
    async fn verify_registries(
        &self,
        pool: &crate::node::Pool,
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        use crate::creds::registries::{self as reg, REGISTRIES_YAML};
        let deadline = tokio::time::Instant::now() + self.verify_timeout;
        let mut said: BTreeMap<String, String> = BTreeMap::new();
        let verdict = loop {
            let current = settings::read_setting(&self.client, self.name).await?;
            let setting = reg::from_setting(current.effective())?;
            let nodes = registries_on_nodes(&self.client, pool, &setting).await?;
            let mut behind = Vec::new();
            for n in &nodes {
                let line = match &n.compared {
                    Ok(d) if d.is_empty() => format!("node {}: {REGISTRIES_YAML} matches", n.node),
                    Ok(d) => {
                        behind.push(format!("{}: {}", n.node, d.join("; ")));
                        format!(
                            "node {}: {REGISTRIES_YAML} differs from the setting (not synced yet): {}",
                            n.node,
                            d.join("; ")
                        )
                    }
                    Err(e) => {
                        behind.push(format!("{}: not read: {e}", n.node));
                        format!("node {}: {REGISTRIES_YAML} not read: {e}", n.node)
                    }
                };
                if said.get(&n.node) != Some(&line) {
                    progress(line.clone());
                    // The walk keeps the latest line: let it take each one.
                    tokio::task::yield_now().await;
                    said.insert(n.node.clone(), line);
                }
            }
            if nodes.is_empty() {
                break Err(
                    "applied, but the cluster lists no node to compare registries.yaml on"
                        .to_string(),
                );
            }
            if behind.is_empty() {
                break Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                break Err(format!(
                    "applied, but not every node's {REGISTRIES_YAML} matches the setting after {} s (Rancher restarts RKE2 one node at a time): {}",
                    self.verify_timeout.as_secs(),
                    behind.join(" · ")
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(3), pool.close_all()).await;
        verdict
    }

    /// Notes the version written and keeps the replaced value for a rollback
    /// (registry passwords removed; never for ssl-certificates).
    fn wrote(&self, resource_version: String, old: &SettingValue) {
        if let Ok(mut w) = self.written.lock() {
            *w = Some(resource_version);
        }
        if !can_roll_back(self.name) {
            return;
        }
        let keep = if self.name == values::CONTAINERD_REGISTRY {
            values::registry_without_auth(&old.0)
        } else {
            old.0.clone()
        };
        if let Err(e) =
            super::keep::save_setting(&self.state_dir, self.name, &self.kube_context, &keep)
        {
            tracing::error!(
                setting = self.name,
                "keeping the previous value for rollback: {e}"
            );
        }
    }

    /// After an `ssl-certificates` change is configured, a TLS dial of the
    /// ingress (the kubeconfig's host, port 443) until it presents the new
    /// leaf certificate, or for a reset until it no longer presents the old
    /// one. Harvester redeploys the ingress after `configured`, so this
    /// waits up to the verify timeout.
    async fn verify_ingress(
        &self,
        work: &SettingWork,
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        let want = match (leaf_sha256(&work.new.0), leaf_sha256(&work.old.0)) {
            (Some(new), _) => settings::IngressWant::Presents(new),
            (None, Some(old)) => settings::IngressWant::NoLonger(old),
            (None, None) => return Ok(()), // Harvester's own before and after
        };
        let Some(host) = self.context.host.clone() else {
            return Err(
                "applied, but no host to dial the ingress at: the kubeconfig names no server host"
                    .into(),
            );
        };
        let seen = settings::follow_ingress(
            &host,
            settings::INGRESS_PORT,
            &want,
            self.verify_timeout,
            progress,
        )
        .await?;
        progress(format!(
            "the ingress at {host}:{} presents SHA-256 {seen}",
            settings::INGRESS_PORT
        ));
        tokio::task::yield_now().await;
        Ok(())
    }

    /// After an `ssl-parameters` change is configured, TLS dials of the
    /// ingress offering TLSv1.2 only and TLSv1.3 only, until it answers as
    /// the new value says (it restarts after `configured`): which it
    /// negotiates, or that no handshake works (the cluster's UI and
    /// Rancher's kubeconfigs locked out) with the recovery.
    async fn verify_ingress_protocols(
        &self,
        work: &SettingWork,
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        let Some(host) = self.context.host.clone() else {
            return Err(
                "applied, but no host to dial the ingress at: the kubeconfig names no server host"
                    .into(),
            );
        };
        let seen = settings::follow_ingress_protocols(
            &host,
            settings::INGRESS_PORT,
            &values::served_tls(&work.new.0),
            self.verify_timeout,
            progress,
        )
        .await?;
        progress(seen);
        // The walk shows progress only while verifying: let it take this
        // line before the verdict ends that.
        tokio::task::yield_now().await;
        Ok(())
    }

    fn refusal(&self, f: SettingPatchFailure) -> Refusal<SettingFacts> {
        match f {
            SettingPatchFailure::Conflict(now) => Refusal::Conflict(SettingFacts {
                current: *now,
                context: self.context.clone(),
            }),
            SettingPatchFailure::Denied(m) => Refusal::Denied(m),
            SettingPatchFailure::Other(m) => Refusal::Failed(m),
        }
    }
}

/// The SHA-256 (hex) of the leaf of an `ssl-certificates` value's
/// `publicCertificate`; None when it has none.
pub fn leaf_sha256(value: &str) -> Option<String> {
    use sha2::Digest;
    let s = SslCertificates::parse(value).ok()?;
    let der = rustls_pemfile::certs(&mut s.public_certificate.as_bytes())
        .next()?
        .ok()?;
    Some(hex::encode(sha2::Sha256::digest(der.as_ref())))
}

impl ChangeIo<SettingChange> for Io {
    async fn load(&self) -> Result<SettingFacts, String> {
        if let Err(e) = audit::probe(&self.state_dir) {
            return Err(format!(
                "cannot write the audit log {}: {e}; fix that first (no change is made without an audit trail)",
                audit::path(&self.state_dir).display()
            ));
        }
        crate::faults::point("read", CLUSTER).await;
        Ok(SettingFacts {
            current: settings::read_setting(&self.client, self.name).await?,
            context: self.context.clone(),
        })
    }

    async fn dry_run(&self, target: &str, work: &SettingWork) -> Result<(), String> {
        self.try_dry_run(target, work)
            .await
            .map_err(Refusal::into_text)
    }

    async fn try_dry_run(&self, _: &str, work: &SettingWork) -> Result<(), Refusal<SettingFacts>> {
        crate::faults::point("dry-run", CLUSTER).await;
        tracing::info!(setting = self.name, new = ?work.new, rv = %work.resource_version, "setting dry run");
        settings::patch_setting(
            &self.client,
            self.name,
            &work.new.0,
            &work.resource_version,
            true,
        )
        .await
        .map(|_| ())
        .map_err(|f| self.refusal(f))
    }

    async fn apply(&self, target: &str, work: &SettingWork) -> Result<bool, String> {
        self.try_apply(target, work)
            .await
            .map_err(Refusal::into_text)
    }

    async fn try_apply(&self, _: &str, work: &SettingWork) -> Result<bool, Refusal<SettingFacts>> {
        // A retry may find an earlier attempt written (its answer lost).
        let now = settings::read_setting(&self.client, self.name)
            .await
            .map_err(Refusal::Failed)?;
        if *now.value == *work.new.0 {
            self.wrote(now.resource_version, &work.old);
            return Ok(false);
        }
        crate::faults::point("patch", CLUSTER).await;
        tracing::info!(setting = self.name, new = ?work.new, rv = %work.resource_version, "setting apply");
        let written = match settings::patch_setting(
            &self.client,
            self.name,
            &work.new.0,
            &work.resource_version,
            false,
        )
        .await
        {
            Ok(written) => written,
            // No answer, yet the patch may have landed: read before saying.
            Err(SettingPatchFailure::Other(e)) => {
                match settings::read_setting(&self.client, self.name).await {
                    Ok(now) if *now.value == *work.new.0 => {
                        tracing::warn!(
                            setting = self.name,
                            "{e}; it reads as written: the patch landed"
                        );
                        now
                    }
                    _ => return Err(Refusal::Failed(e)),
                }
            }
            Err(f) => return Err(self.refusal(f)),
        };
        self.wrote(written.resource_version, &work.old);
        Ok(true)
    }

    async fn verify(&self, target: &str, work: &SettingWork) -> Result<(), String> {
        self.verify_with_progress(target, work, &|_| {}).await
    }

    async fn verify_with_progress(
        &self,
        _: &str,
        work: &SettingWork,
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        crate::faults::point("follow", CLUSTER).await;
        let rv = self
            .written
            .lock()
            .ok()
            .and_then(|w| w.clone())
            .unwrap_or_else(|| work.resource_version.clone());
        let verdict = settings::follow_setting_configured(
            &self.client,
            self.name,
            &work.new.0,
            &rv,
            self.verify_timeout,
            |c| {
                let status = match c.status {
                    Some(true) => "True",
                    Some(false) => "False",
                    None => "unknown",
                };
                let mut text = format!("configured: {status}");
                for part in [&c.reason, &c.message] {
                    if !part.is_empty() {
                        text.push_str(&format!(" · {part}"));
                    }
                }
                progress(text);
            },
        )
        .await;
        match verdict {
            Verified::Configured if self.name == values::SSL_CERTIFICATES => {
                self.verify_ingress(work, progress).await
            }
            Verified::Configured if self.name == values::SSL_PARAMETERS => {
                self.verify_ingress_protocols(work, progress).await
            }
            Verified::Configured if self.name == values::CONTAINERD_REGISTRY => {
                match &self.registry_nodes {
                    Some(pool) => self.verify_registries(pool, progress).await,
                    None => Ok(()),
                }
            }
            Verified::Configured => Ok(()),
            Verified::NotConfigured(m) | Verified::Timeout(m) => Err(m),
        }
    }

    fn audit(&self, line: &AuditLine) {
        crate::cli::walk::write_audit(&self.state_dir, &self.cluster, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_parameters_without_a_usable_protocol_block_and_bad_ones_say_harvesters_words() {
        let ctx = Context::default();
        let p = validate(values::SSL_PARAMETERS, r#"{"protocols":"TLSv1.4"}"#, &ctx);
        assert_eq!(p[0].message, "unsupported SSL protocol: TLSv1.4");
        assert!(blocks(&p));
        // Harvester accepts it; the preview warns that clients of the
        // ingress (a Rancher-style kubeconfig among them) cannot connect.
        let p = validate(values::SSL_PARAMETERS, r#"{"protocols":"TLSv1.1"}"#, &ctx);
        assert!(!blocks(&p), "{p:?}");
        assert!(
            p[0].message.contains("neither TLSv1.2 nor TLSv1.3"),
            "{p:?}"
        );
        let p = validate(values::SSL_PARAMETERS, r#"{"protocols":"TLSv1.3"}"#, &ctx);
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn an_additional_ca_that_is_no_certificate_is_refused() {
        let p = validate(
            values::ADDITIONAL_CA,
            "not a certificate",
            &Context::default(),
        );
        assert!(blocks(&p), "{p:?}");
        assert!(p[0].message.contains("no PEM certificate"), "{p:?}");
        assert!(validate(values::ADDITIONAL_CA, "", &Context::default()).is_empty());
    }

    #[test]
    fn the_draft_debug_hides_the_value() {
        let v = SettingValue::new(r#"{"privateKey":"SECRETKEY"}"#);
        assert!(!format!("{v:?}").contains("SECRETKEY"));
    }
}
