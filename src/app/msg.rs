//! What happened (`Msg`, into `App::update`) and what to do (`Effect`, out of it).

use crossterm::event::KeyEvent;

use super::model::{ApiState, NodeInfo, SshState};

/// Everything that changes the console's state arrives as one of these, on
/// one channel: keys from the terminal and results of background work.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Key(KeyEvent),
    Resize {
        width: u16,
        height: u16,
    },
    /// The kubeconfig was read: which context and API server are in use.
    ApiContext {
        context: String,
        server: String,
    },
    ApiState(ApiState),
    /// The API's complete node list (first list, and after every re-list).
    NodesListed(Vec<NodeInfo>),
    NodeApplied(NodeInfo),
    NodeDeleted(String),
    /// The last-known node list from the state folder.
    CacheLoaded(Vec<NodeInfo>),
    Ssh {
        node: String,
        state: SshState,
    },
    /// A background job wants to tell the operator something.
    Flash {
        error: bool,
        text: String,
    },
    /// SIGTERM/SIGHUP: leave like `:q`.
    Quit,
}

/// A node the SSH side should keep probing, and where to reach it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub name: String,
    pub address: Option<String>,
}

/// Work for the runner. `update` never does I/O itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Read the kubeconfig and watch the API's nodes.
    WatchNodes,
    LoadCache {
        context: String,
    },
    SaveCache {
        context: String,
        nodes: Vec<NodeInfo>,
    },
    /// The full set of nodes to probe over SSH; others are dropped.
    Track(Vec<Target>),
    Quit,
}
