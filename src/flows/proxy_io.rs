//! The I/O of the proxy change on the engine ([`ChangeIo`] for
//! [`ProxyChange`]): reads the setting and the node IPs, patches with the
//! resourceVersion read as precondition, keeps the replaced value for a
//! rollback, follows `status.conditions` at the version it wrote. Shared by
//! the CLI and the console's runner so both talk to the cluster the same way.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use kube::Client;

use super::engine::{AuditLine, ChangeIo, Refusal};
use super::keep;
use super::proxy::{ProxyChange, ProxyFacts, ProxyWork};
use crate::audit;
use crate::cluster::settings::{self, PatchFailure, Verified};

/// What the actions need: the API, where local state goes, names to record.
pub struct Io {
    pub client: Client,
    pub state_dir: PathBuf,
    /// Kubeconfig context (the rollback file is per context).
    pub context: String,
    /// `context (server)`, for the audit log.
    pub cluster: String,
    pub verify_timeout: Duration,
    /// The resourceVersion this walk's patch left: the controller's
    /// `configured` only counts for the new value once it is newer.
    written: Mutex<Option<String>>,
}

impl Io {
    pub fn new(
        client: Client,
        state_dir: PathBuf,
        context: String,
        cluster: String,
        verify_timeout: Duration,
    ) -> Io {
        Io {
            client,
            state_dir,
            context,
            cluster,
            verify_timeout,
            written: Mutex::new(None),
        }
    }

    /// The setting as it is now, with what the checks need.
    async fn facts_with(&self, current: settings::ProxyRead) -> Result<ProxyFacts, String> {
        match settings::proxy_facts(&self.client).await {
            Ok(cluster) => Ok(ProxyFacts { current, cluster }),
            Err(e) => Err(format!("{e}: the node IPs are needed to check noProxy")),
        }
    }

    async fn refusal(&self, f: PatchFailure) -> Refusal<ProxyFacts> {
        match f {
            PatchFailure::Conflict(now) => match self.facts_with(*now).await {
                Ok(facts) => Refusal::Conflict(facts),
                Err(e) => Refusal::Failed(e),
            },
            PatchFailure::Denied(m) => Refusal::Denied(m),
            PatchFailure::Other(m) => Refusal::Failed(m),
        }
    }

    fn wrote(&self, resource_version: String, old: &crate::creds::proxy::HttpProxySetting) {
        if let Ok(mut w) = self.written.lock() {
            *w = Some(resource_version);
        }
        if let Err(e) = keep::save_proxy(&self.state_dir, &self.context, old) {
            tracing::error!("keeping the previous http-proxy value for rollback: {e}");
        }
    }
}

impl ChangeIo<ProxyChange> for Io {
    async fn load(&self) -> Result<ProxyFacts, String> {
        // No change without an audit trail: find out now, not after applying.
        if let Err(e) = audit::probe(&self.state_dir) {
            return Err(format!(
                "cannot write the audit log {}: {e}; fix that first (no change is made without an audit trail)",
                audit::path(&self.state_dir).display()
            ));
        }
        crate::faults::point("read", super::proxy::CLUSTER).await;
        let current = settings::read_http_proxy(&self.client).await?;
        self.facts_with(current).await
    }

    async fn dry_run(&self, target: &str, work: &ProxyWork) -> Result<(), String> {
        self.try_dry_run(target, work)
            .await
            .map_err(Refusal::into_text)
    }

    async fn try_dry_run(&self, _: &str, work: &ProxyWork) -> Result<(), Refusal<ProxyFacts>> {
        crate::faults::point("dry-run", super::proxy::CLUSTER).await;
        tracing::info!(new = ?work.new, rv = %work.resource_version, "http-proxy dry run");
        match settings::patch_http_proxy(&self.client, &work.new, &work.resource_version, true)
            .await
        {
            Ok(_) => Ok(()),
            Err(f) => Err(self.refusal(f).await),
        }
    }

    async fn apply(&self, target: &str, work: &ProxyWork) -> Result<bool, String> {
        self.try_apply(target, work)
            .await
            .map_err(Refusal::into_text)
    }

    async fn try_apply(&self, _: &str, work: &ProxyWork) -> Result<bool, Refusal<ProxyFacts>> {
        // A retry may find an earlier attempt written (its answer lost): it
        // is not written twice. Anything else is patched at the version read,
        // so a value changed meanwhile is never overwritten blindly.
        let now = settings::read_http_proxy(&self.client)
            .await
            .map_err(Refusal::Failed)?;
        if now.setting == work.new {
            self.wrote(now.resource_version, &work.old);
            return Ok(false);
        }
        crate::faults::point("patch", super::proxy::CLUSTER).await;
        tracing::info!(new = ?work.new, rv = %work.resource_version, "http-proxy apply");
        match settings::patch_http_proxy(&self.client, &work.new, &work.resource_version, false)
            .await
        {
            Ok(written) => {
                self.wrote(written.resource_version, &work.old);
                Ok(true)
            }
            // No answer, yet the patch may have landed: read before saying.
            Err(PatchFailure::Other(e)) => match settings::read_http_proxy(&self.client).await {
                Ok(now) if now.setting == work.new => {
                    tracing::warn!("{e}; the setting reads as written: the patch landed");
                    self.wrote(now.resource_version, &work.old);
                    Ok(true)
                }
                _ => Err(Refusal::Failed(e)),
            },
            Err(f) => Err(self.refusal(f).await),
        }
    }

    async fn verify(&self, target: &str, work: &ProxyWork) -> Result<(), String> {
        self.verify_with_progress(target, work, &|_| {}).await
    }

    async fn verify_with_progress(
        &self,
        _: &str,
        work: &ProxyWork,
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        crate::faults::point("follow", super::proxy::CLUSTER).await;
        let rv = self
            .written
            .lock()
            .ok()
            .and_then(|w| w.clone())
            .unwrap_or_else(|| work.resource_version.clone());
        let verdict = settings::follow_configured(&self.client, &rv, self.verify_timeout, |c| {
            tracing::info!(status = ?c.status, reason = %c.reason, message = %c.message, "http-proxy configured condition");
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
        })
        .await;
        match verdict {
            Verified::Configured => Ok(()),
            Verified::NotConfigured(m) | Verified::Timeout(m) => Err(m),
        }
    }

    fn audit(&self, line: &AuditLine) {
        let e = audit::Entry::from_walk(&self.cluster, line);
        if let Err(err) = audit::append(&self.state_dir, &e) {
            tracing::error!("writing the audit log: {err}");
        }
    }
}
