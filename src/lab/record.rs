//! The record of everything a lab created, kept in `lab.json` in its folder and
//! rewritten after every step, so `lab down` can remove it all even after a crash.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::plan::LabPlan;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabState {
    /// The supervisor is creating things.
    Starting,
    /// Every node answers SSH and the API answers.
    Ready,
    /// Start failed; `error` says why. What was made is still listed here.
    Failed,
    /// Tearing down.
    Stopping,
    /// Everything listed was removed.
    Down,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub plan: LabPlan,
    pub state: LabState,
    #[serde(default)]
    pub error: Option<String>,
    /// The background process that owns the nodes and serves the API.
    #[serde(default)]
    pub supervisor_pid: Option<i32>,
    /// Claim on the lab id and subnet (a folder under the run directory).
    #[serde(default)]
    pub claim: Option<PathBuf>,
    #[serde(default)]
    pub bridge: Option<String>,
    /// Network namespaces, by node.
    #[serde(default)]
    pub netns: BTreeMap<String, String>,
    /// Host ends of the veth pairs, by node.
    #[serde(default)]
    pub veths: BTreeMap<String, String>,
    /// `systemd-nspawn` processes, by node.
    #[serde(default)]
    pub nspawn_pids: BTreeMap<String, i32>,
    /// Whether `lab up` created the lab folder itself (then `down` removes it).
    #[serde(default)]
    pub created_dir: bool,
    /// Seconds from launch until every node answered SSH and the API answered.
    #[serde(default)]
    pub ready_after_secs: Option<f64>,
    /// Each node's boots, as the supervisor sees them.
    #[serde(default)]
    pub boots: BTreeMap<String, NodeBoot>,
}

/// Where a node is in its boot cycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeState {
    #[default]
    Booting,
    /// Answers SSH.
    Up,
    Rebooting,
    /// Did not come back; `problem` says why.
    Failed,
    /// Its container exited other than by a reboot.
    Stopped,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeBoot {
    /// How many times the node was started (1 after `lab up`).
    pub count: u32,
    pub state: NodeState,
    /// Seconds from the start of the last boot until it answered SSH.
    #[serde(default)]
    pub up_after_secs: Option<f64>,
    #[serde(default)]
    pub problem: Option<String>,
}

impl Record {
    pub fn new(plan: LabPlan) -> Self {
        Record {
            plan,
            state: LabState::Starting,
            error: None,
            supervisor_pid: None,
            claim: None,
            bridge: None,
            netns: BTreeMap::new(),
            veths: BTreeMap::new(),
            nspawn_pids: BTreeMap::new(),
            created_dir: false,
            ready_after_secs: None,
            boots: BTreeMap::new(),
        }
    }

    pub fn load(path: &Path) -> Result<Option<Record>> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not a lab record; remove it if the lab is gone",
                    path.display()
                )
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Write atomically: a crash mid-write must not lose the list of what to remove.
    pub fn save(&self, path: &Path) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = path.with_extension("json.tmp");
        let _ = std::fs::remove_file(&tmp);
        // A new file, never through a link someone left in the folder.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(&serde_json::to_vec_pretty(self)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}
