//! What happened (`Msg`, into `App::update`) and what to do (`Effect`, out of it).

use crossterm::event::KeyEvent;

use std::sync::Arc;

use super::model::{ApiState, NodeInfo, SshState};
pub use crate::model::Target;
use crate::status::{ClusterSettings, NodeOutcome};

/// A result shared between the runner and the state without copying it;
/// two are equal when they are the same result (Msg needs `PartialEq`).
#[derive(Clone)]
pub struct Shared<T>(pub Arc<T>);

impl<T> Shared<T> {
    pub fn new(v: T) -> Self {
        Shared(Arc::new(v))
    }
}

impl<T> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Shared<T> {
    // The wrapped types keep secrets out of their own Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A value handed over once (an engine walk's action or answer, which is
/// neither `Clone` nor `PartialEq`): the first `take` gets it. Two are equal
/// when they are the same hand-over.
pub struct Once<T>(Arc<std::sync::Mutex<Option<T>>>);

impl<T> Once<T> {
    pub fn new(v: T) -> Self {
        Once(Arc::new(std::sync::Mutex::new(Some(v))))
    }
    pub fn take(&self) -> Option<T> {
        self.0.lock().ok()?.take()
    }
}

impl<T> Clone for Once<T> {
    fn clone(&self) -> Self {
        Once(self.0.clone())
    }
}

impl<T> PartialEq for Once<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> std::fmt::Debug for Once<T> {
    // What is inside may hold a secret (a password's work): never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Once(..)")
    }
}

/// Pasted text: it may be a secret (a password pasted into its field), so
/// `Debug` shows only its length and the text is wiped when dropped.
#[derive(Clone, PartialEq)]
pub struct Pasted(pub zeroize::Zeroizing<String>);

impl std::fmt::Debug for Pasted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pasted({} chars)", self.0.chars().count())
    }
}

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
    /// The credential settings were read from the API (at the start of a sweep).
    SettingsRead(Shared<ClusterSettings>),
    /// One node of a sweep: its report, or why it could not be read.
    NodeSwept {
        node: String,
        outcome: Shared<NodeOutcome>,
        /// What the node's files say about the cluster network (VIP, CIDRs).
        network: Shared<crate::creds::proxy::ClusterFacts>,
    },
    /// The configured sweep interval has passed.
    RefreshDue,
    /// SIGTERM/SIGHUP: leave like `:q`.
    Quit,
    /// An answer for the open engine walk: an `engine::Event<C>` of its
    /// change, boxed (the form downcasts it). `walk` is the walk's
    /// correlation id: an answer for an earlier walk (the targets changed
    /// since) is dropped.
    Walk {
        walk: String,
        event: Once<Box<dyn std::any::Any + Send>>,
    },
    /// Text pasted into the terminal (bracketed paste).
    Paste(Pasted),
    /// A batch from log pane `pane`'s stream of its `node`th node.
    LogLines {
        pane: u64,
        node: crate::logs::NodeId,
        lines: Vec<crate::logs::LogLine>,
        /// Lines lost before this batch (the pane fell behind).
        dropped: u64,
    },
    /// A node's joining state (bootstrap data, rancherd's 502 loop) for `:token`.
    JoinState {
        node: String,
        state: crate::flows::token::JoinState,
    },
    LogStatus {
        pane: u64,
        node: crate::logs::NodeId,
        status: crate::node::stream::StreamStatus,
    },
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
    /// Read the settings, then gather and judge these nodes' credential files.
    Sweep(Vec<Target>),
    /// An action of the open engine walk (any change), run on the walk
    /// thread; its answer comes back as `Msg::Walk`.
    /// `targets` are the nodes a `Load` reads.
    Walk {
        walk: String,
        targets: Vec<String>,
        action: Once<Box<dyn super::runner::WalkAction>>,
    },
    /// Read each node's joining state (`:token`); answers come back as `Msg::JoinState`.
    ReadJoinStates(Vec<Target>),
    /// Start a log pane's streams (one per node); their batches come back as `Msg::LogLines`.
    OpenLogs {
        pane: u64,
        sources: Vec<super::logpane::LogSource>,
    },
    /// End a log pane's streams, and with them the remote journalctl.
    CloseLogs {
        pane: u64,
    },
    /// Write what a log pane holds to `file` in the state folder's `logs/`.
    SaveLogs {
        file: String,
        text: String,
    },
    Quit,
}
