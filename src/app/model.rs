//! What the console knows about the cluster: nodes, their SSH state, the API
//! state and the credential cells later views fill.

pub use crate::model::{
    ApiProblem, ApiProblemKind, ApiState, NodeInfo, Role, SshProblem, SshProblemKind, SshState,
};

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
