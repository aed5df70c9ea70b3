//! Where things live: in the lab's folder on the host, and inside every node.

use std::path::{Path, PathBuf};

/// The harvcred binary, bind-mounted read-only into every node; the stand-ins
/// for RKE2 and Rancher's agents run from it.
pub const NODE_BIN: &str = "/opt/harvcred-lab/harvcred";
/// Lab-wide facts shared read-only with every node (see [`LabDir::share`]).
pub const NODE_SHARE: &str = "/run/harvcred-lab";
/// Environment file the stand-in units read (e.g. `HARVCRED_LAB_LOG_RATE`), so a
/// benchmark can make the logs fast without rebuilding a node.
pub const NODE_STANDIN_ENV: &str = "/etc/default/harvcred-lab-standin";
/// The `rke2` command, as on a Harvester node.
pub const NODE_RKE2: &str = "/opt/rke2/bin/rke2";
/// uid/gid of `rancher` in the base tree.
pub const RANCHER_UID: u32 = 1000;

/// The files of one lab in its folder.
#[derive(Clone, Debug)]
pub struct LabDir {
    pub root: PathBuf,
}

impl LabDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LabDir { root: root.into() }
    }
    pub fn record(&self) -> PathBuf {
        self.root.join("lab.json")
    }
    pub fn kubeconfig(&self) -> PathBuf {
        self.root.join("kubeconfig")
    }
    pub fn ssh_config(&self) -> PathBuf {
        self.root.join("ssh_config")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.root.join("known_hosts")
    }
    /// The lab operator's private key (the public half beside it, `.pub`).
    pub fn operator_key(&self) -> PathBuf {
        self.root.join("id_ed25519")
    }
    /// The clear-text `rancher` password of the lab's nodes (mode 0600), so a
    /// test or a person can try a real password login.
    pub fn rancher_password(&self) -> PathBuf {
        self.root.join("rancher-password")
    }
    /// A bearer token the lab's API accepts, for clients that do not use the
    /// kubeconfig's client certificate.
    pub fn api_token(&self) -> PathBuf {
        self.root.join("api-token")
    }
    pub fn supervisor_log(&self) -> PathBuf {
        self.root.join("supervisor.log")
    }
    /// Bind-mounted read-only at [`NODE_SHARE`] in every node.
    pub fn share(&self) -> PathBuf {
        self.root.join("share")
    }
    pub fn node(&self, name: &str) -> NodeDir {
        NodeDir {
            root: self.root.join("nodes").join(name),
        }
    }
    pub fn nodes(&self) -> PathBuf {
        self.root.join("nodes")
    }

    /// Everything the lab writes in its folder, by name: `lab down` removes
    /// these and nothing else.
    pub const WRITTEN: [&'static str; 14] = [
        "lab.json",
        "lab.json.tmp",
        "kubeconfig",
        "ssh_config",
        "known_hosts",
        "id_ed25519",
        "id_ed25519.pub",
        "rancher-password",
        "api-token",
        "supervisor.log",
        super::api::REQUEST_LOG_FILE,
        super::api::rancher::REQUEST_LOG_FILE,
        "share",
        "nodes",
    ];

    /// Whether `name` in the lab's folder is one the lab wrote (or the
    /// temporary file of one, left by a crash mid-write).
    pub fn is_written(name: &str) -> bool {
        Self::WRITTEN.contains(&name)
            || name
                .strip_prefix('.')
                .and_then(|n| n.strip_suffix(".tmp"))
                .is_some_and(|n| Self::WRITTEN.contains(&n))
    }
}

/// A lab folder's path goes into the generated ssh_config (IdentityFile,
/// UserKnownHostsFile), where quotes, spaces, `%` tokens and `~` mean
/// something: only plain path characters are accepted.
pub fn check_dir_name(dir: &Path) -> anyhow::Result<()> {
    let text = dir
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("the lab folder's path is not UTF-8: {}", dir.display()))?;
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/._-+,=@".contains(*c)))
    {
        anyhow::bail!(
            "the lab folder's path contains {bad:?}; use a path of letters, digits and / . _ - + , = @ only (it is written into the lab's ssh_config)"
        );
    }
    Ok(())
}

/// The host-side files of one node.
#[derive(Clone, Debug)]
pub struct NodeDir {
    pub root: PathBuf,
}

impl NodeDir {
    /// Upper layer of the node's overlay root: per-node files are seeded here
    /// before boot and every change the node makes lands here.
    pub fn upper(&self) -> PathBuf {
        self.root.join("upper")
    }
    /// Bind-mounted at `/oem` in the node.
    pub fn oem(&self) -> PathBuf {
        self.root.join("oem")
    }
    pub fn console_log(&self) -> PathBuf {
        self.root.join("console.log")
    }
    /// A path inside the node's root as the host sees it in the upper layer.
    pub fn in_upper(&self, node_path: &str) -> PathBuf {
        self.upper().join(node_path.trim_start_matches('/'))
    }
    pub fn path(&self) -> &Path {
        &self.root
    }
}
