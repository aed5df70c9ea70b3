//! The words every layer shares: nodes, roles, SSH and API states, stream
//! status, the gather limits. It sits below `node/`, `cluster/`, `logs/`,
//! `creds/`, `app/` and `ui/` and imports none of them, so those layers do not
//! import each other to talk about a node.

use std::cmp::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The largest file the gather script sends: RKE2's certificates and the /oem
/// files are a few KiB; anything larger is not what we are looking for.
pub const MAX_FILE_BYTES: usize = 512 * 1024;
/// The most file bytes the gather script sends for one node; files past it
/// are named (`C`) but not sent.
pub const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;
/// The pseudo-path under which `rancher`'s shadow line is reported.
pub const SHADOW_RANCHER: &str = "/etc/shadow#rancher";

/// A node's role in a Harvester cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Management node: runs rke2-server (control plane, etcd).
    Server,
    Worker,
    Witness,
    Unknown,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Worker => "worker",
            Role::Witness => "witness",
            Role::Unknown => "?",
        }
    }
    /// Inventory spelling: the RKE2, Harvester and lab words for the same thing.
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s.to_ascii_lowercase().as_str() {
            "server" | "management" | "mgmt" | "control-plane" | "master" => Role::Server,
            "worker" | "agent" | "compute" => Role::Worker,
            "witness" => Role::Witness,
            _ => return None,
        })
    }
}

/// A node as the API, the inventory or the cache describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    pub role: Role,
    /// InternalIP (API) or address (inventory).
    pub address: Option<String>,
    /// The Ready condition; None when not known (inventory, cache).
    pub ready: Option<bool>,
}

/// Why SSH to a node does not work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshProblemKind {
    Refused,
    Timeout,
    NoRoute,
    Resolve,
    Auth,
    /// Not in known_hosts: the scanned fingerprints, never accepted silently.
    HostKeyUnknown(Vec<String>),
    /// Differs from known_hosts: what the host now presents.
    HostKeyChanged(Option<String>),
    /// ssh refused the host key without saying why (its banner was not
    /// shown, e.g. `LogLevel QUIET`): unknown or changed, not to be added blindly.
    HostKeyUnverified,
    NoAddress,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshProblem {
    pub kind: SshProblemKind,
    /// The explanation (ssh's own words where it gave some).
    pub detail: String,
}

impl SshProblem {
    pub fn short(&self) -> &'static str {
        match self.kind {
            SshProblemKind::Refused => "refused",
            SshProblemKind::Timeout => "timeout",
            SshProblemKind::NoRoute => "no route",
            SshProblemKind::Resolve => "dns",
            SshProblemKind::Auth => "auth failed",
            SshProblemKind::HostKeyUnknown(_) => "unknown key",
            SshProblemKind::HostKeyChanged(_) => "KEY CHANGED",
            SshProblemKind::HostKeyUnverified => "KEY REFUSED",
            SshProblemKind::NoAddress => "no address",
            SshProblemKind::Other => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SshState {
    /// Not tried yet.
    #[default]
    Pending,
    Up {
        latency_ms: u32,
    },
    Down(SshProblem),
}

impl SshState {
    pub fn is_up(&self) -> bool {
        matches!(self, SshState::Up { .. })
    }
}

/// Why the API cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiProblemKind {
    Tls,
    Auth,
    Forbidden,
    Refused,
    Timeout,
    Dns,
    Config,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiProblem {
    pub kind: ApiProblemKind,
    pub detail: String,
}

impl ApiProblem {
    pub fn short(&self) -> &'static str {
        match self.kind {
            ApiProblemKind::Tls => "TLS",
            ApiProblemKind::Auth => "auth (401)",
            ApiProblemKind::Forbidden => "forbidden (403)",
            ApiProblemKind::Refused => "connection refused",
            ApiProblemKind::Timeout => "timeout",
            ApiProblemKind::Dns => "name not resolved",
            ApiProblemKind::Config => "kubeconfig",
            ApiProblemKind::Other => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ApiState {
    #[default]
    Connecting,
    Up,
    Down(ApiProblem),
    /// No kubeconfig to use (inventory-only session).
    NotConfigured(String),
}

/// A node harvcred reaches over SSH: its name and, where known, its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub address: Option<String>,
}

/// Where one node's log stream stands (the log pane shows it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamStatus {
    Connecting,
    Streaming {
        unit: String,
    },
    /// The connection failed or ended; trying again after the pause.
    Retrying {
        error: String,
        after: Duration,
    },
    /// Without `follow`: everything asked for was delivered.
    Ended,
    /// Without `follow`: gave up.
    Failed(String),
}

/// `node2` before `node10`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while let (Some(&x), Some(&y)) = (a.first(), b.first()) {
        if x.is_ascii_digit() && y.is_ascii_digit() {
            let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
            let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
            let (na, nb) = (&a[..da], &b[..db]);
            let na = &na[na.iter().take_while(|&&c| c == b'0').count()..];
            let nb = &nb[nb.iter().take_while(|&&c| c == b'0').count()..];
            let o = na.len().cmp(&nb.len()).then(na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
            a = &a[da..];
            b = &b[db..];
        } else {
            if x != y {
                return x.cmp(&y);
            }
            a = &a[1..];
            b = &b[1..];
        }
    }
    a.len().cmp(&b.len())
}
