//! What the console knows about the cluster: nodes, their SSH state, the API
//! state and the credential cells later views fill.

use serde::{Deserialize, Serialize};

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

/// Where a row's facts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Api,
    Inventory,
    /// The last list the API gave, saved in the state folder.
    Cache,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Api => "API",
            Source::Inventory => "inventory",
            Source::Cache => "cached list",
        }
    }
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

/// A credential column's value. Later views fill them; until then a cell says
/// it is not known, never a guess.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CredCell {
    #[default]
    Unknown,
    Loading,
    Ok(String),
    Warn(String),
    Critical(String),
}

impl CredCell {
    pub fn severity(&self) -> u8 {
        match self {
            CredCell::Unknown | CredCell::Loading => 0,
            CredCell::Ok(_) => 1,
            CredCell::Warn(_) => 2,
            CredCell::Critical(_) => 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Creds {
    pub certs: CredCell,
    pub keys: CredCell,
    pub password: CredCell,
    pub token: CredCell,
    pub proxy: CredCell,
}

impl Creds {
    pub fn cells(&self) -> [(&'static str, &CredCell); 5] {
        [
            ("certificates", &self.certs),
            ("SSH keys", &self.keys),
            ("password", &self.password),
            ("token", &self.token),
            ("proxy", &self.proxy),
        ]
    }
}

/// One line of the node table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub info: NodeInfo,
    pub source: Source,
    pub ssh: SshState,
    pub creds: Creds,
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

/// Where a node's credential sweep stands.
#[derive(Debug, Clone)]
pub enum NodeSweep {
    Loading,
    /// The judged report (token copies compared across every node read so far).
    Done(std::sync::Arc<crate::creds::report::NodeReport>),
    Failed(crate::status::Unreadable),
}

impl CredCell {
    /// A column's cell for an area's worst level.
    pub fn from_level(l: crate::creds::Level) -> CredCell {
        use crate::creds::Level;
        match l {
            Level::Ok => CredCell::Ok("ok".into()),
            Level::RenewsAtRestart => CredCell::Ok("renews at restart".into()),
            Level::Warn => CredCell::Warn("warn".into()),
            Level::Critical => CredCell::Critical("critical".into()),
            Level::Expired => CredCell::Critical("expired".into()),
            Level::Unknown => CredCell::Unknown,
        }
    }

    /// The words the filter matches and the long form shows.
    pub fn label(&self) -> &str {
        match self {
            CredCell::Unknown => "unknown",
            CredCell::Loading => "loading",
            CredCell::Ok(s) | CredCell::Warn(s) | CredCell::Critical(s) => s,
        }
    }
}

impl Creds {
    pub fn set(&mut self, area: crate::creds::report::Area, c: CredCell) {
        use crate::creds::report::Area;
        match area {
            Area::Certificates => self.certs = c,
            Area::Keys => self.keys = c,
            Area::Password => self.password = c,
            Area::Token => self.token = c,
            Area::Proxy => self.proxy = c,
        }
    }

    pub fn all(c: CredCell) -> Creds {
        Creds {
            certs: c.clone(),
            keys: c.clone(),
            password: c.clone(),
            token: c.clone(),
            proxy: c,
        }
    }
}
