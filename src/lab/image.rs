//! A lab node's root as the Harvester OS has it: what the image ships, and
//! which paths survive a reboot.
//!
//! On Harvester the root is an overlay: `/etc`, `/var`, `/srv` and `/boot` are
//! ephemeral (tmpfs) except the persistent paths of harvester-installer's
//! `cos-rootfs.yaml`, bind-mounted from the persistent partition. A lab node's
//! root is an overlay of the base tree and the node's upper layer; before each
//! boot [`reset_ephemeral`] removes from the upper layer whatever lies in an
//! ephemeral path and not in a persistent one, so the node starts from the
//! image again, and [`write_image`] puts back what the lab adds to the image
//! (units, stand-ins, the yip units). `/oem` is applied by yip at boot
//! ([`super::yip`]).

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::layout::NODE_BIN;
use super::seed;

/// Ephemeral on Harvester (`RW_PATHS` of cos-rootfs.yaml).
pub const EPHEMERAL: [&str; 4] = ["/etc", "/var", "/srv", "/boot"];
/// `PERSISTENT_STATE_PATHS` of cos-rootfs.yaml: kept across reboots.
pub const PERSISTENT: [&str; 16] = [
    "/etc/systemd",
    "/etc/rancher",
    "/etc/ssh",
    "/etc/iscsi",
    "/etc/cni",
    "/home",
    "/opt",
    "/root",
    "/usr/libexec",
    "/var/log",
    "/var/lib/rancher",
    "/var/lib/kubelet",
    "/var/lib/wicked",
    "/var/lib/cni",
    "/var/crash",
    "/var/lib/longhorn",
];

/// The unit that applies `/oem` early at boot; sshd requires it.
pub const YIP_BOOT_UNIT: &str = "harvcred-lab-yip-boot.service";
/// The unit that applies the `network` stage once the network is up.
pub const YIP_NETWORK_UNIT: &str = "harvcred-lab-yip-network.service";

fn is_persistent(node_path: &str) -> bool {
    PERSISTENT
        .iter()
        .any(|p| node_path == *p || node_path.starts_with(&format!("{p}/")))
}

fn holds_persistent(node_path: &str) -> bool {
    PERSISTENT
        .iter()
        .any(|p| p.starts_with(&format!("{node_path}/")))
}

/// Forget every change the node made to its ephemeral paths (the node must
/// not be running).
pub fn reset_ephemeral(upper: &Path) -> Result<()> {
    for e in EPHEMERAL {
        prune(upper, e)?;
    }
    Ok(())
}

fn prune(upper: &Path, node_path: &str) -> Result<()> {
    if is_persistent(node_path) {
        return Ok(());
    }
    let host = upper.join(node_path.trim_start_matches('/'));
    let Ok(meta) = fs::symlink_metadata(&host) else {
        return Ok(());
    };
    if meta.is_dir() && holds_persistent(node_path) {
        for entry in fs::read_dir(&host)? {
            let name = entry?.file_name();
            prune(upper, &format!("{node_path}/{}", name.to_string_lossy()))?;
        }
        return Ok(());
    }
    let r = if meta.is_dir() {
        fs::remove_dir_all(&host)
    } else {
        fs::remove_file(&host)
    };
    r.with_context(|| format!("resetting {}", host.display()))
}

/// What the lab adds to the OS image, written into a node's upper layer
/// before every boot (outside the ephemeral paths, or put back after a reset).
pub fn write_image(upper: &Path) -> Result<()> {
    seed::write_base_files(upper)?;
    let unit_dir = seed::UNIT_DIR;
    let write = |node_path: &str, content: &str| -> Result<()> {
        let p = upper.join(node_path.trim_start_matches('/'));
        if let Some(d) = p.parent() {
            fs::create_dir_all(d)?;
        }
        super::pki::write_file(&p, content, 0o644)
    };
    let link = |node_path: &str, target: &str| -> Result<()> {
        let p = upper.join(node_path.trim_start_matches('/'));
        if let Some(d) = p.parent() {
            fs::create_dir_all(d)?;
        }
        let _ = fs::remove_file(&p);
        std::os::unix::fs::symlink(target, &p).with_context(|| format!("linking {}", p.display()))
    };
    // No /run/nologin at boot: if systemd-user-sessions fails under load (seen
    // with 50 nodes on 2 cores), rancher must still log in.
    write("/usr/lib/tmpfiles.d/systemd-nologin.conf", "")?;
    write(
        &format!("{unit_dir}/{YIP_BOOT_UNIT}"),
        &format!(
            "[Unit]\nDescription=Apply /oem stages rootfs, initramfs and boot (yip, as the Harvester OS does at boot)\nDefaultDependencies=no\nAfter=local-fs.target\nBefore=sysinit.target systemd-user-sessions.service ssh.service\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart={NODE_BIN} lab yip boot\n# Not the console: a getty's vhangup of it makes writes fail mid-boot.\nStandardOutput=journal\nStandardError=journal\n\n[Install]\nWantedBy=sysinit.target\n"
        ),
    )?;
    write(
        &format!("{unit_dir}/{YIP_NETWORK_UNIT}"),
        &format!(
            "[Unit]\nDescription=Apply /oem stage network (yip, as the Harvester OS does once the network is up)\nWants=network-online.target\nAfter=network-online.target {YIP_BOOT_UNIT}\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart={NODE_BIN} lab yip network\n# How it ended, on the console the supervisor shows when a node does not come up.\nExecStopPost=/bin/sh -c 'echo \"yip network: $SERVICE_RESULT $EXIT_CODE $EXIT_STATUS\" > /dev/console'\n# Not the console: a getty's vhangup of it makes writes fail mid-boot.\nStandardOutput=journal\nStandardError=journal\n\n[Install]\nWantedBy=multi-user.target\n"
        ),
    )?;
    // A node whose /oem does not parse does not come back: sshd needs the boot
    // stages. It starts after the network stage, which adds the login keys.
    write(
        &format!("{unit_dir}/ssh.service.d/harvcred-lab-yip.conf"),
        &format!("[Unit]\nRequires={YIP_BOOT_UNIT}\nAfter={YIP_BOOT_UNIT} {YIP_NETWORK_UNIT}\n"),
    )?;
    link(
        &format!("{unit_dir}/sysinit.target.wants/{YIP_BOOT_UNIT}"),
        &format!("{unit_dir}/{YIP_BOOT_UNIT}"),
    )?;
    link(
        &format!("{unit_dir}/multi-user.target.wants/{YIP_NETWORK_UNIT}"),
        &format!("{unit_dir}/{YIP_NETWORK_UNIT}"),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_keeps_persistent_paths_and_drops_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let up = d.path();
        for p in [
            "etc/shadow",
            "etc/rancher/rancherd/config.yaml",
            "etc/ssh/ssh_host_ed25519_key",
            "var/lib/rancher/rke2/server/token",
            "var/lib/misc/x",
            "var/log/journal/j",
            "home/rancher/.ssh/authorized_keys",
            "usr/lib/systemd/system/x.service",
            "srv/www/index",
        ] {
            let f = up.join(p);
            fs::create_dir_all(f.parent().unwrap()).unwrap();
            fs::write(&f, "x").unwrap();
        }
        reset_ephemeral(up).unwrap();
        for gone in ["etc/shadow", "var/lib/misc", "srv/www"] {
            assert!(!up.join(gone).exists(), "{gone} survived");
        }
        for kept in [
            "etc/rancher/rancherd/config.yaml",
            "etc/ssh/ssh_host_ed25519_key",
            "var/lib/rancher/rke2/server/token",
            "var/log/journal/j",
            "home/rancher/.ssh/authorized_keys",
            "usr/lib/systemd/system/x.service",
        ] {
            assert!(up.join(kept).exists(), "{kept} was removed");
        }
    }
}
