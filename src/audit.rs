//! The audit log: one JSON line per change, refused or failed attempt, in
//! `$XDG_STATE_HOME/harvcred/audit.jsonl`. Values are recorded masked
//! (`creds::proxy` masking): the log must be safe to hand to anyone.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::creds::proxy::HttpProxySetting;

/// The file name inside the state folder.
pub const FILE: &str = "audit.jsonl";

/// What became of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Written to the cluster.
    Applied,
    /// Server-side dry run only; nothing changed.
    DryRun,
    /// Stopped by harvcred before sending (validation, no confirmation).
    Refused,
    /// Denied by the cluster (webhook) or another writer got there first (409).
    Denied,
    /// Sent but failed (network, API error, not configured in time).
    Failed,
    /// Applied and the cluster reported it configured.
    Verified,
}

/// An `http-proxy` value as recorded: URLs masked, noProxy as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaskedProxy {
    #[serde(rename = "httpProxy")]
    pub http_proxy: String,
    #[serde(rename = "httpsProxy")]
    pub https_proxy: String,
    #[serde(rename = "noProxy")]
    pub no_proxy: String,
}

impl From<&HttpProxySetting> for MaskedProxy {
    fn from(s: &HttpProxySetting) -> Self {
        MaskedProxy {
            http_proxy: s.http_proxy.masked(),
            https_proxy: s.https_proxy.masked(),
            no_proxy: s.no_proxy.clone(),
        }
    }
}

/// One line of the audit log. Field names are part of the interface (README).
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// UTC, RFC 3339.
    pub time: String,
    /// The local user running harvcred (and `SUDO_USER` when run through sudo).
    pub user: String,
    /// Kubeconfig context and API server URL.
    pub cluster: String,
    /// e.g. `proxy.set`, `proxy.rollback`.
    pub action: String,
    /// The node a line of a multi-node change is about; absent for a change
    /// of the cluster as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The walkthrough step (`validate`, `dry-run`, `apply`, `verify`) of an
    /// engine walk's line; absent for the proxy walk's lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The value before and after, masked (for `http-proxy`: [`MaskedProxy`]).
    pub old: Option<serde_json::Value>,
    pub new: Option<serde_json::Value>,
    pub result: Outcome,
    /// Why (validation message, the API's words), never a secret.
    pub detail: String,
    /// Ties together the lines of one attempt (dry run, apply, verify).
    pub correlation_id: String,
}

impl Entry {
    /// A line stamped now, by the current user.
    pub fn new(cluster: &str, action: &str, correlation_id: &str, result: Outcome) -> Entry {
        Entry {
            time: now_utc(),
            user: local_user(),
            cluster: cluster.to_string(),
            action: action.to_string(),
            node: None,
            step: None,
            old: None,
            new: None,
            result,
            detail: String::new(),
            correlation_id: correlation_id.to_string(),
        }
    }
}

impl Entry {
    /// The line of an engine walk (`flows::engine`), stamped now.
    pub fn from_walk(cluster: &str, line: &crate::flows::engine::AuditLine) -> Entry {
        let mut e = Entry::new(cluster, line.action, &line.correlation_id, line.result);
        e.node = line.target.clone();
        e.step = Some(line.step.to_string());
        e.old = line.old.clone();
        e.new = line.new.clone();
        e.detail = line.detail.clone();
        e
    }

    /// The masked proxy values as the line's `old` and `new`.
    pub fn with_proxy(mut self, old: &MaskedProxy, new: &MaskedProxy) -> Entry {
        self.old = serde_json::to_value(old).ok();
        self.new = serde_json::to_value(new).ok();
        self
    }
}

fn now_utc() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The user name of the real uid, with the sudo caller when there is one:
/// on an admin host everyone may run harvcred as root.
pub fn local_user() -> String {
    let uid = nix::unistd::getuid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("uid {uid}"));
    match std::env::var("SUDO_USER") {
        Ok(s) if !s.is_empty() && s != name => format!("{name} (sudo from {s})"),
        _ => name,
    }
}

/// A short random id for one attempt.
pub fn correlation_id() -> String {
    let b: [u8; 8] = rand::random();
    hex::encode(b)
}

/// Where the audit log of a state folder is.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// Appends one line. O_APPEND and a single write keep lines whole when two
/// harvcred processes log at once; 0600 because who changed what is private.
pub fn append(state_dir: &Path, entry: &Entry) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = crate::config::open_private_append(&path(state_dir))?;
    f.write_all(&line)
}

/// Whether a line could be appended (the file is opened, nothing written).
pub fn probe(state_dir: &Path) -> std::io::Result<()> {
    crate::config::open_private_append(&path(state_dir)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creds::proxy::ProxyUrl;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lines_are_json_masked_and_private() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("state");
        let old = HttpProxySetting::default();
        let new = HttpProxySetting {
            http_proxy: ProxyUrl::new("http://admin:Hunter2Secret@proxy.corp:3128"),
            https_proxy: ProxyUrl::new("https://tok3nSecret@proxy.corp:3129"),
            no_proxy: "10.0.0.0/24".into(),
        };
        for result in [Outcome::Refused, Outcome::Applied] {
            let e = Entry::new("lab (https://10.0.0.1:6443)", "proxy.set", "abc", result)
                .with_proxy(&(&old).into(), &(&new).into());
            append(&state, &e).unwrap();
        }
        let text = std::fs::read_to_string(path(&state)).unwrap();
        assert!(!text.contains("Hunter2Secret"), "{text}");
        assert!(!text.contains("tok3nSecret"), "{text}");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["result"], "refused");
        assert_eq!(lines[1]["result"], "applied");
        assert_eq!(
            lines[1]["new"]["httpProxy"],
            "http://admin:***@proxy.corp:3128"
        );
        assert_eq!(lines[1]["new"]["httpsProxy"], "https://***@proxy.corp:3129");
        assert_eq!(lines[1]["correlation_id"], "abc");
        // A change of the cluster as a whole names no node and no step.
        assert!(lines[1].get("node").is_none() && lines[1].get("step").is_none());
        assert!(lines[1]["time"].as_str().unwrap().ends_with('Z'));
        assert!(!lines[1]["user"].as_str().unwrap().is_empty());
        let mode = std::fs::metadata(path(&state))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    /// The audit log is never written through a symlink someone planted.
    #[test]
    fn the_audit_log_is_not_written_through_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("state");
        std::fs::create_dir(&state).unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, path(&state)).unwrap();
        let e = Entry::new("c", "proxy.set", "id", Outcome::Refused);
        assert!(append(&state, &e).is_err());
        assert!(probe(&state).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let m = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o700);
    }

    /// An engine walk's line names its node and step; its values are the
    /// flow's masked ones.
    #[test]
    fn a_walk_line_names_its_node_and_step() {
        let d = tempfile::tempdir().unwrap();
        let line = crate::flows::engine::AuditLine {
            action: "keys.add",
            correlation_id: "k1".into(),
            target: Some("node2".into()),
            step: "apply",
            result: Outcome::Failed,
            detail: "connection lost".into(),
            old: Some(serde_json::json!({"keys": 1})),
            new: Some(serde_json::json!({"keys": 2})),
        };
        append(d.path(), &Entry::from_walk("lab", &line)).unwrap();
        let text = std::fs::read_to_string(path(d.path())).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["node"], "node2");
        assert_eq!(v["step"], "apply");
        assert_eq!(v["action"], "keys.add");
        assert_eq!(v["result"], "failed");
        assert_eq!(v["new"]["keys"], 2);
        assert_eq!(v["correlation_id"], "k1");
    }
}
