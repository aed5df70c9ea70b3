//! The I/O side of the proxy flow: performs the actions the machine asks
//! for and turns the answers into events. Shared by the CLI and the
//! console's runner so both talk to the cluster the same way.

use std::path::PathBuf;
use std::time::Duration;

use kube::Client;

use super::keep;
use super::proxy::{Action, Event};
use crate::audit;
use crate::cluster::settings;

/// What the actions need: the API, where local state goes, names to record.
#[derive(Clone)]
pub struct Io {
    pub client: Client,
    pub state_dir: PathBuf,
    /// Kubeconfig context (the rollback file is per context).
    pub context: String,
    /// `context (server)`, for the audit log.
    pub cluster: String,
    pub verify_timeout: Duration,
}

/// Performs one action; the event to feed back, if any.
pub async fn perform(io: &Io, action: Action) -> Option<Event> {
    perform_with(io, action, |_| {}).await
}

/// Like [`perform`], telling `progress` what the cluster reports while a
/// change is verified (`Event::Progress`).
pub async fn perform_with(
    io: &Io,
    action: Action,
    mut progress: impl FnMut(Event) + Send,
) -> Option<Event> {
    match action {
        Action::Load => {
            // No change without an audit trail: find out now, not after applying.
            if let Err(e) = audit::probe(&io.state_dir) {
                return Some(Event::LoadFailed(format!(
                    "cannot write the audit log {}: {e}; fix that first (no change is made without an audit trail)",
                    audit::path(&io.state_dir).display()
                )));
            }
            let current = match settings::read_http_proxy(&io.client).await {
                Ok(c) => c,
                Err(e) => return Some(Event::LoadFailed(e)),
            };
            match settings::proxy_facts(&io.client).await {
                Ok(facts) => Some(Event::Loaded { current, facts }),
                Err(e) => Some(Event::LoadFailed(format!(
                    "{e}: the node IPs are needed to check noProxy"
                ))),
            }
        }
        Action::DryRun {
            ticket,
            new,
            resource_version,
        } => {
            tracing::info!(new = ?new, rv = %resource_version, "http-proxy dry run");
            let result =
                settings::patch_http_proxy(&io.client, &new, &resource_version, true).await;
            Some(Event::DryRunDone { ticket, result })
        }
        Action::Apply {
            ticket,
            new,
            resource_version,
        } => {
            tracing::info!(new = ?new, rv = %resource_version, "http-proxy apply");
            let result =
                settings::patch_http_proxy(&io.client, &new, &resource_version, false).await;
            Some(Event::Applied { ticket, result })
        }
        Action::Verify {
            ticket,
            resource_version,
        } => {
            let result = settings::follow_configured(
                &io.client,
                &resource_version,
                io.verify_timeout,
                |c| {
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
                    progress(Event::Progress { ticket, text });
                },
            )
            .await;
            Some(Event::Verified { ticket, result })
        }
        Action::KeepPrevious(old) => {
            if let Err(e) = keep::save_proxy(&io.state_dir, &io.context, &old) {
                tracing::error!("keeping the previous http-proxy value for rollback: {e}");
            }
            None
        }
        Action::Audit {
            action,
            correlation_id,
            old,
            new,
            result,
            detail,
        } => {
            let mut e = audit::Entry::new(&io.cluster, action, &correlation_id, result)
                .with_proxy(&old, &new);
            e.detail = detail;
            if let Err(err) = audit::append(&io.state_dir, &e) {
                tracing::error!("writing the audit log: {err}");
            }
            None
        }
    }
}

/// The answer to an action when the API cannot even be connected to: the
/// flow hears a failure instead of waiting forever; audit lines are still
/// written (the cluster named as unreachable).
pub fn without_api(state_dir: &std::path::Path, action: Action, why: String) -> Option<Event> {
    use crate::cluster::settings::{PatchFailure, Verified};
    match action {
        Action::Load => Some(Event::LoadFailed(why)),
        Action::DryRun { ticket, .. } => Some(Event::DryRunDone {
            ticket,
            result: Err(PatchFailure::Other(why)),
        }),
        Action::Apply { ticket, .. } => Some(Event::Applied {
            ticket,
            result: Err(PatchFailure::Other(why)),
        }),
        Action::Verify { ticket, .. } => Some(Event::Verified {
            ticket,
            result: Verified::Timeout(format!(
                "the API could not be reached to follow the change: {why}"
            )),
        }),
        Action::KeepPrevious(_) => {
            tracing::error!("the previous http-proxy value could not be kept: {why}");
            None
        }
        Action::Audit {
            action,
            correlation_id,
            old,
            new,
            result,
            detail,
        } => {
            let mut e = audit::Entry::new("(API unreachable)", action, &correlation_id, result)
                .with_proxy(&old, &new);
            e.detail = detail;
            if let Err(err) = audit::append(state_dir, &e) {
                tracing::error!("writing the audit log: {err}");
            }
            None
        }
    }
}
