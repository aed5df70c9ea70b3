//! Every lab node in a cgroup of its own.
//!
//! `systemd-nspawn --keep-unit` puts the container under the cgroup it was
//! started in (`payload/` beside its own `supervisor/`). Without a cgroup per
//! node, every node of every lab shares one `payload/`, so the systemd of each
//! node creates and removes the same `payload/system.slice/<unit>.service`:
//! two nodes starting the same unit at once (the yip units at boot) collide,
//! and systemd fails the spawn with status 219 (EXIT_CGROUP). Seen as a node
//! that never got its login keys, about once in 30 labs under load.

use std::io;
use std::path::{Path, PathBuf};

use super::names;

/// The cgroup hierarchies systemd uses: on a hybrid host the named v1
/// hierarchy and the unified one (nspawn and the node's systemd track by the
/// unified one there), on a pure cgroup v2 host the unified root.
fn hierarchies() -> Vec<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let roots = if own.lines().any(|l| l.contains(":name=systemd:")) {
        vec![
            PathBuf::from("/sys/fs/cgroup/systemd"),
            PathBuf::from("/sys/fs/cgroup/unified"),
        ]
    } else {
        vec![PathBuf::from("/sys/fs/cgroup")]
    };
    roots
        .into_iter()
        .filter(|r| r.join("cgroup.procs").exists())
        .collect()
}

/// The node's cgroup folder name: after the lab's machine name, so that
/// `lab down` finds what a crashed supervisor left by the lab's id.
fn folder(id: &str, node: &str) -> String {
    format!("harvcred-{}", names::machine(id, node))
}

/// Creates the node's cgroup in every hierarchy (emptied of what an earlier
/// boot left) and returns their `cgroup.procs`, for the container's process
/// to move itself into before it becomes nspawn. Empty when the host has no
/// cgroup hierarchy we can use: the node then runs where the supervisor runs.
pub fn prepare(id: &str, node: &str) -> io::Result<Vec<PathBuf>> {
    let mut procs = Vec::new();
    for root in hierarchies() {
        let dir = root.join(folder(id, node));
        remove_tree(&dir);
        std::fs::create_dir(&dir)?;
        procs.push(dir.join("cgroup.procs"));
    }
    Ok(procs)
}

/// Removes a cgroup folder and the ones the container's systemd made in it,
/// deepest first. A cgroup can only be removed once no process is in it;
/// those that cannot are left (and named).
fn remove_tree(dir: &Path) -> Vec<String> {
    let mut left = Vec::new();
    if !dir.is_dir() {
        return left;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                left.extend(remove_tree(&e.path()));
            }
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        left.push(format!("cgroup {}: {e}", dir.display()));
    }
    left
}

/// Whether `unit` (a service's name without `.service`) runs in the node: the cgroup its systemd made for it
/// under the container's `payload/` holds a process. None when no hierarchy
/// shows the node's cgroup (a host without one of our own for it).
pub fn unit_running(id: &str, node: &str, unit: &str) -> Option<bool> {
    let mut seen = false;
    for root in hierarchies() {
        let payload = root.join(folder(id, node)).join("payload");
        if !payload.is_dir() {
            continue;
        }
        seen = true;
        let procs = payload
            .join("system.slice")
            .join(format!("{unit}.service"))
            .join("cgroup.procs");
        if std::fs::read_to_string(procs).is_ok_and(|p| !p.trim().is_empty()) {
            return Some(true);
        }
    }
    seen.then_some(false)
}

/// Removes the node's cgroup after its container ended.
pub fn remove(id: &str, node: &str) -> Vec<String> {
    hierarchies()
        .iter()
        .flat_map(|root| remove_tree(&root.join(folder(id, node))))
        .collect()
}

/// Removes every cgroup of the lab `id` (a crashed supervisor's too).
pub fn remove_lab(id: &str) -> Vec<String> {
    let prefix = format!("harvcred-{id}-");
    let mut left = Vec::new();
    for root in hierarchies() {
        if let Ok(entries) = std::fs::read_dir(&root) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    left.extend(remove_tree(&e.path()));
                }
            }
        }
    }
    left
}

/// The lab's cgroups that still exist (for tests that check a clean down).
pub fn leftovers(id: &str) -> Vec<String> {
    let prefix = format!("harvcred-{id}-");
    hierarchies()
        .iter()
        .flat_map(|root| {
            std::fs::read_dir(root)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| {
                            p.file_name()
                                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                        })
                        .map(|p| format!("cgroup {}", p.display()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_cgroup_is_named_after_its_machine_and_removed_deepest_first() {
        assert_eq!(folder("hc7", "node2"), "harvcred-hc7-node2");
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("harvcred-hc7-node2");
        std::fs::create_dir_all(top.join("payload/system.slice/ssh.service")).unwrap();
        std::fs::create_dir_all(top.join("supervisor")).unwrap();
        assert!(remove_tree(&top).is_empty());
        assert!(!top.exists());
    }
}
